"""Hybrid retrieval: dense and lexical rankings fused by reciprocal rank (``rag.search.fusion``).

``Searcher`` runs the two legs (side by
side, in threads: FAISS and the sparse BM25 product release the GIL) over one
loaded index version.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from rag.records import Fused, Hit
from rag.search.fusion import fuse_rankings
from rag.search.linked import LINKED_MARGIN, with_linked_keys
from rag.search.sentences import SENTENCE_WEIGHTS, score_sentences
from rag.settings import Settings
from rag.store.chunk_store import ChunkStore, FaissStore, FusingStore
from rag.store.versions import IndexVersion
from rag.trace import AnswerTrace

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder


@dataclass
class SearchResult:
    """Hits plus what it took to find them."""

    hits: list[Hit]
    query_vector: np.ndarray | None
    query_tokens: list[str]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Searcher:
    """Searches one index version with one encoder."""

    def __init__(self, version: IndexVersion, encoder: Encoder | None, *, candidates: int, rrf_k: int,
                 lexical_weight: float, rerank_weight: float, rerank_depth: int,
                 pool: ThreadPoolExecutor | None = None, store: ChunkStore | None = None):
        """The fusion and re-rank values have no defaults here: ``from_settings`` gives the tuned ones.

        ``pool``: threads for the lexical leg, shared by the searchers of successive index versions.
        ``store``: where the legs run (default: the version's own FAISS and bm25s files).
        """
        self.version = version
        self.store: ChunkStore = store if store is not None else FaissStore(version)
        self.encoder = encoder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.lexical_weight = lexical_weight
        self.rerank_weight = rerank_weight
        self.rerank_depth = rerank_depth
        self.linked_margin = LINKED_MARGIN  # taken off a linked question's score
        self._own_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-search")

    @classmethod
    def from_settings(cls, version: IndexVersion, encoder: Encoder | None, settings: Settings,
                      pool: ThreadPoolExecutor | None = None, store: ChunkStore | None = None) -> Searcher:
        """A searcher with the settings' candidates, fusion constant and weights (what ``rag search`` uses)."""
        return cls(version, encoder, candidates=settings.candidates, rrf_k=settings.rrf_k,
                   lexical_weight=settings.rrf_lexical_weight, rerank_weight=settings.rerank_weight,
                   rerank_depth=settings.rerank_depth, pool=pool, store=store)

    def search(self, query: str, k: int = 5, mode: str = "hybrid", articles: list[str] | None = None,
               query_vector: np.ndarray | None = None, trace: AnswerTrace | None = None) -> SearchResult:
        """The top ``k`` chunks for a query; ``articles`` limits the search to those article paths.

        ``query_vector``: the query's embedding when the caller already has it
        (batch evaluation encodes all questions at once). ``trace``: where to
        record every fused candidate and its re-rank scores (``rag.trace``).
        """
        timings: dict[str, float] = {}
        articles = articles or None
        off = self.version.curation.off  # chunks turned off (rag chunks --off): no leg returns them
        depth = max(self.candidates, k) + len(off)

        def lexical_leg() -> tuple[list[str], np.ndarray, np.ndarray]:
            t = time.perf_counter()
            tokens, ids, scores = self.store.lexical_search(query, depth, articles)
            timings["lexical"] = (time.perf_counter() - t) * 1000
            return (tokens, *_without(off, ids, scores))

        if mode == "hybrid" and isinstance(self.store, FusingStore) and self.store.own_fusion:
            return self._search_fused_by_store(self.store, query, k, depth, articles, query_vector, trace)
        lexical_future = self._pool.submit(lexical_leg) if mode in ("hybrid", "lexical") else None
        dense_ids = np.zeros(0, dtype=np.int64)
        dense_scores = np.zeros(0, dtype=np.float32)
        if query_vector is None and (mode in ("hybrid", "dense") or self.encoder is not None):
            query_vector = self._encode(query, timings)
        if mode in ("hybrid", "dense") and query_vector is not None:
            t = time.perf_counter()
            dense_ids, dense_scores = _without(off, *self.store.dense_search(query_vector, depth, articles))
            dense_ids, dense_scores, linked = self._with_linked(query_vector, dense_ids, dense_scores, depth, articles)
            timings["dense"] = (time.perf_counter() - t) * 1000
        else:
            linked = {}
        tokens: list[str] = []
        lexical_ids = np.zeros(0, dtype=np.int64)
        lexical_scores = np.zeros(0, dtype=np.float32)
        if lexical_future is not None:
            tokens, lexical_ids, lexical_scores = lexical_future.result()

        t = time.perf_counter()
        dense_score_of = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
        lexical_score_of = dict(zip(lexical_ids.tolist(), lexical_scores.tolist(), strict=True))
        if mode == "dense":
            fused = [Fused(c, s, r, None) for r, (c, s) in enumerate(dense_score_of.items(), start=1)]
        elif mode == "lexical":
            fused = [Fused(c, s, None, r) for r, (c, s) in enumerate(lexical_score_of.items(), start=1)]
        else:
            fused = fuse_rankings(dense_ids.tolist(), lexical_ids.tolist(), self.rrf_k, self.lexical_weight)
        if trace is not None:
            trace.searched(mode, k, fused, self.version.chunks, dense_score_of, lexical_score_of, linked)
        rerank = mode == "hybrid" and self.rerank_weight > 0 and query_vector is not None
        hits = [
            Hit(
                chunk=self.version.chunks[f.id], rank=rank, score=float(f.score),
                dense_rank=f.dense_rank, dense_score=dense_score_of.get(f.id),
                lexical_rank=f.lexical_rank, lexical_score=lexical_score_of.get(f.id),
            )
            for rank, f in enumerate(fused[: max(k, self.rerank_depth) if rerank else k], start=1)
        ]
        timings["fusion"] = (time.perf_counter() - t) * 1000
        if rerank and query_vector is not None:
            t = time.perf_counter()
            hits = self.rerank_by_sentence(hits, query, query_vector, tokens, trace)[:k]
            timings["rerank"] = (time.perf_counter() - t) * 1000
        return SearchResult(hits, query_vector, tokens, timings)

    def _with_linked(self, query_vector: np.ndarray, ids: np.ndarray, scores: np.ndarray, depth: int,
                     articles: list[str] | None) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """The dense ranking with the linked questions as extra keys of their chunks (``rag.search.linked``).

        Returns it with, per chunk found through a linked question, that question.
        """
        curation = self.version.curation
        if not curation.linked or curation.linked_vectors is None:
            return ids, scores, {}
        key_scores = curation.linked_vectors @ np.asarray(query_vector, dtype=np.float32)
        key_chunks = np.fromiter((q.chunk for q in curation.linked), dtype=np.int64, count=len(curation.linked))
        allowed = set(self.version.article_chunk_ids(articles).tolist()) if articles else None
        ids, scores, via = with_linked_keys(ids, scores, key_chunks, key_scores, depth, allowed, self.linked_margin)
        return ids, scores, {c: curation.linked[key].question for c, key in via.items()}

    def rerank_by_sentence(self, hits: list[Hit], query: str, query_vector: np.ndarray,
                            tokens: list[str], trace: AnswerTrace | None = None) -> list[Hit]:
        """Order fused hits by their fusion score plus the score of their best sentence.

        A chunk from the right passage but without the answer loses to its
        neighbour that holds the answering sentence (measured on the CMRC tuning
        half with scripts/tune_fusion.py: weight 1.5 moves hit@1 0.851 -> 0.880, MRR@10 0.915 -> 0.930).
        """
        scored = score_sentences(self.version, hits, query_vector, tokens, SENTENCE_WEIGHTS, query)
        best_of = {s.sentence_id: s.score for s in scored}
        # Fusion scores are about 1/(rrf_k + rank); scaled so the top one is near 1, like a cosine.
        scale = 1.0 / max(hits[0].score, 1e-9) if hits else 1.0
        keyed = []
        for hit in hits:
            best = max((best_of[sid] for sid in hit.chunk.sentence_ids if sid in best_of), default=0.0)
            keyed.append((hit.score * scale + self.rerank_weight * best, hit))
            if trace is not None:
                trace.reranked_one(hit.chunk.id, best, keyed[-1][0])
        keyed.sort(key=lambda pair: (-pair[0], pair[1].rank))
        return [replace(hit, rank=rank, score=score) for rank, (score, hit) in enumerate(keyed, start=1)]

    def _encode(self, query: str, timings: dict[str, float]) -> np.ndarray:
        """The query's vector, its time recorded as the "encode" stage."""
        if self.encoder is None:
            raise ValueError("dense search needs an encoder")
        t = time.perf_counter()
        vector = self.encoder.encode_queries([query])[0]
        timings["encode"] = (time.perf_counter() - t) * 1000
        return vector

    def _search_fused_by_store(self, store: FusingStore, query: str, k: int, depth: int, articles: list[str] | None,
                               query_vector: np.ndarray | None, trace: AnswerTrace | None) -> SearchResult:
        timings: dict[str, float] = {}
        if query_vector is None:
            query_vector = self._encode(query, timings)
        t = time.perf_counter()
        off = self.version.curation.off
        fused = [f for f in store.fused_search(query, query_vector, k + len(off), depth, self.rrf_k, articles)
                 if f.id not in off]
        timings["fusion"] = (time.perf_counter() - t) * 1000
        if trace is not None:
            trace.searched("hybrid", k, fused, self.version.chunks, {}, {})
        hits = [Hit(chunk=self.version.chunks[f.id], rank=rank, score=f.score)
                for rank, f in enumerate(fused[:k], start=1)]
        return SearchResult(hits, query_vector, self.version.curation.vocabulary.lexical_tokens(query), timings)

    def close(self) -> None:
        """Stop the worker threads."""
        if self._own_pool:
            self._pool.shutdown(wait=False)


def _without(off: frozenset[int], ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A leg's ranking without the chunks turned off (its order kept)."""
    if not off or not len(ids):
        return ids, scores
    keep = ~np.isin(ids, np.fromiter(off, dtype=np.int64))
    return ids[keep], scores[keep]
