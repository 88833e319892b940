"""Several knowledge bases at once: each searched with its own searcher, the rankings fused in one level.

``KnowledgeBases`` opens knowledge bases by name (``rag.kb.registry``) on first
use; those with the same encoder share one loaded encoder, and all share one
reading model. Searching several fuses their rankings by the same reciprocal
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

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rag.errors import KnowledgeBaseError
from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.kb.registry import KnowledgeBaseSpec, find_base, list_bases, settings_for
from rag.records import Answer, Hit
from rag.search.searcher import SearchResult
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answer.reader import Reader
    from rag.embed.encoder import Encoder


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


class KnowledgeBases:
    """The knowledge bases of one installation, opened by name on first use (thread-safe)."""

    def __init__(self, settings: Settings, opened: dict[str, KnowledgeBase] | None = None) -> None:
        """``opened``: knowledge bases already open (e.g. the page's own), reused by name."""
        self.settings = settings
        self._open: dict[str, KnowledgeBase] = dict(opened or {})
        self._encoders: dict[str, Encoder] = {}
        self._reader: Reader | None = None
        self._lock = threading.RLock()
        for kb in self._open.values():
            self._encoders.setdefault(kb.settings.encoder_identity + str(kb.settings.models_dir), kb.encoder())

    def specs(self) -> list[KnowledgeBaseSpec]:
        """Every knowledge base there is (read afresh: one made or deleted since shows at once)."""
        return list_bases(self.settings)

    def names(self) -> list[str]:
        """Their names, ``default`` first."""
        return [s.name for s in self.specs()]

    def get(self, name: str) -> KnowledgeBase:
        """One knowledge base, opened on first use; KnowledgeBaseError when there is none of that name."""
        with self._lock:
            spec = find_base(self.settings, name)  # read afresh: a base deleted since is gone
            if name in self._open:
                return self._open[name]
            own = settings_for(self.settings, spec)
            key = own.encoder_identity + str(own.models_dir)
            kb = KnowledgeBase(own, encoder=self._encoders.get(key), name=spec.name, reader=self._shared_reader(own))
            self._encoders.setdefault(key, kb.encoder())
            self._open[name] = kb
            return kb

    def forget(self, name: str) -> None:
        """Drop an open knowledge base (after it was deleted)."""
        with self._lock:
            self._open.pop(name, None)

    def _shared_reader(self, settings: Settings) -> Reader | None:
        if not settings.short_answers:
            return None
        if self._reader is None:
            from rag.answer.reader import Reader

            self._reader = Reader.from_settings(settings)
        return self._reader

    def pick(self, names: list[str] | tuple[str, ...]) -> list[KnowledgeBase]:
        """The named knowledge bases, each once, in the order given; at least one."""
        unique = list(dict.fromkeys(n.strip() for n in names if n.strip())) or ["default"]
        return [self.get(n) for n in unique]

    def search(self, query: str, names: list[str] | tuple[str, ...], k: int | None = None,
               mode: str | None = None) -> SearchResult:
        """Hits of one or several knowledge bases (several: fused in one level, see ``fuse_bases``)."""
        bases = self.pick(names)
        if len(bases) == 1:
            return bases[0].search(query, k=k, mode=mode)
        k = k or self.settings.top_k
        with ThreadPoolExecutor(max_workers=len(bases), thread_name_prefix="rag-bases") as pool:
            futures = {kb.name: pool.submit(kb.search, query, k, mode) for kb in bases}
            results = {name: future.result() for name, future in futures.items()}
        hits = fuse_bases({name: r.hits for name, r in results.items()}, self.settings.rrf_k, k)
        first = next(iter(results.values()))
        timings = {f"{name}.{stage}": ms for name, r in results.items() for stage, ms in r.timings_ms.items()}
        # no query vector: each base encoded the query with its own encoder
        return SearchResult(hits, None, first.query_tokens, timings)

    def answer_steps(self, question: str, names: list[str] | tuple[str, ...], history: list[str] | None = None,
                     k: int | None = None, articles: list[str] | None = None,
                     generative: bool = False) -> Iterator[Retrieved | str | Answer]:
        """``KnowledgeBase.answer_steps`` over one or several knowledge bases.

        Several: each answers with its own hits and refusal rule; the fused hits are
        retrieved, and the answer is that of the best-ranked knowledge base that
        answers (the refusal, with the fused hits, when none does).
        """
        bases = self.pick(names)
        if len(bases) == 1:
            yield from bases[0].answer_steps(question, history, k=k, articles=articles, generative=generative)
            return
        if generative or articles:
            raise KnowledgeBaseError("generative answers and --article work on one knowledge base at a time; "
                                     "choose one")
        k = k or self.settings.top_k
        with ThreadPoolExecutor(max_workers=len(bases), thread_name_prefix="rag-bases") as pool:
            futures = {kb.name: pool.submit(kb.ask, question, history, k) for kb in bases}
            answers = {name: future.result() for name, future in futures.items()}
        hits = fuse_bases({name: a.hits for name, a in answers.items()}, self.settings.rrf_k, k)
        query = next(iter(answers.values())).query
        yield Retrieved(query, SearchResult(hits, None, []))
        # the answer of the base whose top hit comes first in the fused list, among those that answer
        first_rank = {h.knowledge_base: h.rank for h in reversed(hits)}
        answered = [a for name, a in answers.items() if not a.refused and name in first_rank]
        chosen = min(answered, key=lambda a: first_rank[a.hits[0].knowledge_base]) if answered else None
        answer = chosen or next(iter(answers.values()))
        timings: dict[str, Any] = {f"{name}.{s}": ms for name, a in answers.items() for s, ms in a.timings_ms.items()}
        yield replace(answer, hits=hits, timings_ms=timings)

    def ask(self, question: str, names: list[str] | tuple[str, ...], history: list[str] | None = None,
            k: int | None = None, articles: list[str] | None = None) -> Answer:
        """The answer of ``answer_steps`` (extractive)."""
        *_, answer = self.answer_steps(question, names, history, k, articles)
        assert isinstance(answer, Answer)
        return answer
