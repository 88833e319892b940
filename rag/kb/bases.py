"""The door into the library: ``KnowledgeBases``, the one object the CLI, the API and the page call.

It opens knowledge bases by name (``rag.kb.registry``) on first use; those with
the same encoder share one loaded encoder, and all share one reading model. Every
call takes the names it works on, one or several, and decides itself what one
and several mean (``rag.kb.several`` fuses several), so a face never branches on
how many were chosen. What comes out is typed: ``IndexStatus``, ``BaseSummary``,
``BuildReport``, ``BuildJob``, ``Retrieved``, ``Answer``, ``ArticleRow``,
``UploadCheck`` (``rag.kb.status``, ``rag.kb.jobs``, ``rag.kb.uploads``). It owns the
background builds (one per knowledge base: a build of one never holds up
another) and the corpus changes of each base (uploads, deletions, ratings).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexMissingError, KnowledgeBaseError, RagError
from rag.kb import registry, uploads
from rag.kb.explain import Explained, explain
from rag.kb.faq import FaqBook
from rag.kb.feedback import feedback_record, rating_base, save_feedback
from rag.kb.jobs import BuildJob
from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.kb.registry import DEFAULT, KnowledgeBaseSpec
from rag.kb.several import answer_several, search_several
from rag.kb.status import BaseSummary, IndexStatus
from rag.records import Answer, Article
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answer.reader import Reader
    from rag.embed.encoder import Encoder
    from rag.search.searcher import SearchResult
    from rag.store.build import BuildReport, Progress

log = logging.getLogger(__name__)

# What a face may show of the formats a corpus takes (uploads are checked against the same list).
SUPPORTED_SUFFIXES = uploads.SUPPORTED_SUFFIXES


@dataclass(frozen=True)
class Scope:
    """What a choice of knowledge bases offers a question: the articles to suggest and to filter by.

    ``filterable``: an article filter applies (one knowledge base chosen); ``articles`` are the
    (path, title) of every chosen base's indexed articles, for example questions.
    """

    names: tuple[str, ...]
    articles: list[tuple[str, str]]
    filterable: bool

    @property
    def names_bases(self) -> bool:
        """True when what is shown should name its knowledge base (anything but ``default`` alone)."""
        return self.names != (DEFAULT,)


class KnowledgeBases:
    """The knowledge bases of one installation, opened by name on first use (thread-safe)."""

    def __init__(self, settings: Settings, opened: dict[str, KnowledgeBase] | None = None) -> None:
        """``opened``: knowledge bases already open, reused by name."""
        self.settings = settings
        self._open: dict[str, KnowledgeBase] = dict(opened or {})
        self._encoders: dict[str, Encoder] = {}
        self._reader: Reader | None = None
        self._jobs: dict[str, BuildJob] = {}
        self._lock = threading.RLock()
        for kb in self._open.values():
            self._encoders.setdefault(kb.settings.encoder_identity + str(kb.settings.models_dir), kb.encoder())

    # -- which knowledge bases there are ---------------------------------------------------------
    def specs(self) -> list[KnowledgeBaseSpec]:
        """Every knowledge base there is (read afresh: one made or deleted since shows at once)."""
        return registry.list_bases(self.settings)

    def names(self) -> list[str]:
        """Their names, ``default`` first."""
        return [s.name for s in self.specs()]

    def get(self, name: str) -> KnowledgeBase:
        """One knowledge base, opened on first use; KnowledgeBaseError when there is none of that name."""
        with self._lock:
            spec = registry.find_base(self.settings, name)  # read afresh: a base deleted since is gone
            if name in self._open:
                return self._open[name]
            own = registry.settings_for(self.settings, spec)
            # The encoder loads when a question or a build first needs it, not here: `rag status` needs none.
            kb = KnowledgeBase(own, name=spec.name, load_reader=self._shared_reader, load_encoder=self._shared_encoder)
            self._open[name] = kb
            return kb

    def _shared_encoder(self, settings: Settings) -> Encoder:
        """One loaded encoder for every base with the same encoder and models folder."""
        with self._lock:
            key = settings.encoder_identity + str(settings.models_dir)
            if key not in self._encoders:
                from rag.embed.encoder import Encoder

                self._encoders[key] = Encoder.from_settings(settings)
            return self._encoders[key]

    def _shared_reader(self, settings: Settings) -> Reader | None:
        """The one reading model of every base, loaded when the first one needs it."""
        with self._lock:
            if self._reader is None:
                from rag.answer.reader import Reader

                # The bundled encoder's tokenizer is the reader's own: shared when loaded (about a second).
                self._reader = Reader.from_settings(settings, share_from=list(self._encoders.values()))
            return self._reader

    def settings_of(self, name: str | None = None) -> Settings:
        """The settings a knowledge base runs with (its own on top of the installation's)."""
        return registry.settings_for(self.settings, registry.find_base(self.settings, name or DEFAULT))

    def pick(self, names: Sequence[str] | str | None) -> list[str]:
        """The names asked for, each once, each checked to exist; ``default`` when none is (a string: comma-separated).

        KnowledgeBaseError names the ones there are when one does not exist.
        """
        given = names.split(",") if isinstance(names, str) else list(names or [])
        unique = list(dict.fromkeys(n.strip() for n in given if n.strip())) or [DEFAULT]
        for name in unique:
            registry.find_base(self.settings, name)
        return unique

    def single(self, names: Sequence[str] | str | None, what: str) -> str:
        """The one knowledge base ``what`` (a command) works on; KnowledgeBaseError when several are named."""
        picked = self.pick(names)
        if len(picked) != 1:
            raise KnowledgeBaseError(f"{what} works on one knowledge base at a time; give one --kb "
                                     f"(got {', '.join(picked)})")
        return picked[0]

    def create(self, name: str) -> KnowledgeBaseSpec:
        """Make a knowledge base (``rag kb create``); KnowledgeBaseError with the reason when it cannot be."""
        return registry.create_base(self.settings, name.strip())

    def delete(self, name: str) -> KnowledgeBaseSpec:
        """Delete a created knowledge base with its folder; KnowledgeBaseError says why one cannot be."""
        if self.building(name):
            raise KnowledgeBaseError(f"knowledge base {name!r} is being indexed; delete it when the build ends")
        spec = registry.delete_base(self.settings, name)
        with self._lock:
            self._open.pop(name, None)
            self._jobs.pop(name, None)
        return spec

    def summaries(self) -> list[BaseSummary]:
        """Each knowledge base as ``rag kb list`` shows it, read from its manifest alone."""
        return [registry.summary(registry.settings_for(self.settings, spec), spec.name) for spec in self.specs()]

    def eval_folders(self) -> list[str]:
        """Where each knowledge base's evaluation reports are written (and ``kbs/`` for those made later).

        A knowledge base whose settings cannot be read (a broken kb.toml) is left out: it says so where used.
        """
        folders = {str(self.settings.eval_root.resolve()), str(self.settings.kbs_dir.resolve())}
        try:
            folders.update(str(registry.settings_for(self.settings, spec).eval_root.resolve())
                           for spec in self.specs())
        except RagError as exc:
            log.warning("%s", exc)
        return sorted(folders)

    def check_folders(self, name: str, index_dir: Path | None, corpus_dir: Path | None) -> None:
        """Refuse folders given on the command line for a knowledge base that has its own (all but ``default``)."""
        spec = registry.find_base(self.settings, name)
        given = [flag for flag, value in (("--index-dir", index_dir), ("a corpus folder", corpus_dir))
                 if value is not None]
        if spec.origin != "default" and given:
            raise KnowledgeBaseError(f"knowledge base {spec.name!r} has its own folders ({spec.corpus_dir}, "
                                     f"{spec.index_dir}): drop {' and '.join(given)}, or leave out --kb")

    # -- asking ----------------------------------------------------------------------------------
    def check_question(self, question: str, history: list[str] | None = None,
                       names: Sequence[str] | str | None = None) -> None:
        """Refuse a question the knowledge bases would refuse (too long, not text) before anything runs."""
        for name in self.pick(names):
            self.get(name).check_question(question, history)

    def search(self, query: str, names: Sequence[str] | str | None = None, k: int | None = None,
               mode: str | None = None, articles: list[str] | None = None) -> SearchResult:
        """Hits of one or several knowledge bases (several: fused in one level, ``rag.kb.several``)."""
        bases = [self.get(n) for n in self.pick(names)]
        if len(bases) == 1:
            return bases[0].search(query, k=k, mode=mode, articles=articles)
        if articles:
            raise KnowledgeBaseError("an article filter (--article) works on one knowledge base at a time; "
                                     "choose one")
        return search_several(bases, query, k or self.settings.top_k, mode, self.settings.rrf_k)

    def answer_steps(self, question: str, names: Sequence[str] | str | None = None,
                     history: list[str] | None = None, k: int | None = None, mode: str | None = None,
                     articles: list[str] | None = None,
                     generative: bool = False) -> Iterator[Retrieved | str | Answer]:
        """``Retrieved`` when retrieval ends, then (generative) text deltas, then the ``Answer``.

        One knowledge base answers as ``KnowledgeBase.answer_steps``; several each answer with their own
        hits and refusal rule, and the best-ranked one that answers is kept. Both steps name the bases asked.
        """
        picked = self.pick(names)
        asked = tuple(picked)
        bases = [self.get(n) for n in picked]
        if len(bases) == 1:
            steps: Iterator[Retrieved | str | Answer] = bases[0].answer_steps(
                question, history, k, mode, articles, generative)
        elif generative or articles:
            raise KnowledgeBaseError("generative answers and an article filter (--article) work on one knowledge "
                                     "base at a time; choose one")
        else:
            steps = answer_several(bases, question, history, k or self.settings.top_k, mode, self.settings.rrf_k)
        for step in steps:
            yield step if isinstance(step, str) else replace(step, knowledge_bases=asked)

    def ask(self, question: str, names: Sequence[str] | str | None = None, history: list[str] | None = None,
            k: int | None = None, articles: list[str] | None = None, mode: str | None = None,
            generative: bool = False, on_text: Callable[[str], None] | None = None) -> Answer:
        """The ``Answer`` of ``answer_steps``; ``on_text`` sees a generative answer's text as it streams."""
        answer = None
        for step in self.answer_steps(question, names, history, k, mode, articles, generative):
            if isinstance(step, str):
                if on_text is not None and step:
                    on_text(step)
            elif isinstance(step, Answer):
                answer = step
        assert answer is not None  # answer_steps always ends with the Answer
        return answer

    def explain(self, question: str, names: Sequence[str] | str | None = None, history: list[str] | None = None,
                articles: list[str] | None = None, changes: Mapping[str, Any] | None = None) -> Explained:
        """Why this answer: the extractive answer of one knowledge base with the trace of how it was made.

        ``changes``: settings tried for this question alone (``rag.kb.explain.TRIAL_SETTINGS``), never saved.
        """
        name = self.single(names, "explaining an answer")
        explained = explain(self.get(name), question, history, articles, changes)
        return replace(explained, answer=replace(explained.answer, knowledge_bases=(name,)))

    def generative_default(self, names: Sequence[str] | str | None = None) -> bool:
        """True when the first knowledge base's settings answer generatively and an endpoint is set."""
        settings = self.get(self.pick(names)[0]).settings
        return settings.answer_mode == "generative" and settings.generative_available

    def count_tokens(self, text: str, name: str | None = None) -> int:
        """How many tokens the knowledge base's encoder makes of ``text`` (a question's, for usage counts)."""
        return int(self.get(self.pick(name)[0]).encoder().count_tokens(text, kind="query"))

    def scope(self, names: Sequence[str] | str | None) -> Scope:
        """What a choice of knowledge bases offers: their indexed articles; whether an article filter applies.

        A name deleted since is dropped (``default`` when none is left); an index that cannot be read
        offers no article (the status line says why).
        """
        known = self.names()
        chosen = [n for n in self.pick([n for n in _names(names) if n in known] or [DEFAULT])]
        articles: list[tuple[str, str]] = []
        for name in chosen:
            try:
                articles.extend(self.indexed_articles(name))
            except RagError:
                continue
        return Scope(tuple(chosen), articles, filterable=len(chosen) == 1)

    def load_models(self, names: Sequence[str] | str | None = None) -> None:
        """Load the knowledge bases' encoders and reading model now (no index needed): no first question waits."""
        for name in self.pick(names):
            kb = self.get(name)
            kb.encoder()
            kb.reader()

    def warm_up(self, name: str = DEFAULT) -> str | None:
        """Load the encoder, the reading model and the index now, so the first question is fast.

        Returns a note when there is no index yet. One real question: the first one through the model and
        jieba is several times slower.
        """
        kb = self.get(name)
        kb.encoder()
        try:
            kb.ask("深圳", k=1)
        except IndexMissingError as exc:
            return str(exc)
        return None

    # -- the index ---------------------------------------------------------------------------------
    def status(self, name: str | None = None) -> IndexStatus:
        """The index of one knowledge base; IndexMissingError when none is built, its error when unreadable."""
        return self.get(self.pick(name)[0]).index_status()

    def build(self, name: str | None = None, rebuild: bool = False, progress: Progress | None = None) -> BuildReport:
        """Index a knowledge base's corpus folder now (incrementally unless ``rebuild``)."""
        return self.get(self.pick(name)[0]).build(rebuild=rebuild, progress=progress)

    def start_build(self, name: str, rebuild: bool = False) -> BuildJob:
        """Start a build of one knowledge base in a thread, or return the one already running."""
        with self._lock:
            job = self._jobs.get(name)
            if job is None or not job.running:
                kb = self.get(name)
                job = self._jobs[name] = BuildJob(lambda progress: kb.build(rebuild=rebuild, progress=progress))
                job.thread.start()
            return job

    def building(self, name: str) -> bool:
        """True while a build this door started runs on the knowledge base."""
        job = self._jobs.get(name)
        return job is not None and job.running

    def last_failed(self, name: str) -> dict[str, str]:
        """Article path -> why the last finished build this door ran could not read it."""
        job = self._jobs.get(name)
        return {} if job is None else job.failed

    def last_built(self, name: str) -> str | None:
        """When the knowledge base's current index was built (for people), or None without a readable one."""
        from rag.store.versions import read_manifest

        try:
            manifest = read_manifest(self.get(name).settings.index_dir)
        except RagError:
            return None
        return None if manifest is None else manifest.created_at.replace("T", " ").replace("+00:00", " UTC")

    def indexed_articles(self, name: str) -> list[tuple[str, str]]:
        """(path, title) of every article in the current index; empty when none is built yet.

        An index that cannot be read (corrupt, built with other settings) raises its RagError.
        """
        try:
            version = self.get(name).version()
        except IndexMissingError:
            return []
        return [(a.path, a.title) for a in version.articles.values()]

    def article(self, name: str, path: str) -> Article | None:
        """An article of the current index; None when it is not there (any more) or no index is built."""
        try:
            version = self.get(name).version()
        except IndexMissingError:
            return None
        return version.articles.get(path)

    def watch(self, name: str, reindex: Callable[[], Any], on_error: Callable[[RagError], None]) -> None:
        """Call ``reindex`` whenever the knowledge base's corpus folder has changed and gone quiet (blocks)."""
        from rag.ingest.watch import watch_corpus

        watch_corpus(self.get(name).settings.corpus_dir, reindex, on_error=on_error)

    # -- the corpus: what the 文章 tab lists and changes -------------------------------------------
    def articles_table(self, name: str) -> list[uploads.ArticleRow]:
        """Every article of the corpus folder with its state against the current index."""
        return uploads.list_articles(self.get(name).settings)

    def check_upload(self, name: str, source: Path, filename: str) -> uploads.UploadCheck:
        """The verdict on an uploaded file for a knowledge base, before anything is written."""
        return uploads.check_upload(source, filename, self.get(name).settings)

    def save_upload(self, name: str, source: Path, check: uploads.UploadCheck, replace_file: bool = False) -> str:
        """Write a checked upload into the corpus; its path relative to the corpus folder."""
        settings = self.get(name).settings
        saved = uploads.save_upload(source, check, settings, replace=replace_file)
        return saved.relative_to(settings.corpus_dir).as_posix()

    def delete_article(self, name: str, path: str) -> None:
        """Delete an article file from a knowledge base's corpus (the next build forgets it)."""
        uploads.delete_article(path, self.get(name).settings)

    def rate(self, answer: Answer, answer_id: str, rating: str | None, articles: list[str],
             asked: Sequence[str]) -> Path:
        """Keep a 👍 (``up``) or 👎 (``down``) of an answer, or take it back (None), with the base that answered.

        A rating belongs to the knowledge base that answered (its 评测 tab offers it), never to another's.
        Returns the ratings file.
        """
        record = None if rating is None else feedback_record(answer_id, answer, rating, articles)
        return save_feedback(self.get(rating_base(answer, asked)).settings, record, answer_id)

    def faq(self, name: str) -> FaqBook:
        """A knowledge base's FAQ: its entries, imports and deletions (``rag.kb.faq``)."""
        return self.get(name).faq


def _names(names: Sequence[str] | str | None) -> list[str]:
    return [names] if isinstance(names, str) else [str(n) for n in names or []]
