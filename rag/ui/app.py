"""What every browser session shares: the knowledge base and the index build running in the background.

One ``ChatApp`` holds a knowledge base (which follows the index's CURRENT
pointer, so a finished rebuild is picked up by the next question) and the
``BuildJob`` in progress for it. The server's ``ChatApp`` is the knowledge base
``default``; ``base(name)`` gives the one of another knowledge base (its own
settings, index, build job and lock, so a build of one never holds up another),
and ``bases`` answers over several. Each session keeps its own turns (``chat``).
An index that cannot be read is never hidden: "no index yet" is an empty
state, any other error reaches the page as its message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from rag.errors import IndexMissingError, KnowledgeBaseError, RagError
from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.kb.registry import DEFAULT, delete_base
from rag.kb.several import KnowledgeBases
from rag.records import Answer, Article
from rag.settings import Settings
from rag.store.build import BuildReport
from rag.store.versions import read_manifest
from rag.ui import render as view
from rag.ui.texts import build_failed_text, request_lang
from rag.urls import mask_url

log = logging.getLogger(__name__)


class BuildJob:
    """An index build running in a thread; the UI polls its progress."""

    def __init__(self, kb: KnowledgeBase, rebuild: bool):
        self.stage = "load"
        self.created = time.monotonic()  # a change saved after this may not be in this build
        self.done = 0
        self.total = 0
        self.report: BuildReport | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, args=(kb, rebuild), name="rag-build", daemon=True)

    def progress(self, stage: str, done: int, total: int) -> None:
        """Progress callback for ``KnowledgeBase.build``."""
        self.stage, self.done, self.total = stage, done, total

    def _run(self, kb: KnowledgeBase, rebuild: bool) -> None:
        try:
            self.report = kb.build(rebuild=rebuild, progress=self.progress)
        except RagError as exc:
            self.error = str(exc)
        except Exception as exc:  # a thread has no caller to raise to: keep it for the UI
            log.exception("index build failed")
            self.error = build_failed_text(exc)

    @property
    def running(self) -> bool:
        """True while the build thread is alive."""
        return self.thread.is_alive()


class ChatApp:
    """State shared by every browser session: settings, knowledge base, the running build (one per knowledge base)."""

    def __init__(self, settings: Settings, kb: KnowledgeBase | None = None, bases: KnowledgeBases | None = None):
        """``kb`` and ``bases``: for ``base(name)``; the server's own app opens ``default`` itself."""
        self.settings = settings
        self.kb = kb or KnowledgeBase(settings)
        self.bases = bases or KnowledgeBases(settings, opened={DEFAULT: self.kb})
        self._job: BuildJob | None = None
        self._job_lock = threading.Lock()
        self._others: dict[str, ChatApp] = {}

    # -- knowledge bases ---------------------------------------------------------------------
    def base_names(self) -> list[str]:
        """Every knowledge base's name, ``default`` first (read afresh: one made from the CLI shows at once)."""
        return self.bases.names()

    def base(self, name: str | None) -> ChatApp:
        """The app of one knowledge base (this one for ``default``); KnowledgeBaseError when there is none."""
        if not name or name == self.kb.name:
            return self
        with self._job_lock:
            kb = self.bases.get(name)  # KnowledgeBaseError naming the ones there are
            found = self._others.get(name)
            if found is None or found.kb is not kb:
                found = self._others[name] = ChatApp(kb.settings, kb, self.bases)
            return found

    def create_base(self, name: str) -> str:
        """Make a knowledge base (``rag kb create``); its name, or KnowledgeBaseError with the reason."""
        from rag.kb.registry import create_base

        return create_base(self.bases.settings, name.strip()).name

    def delete_base(self, name: str) -> None:
        """Delete a created knowledge base with its folder; KnowledgeBaseError says why one cannot be."""
        other = self._others.get(name)
        if other is not None and other.building:
            raise KnowledgeBaseError(f"knowledge base {name!r} is being indexed; delete it when the build ends")
        delete_base(self.bases.settings, name)
        with self._job_lock:
            self._others.pop(name, None)
        self.bases.forget(name)

    def warm_up(self) -> str | None:
        """Load the encoder and the index now, so the first question is fast; a note when there is no index."""
        self.kb.encoder()
        try:
            # One real question: the first one through the model and jieba is several times slower.
            self.kb.ask("深圳", k=1)
        except IndexMissingError as exc:
            return str(exc)
        return None

    # -- answering -------------------------------------------------------------------------
    def answer_steps(self, question: str, history: list[str], k: int, mode: str, articles: list[str],
                     generative: bool) -> Iterator[Retrieved | str | Answer]:
        """Yield Retrieved when retrieval ends, then (generative) text deltas, then the Answer."""
        return self.kb.answer_steps(question, history, k, mode, articles, generative)

    def article(self, path: str) -> Article | None:
        """An article of the current index version; None when it is not there (any more) or no index is built.

        An index that cannot be read (corrupt, built with other settings) raises its RagError.
        """
        try:
            version = self.kb.version()
        except IndexMissingError:
            return None
        return version.articles.get(path)

    def indexed_articles(self) -> list[tuple[str, str]]:
        """(path, title) of every article in the current index; empty when no index is built yet.

        An index that cannot be read (corrupt, built with other settings) raises its RagError.
        """
        try:
            version = self.kb.version()
        except IndexMissingError:
            return []
        return [(a.path, a.title) for a in version.articles.values()]

    def status_line(self) -> str:
        """The page header's line about the index, in the browser's language; an unreadable index shows its error."""
        try:
            s = self.kb.status()
        except RagError as exc:
            return f"⚠ {view.esc_markdown(str(exc))}"
        built = str(s["built_at"]).replace("T", " ").replace("+00:00", " UTC")
        # A Milvus server address may carry a password or a key: masked, like every URL on a page.
        store = "FAISS" if s.get("store") != "milvus" else f"Milvus {mask_url(str(s.get('milvus_uri')))}"
        english = request_lang(self.settings.lang) == "en"
        # No version id, no chunks: internals a reader of the page has no use for (rag status shows them).
        line = view.esc_markdown(
            f"{s['articles']} articles · {s['chunks']} passages · model {s['model']} · store {store} · updated {built}"
            if english else
            f"{s['articles']} 篇文章 · {s['chunks']} 个片段 · 模型 {s['model']} · 存储 {store} · 更新于 {built}")
        health = str(s.get("health", "ok"))
        if health == "ok":
            return line
        # A damaged version still loads its manifest: say so first, with the fix (重建索引 in the 文章 tab).
        damaged = ("⚠ the index is damaged, rebuild it in the Articles tab" if english else
                   "⚠ 索引已损坏，请在「文章」页重建索引")
        return f"{damaged}：{view.esc_markdown(health)} · {line}"

    def last_built(self) -> str | None:
        """When the current index was built, for the article table; None without a readable index."""
        try:
            manifest = read_manifest(self.settings.index_dir)
        except RagError:
            return None
        return None if manifest is None else manifest.created_at.replace("T", " ").replace("+00:00", " UTC")

    @property
    def building(self) -> bool:
        """True while an index build runs."""
        job = self._job
        return job is not None and job.running

    def last_failed(self) -> dict[str, str]:
        """Article path -> why the last finished build of this server could not read it."""
        job = self._job
        if job is None or job.running or job.report is None:
            return {}
        return dict(job.report.failed)

    # -- building ---------------------------------------------------------------------------
    def start_build(self, rebuild: bool) -> BuildJob:
        """Start a build in a thread, or return the one already running (``BuildJob.created`` says since when)."""
        with self._job_lock:
            if self._job is None or not self._job.running:
                self._job = BuildJob(self.kb, rebuild)
                self._job.thread.start()
            return self._job
