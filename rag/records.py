"""Typed records passed between pipeline stages.

Offsets are character offsets into the decoded article text (BOM not counted,
line endings untouched), so ``article.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.messages import message


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of an article: its number (from 1, headings excluded) and span."""

    number: int
    start: int
    end: int
    section: str
    page: int | None = None


@dataclass(frozen=True)
class Article:
    """A decoded article with its paragraphs."""

    path: str  # relative to the corpus folder, with forward slashes
    title: str
    text: str
    paragraphs: tuple[Paragraph, ...]
    sha256: str  # of the raw file bytes
    encoding: str
    size_bytes: int

    def paragraph(self, number: int) -> Paragraph:
        """Return paragraph ``number`` (numbered from 1)."""
        return self.paragraphs[number - 1]


@dataclass(frozen=True)
class Sentence:
    """A sentence (or a piece of an over-long one) with its span in the article."""

    article: str
    start: int
    end: int
    paragraph: int


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of an article: whole sentences, with its exact span."""

    id: int
    article: str
    title: str
    section: str
    paragraphs: tuple[int, ...]
    start: int
    end: int
    text: str
    sentence_ids: tuple[int, ...] = ()

    def location(self, lang: str = "zh") -> list[str]:
        """Where the chunk stands, part by part: title, section (when it has one), paragraphs.

        >>> Chunk(0, "a.txt", "标题", "", (3, 4), 0, 9, "…").location()
        ['标题', '第3–4段']
        """
        return location_parts(self.title, self.section, self.paragraphs, None, lang)


def paragraph_label(numbers: Sequence[int], lang: str = "zh") -> str:
    """「第3段」, 「第3–4段」 (¶3, ¶3–4 in English): the one way paragraphs are named.

    >>> paragraph_label([3, 4]), paragraph_label([5, 5], "en"), paragraph_label([])
    ('第3–4段', '¶5', '')
    """
    if not numbers:
        return ""
    if numbers[0] == numbers[-1]:
        return message("paragraph", lang, n=numbers[0])
    return message("paragraphs", lang, first=numbers[0], last=numbers[-1])


def location_parts(title: str, section: str, paragraphs: Sequence[int], page: int | None,
                   lang: str = "zh") -> list[str]:
    """The parts of a location label: title, section (left out when blank), paragraphs, page (when known).

    Plain text: each face escapes the parts and joins them (`` · ``) as it shows them.

    >>> " · ".join(location_parts("深圳", "一、规模", [2], 7, "en"))
    '深圳 · 一、规模 · ¶2 · p. 7'
    """
    parts = [title, *([section] if section else []), paragraph_label(paragraphs, lang)]
    if page:
        parts.append(message("page", lang, n=page))
    return parts


@dataclass(frozen=True)
class Hit:
    """A chunk found by retrieval, with its fused rank and the rank per leg."""

    chunk: Chunk
    rank: int
    score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None
    knowledge_base: str = "default"  # the knowledge base it was found in (rag.kb.registry)


@dataclass(frozen=True)
class Citation:
    """A cited sentence: where it stands and the paragraph that holds it."""

    n: int
    article: str
    title: str
    section: str
    paragraph: int
    page: int | None
    paragraph_text: str
    paragraph_start: int
    start: int
    end: int
    knowledge_base: str = "default"
    kind: str = "article"  # "article", or "faq": an FAQ entry (article "faq:ID", title its question, text its answer)

    @classmethod
    def of(cls, article: Article, paragraph: Paragraph, n: int, start: int, end: int,
           knowledge_base: str = "default") -> Citation:
        """The citation ``[n]`` of ``article.text[start:end]`` inside ``paragraph``: the one way one is made.

        >>> a = Article("a.txt", "标题", "第一句。第二句。", (Paragraph(1, 0, 8, "一节"),), "", "utf-8", 24)
        >>> c = Citation.of(a, a.paragraph(1), 1, 4, 8)
        >>> c.sentence_text, c.location()
        ('第二句。', ['标题', '一节', '第1段'])
        """
        return cls(n=n, article=article.path, title=article.title, section=paragraph.section,
                   paragraph=paragraph.number, page=paragraph.page,
                   paragraph_text=article.text[paragraph.start : paragraph.end], paragraph_start=paragraph.start,
                   start=start, end=end, knowledge_base=knowledge_base)

    @classmethod
    def of_faq(cls, entry: FaqEntry, knowledge_base: str = "default") -> Citation:
        """An FAQ entry as citation [1]: article ``faq:ID``, title its question, section its source, text its answer.

        >>> c = Citation.of_faq(FaqEntry("3", "深圳在哪？", "广东省南部。", "市政府"))
        >>> c.kind, c.article, c.sentence_text, c.location("en")
        ('faq', 'faq:3', '广东省南部。', ['FAQ', '深圳在哪？', '市政府'])
        """
        return cls(n=1, article=f"faq:{entry.id}", title=entry.question, section=entry.source, paragraph=0,
                   page=None, paragraph_text=entry.answer, paragraph_start=0, start=0, end=len(entry.answer),
                   knowledge_base=knowledge_base, kind="faq")

    def location(self, lang: str = "zh") -> list[str]:
        """Where the citation stands, part by part: title, section (when it has one), paragraph, page.

        An FAQ entry: "FAQ", its question, its source (when it has one).
        """
        if self.kind == "faq":
            return [message("faq_source", lang), self.title, *([self.section] if self.section else [])]
        return location_parts(self.title, self.section, [self.paragraph], self.page, lang)

    @property
    def sentence_text(self) -> str:
        """The cited sentence itself."""
        a = self.start - self.paragraph_start
        return self.paragraph_text[a : a + (self.end - self.start)]


@dataclass(frozen=True)
class FaqEntry:
    """A question and its answer, written by a person (the knowledge base's ``curation/faq.jsonl``)."""

    id: str
    question: str
    answer: str
    source: str = ""  # where the answer comes from, as the person wrote it (optional)


@dataclass(frozen=True)
class ShortAnswer:
    """The exact phrase that answers, inside the sentence cited as citation ``n``.

    ``start``/``end`` are offsets into the article (like citations), so
    ``article.text[start:end] == text`` and the citation's span contains it.
    """

    text: str
    n: int
    start: int
    end: int
    score: float = 0.0  # the reader's span score (for calibration and debugging, not shown)


@dataclass
class Answer:
    """An answer with its citations, the hits it came from and timings."""

    question: str
    query: str  # the text actually searched (differs for follow-up questions)
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"
    uncited: bool = False  # generative answer without any valid citation
    short_answer: ShortAnswer | None = None  # None when refused, in generative mode, or when no phrase answers
    knowledge_bases: tuple[str, ...] = ("default",)  # the knowledge bases asked (rag.kb.bases stamps them)

    @property
    def names_bases(self) -> bool:
        """True when its sources should name their knowledge base: it was asked of any but ``default`` alone."""
        return self.knowledge_bases != ("default",)


@dataclass(frozen=True)
class Fused:
    """One fused result before it is turned into a Hit."""

    id: int
    score: float
    dense_rank: int | None
    lexical_rank: int | None
