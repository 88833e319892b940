"""Several knowledge bases at once: each searched with its own searcher, the rankings fused in one level.

The door (``rag.kb.bases.KnowledgeBases``) calls these when a question names
several knowledge bases. Searching several fuses their rankings by the same reciprocal
rank formula as the two legs (``fuse_bases``: 1/(rrf_k + rank), each knowledge
base weighted 1; equal ranks ordered by each one's own score). Each knowledge
base encodes the query with its own encoder, so bases built with different
models can be searched together (benchmarks/several_bases.py measured no loss of
hit@5 on CMRC dev); answering asks each one (its own refusal rule) and keeps the
answer of the base whose top hit ranks first in the fused list among those that
answer. Bases are searched and asked side by side, on threads.

Reciprocal rank gives every base's rank r the same score, so the fused list
interleaves the bases rank by rank: a base that holds nothing relevant still
fills its share of the top k, and a question is refused only when every base
refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.records import Answer, Hit
from rag.search.searcher import SearchResult


def fuse_bases(rankings: dict[str, list[Hit]], rrf_k: int, k: int) -> list[Hit]:
    """One ranking of several knowledge bases' hits: 1/(rrf_k + rank) each, equal ranks by their own score.

    >>> from rag.records import Chunk
    >>> def hit(kb, rank, score):
    ...     return Hit(Chunk(0, "a.txt", "t", "", (1,), 0, 1, "x"), rank, score, knowledge_base=kb)
    >>> [(h.knowledge_base, h.rank) for h in fuse_bases({"a": [hit("a", 1, 0.5), hit("a", 2, 0.4)],
    ...                                                  "b": [hit("b", 1, 0.9)]}, 5, 3)]
    [('b', 1), ('a', 2), ('a', 3)]
    """
    keyed = [(1.0 / (rrf_k + h.rank), h.score, h) for hits in rankings.values() for h in hits]
    keyed.sort(key=lambda t: (-t[0], -t[1]))
    return [replace(h, rank=rank, score=fused) for rank, (fused, _, h) in enumerate(keyed[:k], start=1)]


def search_several(bases: list[KnowledgeBase], query: str, k: int, mode: str | None, rrf_k: int) -> SearchResult:
    """Hits of several knowledge bases, each searched with its own searcher, fused in one level."""
    with ThreadPoolExecutor(max_workers=len(bases), thread_name_prefix="rag-bases") as pool:
        futures = {kb.name: pool.submit(kb.search, query, k, mode) for kb in bases}
        results = {name: future.result() for name, future in futures.items()}
    hits = fuse_bases({name: r.hits for name, r in results.items()}, rrf_k, k)
    first = next(iter(results.values()))
    timings = {f"{name}.{stage}": ms for name, r in results.items() for stage, ms in r.timings_ms.items()}
    # no query vector: each base encoded the query with its own encoder
    return SearchResult(hits, None, first.query_tokens, timings)


def answer_several(bases: list[KnowledgeBase], question: str, history: list[str] | None, k: int,
                   mode: str | None, rrf_k: int) -> Iterator[Retrieved | Answer]:
    """``Retrieved`` (the fused hits), then the answer of the best-ranked knowledge base that answers.

    Each answers with its own hits and refusal rule; the refusal, with the fused hits, when none does.
    """
    with ThreadPoolExecutor(max_workers=len(bases), thread_name_prefix="rag-bases") as pool:
        futures = {kb.name: pool.submit(kb.ask, question, history, k, mode) for kb in bases}
        answers = {name: future.result() for name, future in futures.items()}
    hits = fuse_bases({name: a.hits for name, a in answers.items()}, rrf_k, k)
    query = next(iter(answers.values())).query
    yield Retrieved(query, SearchResult(hits, None, []))
    # the answer of the base whose top hit comes first in the fused list, among those that answer
    first_rank = {h.knowledge_base: h.rank for h in reversed(hits)}
    answered = [a for name, a in answers.items() if not a.refused and name in first_rank]
    chosen = min(answered, key=lambda a: first_rank[a.hits[0].knowledge_base]) if answered else None
    # an FAQ answer (no hits: its base answered before reading) wins, the first base's first
    chosen = next((a for a in answers.values() if a.citations and a.citations[0].kind == "faq"), chosen)
    answer = chosen or next(iter(answers.values()))
    timings: dict[str, Any] = {f"{name}.{s}": ms for name, a in answers.items() for s, ms in a.timings_ms.items()}
    yield replace(answer, hits=hits, timings_ms=timings)
