"""The short answer: what the reading model reads, and its best span as an exact stretch of an article.

The reader reads the top chunk after retrieval (``reader_chunks``): on CMRC 2018
train passages it never trained on, the top chunk read better (official F1 56.6,
EM 30.0) than the top two chunks (54.3) or the best two or three sentences of
the top five chunks, with or without their neighbours (54.9-55.4), at about 125
tokens a question (scripts/tune_reader.py, BENCHMARKS.md). Overlapping chunks of
one article are merged, so no text is read twice. A passage is a contiguous
stretch of its article, so a span's article offsets are the passage's start plus
the reader's offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.records import Hit
from rag.store.versions import IndexVersion
from rag.trace import AnswerTrace

if TYPE_CHECKING:
    from rag.answer.reader import Reader, Span


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
    """The top ``count`` chunks as passages, overlapping ones of an article merged."""
    return merge_passages([ReadPassage(h.chunk.article, h.chunk.start, h.chunk.end, tuple(h.chunk.sentence_ids))
                           for h in hits[:count]])


def merge_passages(passages: list[ReadPassage]) -> list[ReadPassage]:
    """Merge passages of one article that overlap or touch, keeping the first one's place.

    >>> a, b = ReadPassage("x", 0, 10, (0,)), ReadPassage("x", 10, 20, (1,))
    >>> merge_passages([b, ReadPassage("y", 0, 5, (7,)), a])
    [ReadPassage(article='x', start=0, end=20, sentence_ids=(0, 1)), ReadPassage(article='y', start=0, end=5, \
sentence_ids=(7,))]
    """
    merged: list[ReadPassage] = []
    for passage in passages:
        for i, kept in enumerate(merged):
            if kept.article == passage.article and passage.start <= kept.end and kept.start <= passage.end:
                merged[i] = ReadPassage(kept.article, min(kept.start, passage.start), max(kept.end, passage.end),
                                        tuple(sorted(set(kept.sentence_ids) | set(passage.sentence_ids))))
                break
        else:
            merged.append(passage)
    if len(merged) < len(passages):  # a merge may join two kept passages: merge again until stable
        return merge_passages(merged)
    return merged


def read_short_answer(reader: Reader, version: IndexVersion, question: str,
                      passages: list[ReadPassage], trace: AnswerTrace | None = None) -> FoundSpan | None:
    """The best span of the passage the reader finds most answerable (lowest null score), or None.

    Across passages, the null score picks better than the span score (CMRC
    train, held-out passages, top 2 chunks: official F1 54.3 against 53.2;
    scripts/tune_reader.py). ``trace``: where to record each passage's best span (``rag.trace``).
    """
    texts = [version.articles[p.article].text[p.start:p.end] for p in passages]
    spans = reader.read(question, texts)
    found = _found_span(version, passages, spans[0]) if spans else None  # most answerable first
    if trace is not None:
        _record_spans(trace, passages, spans, found)
    return found


def _record_spans(trace: AnswerTrace, passages: list[ReadPassage], spans: list[Span], found: FoundSpan | None) -> None:
    """Each passage's best span in the trace; the best of all as the short answer it gives (``found``)."""
    for n, span in enumerate(spans):
        passage = passages[span.passage]
        where, text = (passage.start + span.start, passage.start + span.end), span.text
        if n == 0 and found is not None:
            where, text = (found.start, found.end), found.text
        trace.read(passage.article, (passage.start, passage.end), where, text, span.score, span.null_score,
                   chosen=n == 0 and found is not None)


def _found_span(version: IndexVersion, passages: list[ReadPassage], best: Span) -> FoundSpan | None:
    """The reader's span as an exact stretch of its article, clipped to its sentence; None when nothing is left."""
    passage = passages[best.passage]
    start, end = sentence_bounded(version, passage, passage.start + best.start, passage.start + best.end)
    if start >= end:
        return None
    text = version.articles[passage.article].text
    sid = holding_sentence(version, passage, start)
    start = with_qualifier(text, start, version.sentences[sid].start)  # stays inside sentence sid
    return FoundSpan(passage.article, start, end, text[start:end], sid, best.score, best.null_score)


# Words that qualify the number after them, and CMRC 2018 train's gold answers mostly keep (a number
# right after one of them: 32 gold answers hold the word, 17 leave it out; 约 alone 10 against 11;
# python scripts/qualifier_counts.py --train cmrc2018_train.json).
QUALIFIERS = ("大约", "超过", "将近", "高达", "约", "超", "近", "逾")
_NUMBER_START = re.compile(r"[\d一二两三四五六七八九十百千万]")


def with_qualifier(text: str, start: int, floor: int) -> int:
    """A number's start moved back over the qualifier right before it (「约 2200 亿元」, not 「2200 亿元」).

    ``floor``: the start of the sentence, which the span may not leave.

    >>> t = "营收约 2200 亿元"
    >>> t[with_qualifier(t, 4, 0):], t[with_qualifier(t, 4, 4):], with_qualifier("达 5 家", 2, 0)
    ('约 2200 亿元', '2200 亿元', 2)
    """
    if start >= len(text) or not _NUMBER_START.match(text[start]):
        return start
    before = start
    while before > floor and text[before - 1] == " ":
        before -= 1
    for word in QUALIFIERS:
        if before - len(word) >= floor and text[before - len(word):before] == word:
            return before - len(word)
    return start


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
