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
import mmap
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.records import Article, Chunk, Paragraph, Sentence
from rag.store.dense import DenseIndex
from rag.store.lexical import LexicalIndex
from rag.text import TOKENIZER_VERSION

FORMAT_VERSION = 1
CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
CHECKED_FILES = ("articles.jsonl", "chunks.jsonl", "sentences.jsonl", "dense.faiss", "sentences.f16.npy")
REBUILD_HINT = "run `rag index --rebuild`"
KEEP_VERSIONS = 2
# Above this many chunks the FAISS vectors and the BM25 arrays are memory-mapped
# rather than read into memory.
MMAP_ABOVE_CHUNKS = 100_000
_SCAN_BLOCK = 64 * 1024 * 1024

T = TypeVar("T")


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


def line_spans(data: bytes | mmap.mmap) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the non-empty lines of ``data`` (ends exclude the newline).

    >>> [a.tolist() for a in line_spans(b"ab\\n\\nc")]
    [[0, 4], [2, 5]]
    """
    size = len(data)
    breaks = [np.zeros(0, dtype=np.int64)]
    # In blocks: one comparison over a 1 GB file would allocate 1 GB of booleans.
    for offset in range(0, size, _SCAN_BLOCK):
        block = np.frombuffer(data, dtype=np.uint8, count=min(_SCAN_BLOCK, size - offset), offset=offset)
        breaks.append(np.flatnonzero(block == 10).astype(np.int64) + offset)
    ends = np.concatenate(breaks)
    if size and (not len(ends) or ends[-1] != size - 1):
        ends = np.append(ends, size)  # a last line without a newline
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1] + 1])[: len(ends)]
    keep = ends > starts
    return starts[keep], ends[keep]


class JsonlRecords(Sequence[T], Generic[T]):
    """The records of a JSON-lines file, parsed when read.

    The file is memory-mapped and only the line offsets are held, so a
    million-chunk index opens in a second without a million Python objects;
    ``records[i]`` parses line ``i`` each time (a few microseconds).
    """

    def __init__(self, path: Path, parse: Callable[[Any], T]):
        self.path = path
        self._parse = parse
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # mmap cannot map an empty file; the mapping outlives the file's
            # deletion (an old version pruned while a reader still uses it).
            self._data: bytes | mmap.mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._starts, self._ends = line_spans(self._data)

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} out of range (0..{len(self) - 1}) in {self.path}")
        raw = self._data[int(self._starts[index]) : int(self._ends[index])]
        try:
            return self._parse(json.loads(raw))
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{self.path} line {index + 1} is malformed ({exc}): {REBUILD_HINT}") from exc

    def __iter__(self) -> Iterator[T]:
        for i in range(len(self)):
            yield self[i]


class ArticleRecords(Mapping[str, Article]):
    """Articles by path, parsed from articles.jsonl when read (recently read ones are kept).

    The paths come from the manifest, in the order of the file's lines.
    """

    def __init__(self, lines: JsonlRecords[Article], paths: list[str]):
        if len(lines) != len(paths):
            raise IndexCorruptError(
                f"{lines.path} has {len(lines)} articles, the manifest lists {len(paths)}: {REBUILD_HINT}"
            )
        self._lines = lines
        self._row = {path: i for i, path in enumerate(paths)}
        # Answering reads the same few articles again and again (one per cited sentence).
        self._read = lru_cache(maxsize=4096)(lines.__getitem__)

    def __getitem__(self, path: str) -> Article:
        article = self._read(self._row[path])
        if article.path != path:
            raise IndexCorruptError(f"{self._lines.path} does not follow the manifest's order: {REBUILD_HINT}")
        return article

    def __contains__(self, path: object) -> bool:
        return path in self._row  # without reading the article

    def __len__(self) -> int:
        return len(self._row)

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)


@dataclass
class IndexVersion:
    """One loaded, checked index version: everything retrieval and answering need.

    ``chunks``, ``sentences`` and ``articles`` read their records from the
    version's files on demand; they behave as a list and a dict.
    """

    path: Path
    name: str
    manifest: dict[str, Any]
    articles: Mapping[str, Article]
    chunks: Sequence[Chunk]
    sentences: Sequence[Sentence]
    sentence_vectors: np.ndarray  # float16, (n_sentences, dim)
    dense: DenseIndex
    lexical: LexicalIndex
    _article_ranges: dict[str, tuple[int, int]] | None = field(default=None, repr=False)

    @property
    def encoder_identity(self) -> str:
        """The encoder that built this index (the one that must query it)."""
        return str(self.manifest["model"]["identity"])

    def chunk_range(self, article_path: str) -> tuple[int, int] | None:
        """The run of chunk ids ``[first, stop)`` that belongs to an article (None when not indexed)."""
        if self._article_ranges is None:
            # A build numbers chunks article by article, in the manifest's order,
            # so each article owns one run of ids; no chunk record is read.
            ranges, first = {}, 0
            for path, info in self.manifest["articles"].items():
                ranges[path] = (first, first + int(info["chunks"]))
                first += int(info["chunks"])
            self._article_ranges = ranges
        return self._article_ranges.get(article_path)

    def article_chunk_ids(self, article_paths: list[str]) -> np.ndarray:
        """Chunk ids belonging to the given articles."""
        ranges = [self.chunk_range(p) for p in sorted(set(article_paths))]
        runs = [np.arange(*r, dtype=np.int64) for r in ranges if r is not None]
        return np.sort(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.int64)


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
            f"{expected_identity}: {REBUILD_HINT} (or set `model` and `encoder_backend` back to what built it)"
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
    titles = {path: str(info["title"]) for path, info in manifest["articles"].items()}
    articles = ArticleRecords(JsonlRecords(path / "articles.jsonl", _article_from_json), list(titles))
    chunks = JsonlRecords(path / "chunks.jsonl", lambda d: _chunk_from_json(d, titles))
    sentences = JsonlRecords(path / "sentences.jsonl", lambda d: Sentence(*d))
    if len(chunks) != manifest["counts"]["chunks"] or len(sentences) != manifest["counts"]["sentences"]:
        raise IndexCorruptError(
            f"{path} holds {len(chunks)} chunks and {len(sentences)} sentences, the manifest says "
            f"{manifest['counts']['chunks']} and {manifest['counts']['sentences']}: {REBUILD_HINT}"
        )
    big = len(chunks) > MMAP_ABOVE_CHUNKS
    dense = DenseIndex.load(path / "dense.faiss", mmap=big)
    sentence_vectors = np.load(path / "sentences.f16.npy", mmap_mode="r", allow_pickle=False)
    lexical = LexicalIndex.load(path / "lexical", mmap=big)
    if not (dense.size == lexical.size == len(chunks)) or len(sentence_vectors) != len(sentences):
        raise IndexCorruptError(
            f"{path}: {len(chunks)} chunks but {dense.size} dense and {lexical.size} lexical entries: {REBUILD_HINT}"
        )
    return IndexVersion(path, name, manifest, articles, chunks, sentences, sentence_vectors, dense, lexical)


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


def _chunk_from_json(d: dict[str, Any], titles: Mapping[str, str]) -> Chunk:
    first, stop = d["sentences"]
    return Chunk(
        id=d["id"], article=d["article"], title=titles[d["article"]], section=d["section"],
        paragraphs=tuple(d["paragraphs"]), start=d["start"], end=d["end"], text=d["text"],
        sentence_ids=tuple(range(first, stop)),
    )
