"""A 👎 that teaches: the right answer, typed or chosen among the retrieved sentences, kept so it comes next time.

A typed answer becomes an FAQ entry (``rag.kb.faq``): the next close question is
answered with it, before the articles are read. A sentence chosen among those the
answer retrieved becomes a linked question on the chunk that holds it
(``rag.kb.chunks``): the next search finds that chunk for the question. Either way
the rating's row in ``feedback.jsonl`` records what was taught (key ``taught``),
and a typed answer becomes the row's gold answer, so re-running the ratings as a
question set (``rag eval index/feedback.jsonl``) judges the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rag.errors import CurationError
from rag.ingest.chunking import split_sentences
from rag.ingest.faq_import import MAX_ANSWER_CHARS, faq_rows_from_json
from rag.kb.chunks import article_chunks, link_chunk
from rag.kb.feedback import FEEDBACK_FILE, mark_taught
from rag.records import Answer

if TYPE_CHECKING:
    from rag.kb.knowledge_base import KnowledgeBase
    from rag.settings import Settings

TEACH_KINDS = ("faq", "link")
MAX_TAUGHT_CHARS = MAX_ANSWER_CHARS  # a typed answer is an FAQ entry's answer
SENTENCE_CHARS_SHOWN = 120  # a line of the page's list; the whole sentence is what is taught
MAX_SENTENCES = 30  # what the page's list offers: the cited sentences, then the retrieved chunks' sentences


@dataclass(frozen=True)
class RetrievedSentence:
    """A sentence an answer retrieved (cited, or in one of its hits' chunks), offered as the right answer."""

    article: str
    start: int
    end: int
    text: str
    knowledge_base: str = "default"


@dataclass(frozen=True)
class Taught:
    """What a 👎 taught: an FAQ entry (``faq_id``) or a linked question (``article``, ``chunk``), and its rating row."""

    kind: str
    question: str
    answer: str
    faq_id: str | None = None
    article: str | None = None
    chunk: int | None = None
    rating: dict[str, Any] | None = None  # the 👎 row it was recorded on; None when none was found

    def to_json(self) -> dict[str, Any]:
        """The API's answer: what was taught, and whether a rating recorded it."""
        taught = {k: v for k, v in (("faq_id", self.faq_id), ("article", self.article), ("chunk", self.chunk))
                  if v is not None}
        return {"kind": self.kind, "question": self.question, "answer": self.answer, **taught,
                "rating_id": None if self.rating is None else self.rating.get("id")}


def shown_sentence(text: str, limit: int = SENTENCE_CHARS_SHOWN) -> str:
    """A sentence as one line of a list: cut at ``limit`` characters with an ellipsis.

    >>> shown_sentence("深圳很大。"), shown_sentence("一二三四五六", 4)
    ('深圳很大。', '一二三…')
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retrieved_sentences(answer: Answer, limit: int = MAX_SENTENCES) -> list[RetrievedSentence]:
    """The sentences an answer found, each once: its cited sentences, then its hits' chunks' sentences by rank.

    >>> from rag.records import Chunk, Hit
    >>> chunk = Chunk(0, "a.txt", "标题", "", (1,), 5, 13, "第一句。第二句。")
    >>> a = Answer("问", "问", "", True, hits=[Hit(chunk, 1, 0.5)])
    >>> [(s.text, s.start, s.end) for s in retrieved_sentences(a)]
    [('第一句。', 5, 9), ('第二句。', 9, 13)]
    """
    found: dict[tuple[str, str], RetrievedSentence] = {}
    for c in answer.citations:
        if c.kind == "article":
            found.setdefault((c.article, c.sentence_text), RetrievedSentence(
                c.article, c.start, c.end, c.sentence_text, c.knowledge_base))
    for hit in sorted(answer.hits, key=lambda h: h.rank):
        ch = hit.chunk
        for a, b in split_sentences(ch.text, 0, len(ch.text)):
            found.setdefault((ch.article, ch.text[a:b]), RetrievedSentence(
                ch.article, ch.start + a, ch.start + b, ch.text[a:b], hit.knowledge_base))
    return list(found.values())[:limit]


def chunk_holding(kb: KnowledgeBase, article: str, sentence: str) -> tuple[int, tuple[int, ...]]:
    """The number (``rag chunks``) and paragraphs of the first chunk of ``article`` that is on and holds ``sentence``.

    CurationError when no chunk of the article holds it (the article changed since the answer).
    """
    version = kb.version()
    rows = article_chunks(version, article).chunks
    for row in rows:
        if not row.off and sentence.strip() and sentence.strip() in row.text:
            chunk = version.chunks[row.id]
            at = version.articles[article].text.find(sentence.strip(), chunk.start, chunk.end)
            paragraph = [p.number for p in version.articles[article].paragraphs if p.start <= at < p.end]
            return row.n, tuple(paragraph) or row.paragraphs
    raise CurationError(f"no chunk of {article} that is on holds {sentence[:40]!r} (the article may have changed "
                        f"since the answer): `rag chunks {article}` lists them")


def teach(kb: KnowledgeBase, question: str, answer_text: str, how: str, answer_id: str | None = None,
          article: str | None = None, ratings: Settings | None = None) -> Taught:
    """Teach the right answer to ``question`` after a 👎: ``how`` "faq" (a typed answer) or "link" (a chosen sentence).

    "faq": an FAQ entry question → ``answer_text``, its source naming the rating.
    "link": ``answer_text`` is a sentence of ``article``; the question is linked to the
    chunk that holds it and the index is built to apply it. The 👎 row of ``answer_id``
    (without one: the latest 👎 of the question) records it under ``taught``; ``ratings``: the
    knowledge base whose ratings hold it, when another answered with it (default: ``kb``'s).
    CurationError, with nothing changed, for an empty or over-long text or an unknown sentence.
    """
    question, answer_text = (question or "").strip(), (answer_text or "").strip()
    if how not in TEACH_KINDS:
        raise CurationError(f"teach takes how = 'faq' (a typed answer) or 'link' (a chosen sentence), not {how!r}")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    ratings = ratings or kb.settings
    if how == "faq":
        rows = faq_rows_from_json([{"question": question, "answer": answer_text,
                                    "source": f"👎 {FEEDBACK_FILE} {answer_id or ''}"}], "the right answer")
        if rows.problems:
            raise CurationError(rows.problems[0])
        done = kb.faq.import_rows(rows)
        entry = (done.added or done.updated)[0]
        rating = mark_taught(ratings, answer_id, question, {
            "answers": [answer_text], "unanswerable": False,
            "taught": {"kind": "faq", "id": entry.id, "answer": answer_text, "at": at}})
        return Taught("faq", question, answer_text, faq_id=entry.id, rating=rating)
    if not article:
        raise CurationError("a chosen sentence needs its article: give the article's path in the corpus folder")
    n, paragraphs = chunk_holding(kb, article, answer_text)
    link_chunk(kb, article, n, question)
    rating = mark_taught(ratings, answer_id, question, {
        "article": article, "paragraph": paragraphs[0],
        "taught": {"kind": "link", "article": article, "chunk": n, "sentence": answer_text, "at": at}})
    return Taught("link", question, answer_text, article=article, chunk=n, rating=rating)
