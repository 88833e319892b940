"""The knowledge base: the Python API that the CLI and the browser sit on.

It owns the settings, loads the encoder and the reading model lazily (once
each), follows the index's CURRENT pointer (a rebuild elsewhere is picked up at
the next question, no restart), and answers questions.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from rag.answer.extractive import AnswerParams, extractive_answer
from rag.answer.faq import faq_answer
from rag.answer.followup import followup_query
from rag.answer.overview import articles_in_scope, is_overview_question, overview_answer
from rag.errors import IndexMissingError, ModelError, QuestionError
from rag.kb.faq import FaqBook, faq_decision, faq_status
from rag.kb.status import AnswerStatus, IndexStatus
from rag.records import Answer, Article
from rag.search.searcher import Searcher, SearchResult
from rag.settings import Settings
from rag.store.build import BuildReport, Progress, build_index
from rag.store.chunk_store import ChunkStore
from rag.store.curation import curation_status
from rag.store.versions import IndexVersion, current_version, load_version, read_manifest, verify_current
from rag.trace import AnswerTrace, RefusalDecision

LONE_SURROGATE = re.compile("[\ud800-\udfff]")

if TYPE_CHECKING:
    from rag.answer.reader import Reader
    from rag.embed.encoder import Encoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieved:
    """Retrieval has ended: the query searched and its hits (the answer comes next)."""

    query: str
    result: SearchResult
    knowledge_bases: tuple[str, ...] = ("default",)  # the knowledge bases asked (rag.kb.bases stamps them)

    @property
    def names_bases(self) -> bool:
        """True when its hits should name their knowledge base (``Answer.names_bases``'s rule)."""
        return self.knowledge_bases != ("default",)


class KnowledgeBase:
    """Articles indexed in one index folder, searched and answered with one encoder."""

    def __init__(self, settings: Settings, encoder: Encoder | None = None, name: str = "default",
                 reader: Reader | None = None, load_reader: Callable[[Settings], Reader | None] | None = None,
                 load_encoder: Callable[[Settings], Encoder] | None = None, pool: ThreadPoolExecutor | None = None):
        """``encoder``, ``reader``: already loaded ones to share (the encoder must match the settings).

        ``name``: the knowledge base's name (``rag.kb.registry``), carried by its hits and citations;
        ``load_reader``, ``load_encoder``: how to get the reading model and the encoder on first use
        (the door shares them between bases); ``pool``: the search threads of another view of the same
        base (``with_settings``).
        """
        self.settings = settings
        self.name = name
        self._encoder: Encoder | None = encoder
        self._reader: Reader | None = reader
        self._load_reader = load_reader
        self._load_encoder = load_encoder
        self._searcher: Searcher | None = None
        self.faq = FaqBook(settings, self.encoder)
        self._lock = threading.RLock()
        # One pool for every index version: a question still running on the
        # previous version's searcher must not find its threads shut down.
        self._pool = pool or ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-search")

    # -- parts, loaded on first use -------------------------------------------------
    def encoder(self) -> Encoder:
        """The query/passage encoder, loaded on first use (the set-up prepares the default model)."""
        with self._lock:
            if self._encoder is None and self._load_encoder is not None:
                self._encoder = self._load_encoder(self.settings)
            if self._encoder is None:
                from rag.embed.encoder import Encoder

                self._encoder = Encoder.from_settings(self.settings)
            return self._encoder

    def reader(self) -> Reader | None:
        """The reading model, loaded on first use; None when ``short_answers`` is off.

        Its files missing is a ModelError that names the set-up command, never a
        quiet fall-back to answers without a short answer.
        """
        if not self.settings.short_answers:
            return None
        with self._lock:
            if self._reader is None and self._load_reader is not None:
                self._reader = self._load_reader(self.settings)
            if self._reader is None:
                from rag.answer.reader import Reader

                self._reader = Reader.from_settings(self.settings)
            return self._reader

    def with_settings(self, settings: Settings) -> KnowledgeBase:
        """This knowledge base under other question-time settings (``rag.kb.explain``), its loaded parts shared.

        The same index version, encoder, reader and threads: nothing is loaded again and nothing is saved.
        """
        searcher = self.searcher()
        reader = self.reader() if settings.short_answers else None  # loaded once, here, when the view reads
        view = KnowledgeBase(settings, encoder=self.encoder(), name=self.name, reader=reader,
                             load_reader=self._load_reader, pool=self._pool)
        view._searcher = Searcher.from_settings(searcher.version, searcher.encoder, settings, self._pool,
                                                searcher.store)
        return view

    def version(self) -> IndexVersion:
        """The current index version; reloaded when a build has switched CURRENT."""
        return self.searcher().version

    def searcher(self) -> Searcher:
        """A searcher over the current index version."""
        with self._lock:
            name = current_version(self.settings.index_dir)
            if self._searcher is None or self._searcher.version.name != name:
                version = load_version(self.settings.index_dir, self.settings.encoder_identity,
                                       self.settings.chunking)
                store: ChunkStore | None = None
                if self.settings.store == "milvus":
                    from rag.store.milvus.store import MilvusStore

                    store = MilvusStore(self.settings, version)
                encoder = self.encoder()
                if self._searcher is not None:
                    log.info("index version %s replaces %s", version.name, self._searcher.version.name)
                self._searcher = Searcher.from_settings(version, encoder, self.settings, self._pool, store)
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
        self.check_question(query)
        searcher = self.searcher()
        check_articles(searcher.version, articles)
        return self._stamped(searcher.search(query, k or self.settings.top_k, mode or self.settings.retrieval_mode,
                                             articles))

    def _stamped(self, result: SearchResult) -> SearchResult:
        """The result with its hits naming this knowledge base."""
        if self.name != "default":
            result.hits = [replace(h, knowledge_base=self.name) for h in result.hits]
        return result

    def check_question(self, question: str, history: list[str] | None = None) -> None:
        """Refuse a question (or a previous one it leans on) over ``max_question_chars``, before any tokenising.

        Enforced here so the CLI, the browser and any API share the limit: a
        200,000-character question took 20 s of CPU to tokenise and search.
        """
        limit = self.settings.max_question_chars
        for n, text in enumerate([question, *(history or [])]):
            which = "the question" if n == 0 else "a previous question of the conversation"
            if len(text) > limit:
                raise QuestionError(f"{which} has {len(text):,} characters, over the limit of {limit:,} "
                                    "(setting max_question_chars); ask a shorter question")
            # A lone surrogate (JSON can carry "\ud800") is no character: the tokenizer fails on it (a 500).
            if (bad := LONE_SURROGATE.search(text)) is not None:
                raise QuestionError(f"{which} holds U+{ord(bad.group()):04X} at character {bad.start() + 1}, "
                                    "half of a UTF-16 pair and not a character; send valid Unicode text")

    def answer_params(self) -> AnswerParams:
        """Answer parameters from the settings."""
        return AnswerParams.from_settings(self.settings)

    def answer_steps(self, question: str, history: list[str] | None = None, k: int | None = None,
                     mode: str | None = None, articles: list[str] | None = None,
                     generative: bool = False, depth: int | None = None,
                     trace: AnswerTrace | None = None) -> Iterator[Retrieved | str | Answer]:
        """Yield ``Retrieved`` when retrieval ends, then (generative) text deltas, then the ``Answer``.

        For interfaces that show the sources before the answer. One searcher is
        taken for both steps, so a rebuild switching the index in between cannot
        pair hits of one version with sentences of another. ``depth``: retrieve
        this many chunks (an evaluation grades hit@10) while the answer is drawn
        from the top ``k`` only; the fused ranking does not depend on how many are
        kept (both legs fetch ``candidates`` first), so the top ``k`` are the same.
        ``trace``: filled as the question runs (``rag.trace``), for ``rag ask --explain``.
        """
        self.check_question(question, history)
        started = time.perf_counter()
        searcher = self.searcher()
        check_articles(searcher.version, articles)
        overview = is_overview_question(question)  # about the article as a whole: never a follow-up
        query = question if overview else followup_query(question, history or [])
        k = k or self.settings.top_k
        if trace is not None:
            trace.asked(question, history or [], query)
        query_vector, faq = self._faq_step(question, query, articles, generative, trace)
        if faq is not None:
            faq.timings_ms = {"faq": (time.perf_counter() - started) * 1000,
                              "total": (time.perf_counter() - started) * 1000}
            yield Retrieved(query, SearchResult([], query_vector, []))
            if generative:
                yield faq.text
            yield faq
            return
        result = self._stamped(searcher.search(query, max(k, depth or k), mode or self.settings.retrieval_mode,
                                               articles or None, query_vector=query_vector, trace=trace))
        hits = result.hits[:k]
        if trace is not None:
            trace.kept(hits)
        searched = time.perf_counter()
        yield Retrieved(query, result)
        if overview:
            if trace is not None:
                trace.decided(RefusalDecision(rule="overview", refused=False))
            answer = overview_answer(question, articles_in_scope(searcher.version.articles, articles), hits,
                                     searcher.version.citable)
            answer.timings_ms = {"search": (searched - started) * 1000,
                                 "total": (time.perf_counter() - started) * 1000}
            yield answer
            return
        if generative:
            from rag.answer.generative import stream_answer

            for item in stream_answer(self.settings, searcher.version, question, query, hits):
                if isinstance(item, Answer):
                    item.timings_ms = {**result.timings_ms, "search": (searched - started) * 1000,
                                       **item.timings_ms}
                    self._stamp_citations(item)
                yield item
            return
        assert result.query_vector is not None  # the searcher always encodes the query
        answer = extractive_answer(searcher.version, question, query, hits, result.query_vector,
                                   self.answer_params(), self.reader(), trace)
        done = time.perf_counter()
        answer.timings_ms = {**result.timings_ms, "search": (searched - started) * 1000, **answer.timings_ms,
                             "answer": (done - searched) * 1000, "total": (done - started) * 1000}
        self._stamp_citations(answer)
        yield answer

    def _faq_step(self, question: str, query: str, articles: list[str] | None, generative: bool,
                  trace: AnswerTrace | None) -> tuple[Any, Answer | None]:
        """(the query's vector or None, the FAQ's answer or None): the FAQ is asked before the articles are read.

        Skipped when the FAQ is empty or the question is limited to articles; the
        query's vector is then computed by the search as before, else reused by it.
        """
        if articles or not self.faq.has_entries():
            return None, None
        matcher = self.faq.matcher()
        vector = self.encoder().encode_queries([query])[0]
        match = matcher.best(query, vector)
        if trace is not None:
            trace.matched_faq(faq_decision(match, matcher))
        if not match.matched or match.entry is None:
            return vector, None
        if trace is not None:
            trace.decided(RefusalDecision(rule="faq", refused=False))
        mode = "generative" if generative else "extractive"
        return vector, faq_answer(question, query, match.entry, mode, self.name)

    def _stamp_citations(self, answer: Answer) -> None:
        """The answer's citations name this knowledge base."""
        if self.name != "default":
            answer.citations = [replace(c, knowledge_base=self.name) for c in answer.citations]

    def ask(self, question: str, history: list[str] | None = None, k: int | None = None,
            mode: str | None = None, articles: list[str] | None = None, trace: AnswerTrace | None = None) -> Answer:
        """An extractive answer with citations (or the refusal), with timings; ``trace`` records its way."""
        *_, answer = self.answer_steps(question, history, k, mode, articles, trace=trace)
        assert isinstance(answer, Answer)
        return answer

    def ask_generative(self, question: str, history: list[str] | None = None, k: int | None = None,
                       mode: str | None = None, articles: list[str] | None = None) -> Iterator[str | Answer]:
        """Stream a generative answer from the configured endpoint: text deltas, then the Answer."""
        for step in self.answer_steps(question, history, k, mode, articles, generative=True):
            if not isinstance(step, Retrieved):
                yield step

    def status(self) -> dict[str, Any]:
        """``index_status()`` as ``rag status --json`` prints it (the Python API's dict, keys only grow)."""
        return self.index_status().to_json()

    def index_status(self) -> IndexStatus:
        """What the index holds: version, model, counts, build time, health, store, the answer settings.

        ``health`` is "ok", or what is damaged in the current version and the fix
        (the checks loading makes: file sizes, checksums, counts). A manifest or
        CURRENT that cannot be read raises its IndexCorruptError instead.
        """
        m = read_manifest(self.settings.index_dir)
        if m is None:
            raise IndexMissingError(f"no index in {self.settings.index_dir}: run `rag index` first")
        health = verify_current(self.settings.index_dir)
        details: dict[str, Any] = {}
        if self.settings.store == "milvus":
            from rag.store.milvus.store import collection_status

            details = collection_status(self.settings)
        return IndexStatus(
            index_dir=str(self.settings.index_dir), version=m.version, built_at=m.created_at, model=m.model.name,
            encoder=m.model.identity, dimension=m.model.dimension, chunking=dict(m.chunking),
            dense_index=m.dense.kind, articles=m.counts.articles, chunks=m.counts.chunks,
            sentences=m.counts.sentences, health=health, store=self.settings.store, answers=self.answers(),
            models_dir=str(self.settings.models_dir), store_details=details,
            curation={**curation_status(self.settings.index_dir, m, self.settings.curation_root),
                      **faq_status(self.settings)})

    def answer_status(self) -> dict[str, Any]:
        """``answers()`` as a dict (the keys ``rag status`` shows)."""
        return asdict(self.answers())

    def answers(self) -> AnswerStatus:
        """The answer settings ``status`` shows, with the reading model's identity (the hash of its weights).

        A reading model whose files are missing or damaged is shown with the error's
        fix instead of failing the status: the index may still be fine.
        """
        reader = "off (short_answers = false)"
        if self.settings.short_answers:
            from rag.answer.reader import ReaderFiles, head_identity

            # The files checked, not loaded (about a second): a status shows what a question would use.
            try:
                reader = self._reader.identity if self._reader is not None else head_identity(
                    ReaderFiles.from_settings(self.settings).config)
            except ModelError as exc:
                reader = f"unavailable: {exc}"
        s = self.settings
        return AnswerStatus(s.answer_mode, s.short_answers, reader, s.reader_chunks, s.refusal_threshold,
                            s.reader_refusal_threshold, s.reader_null_weight, s.reader_mismatch_weight)


def check_articles(version: IndexVersion, articles: list[str] | None) -> None:
    """Refuse a search limited to an article the index does not hold (a typo, a path outside the corpus)."""
    unknown = [path for path in articles or [] if path not in version.articles]
    if unknown:
        known = sorted(version.articles)
        shown = ", ".join(known[:5]) + (f" … ({len(known)} in all)" if len(known) > 5 else "")
        raise QuestionError(
            f"{unknown[0]!r} is not an indexed article: give a path relative to the corpus folder "
            f"as the index lists it ({shown or 'the index is empty'}), or run `rag index` if it is new"
        )
