"""The index on disk: versions, manifest, loading with checks, atomic switch.

Layout of the index folder::

    CURRENT                  name of the version in use (replaced atomically)
    versions/<version>/      manifest.json, articles.jsonl, chunks.jsonl,
                             sentences.jsonl, dense.faiss, sentences.f16.npy, lexical/
    cache/embeddings.sqlite  the embedding cache
    build.lock               held by the build in progress

A build writes a new version folder beside the current one and switches by
replacing CURRENT in one rename, so readers see the old index or the new one,
never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.dense import DenseIndex
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.lexical import TOKENIZER_VERSION, LexicalIndex
from rag.records import Article, Chunk, Paragraph, Sentence

FORMAT_VERSION = 1
CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
CHECKED_FILES = ("articles.jsonl", "chunks.jsonl", "sentences.jsonl", "dense.faiss", "sentences.f16.npy")
REBUILD_HINT = "run `rag index --rebuild`"
KEEP_VERSIONS = 2


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """Checksum of a manifest's content (without its own checksum field)."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (so a rename survives a crash)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_durably(path: Path, text: str) -> None:
    """Write a file and flush it to disk."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def current_version(index_dir: Path) -> str | None:
    """Name of the version CURRENT points to, or None before the first build."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def switch_current(index_dir: Path, version: str) -> None:
    """Point CURRENT at ``version`` in one atomic rename."""
    tmp = index_dir / (CURRENT + ".tmp")
    write_text_durably(tmp, version + "\n")
    os.replace(tmp, index_dir / CURRENT)
    fsync_dir(index_dir)


def prune_versions(index_dir: Path, keep: int = KEEP_VERSIONS) -> None:
    """Delete old and unfinished version folders, keeping the newest ``keep`` complete ones.

    The version CURRENT points to is always kept. A reader that still has an old
    version open keeps its open files (Linux unlinks lazily).
    """
    versions_dir = index_dir / VERSIONS
    if not versions_dir.is_dir():
        return
    current = current_version(index_dir)
    complete = sorted(p for p in versions_dir.iterdir() if p.is_dir() and not p.name.endswith(".tmp"))
    keep_names = {p.name for p in complete[-keep:]} | ({current} if current else set())
    for path in versions_dir.iterdir():
        if path.name not in keep_names:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class IndexVersion:
    """One loaded, checked index version: everything retrieval and answering need."""

    path: Path
    name: str
    manifest: dict[str, Any]
    articles: dict[str, Article]
    chunks: list[Chunk]
    sentences: list[Sentence]
    sentence_vectors: np.ndarray  # float16, (n_sentences, dim)
    dense: DenseIndex
    lexical: LexicalIndex

    @property
    def encoder_identity(self) -> str:
        """The encoder that built this index (the one that must query it)."""
        return str(self.manifest["model"]["identity"])

    def article_chunk_ids(self, article_paths: list[str]) -> np.ndarray:
        """Chunk ids belonging to the given articles."""
        wanted = set(article_paths)
        return np.array([c.id for c in self.chunks if c.article in wanted], dtype=np.int64)


