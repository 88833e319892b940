"""Writing one complete index version: records, dense and lexical indexes, then the manifest.

Everything goes into ``versions/<name>.tmp/``, each file flushed to disk; the
manifest (sizes and checksums of every file) is written last and the folder is
renamed to ``versions/<name>``. A crash at any moment leaves at most an
unfinished ``.tmp`` folder, which the next build prunes; CURRENT is switched
by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.files import file_sha256, fsync_dir, write_atomically
from rag.records import Article, Chunk, Sentence
from rag.serialize import json_text
from rag.settings import Settings
from rag.store.curation import VersionCuration, write_curation
from rag.store.dense import DenseIndex
from rag.store.faults import fault
from rag.store.format import (
    ARTICLES_FILE,
    CHUNKS_FILE,
    DENSE_FILE,
    LEXICAL_DIR,
    MANIFEST,
    SENTENCE_VECTORS_FILE,
    SENTENCES_FILE,
    VERSIONS,
    ArticleInfo,
    Counts,
    DenseInfo,
    FileInfo,
    Manifest,
    ModelInfo,
    article_to_json,
    chunk_to_json,
    sentence_to_json,
)
from rag.store.lexical import LexicalIndex

# A build's progress: (stage, done, total), e.g. ("embed", 320, 1609) or ("write", 2, 4).
Progress = Callable[[str, int, int], None]


def write_version(
    settings: Settings,
    articles: list[Article],
    chunks: Sequence[Chunk],
    sentences: Sequence[Sentence],
    chunk_vectors: np.ndarray | None,
    sentence_vectors: np.ndarray,
    progress: Progress | None = None,
    chunk_tokens: Iterable[list[str]] | None = None,
    dense: DenseIndex | None = None,
    chunk_prefixes: Sequence[list[str]] | None = None,
    previous: Manifest | None = None,
    curation: VersionCuration | None = None,
    curation_hashes: Mapping[str, str] | None = None,
) -> str:
    """Write a complete version folder (under a .tmp name, renamed when complete); return its name.

    ``chunk_tokens`` (each chunk's lexical tokens) and ``dense`` (an index
    built from ``chunk_vectors``, then None) spare the work when the caller has them, e.g.
    a benchmark that writes a million synthetic chunks made of repeated text.
    ``previous``: the current version's manifest, whose unchanged articles keep
    the time they were first indexed. ``curation``: what the version holds of its knowledge base's curation
    (its vocabulary tokenises the chunks), ``curation_hashes`` the curation files it came from.
    """
    curation = curation or VersionCuration()
    vocabulary = curation.vocabulary
    versions = settings.index_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"
    tmp = versions / (name + ".tmp")
    tmp.mkdir()
    step = progress or (lambda stage, done, total: None)
    step("write", 0, 4)
    _write_jsonl(tmp / ARTICLES_FILE, (article_to_json(a) for a in articles))
    _write_jsonl(tmp / CHUNKS_FILE, (chunk_to_json(c) for c in chunks))
    _write_jsonl(tmp / SENTENCES_FILE, (sentence_to_json(s) for s in sentences))
    step("write", 1, 4)
    if dense is None:
        if chunk_vectors is None:
            raise ValueError("write_version needs the chunk vectors or their dense index")
        dense = DenseIndex.build(chunk_vectors)
    dense.save(tmp / DENSE_FILE)
    fault("while-writing")
    np.save(tmp / SENTENCE_VECTORS_FILE, np.asarray(sentence_vectors, dtype=np.float16), allow_pickle=False)
    step("write", 2, 4)
    if chunk_tokens is None:
        chunk_tokens = (vocabulary.lexical_tokens(c.text) for c in chunks)
    LexicalIndex.build(chunk_tokens, chunk_prefixes).save(tmp / LEXICAL_DIR, vocabulary.identity)
    write_curation(tmp, curation)
    step("write", 3, 4)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = Manifest(
        version=name,
        created_at=now,
        model=ModelInfo(name=settings.model, identity=settings.encoder_identity, backend=settings.backend,
                        dimension=dense.dimension),
        chunking=settings.chunking,
        tokenizer=vocabulary.identity,
        dense=DenseInfo(kind=dense.kind, count=dense.size),
        counts=Counts(articles=len(articles), chunks=len(chunks), sentences=len(sentences)),
        articles=_article_infos(articles, chunks, previous, now),
        files=_flushed_files(tmp),
        curation=dict(curation_hashes or {}),
    )
    write_atomically(tmp / MANIFEST, manifest.to_text())
    os.replace(tmp, versions / name)
    fsync_dir(versions)
    step("write", 4, 4)
    return name


def _article_infos(articles: list[Article], chunks: Sequence[Chunk], previous: Manifest | None,
                   now: str) -> dict[str, ArticleInfo]:
    """Each article's manifest entry, in the order of ``articles`` (the order of the chunk ids)."""
    chunk_counts: dict[str, int] = {}
    for c in chunks:
        chunk_counts[c.article] = chunk_counts.get(c.article, 0) + 1
    known = previous.articles if previous is not None else {}
    infos = {}
    for a in articles:
        before = known.get(a.path)
        # An unchanged article keeps the time it was first indexed.
        indexed_at = before.indexed_at if before is not None and before.sha256 == a.sha256 else now
        infos[a.path] = ArticleInfo(sha256=a.sha256, title=a.title, size_bytes=a.size_bytes,
                                    paragraphs=len(a.paragraphs), chunks=chunk_counts.get(a.path, 0),
                                    indexed_at=indexed_at)
    return infos


def _flushed_files(folder: Path) -> dict[str, FileInfo]:
    """Size and checksum of every file under ``folder`` (by relative path, sorted), each flushed to disk."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            files[path.relative_to(folder).as_posix()] = FileInfo(size_bytes=path.stat().st_size,
                                                                  sha256=file_sha256(path))
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    return files


def _write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json_text(row))  # a name that is not UTF-8 as its \udcNN escape
            fh.write("\n")
