"""Shared helpers for tests: a fresh corpus and index in a temporary folder."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings, default_models_dir

if TYPE_CHECKING:
    from rag.kb.knowledge_base import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTICLE = ROOT / "corpus" / "shenzhen-ai-industry.txt"
QUESTION_SET = ROOT / "questions" / "shenzhen-ai.jsonl"
MODELS_DIR = default_models_dir(ROOT)  # the checkout's models/ if set up there, else the user's folder


def make_settings(tmp: Path, **changes: object) -> Settings:
    """Settings whose corpus and index live under ``tmp`` (the repo's are never touched)."""
    corpus = tmp / "corpus"
    if not corpus.exists():
        corpus.mkdir(parents=True)
        shutil.copy(DEFAULT_ARTICLE, corpus / DEFAULT_ARTICLE.name)
    base = Settings(corpus_dir=corpus, index_dir=tmp / "index", models_dir=MODELS_DIR)
    return base.replace(**changes) if changes else base


def load_questions() -> list[dict]:
    """The project's own question set about the default article."""
    return [json.loads(line) for line in QUESTION_SET.read_text(encoding="utf-8").splitlines() if line]


def answerable_questions() -> list[dict]:
    """The own questions the default article answers."""
    return [q for q in load_questions() if not q.get("unanswerable")]


def rank_one_misses(kb: KnowledgeBase) -> list[tuple[str, int, tuple[int, ...]]]:
    """Answerable own questions whose gold paragraph is not in the first hit: (id, gold, first hit's paragraphs)."""
    misses = []
    for q in answerable_questions():
        first = kb.search(q["question"], k=5).hits[0].chunk
        if q["paragraph"] not in first.paragraphs:
            misses.append((q["id"], q["paragraph"], tuple(first.paragraphs)))
    return misses


# The two stores the retrieval, answer and lifecycle tests run on (parametrised).
STORES = ("faiss", "milvus")


@contextmanager
def on_store(kb: KnowledgeBase, store: str) -> Iterator[KnowledgeBase]:
    """The same knowledge base searched on ``store``; Milvus is filled from ``kb``'s embedding cache.

    Switching stores embeds nothing: that is asserted here, for every test that uses it.
    On leaving, a Milvus Lite store is let go (one process at a time may hold it).
    """
    twin = kb
    if store != kb.settings.store:
        from rag.kb.knowledge_base import KnowledgeBase

        twin = KnowledgeBase(kb.settings.replace(store=store), kb.encoder())
        report = twin.build()
        assert report.embedded == 0, report
    try:
        yield twin
    finally:
        close_store(twin)


def close_store(kb: KnowledgeBase) -> None:
    """Let go of a Milvus Lite store (one process at a time may hold it)."""
    if kb.settings.store == "milvus":
        from rag.store.milvus.store import disconnect

        disconnect(kb.settings)


def copy_index(kb: KnowledgeBase, tmp: Path, store: str | None = None) -> KnowledgeBase:
    """A copy of ``kb``'s corpus and index (with its embedding cache) under ``tmp``, on ``store``.

    A Milvus Lite store open in this process is not copied: the copy fills a store of its own.
    """
    from rag.kb.knowledge_base import KnowledgeBase

    shutil.copytree(kb.settings.corpus_dir, tmp / "corpus")
    shutil.copytree(kb.settings.index_dir, tmp / "index", ignore=shutil.ignore_patterns("milvus.db*"))
    return KnowledgeBase(make_settings(tmp, store=store or kb.settings.store), kb.encoder())


def pdf_file(objects: list[bytes], root: int) -> bytes:
    """A PDF file of numbered ``objects`` (object n is ``objects[n - 1]``) and its xref; ``root``: the catalog."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref))
    return out.getvalue()
