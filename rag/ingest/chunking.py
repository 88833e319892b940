"""Sentences and chunks: cut on sentence boundaries, keep exact spans.

A chunk is a run of whole sentences inside one section of one article, at most
``chunk_size`` characters long, overlapping the previous chunk by its last
sentences (at most ``overlap`` characters). A sentence longer than the chunk
size is cut into pieces at jieba token boundaries, preferring clause punctuation.
Invariant: ``article.text[c.start:c.end] == c.text`` for every chunk.
"""

from __future__ import annotations

import re

from rag.records import Article, Chunk, Sentence
from rag.text import CLOSING_MARKS, SENTENCE_TERMINATORS, jieba_tokenizer

# A sentence ends after a run of terminators (full- and half-width: rag.text's
# SENTENCE_TERMINATORS, with "…" and "." by their own rules: an ellipsis run,
# three dots, or a period that ends a word rather than a number) and the closing
# quotes or brackets right after them (rag.text's CLOSING_MARKS).
_TERMINATOR = re.compile(
    r"(?:[" + re.escape(SENTENCE_TERMINATORS.replace("…", "").replace(".", "")) + r"]+|…+|\.{3,}"
    r"|(?<=[^\d\s.])\.(?=\s|$))[" + re.escape(CLOSING_MARKS) + r"]*"
)
_CLAUSE_PUNCT = set("，,：:、")


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside ``text[start:end]``, whitespace trimmed, nothing lost but blanks.

    >>> t = "深圳很大。它在广东！Yes."
    >>> [t[a:b] for a, b in split_sentences(t, 0, len(t))]
    ['深圳很大。', '它在广东！', 'Yes.']
    """
    spans: list[tuple[int, int]] = []
    pos = start
    for match in _TERMINATOR.finditer(text, start, end):
        _append_trimmed(spans, text, pos, match.end())
        pos = match.end()
    _append_trimmed(spans, text, pos, end)
    return spans


def _append_trimmed(spans: list[tuple[int, int]], text: str, a: int, b: int) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        spans.append((a, b))


def cut_long_span(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``limit`` characters.

    Cuts after clause punctuation (，：、) in the second half of a window when there
    is one, else at the last jieba token boundary inside the window; a single
    token longer than the limit is cut hard.
    """
    pieces: list[tuple[int, int]] = []
    pos = start
    while end - pos > limit:
        window_end = pos + limit
        cut = 0
        for i in range(window_end, pos + limit // 2, -1):
            if text[i - 1] in _CLAUSE_PUNCT:
                cut = i
                break
        if not cut:
            # Tokenise a little past the window so the last boundary is a real one.
            window = text[pos : min(end, window_end + 16)]
            offset = 0
            for token in jieba_tokenizer().cut(window, HMM=False):
                if offset + len(token) > limit:
                    break
                offset += len(token)
            cut = pos + offset if offset > 0 else window_end
        _append_trimmed(pieces, text, pos, cut)
        pos = cut
    _append_trimmed(pieces, text, pos, end)
    return pieces


def article_sentences(article: Article, limit: int) -> list[Sentence]:
    """All sentences of an article in order, none longer than ``limit`` characters."""
    sentences: list[Sentence] = []
    for paragraph in article.paragraphs:
        for a, b in split_sentences(article.text, paragraph.start, paragraph.end):
            for pa, pb in cut_long_span(article.text, a, b, limit):
                sentences.append(Sentence(article.path, pa, pb, paragraph.number))
    return sentences


def chunk_article(article: Article, chunk_size: int, overlap: int) -> tuple[list[Sentence], list[Chunk]]:
    """Sentences and chunks of one article; chunk ids and sentence ids are local (from 0)."""
    sentences = article_sentences(article, chunk_size)
    section_of = {p.number: p.section for p in article.paragraphs}
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        section = section_of[sentences[i].paragraph]
        j = i + 1
        while (
            j < len(sentences)
            and section_of[sentences[j].paragraph] == section
            and sentences[j].end - sentences[i].start <= chunk_size
        ):
            j += 1
        chunks.append(_make_chunk(article, sentences, i, j, len(chunks), section))
        if j >= len(sentences):
            break
        # Next chunk starts with the last sentences of this one that fit in the
        # overlap, but only inside the same section and always moving forward.
        nxt = j
        while (
            nxt - 1 > i
            and section_of[sentences[nxt - 1].paragraph] == section_of[sentences[j].paragraph]
            and sentences[j - 1].end - sentences[nxt - 1].start <= overlap
            and sentences[j].end - sentences[nxt - 1].start <= chunk_size
        ):
            nxt -= 1
        i = nxt
    return sentences, chunks


def _make_chunk(article: Article, sentences: list[Sentence], i: int, j: int, chunk_id: int, section: str) -> Chunk:
    start, end = sentences[i].start, sentences[j - 1].end
    paragraphs = tuple(sorted({s.paragraph for s in sentences[i:j]}))
    return Chunk(
        id=chunk_id,
        article=article.path,
        title=article.title,
        section=section,
        paragraphs=paragraphs,
        start=start,
        end=end,
        text=article.text[start:end],
        sentence_ids=tuple(range(i, j)),
    )
