"""Building the index: incremental, cached, locked, atomic.

Only articles that are new or changed since the current version cost embedding
work: every chunk and sentence vector is looked up in the embedding cache first.
A build writes a complete new version, then switches CURRENT in one rename.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag import filelock
from rag.embed.cache import EmbeddingCache, text_key
from rag.errors import ArticleError, IndexLockedError, RagError
from rag.ingest.articles import find_article_files, load_article
from rag.ingest.chunking import chunk_article
from rag.records import Article, Chunk, Sentence
from rag.settings import Settings
from rag.store.dense import DenseIndex
from rag.store.faults import fault
from rag.store.lexical import TOKENS_FILE, LexicalIndex, saved_tokens
from rag.store.versions import (
    FORMAT_VERSION,
    MANIFEST,
    VERSIONS,
    article_to_json,
    chunk_to_json,
    current_version,
    file_sha256,
    fsync_dir,
    manifest_checksum,
    prune_versions,
    switch_current,
    write_text_durably,
)
from rag.text import TOKENIZER_VERSION, lexical_tokens

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder

log = logging.getLogger(__name__)


Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    """What a build did."""

    version: str | None
    up_to_date: bool = False
    articles: int = 0
    chunks: int = 0
    sentences: int = 0
    embedded: int = 0
    from_cache: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    store: str = "faiss"
    store_inserted: int = 0  # chunks written into the Milvus collection (from the cache, never embedded)
    store_deleted: int = 0  # old article groups deleted from it


@contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """Hold the index's build lock; a second build refuses (or waits) with a clear message."""
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        fh = filelock.acquire(index_dir / "build.lock", wait)
    except filelock.LockHeldError as held:
        raise IndexLockedError(
            f"another build (pid {held.holder}) is running on {index_dir}; wait for it to finish, then try again"
        ) from held
    try:
        yield
    finally:
        filelock.release(fh)


def settings_identity(settings: Settings) -> str:
    """The encoder identity the settings ask for (model and backend/precision)."""
    return settings.encoder_identity


