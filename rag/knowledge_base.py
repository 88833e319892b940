"""The knowledge base: the Python API that the CLI and the browser sit on.

It owns the settings, loads the encoder lazily, follows the index's CURRENT
pointer (a rebuild elsewhere is picked up at the next question, no restart),
and answers questions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rag.answering import AnswerParams, extractive_answer, followup_query
from rag.errors import IndexMissingError
from rag.index_store import IndexVersion, current_version, load_version
from rag.indexing import BuildReport, Progress, build_index, chunking_settings, read_manifest
from rag.records import Answer, Article
from rag.retrieval import Searcher, SearchResult
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.embedding import Encoder

log = logging.getLogger(__name__)


class KnowledgeBase:
    """Articles indexed in one index folder, searched and answered with one encoder."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None):
        """``encoder``: an already loaded encoder to share (it must match the settings)."""
        self.settings = settings
        self._encoder: Encoder | None = encoder
        self._searcher: Searcher | None = None
        self._lock = threading.RLock()

    # -- parts, loaded on first use -------------------------------------------------
    def encoder(self) -> Encoder:
        """The query/passage encoder (prepared and loaded on first use)."""
        with self._lock:
            if self._encoder is None:
                from rag.embedding import Encoder

                s = self.settings
                self._encoder = Encoder.load(s.model, s.encoder_backend, s.models_dir, s.query_prefix,
                                             s.passage_prefix, s.batch_size, s.threads)
            return self._encoder

    def version(self) -> IndexVersion:
        """The current index version; reloaded when a build has switched CURRENT."""
        return self.searcher().version

    def searcher(self) -> Searcher:
        """A searcher over the current index version."""
        with self._lock:
            name = current_version(self.settings.index_dir)
            if self._searcher is None or self._searcher.version.name != name:
                version = load_version(self.settings.index_dir, self.settings.encoder_identity,
                                       chunking_settings(self.settings))
                encoder = self.encoder()
                if self._searcher is not None:
                    log.info("index version %s replaces %s", version.name, self._searcher.version.name)
                    self._searcher.close()
                self._searcher = Searcher(version, encoder, self.settings.candidates, self.settings.rrf_k)
            return self._searcher

    # -- the three jobs ------------------------------------------------------------
    def build(self, rebuild: bool = False, progress: Progress | None = None, wait: bool = False,
              articles: list[Article] | None = None) -> BuildReport:
        """Index the corpus folder, or the given articles (incrementally unless ``rebuild``)."""
        return build_index(self.settings, self.encoder, rebuild=rebuild, progress=progress, wait_for_lock=wait,
                           articles=articles)

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               articles: list[str] | None = None) -> SearchResult:
        """Ranked chunks for a query."""
        return self.searcher().search(query, k or self.settings.top_k, mode or self.settings.retrieval_mode,
                                      articles)

    def answer_params(self) -> AnswerParams:
        """Answer parameters from the settings."""
        s = self.settings
        return AnswerParams(max_sentences=s.answer_sentences, max_chars=s.answer_max_chars,
                            refusal_threshold=s.refusal_threshold)

    def ask(self, question: str, history: list[str] | None = None, k: int | None = None,
            mode: str | None = None, articles: list[str] | None = None) -> Answer:
        """An extractive answer with citations (or the refusal), with timings."""
        t0 = time.perf_counter()
        query = followup_query(question, history or [])
        result = self.search(query, k, mode, articles)
        t1 = time.perf_counter()
        searcher = self.searcher()
        assert result.query_vector is not None
        answer = extractive_answer(searcher.version, question, query, result.hits, result.query_vector,
                                   self.answer_params())
        t2 = time.perf_counter()
        answer.timings_ms = {**result.timings_ms, "search": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000,
                             "total": (t2 - t0) * 1000}
        return answer

    def ask_generative(self, question: str, history: list[str] | None = None, k: int | None = None,
                       mode: str | None = None, articles: list[str] | None = None) -> Iterator[Any]:
        """Stream a generative answer from the configured endpoint (see rag.generative)."""
        from rag.generative import stream_answer

        query = followup_query(question, history or [])
        result = self.search(query, k, mode, articles)
        yield from stream_answer(self.settings, self.searcher().version, question, query, result.hits)

    def status(self) -> dict[str, Any]:
        """What the index holds: version, model, counts, build time, store."""
        m = read_manifest(self.settings.index_dir)
        if m is None:
            raise IndexMissingError(f"no index in {self.settings.index_dir}: run `rag index` first")
        return {
            "index_dir": str(self.settings.index_dir),
            "version": m["version"],
            "built_at": m["created_at"],
            "model": m["model"]["name"],
            "encoder": m["model"]["identity"],
            "dimension": m["model"]["dimension"],
            "chunking": m["chunking"],
            "dense_index": m["dense"]["type"],
            "articles": m["counts"]["articles"],
            "chunks": m["counts"]["chunks"],
            "sentences": m["counts"]["sentences"],
            "store": self.settings.store,
        }
