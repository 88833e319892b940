"""The short answer: what the reading model reads, and its best span as an exact stretch of an article.

The reader reads the top chunks after retrieval (``reader_chunks``), each as it
was indexed (overlapping chunks are not merged: the reader was trained on
chunks as retrieval returns them, and its scores compare across the chunks of
one read; see rag/data/reader/MODEL_CARD.md for what reading 1, 2 or 3 chunks
measured). A passage is a contiguous stretch of its article, so a span's
article offsets are the passage's start plus the reader's offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.records import Hit
from rag.store.versions import IndexVersion

if TYPE_CHECKING:
    from rag.answer.reader import Reader


@dataclass(frozen=True)
class ReadPassage:
    """A stretch ``article.text[start:end]`` given to the reader, and the sentences it covers."""

    article: str
    start: int
    end: int
    sentence_ids: tuple[int, ...]


@dataclass(frozen=True)
class FoundSpan:
    """The reader's best span, in article offsets, with the sentence that holds it.

    ``null_score`` is the reader's "no answer here" score of the passage it came
    from (above 0 the head prefers no answer).
    """

    article: str
    start: int
    end: int
    text: str
    sentence_id: int
    score: float
    null_score: float


def chunk_passages(hits: list[Hit], count: int) -> list[ReadPassage]:
    """The top ``count`` chunks as passages, in rank order.

    >>> from rag.records import Chunk
    >>> hits = [Hit(Chunk(i, "a", "", "", (1,), 10 * i, 10 * i + 12, "x" * 12, (i,)), i + 1, 0.0) for i in range(3)]
    >>> [(p.start, p.end) for p in chunk_passages(hits, 2)]
    [(0, 12), (10, 22)]
    """
    return [ReadPassage(h.chunk.article, h.chunk.start, h.chunk.end, tuple(h.chunk.sentence_ids)) for h in hits[:count]]


def read_short_answer(reader: Reader, version: IndexVersion, question: str,
                      passages: list[ReadPassage]) -> FoundSpan | None:
    """The best span of the passage the reader finds most answerable (lowest null score), or None.

    Across passages, the null score picks better than the span score (CMRC
    train, held-out passages, top 2 chunks: official F1 54.3 against 53.2;
    scripts/tune_reader.py).
    """
    texts = [version.articles[p.article].text[p.start:p.end] for p in passages]
    spans = reader.read(question, texts)
    if not spans:
        return None
    best = spans[0]  # most answerable first
    passage = passages[best.passage]
    start, end = sentence_bounded(version, passage, passage.start + best.start, passage.start + best.end)
    if start >= end:
        return None
    text = version.articles[passage.article].text
    sid = holding_sentence(version, passage, start)
    return FoundSpan(passage.article, start, end, text[start:end], sid, best.score, best.null_score)


def holding_sentence(version: IndexVersion, passage: ReadPassage, offset: int) -> int:
    """The id of the passage's sentence that holds article offset ``offset`` (else the nearest one)."""
    def distance(sid: int) -> int:
        sent = version.sentences[sid]
        # offsets are half-open: a sentence's end is the next one's start, and belongs to it
        return sent.start - offset if offset < sent.start else max(0, offset - sent.end + 1)

    return min(passage.sentence_ids, key=distance)


def sentence_bounded(version: IndexVersion, passage: ReadPassage, start: int, end: int) -> tuple[int, int]:
    """A span clipped to the sentence that holds its start, whitespace trimmed (it may not cross a sentence end).

    The span is then inside the sentence cited for it; a span the reader runs
    across a sentence end (rare: spans are at most 30 tokens) keeps its first part.
    """
    sent = version.sentences[holding_sentence(version, passage, start)]
    start, end = max(start, sent.start), min(end, sent.end)
    text = version.articles[passage.article].text
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