def chunking_settings(settings: Settings) -> dict[str, int]:
    """The chunking part of the manifest."""
    return {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
            "context": int(settings.chunk_context)}


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The current manifest, or None when there is none or it cannot be read."""
    name = current_version(index_dir)
    if name is None:
        return None
    try:
        data = json.loads((index_dir / VERSIONS / name / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_corpus(settings: Settings, report: BuildReport) -> list[Article]:
    """Load every article; a bad file becomes an error line in the report, not a stop."""
    files, warnings = find_article_files(settings.corpus_dir)
    report.warnings.extend(warnings)
    articles: list[Article] = []
    for path in files:
        try:
            articles.append(load_article(path, settings.corpus_dir, settings.max_article_bytes,
                                         settings.max_extracted_chars))
        except ArticleError as exc:
            report.errors.append(str(exc))
        except OSError as exc:
            report.errors.append(f"{path.name}: cannot be read ({exc.strerror}); check its permissions")
    return articles


def build_index(
    settings: Settings,
    load_encoder: Callable[[], Encoder],
    rebuild: bool = False,
    progress: Progress | None = None,
    wait_for_lock: bool = False,
    articles: list[Article] | None = None,
) -> BuildReport:
    """Index the corpus folder into the index folder; return what was done.

    ``articles``: index these (already parsed) articles instead of reading the
    corpus folder, e.g. the passages of an evaluation set. The encoder is loaded
    only when something must be embedded. Nothing happens to the current index
    unless a complete new version is ready.
    """
    started = time.perf_counter()
    index_dir = settings.index_dir
    with build_lock(index_dir, wait=wait_for_lock):
        report = BuildReport(version=None, store=settings.store)
        if settings.store == "milvus":
            from rag.store.milvus.store import connect

            connect(settings)  # fails now, not after the embedding, when another process holds the store
        t0 = time.perf_counter()
        if articles is None:
            articles = load_corpus(settings, report)
        report.timings["load"] = time.perf_counter() - t0
        old = read_manifest(index_dir)
        old_articles: dict[str, Any] = (old or {}).get("articles", {})
        new_hashes = {a.path: a.sha256 for a in articles}
        report.added = sorted(p for p in new_hashes if p not in old_articles)
        report.changed = sorted(
            p for p in new_hashes if p in old_articles and old_articles[p]["sha256"] != new_hashes[p]
        )
        report.removed = sorted(p for p in old_articles if p not in new_hashes)
        report.articles = len(articles)
        if not articles:
            raise ArticleError(
                f"no article in {settings.corpus_dir} could be indexed"
                + (f" ({len(report.errors)} failed: {report.errors[0]})" if report.errors else "")
                + "; the previous index is unchanged"
            )
        same_settings = (
            old is not None
            and old["model"]["identity"] == settings.encoder_identity
            and old["chunking"] == chunking_settings(settings)
            and old.get("lexical", {}).get("tokenizer") == TOKENIZER_VERSION
            and old.get("format_version") == FORMAT_VERSION
        )
        if same_settings and not rebuild and not (report.added or report.changed or report.removed):
            assert old is not None
            report.up_to_date = True
            report.version = current_version(index_dir)
            report.chunks = old["counts"]["chunks"]
            report.sentences = old["counts"]["sentences"]
            if settings.store == "milvus":
                _fill_milvus_from_cache(settings, report)
            report.seconds = time.perf_counter() - started
            return report

        t0 = time.perf_counter()
        chunks, sentences = chunk_articles(articles, settings)
        report.chunks, report.sentences = len(chunks), len(sentences)
        report.timings["chunk"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        by_path = {a.path: a for a in articles}
        chunk_texts = [chunk_embedding_text(c, settings.chunk_context) for c in chunks]
        sentence_texts = [by_path[s.article].text[s.start : s.end] for s in sentences]
        cache = EmbeddingCache(settings.embedding_cache_path)
        try:
            vectors = _embed_with_cache(settings, load_encoder, cache, chunk_texts + sentence_texts,
                                        report, progress)
            chunk_vectors, sentence_vectors = vectors[: len(chunks)], vectors[len(chunks) :]
            report.timings["embed"] = time.perf_counter() - t0
            fault("after-embedding")

            t0 = time.perf_counter()
            tokens = chunk_lexical_tokens(chunks, None if rebuild else index_dir)
            report.timings["tokenise"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            version = write_version(settings, articles, chunks, sentences, chunk_vectors, sentence_vectors,
                                    progress, chunk_tokens=tokens, chunk_prefixes=context_tokens(chunks, settings))
            report.timings["write"] = time.perf_counter() - t0
            pending = None
            if settings.store == "milvus":
                from rag.store.milvus.build import fill_collection

                t0 = time.perf_counter()
                pending = fill_collection(
                    settings, chunks, {a.path: a.sha256 for a in articles},
                    lambda ids: chunk_vectors[np.asarray(ids, dtype=np.int64)], int(chunk_vectors.shape[1]),
                    rebuild=rebuild or not same_settings,
                )
                report.store_inserted = pending.inserted
                report.timings["store"] = time.perf_counter() - t0
            fault("before-switch")
            switch_current(index_dir, version)
            report.version = version
            if pending is not None:
                from rag.store.milvus.build import finish_sync

                finish_sync(pending)
                report.store_deleted = len(pending.stale)
            prune_versions(index_dir)
            if settings.cache_dir is None:
                # A private cache forgets deleted text; a shared one (cache_dir set,
                # e.g. for evaluation runs over several chunkings) keeps everything.
                live = {text_key("passage", t) for t in chunk_texts + sentence_texts}
                cache.keep_only(settings.encoder_identity, live)
        finally:
            cache.close()
        report.seconds = time.perf_counter() - started
        return report


def _fill_milvus_from_cache(settings: Settings, report: BuildReport) -> None:
    """Bring the Milvus collection up to the current version, vectors from the embedding cache.

    This is how ``rag index --store milvus`` copies an index built on FAISS:
    nothing is embedded.
    """
    from rag.store.milvus.build import fill_collection, finish_sync
    from rag.store.versions import load_version

    t0 = time.perf_counter()
    version = load_version(settings.index_dir, settings.encoder_identity, chunking_settings(settings))
    hashes = {path: str(info["sha256"]) for path, info in version.manifest["articles"].items()}
    chunks = version.chunks
    cache = EmbeddingCache(settings.embedding_cache_path)
    try:
        def vectors(ids: list[int]) -> np.ndarray:
            texts = [chunk_embedding_text(chunks[i], settings.chunk_context) for i in ids]
            keys, found = _cached(cache, settings.encoder_identity, texts)
            missing = sum(1 for k in keys if k not in found)
            if missing:
                raise RagError(
                    f"{missing} chunk vectors of {settings.index_dir} are not in the embedding cache "
                    f"{settings.embedding_cache_path}: run `rag index --rebuild --store milvus` (it embeds them)"
                )
            return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

        pending = fill_collection(settings, chunks, hashes, vectors,
                                  int(version.manifest["model"]["dimension"]))
        finish_sync(pending)
    finally:
        cache.close()
    report.store_inserted = pending.inserted
    report.store_deleted = len(pending.stale)
    report.timings["store"] = time.perf_counter() - t0


def chunk_articles(articles: list[Article], settings: Settings) -> tuple[list[Chunk], list[Sentence]]:
    """Chunk every article; chunk and sentence ids run on across articles, in article order."""
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for article in articles:
        local_sentences, local_chunks = chunk_article(article, settings.chunk_size, settings.chunk_overlap)
        offset = len(sentences)
        sentences.extend(local_sentences)
        for c in local_chunks:
            chunks.append(Chunk(
                id=len(chunks), article=c.article, title=c.title, section=c.section, paragraphs=c.paragraphs,
                start=c.start, end=c.end, text=c.text, sentence_ids=tuple(i + offset for i in c.sentence_ids),
            ))
    return chunks, sentences


def chunk_embedding_text(chunk: Chunk, context: bool) -> str:
    """What is embedded for a chunk: its text, headed by its article title and section when ``context``.

    A chunk from the middle of an article often never names what the article is
    about ("他", "该公司"); its heading does.
    """
    if not context:
        return chunk.text
    heading = " ".join(part for part in (chunk.title, chunk.section) if part)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def context_tokens(chunks: Sequence[Chunk], settings: Settings) -> list[list[str]] | None:
    """Per chunk, the lexical tokens of its title and section (None when context is off)."""
    if not settings.chunk_context:
        return None
    cache: dict[tuple[str, str], list[str]] = {}
    out = []
    for c in chunks:
        key = (c.title, c.section)
        if key not in cache:
            cache[key] = lexical_tokens(f"{c.title} {c.section}")
        out.append(cache[key])
    return out


def chunk_lexical_tokens(chunks: Sequence[Chunk], index_dir: Path | None = None) -> list[list[str]]:
    """Each chunk's ``lexical_tokens``, reusing those of the current version in ``index_dir`` for known text.

    The reused tokens are read only when the current version's files match its
    manifest's checksums; anything else is tokenised afresh.
    """
    known = _indexed_tokens(index_dir) if index_dir is not None else {}
    return [known[c.text] if c.text in known else lexical_tokens(c.text) for c in chunks]


def _indexed_tokens(index_dir: Path) -> dict[str, list[str]]:
    """Chunk text → tokens of the current version (empty when it has none or they cannot be trusted)."""
    name = current_version(index_dir)
    manifest = read_manifest(index_dir)
    if name is None or manifest is None or manifest.get("lexical", {}).get("tokenizer") != TOKENIZER_VERSION:
        return {}
    folder = index_dir / VERSIONS / name
    files = manifest.get("files", {})
    try:
        for fname in ("chunks.jsonl", f"lexical/{TOKENS_FILE}"):
            if fname not in files or file_sha256(folder / fname) != files[fname]["sha256"]:
                return {}  # an older index without tokens, or a damaged one: tokenise again
        tokens = saved_tokens(folder / "lexical")
        with (folder / "chunks.jsonl").open(encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh if line.strip()]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot reuse the lexical tokens of %s (%s): tokenising every chunk", folder, exc)
        return {}
    if tokens is None or len(tokens) != len(texts):
        return {}
    return dict(zip(texts, tokens, strict=True))


def _cached(cache: EmbeddingCache, identity: str, texts: list[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The cache key of each passage text, and the vectors the cache already holds for them."""
    keys = [text_key("passage", t) for t in texts]
    return keys, cache.get_many(identity, sorted(set(keys)))


