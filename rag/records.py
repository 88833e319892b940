"""Typed records passed between pipeline stages.

Offsets are character offsets into the decoded article text (BOM not counted,
line endings untouched), so ``article.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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

    @property
    def sentence_text(self) -> str:
        """The cited sentence itself."""
        a = self.start - self.paragraph_start
        return self.paragraph_text[a : a + (self.end - self.start)]


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


@dataclass(frozen=True)
class Fused:
    """One fused result before it is turned into a Hit."""

    id: int
    score: float
    dense_rank: int | None
    lexical_rank: int | None