def load_version(index_dir: Path, expected_identity: str | None = None,
                 expected_chunking: dict[str, int] | None = None) -> IndexVersion:
    """Load the current index version and check it; errors name the problem and the fix."""
    name = current_version(index_dir)
    if name is None:
        raise IndexMissingError(f"no index in {index_dir}: run `rag index` first")
    path = index_dir / VERSIONS / name
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{manifest_path} is missing: {REBUILD_HINT}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{manifest_path} is not valid JSON ({exc}): {REBUILD_HINT}") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexMismatchError(
            f"{index_dir} has index format {found!r}, this version of rag reads format {FORMAT_VERSION}: "
            f"{REBUILD_HINT}"
        )
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise IndexCorruptError(f"{manifest_path} was changed after the build (checksum differs): {REBUILD_HINT}")
    if expected_identity is not None and manifest["model"]["identity"] != expected_identity:
        raise IndexMismatchError(
            f"{index_dir} was built with encoder {manifest['model']['identity']} but settings ask for "
            f"{expected_identity}: {REBUILD_HINT} (or change the model setting back)"
        )
    if expected_chunking is not None and manifest["chunking"] != expected_chunking:
        raise IndexMismatchError(
            f"{index_dir} was built with chunking {manifest['chunking']} but settings ask for "
            f"{expected_chunking}: {REBUILD_HINT}"
        )
    if manifest.get("lexical", {}).get("tokenizer") != TOKENIZER_VERSION:
        raise IndexMismatchError(f"{index_dir} has an older lexical tokenizer: {REBUILD_HINT}")
    for fname, info in manifest["files"].items():
        fpath = path / fname
        if not fpath.is_file():
            raise IndexCorruptError(f"{fpath} is missing: {REBUILD_HINT}")
        size = fpath.stat().st_size
        if size != info["bytes"]:
            raise IndexCorruptError(
                f"{fpath} has {size} bytes, the manifest says {info['bytes']} (truncated or changed): {REBUILD_HINT}"
            )
        if info["bytes"] < 256 * 1024 * 1024 and file_sha256(fpath) != info["sha256"]:
            raise IndexCorruptError(f"{fpath} was changed after the build (checksum differs): {REBUILD_HINT}")
    try:
        articles = {a.path: a for a in (_article_from_json(json.loads(line))
                                         for line in _lines(path / "articles.jsonl"))}
        chunks = [_chunk_from_json(json.loads(line), articles) for line in _lines(path / "chunks.jsonl")]
        sentences = [Sentence(*json.loads(line)) for line in _lines(path / "sentences.jsonl")]
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(f"{path} has malformed records ({exc}): {REBUILD_HINT}") from exc
    dense = DenseIndex.load(path / "dense.faiss", mmap=len(chunks) > 100_000)
    sentence_vectors = np.load(path / "sentences.f16.npy", mmap_mode="r", allow_pickle=False)
    lexical = LexicalIndex.load(path / "lexical", mmap=len(chunks) > 100_000)
    if not (dense.size == lexical.size == len(chunks)) or len(sentence_vectors) != len(sentences):
        raise IndexCorruptError(
            f"{path}: {len(chunks)} chunks but {dense.size} dense and {lexical.size} lexical entries: {REBUILD_HINT}"
        )
    return IndexVersion(path, name, manifest, articles, chunks, sentences, sentence_vectors, dense, lexical)


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def article_to_json(article: Article) -> dict[str, Any]:
    """An article as a JSON record (its text is kept: offsets point into it)."""
    return {
        "path": article.path, "title": article.title, "sha256": article.sha256,
        "encoding": article.encoding, "size_bytes": article.size_bytes,
        "paragraphs": [[p.number, p.start, p.end, p.section, p.page] for p in article.paragraphs],
        "text": article.text,
    }


def _article_from_json(d: dict[str, Any]) -> Article:
    return Article(
        path=d["path"], title=d["title"], text=d["text"], sha256=d["sha256"], encoding=d["encoding"],
        size_bytes=d["size_bytes"], paragraphs=tuple(Paragraph(*p) for p in d["paragraphs"]),
    )


def chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    """A chunk as a JSON record."""
    return {
        "id": chunk.id, "article": chunk.article, "section": chunk.section,
        "paragraphs": list(chunk.paragraphs), "start": chunk.start, "end": chunk.end,
        "sentences": [chunk.sentence_ids[0], chunk.sentence_ids[-1] + 1] if chunk.sentence_ids else [0, 0],
        "text": chunk.text,
    }


def _chunk_from_json(d: dict[str, Any], articles: dict[str, Article]) -> Chunk:
    first, stop = d["sentences"]
    return Chunk(
        id=d["id"], article=d["article"], title=articles[d["article"]].title, section=d["section"],
        paragraphs=tuple(d["paragraphs"]), start=d["start"], end=d["end"], text=d["text"],
        sentence_ids=tuple(range(first, stop)),
    )