def _embed_with_cache(
    settings: Settings,
    load_encoder: Callable[[], Encoder],
    cache: EmbeddingCache,
    texts: list[str],
    report: BuildReport,
    progress: Progress | None,
) -> np.ndarray:
    """Vectors for ``texts`` (float32, in order); only texts missing from the cache are embedded."""
    identity = settings.encoder_identity
    keys, cached = _cached(cache, identity, texts)
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in cached and key not in missing:
            missing[key] = text
    report.from_cache = len(texts) - sum(1 for k in keys if k in missing)
    if missing:
        encoder = load_encoder()
        if encoder.identity != identity:
            raise RagError(f"encoder identity {encoder.identity} differs from settings {identity}")
        # Longest first, so each slice holds texts of similar length (little padding), as one
        # global sort would; embedded and stored in slices so a crash keeps the work already done.
        todo = sorted(missing.items(), key=lambda item: -len(item[1]))
        step = max(settings.batch_size * 8, 64)
        for i in range(0, len(todo), step):
            part = todo[i : i + step]
            done_before = i

            def tick(n: int, base: int = done_before) -> None:
                if progress:
                    progress("embed", base + n, len(todo))

            vectors = encoder.encode_passages([t for _, t in part], progress=tick)
            cache.put_many(identity, [(k, v) for (k, _), v in zip(part, vectors, strict=True)])
            for (k, _), v in zip(part, vectors, strict=True):
                cached[k] = np.asarray(v, dtype=np.float32)
        report.embedded = len(todo)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[k] for k in keys]).astype(np.float32, copy=False)


def write_version(
    settings: Settings,
    articles: list[Article],
    chunks: Sequence[Chunk],
    sentences: Sequence[Sentence],
    chunk_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    progress: Progress | None = None,
    chunk_tokens: Iterable[list[str]] | None = None,
    dense: DenseIndex | None = None,
    chunk_prefixes: Sequence[list[str]] | None = None,
) -> str:
    """Write a complete version folder (under a .tmp name, renamed when complete); return its name.

    ``chunk_tokens`` (each chunk's ``lexical_tokens``) and ``dense`` (an index
    built from ``chunk_vectors``) spare the work when the caller has them, e.g.
    a benchmark that writes a million synthetic chunks made of repeated text.
    """
    index_dir = settings.index_dir
    versions = index_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"
    tmp = versions / (name + ".tmp")
    tmp.mkdir()
    if progress:
        progress("write", 0, 4)
    _write_jsonl(tmp / "articles.jsonl", (article_to_json(a) for a in articles))
    _write_jsonl(tmp / "chunks.jsonl", (chunk_to_json(c) for c in chunks))
    _write_jsonl(tmp / "sentences.jsonl", ([s.article, s.start, s.end, s.paragraph] for s in sentences))
    if progress:
        progress("write", 1, 4)
    if dense is None:
        dense = DenseIndex.build(chunk_vectors)
    dense.save(tmp / "dense.faiss")
    fault("while-writing")
    np.save(tmp / "sentences.f16.npy", np.asarray(sentence_vectors, dtype=np.float16), allow_pickle=False)
    if progress:
        progress("write", 2, 4)
    if chunk_tokens is None:
        chunk_tokens = (lexical_tokens(c.text) for c in chunks)
    LexicalIndex.build(chunk_tokens, chunk_prefixes).save(tmp / "lexical")
    if progress:
        progress("write", 3, 4)
    files = {}
    for path in sorted(tmp.rglob("*")):
        if path.is_file():
            files[path.relative_to(tmp).as_posix()] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    chunk_counts: dict[str, int] = {}
    for c in chunks:
        chunk_counts[c.article] = chunk_counts.get(c.article, 0) + 1
    old = read_manifest(index_dir) or {}
    old_articles = old.get("articles", {})
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "version": name,
        "created_at": now,
        "model": {
            "name": settings.model,
            "identity": settings.encoder_identity,
            "backend": settings.backend,
            "dimension": int(chunk_vectors.shape[1]),
        },
        "chunking": chunking_settings(settings),
        "lexical": {"tokenizer": TOKENIZER_VERSION},
        "dense": {"type": dense.kind, "count": dense.size},
        "counts": {"articles": len(articles), "chunks": len(chunks), "sentences": len(sentences)},
        "articles": {
            a.path: {
                "sha256": a.sha256,
                "title": a.title,
                "size_bytes": a.size_bytes,
                "paragraphs": len(a.paragraphs),
                "chunks": chunk_counts.get(a.path, 0),
                # An unchanged article keeps the time it was first indexed.
                "indexed_at": (old_articles[a.path]["indexed_at"]
                               if old_articles.get(a.path, {}).get("sha256") == a.sha256 else now),
            }
            for a in articles
        },
        "files": files,
    }
    manifest["checksum"] = manifest_checksum(manifest)
    write_text_durably(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    fsync_dir(tmp)
    final = versions / name
    os.replace(tmp, final)
    fsync_dir(versions)
    if progress:
        progress("write", 4, 4)
    return name


def _write_jsonl(path: Path, rows: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False))
            fh.write("\n")
