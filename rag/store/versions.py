"""The index on disk: loading the current version with checks, and verifying it.

The layout and the manifest are ``rag.store.format``'s; the CURRENT pointer,
the atomic switch and clean-up are ``rag.store.current``'s. A build writes a
new version folder beside the current one and switches by replacing CURRENT in
one rename, so readers see the old index or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.files import file_sha256
from rag.records import Article, Chunk, Sentence
from rag.store.curation import VersionCuration, load_curation
from rag.store.current import current_version as current_version
from rag.store.current import read_manifest as read_manifest
from rag.store.dense import DenseIndex
from rag.store.format import (
    ARTICLES_FILE,
    CHUNKS_FILE,
    DENSE_FILE,
    LEXICAL_DIR,
    MANIFEST,
    REBUILD_HINT,
    SENTENCE_VECTORS_FILE,
    SENTENCES_FILE,
    VERSIONS,
    Manifest,
    article_from_json,
    chunk_from_json,
    load_manifest,
    sentence_from_json,
)
from rag.store.lexical import META_FILE, LexicalIndex
from rag.text import TOKENIZER_VERSION

log = logging.getLogger(__name__)

# Above this many chunks the FAISS vectors and the BM25 arrays are memory-mapped
# rather than read into memory.
MMAP_ABOVE_CHUNKS = 100_000
# Files this large are checked by size only when loaded. They belong to indexes
# that are memory-mapped (dense.faiss passes 256 MB near 170k chunks), so a query
# reads only the pages it needs; hashing would read every byte at each start
# (SHA-256 runs near 1.7 GB/s on one core here, from memory; slower from disk).
CHECKSUM_BELOW_BYTES = 256 * 1024 * 1024
_SCAN_BLOCK = 64 * 1024 * 1024
# Files every version has; a manifest that does not list one is not trusted.
REQUIRED_FILES = (ARTICLES_FILE, CHUNKS_FILE, SENTENCES_FILE, DENSE_FILE, SENTENCE_VECTORS_FILE,
                  f"{LEXICAL_DIR}/{META_FILE}")

T = TypeVar("T")


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
    manifest: Manifest
    articles: Mapping[str, Article]
    chunks: Sequence[Chunk]
    sentences: Sequence[Sentence]
    sentence_vectors: np.ndarray  # float16, (n_sentences, dim)
    dense: DenseIndex
    lexical: LexicalIndex
    curation: VersionCuration = field(default_factory=VersionCuration)  # its words, chunks off, orphans
    _article_ranges: dict[str, tuple[int, int]] | None = field(default=None, repr=False)

    @property
    def encoder_identity(self) -> str:
        """The encoder that built this index (the one that must query it)."""
        return self.manifest.model.identity

    def citable(self, article_path: str, start: int, end: int) -> bool:
        """True when a chunk that is on (not turned off, ``rag chunks --off``) holds that span of the article."""
        off, span = self.curation.off, self.chunk_range(article_path)
        if not off or span is None:
            return True
        return any(self.chunks[i].start <= start and end <= self.chunks[i].end
                   for i in range(*span) if i not in off)

    def chunk_range(self, article_path: str) -> tuple[int, int] | None:
        """The run of chunk ids ``[first, stop)`` that belongs to an article (None when not indexed)."""
        if self._article_ranges is None:
            # A build numbers chunks article by article, in the manifest's order,
            # so each article owns one run of ids; no chunk record is read.
            ranges, first = {}, 0
            for path, info in self.manifest.articles.items():
                ranges[path] = (first, first + info.chunks)
                first += info.chunks
            self._article_ranges = ranges
        return self._article_ranges.get(article_path)

    def article_chunk_ids(self, article_paths: list[str]) -> np.ndarray:
        """Chunk ids belonging to the given articles."""
        ranges = [self.chunk_range(p) for p in sorted(set(article_paths))]
        runs = [np.arange(*r, dtype=np.int64) for r in ranges if r is not None]
        return np.sort(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.int64)


def load_version(index_dir: Path, expected_identity: str | None = None,
                 expected_chunking: Mapping[str, int] | None = None) -> IndexVersion:
    """Load the current index version and check it; errors name the problem and the fix."""
    path = _current_path(index_dir)
    manifest = load_manifest(path / MANIFEST)
    _check_built_for(manifest, index_dir, expected_identity, expected_chunking)
    return open_version(path, manifest)


def verify_current(index_dir: Path) -> str:
    """Check the current version as loading does (sizes, checksums, counts); "ok" or what is wrong.

    Only damage counts: a version built with other settings is "ok" here (its
    loading names that). An index folder without CURRENT raises IndexMissingError.
    """
    path = _current_path(index_dir)
    try:
        open_version(path, load_manifest(path / MANIFEST), mmap=True)
    except IndexCorruptError as exc:
        return str(exc)
    return "ok"


def _current_path(index_dir: Path) -> Path:
    """The current version's folder; IndexMissingError before the first build."""
    name = current_version(index_dir)
    if name is None:
        raise IndexMissingError(f"no index in {index_dir}: run `rag index` first")
    return index_dir / VERSIONS / name


def open_version(path: Path, manifest: Manifest, mmap: bool | None = None) -> IndexVersion:
    """Check a version folder against its manifest and open it; damage raises IndexCorruptError.

    ``mmap``: memory-map the sentence vectors' and BM25 arrays (default: for big indexes only) and,
    only when True, the dense index (else read into memory).
    """
    _check_manifest(path, manifest)
    _check_files(path, manifest)
    try:
        return _open_checked(path, manifest, mmap)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        # The files match the manifest's checksums, so only a manifest rewritten
        # by hand (checksum and all) gets here.
        raise IndexCorruptError(f"{path} cannot be loaded ({exc}): {REBUILD_HINT}") from exc


def _open_checked(path: Path, manifest: Manifest, mmap: bool | None) -> IndexVersion:
    titles = {article: info.title for article, info in manifest.articles.items()}
    articles = ArticleRecords(JsonlRecords(path / ARTICLES_FILE, article_from_json), list(titles))
    chunks = JsonlRecords(path / CHUNKS_FILE, lambda d: chunk_from_json(d, titles))
    sentences = JsonlRecords(path / SENTENCES_FILE, sentence_from_json)
    counts = manifest.counts
    if len(chunks) != counts.chunks or len(sentences) != counts.sentences:
        raise IndexCorruptError(
            f"{path} holds {len(chunks)} chunks and {len(sentences)} sentences, the manifest says "
            f"{counts.chunks} and {counts.sentences}: {REBUILD_HINT}"
        )
    big = len(chunks) > MMAP_ABOVE_CHUNKS if mmap is None else mmap
    # The dense index is read into memory unless mapping is asked for (a check that
    # only opens it): a mapped list whose pages are not in memory yet makes its query
    # wait on the disk. Measured at 1M chunks (benchmarks/scale.py, load 3): dense
    # stage p99 125 ms mapped (ivf-fp16), search p99 170 ms; 63 ms with an in-memory ivf beside it.
    dense = DenseIndex.load(path / DENSE_FILE, mmap=bool(mmap))
    sentence_vectors = np.load(path / SENTENCE_VECTORS_FILE, mmap_mode="r", allow_pickle=False)
    lexical = LexicalIndex.load(path / LEXICAL_DIR, mmap=big)
    if not (dense.size == lexical.size == len(chunks)) or len(sentence_vectors) != len(sentences):
        raise IndexCorruptError(
            f"{path}: {len(chunks)} chunks but {dense.size} dense and {lexical.size} lexical entries: {REBUILD_HINT}"
        )
    curation = load_curation(path, manifest.files)
    if curation.vocabulary.identity != manifest.tokenizer:
        raise IndexCorruptError(f"{path}: its vocabulary is not the one its manifest names: {REBUILD_HINT}")
    return IndexVersion(path, path.name, manifest, articles, chunks, sentences, sentence_vectors, dense, lexical,
                        curation)


def indexed_articles(index_dir: Path, manifest: Manifest, paths: Iterable[str]) -> dict[str, Article]:
    """The current version's records of these articles (those it holds), read from its articles.jsonl.

    The file is read only when it matches the manifest's size and checksum;
    anything else returns nothing, as does an article the version does not hold.
    """
    wanted = [p for p in paths if p in manifest.articles]
    name = current_version(index_dir)
    info = manifest.files.get(ARTICLES_FILE)
    if not wanted or name is None or info is None:
        return {}
    fpath = index_dir / VERSIONS / name / ARTICLES_FILE
    try:
        if fpath.stat().st_size != info.size_bytes or file_sha256(fpath) != info.sha256:
            return {}
        records = ArticleRecords(JsonlRecords(fpath, article_from_json), list(manifest.articles))
        return {p: records[p] for p in wanted}
    except (OSError, IndexCorruptError) as exc:
        log.warning("cannot read the indexed articles of %s: %s", fpath, exc)
        return {}


def _check_built_for(manifest: Manifest, index_dir: Path, expected_identity: str | None,
                     expected_chunking: Mapping[str, int] | None) -> None:
    """Raise IndexMismatchError when a version was built with another encoder, chunking or tokenizer."""
    built = manifest.model.identity
    if expected_identity is not None and built != expected_identity:
        raise IndexMismatchError(
            f"{index_dir} was built with encoder {built} but settings ask for "
            f"{expected_identity}: {REBUILD_HINT} (or set `model` and `encoder_backend` back to what built it)"
        )
    if expected_chunking is not None and manifest.chunking != expected_chunking:
        built_pooled, pooled = "pooled_sentences" in manifest.chunking, "pooled_sentences" in expected_chunking
        others = {k: v for k, v in manifest.chunking.items() if k != "pooled_sentences"}
        if built_pooled != pooled and others == {k: v for k, v in expected_chunking.items() if k != "pooled_sentences"}:
            built_as = "pooled from each chunk's tokens" if built_pooled else "encoded one by one"
            raise IndexMismatchError(
                f"{index_dir} holds sentence vectors {built_as}, settings ask for "
                f"sentence_vectors = {'pooled' if pooled else 'separate'}: run `rag index` (it embeds them again)")
        raise IndexMismatchError(
            f"{index_dir} was built with chunking {dict(manifest.chunking)} but settings ask for "
            f"{dict(expected_chunking)}: {REBUILD_HINT}"
        )
    if manifest.tokenizer.split("+kb-")[0] != TOKENIZER_VERSION:  # its own words aside (rag.vocabulary)
        raise IndexMismatchError(f"{index_dir} has an older lexical tokenizer: {REBUILD_HINT}")


def _check_manifest(path: Path, manifest: Manifest) -> None:
    """Raise IndexCorruptError when a manifest's counts disagree with each other or it lacks a file's entry.

    A manifest's checksum catches edits; these catch a manifest rewritten by
    hand, checksum and all, whose counts would otherwise be shown as true.
    """
    counts = manifest.counts
    per_article = sum(info.chunks for info in manifest.articles.values())
    problem = ""
    if counts.articles != len(manifest.articles):
        problem = f"counts {counts.articles} articles but lists {len(manifest.articles)}"
    elif per_article != counts.chunks or manifest.dense.count != counts.chunks:
        problem = (f"counts {counts.chunks} chunks, its articles {per_article} and its dense index "
                   f"{manifest.dense.count}")
    elif missing := [f for f in REQUIRED_FILES if f not in manifest.files]:
        problem = f"lists no {missing[0]}"
    if problem:
        raise IndexCorruptError(f"{path / MANIFEST} {problem}: {REBUILD_HINT}")


def _check_files(path: Path, manifest: Manifest) -> None:
    """Raise IndexCorruptError when a version file is missing or differs from the manifest's size and checksum."""
    for fname, info in manifest.files.items():
        fpath = path / fname
        if not fpath.is_file():
            raise IndexCorruptError(f"{fpath} is missing: {REBUILD_HINT}")
        try:
            size = fpath.stat().st_size
            if size != info.size_bytes:
                raise IndexCorruptError(f"{fpath} has {size} bytes, the manifest says {info.size_bytes} "
                                        f"(truncated or changed): {REBUILD_HINT}")
            if info.size_bytes < CHECKSUM_BELOW_BYTES and file_sha256(fpath) != info.sha256:
                raise IndexCorruptError(f"{fpath} was changed after the build (checksum differs): {REBUILD_HINT}")
        except OSError as exc:  # e.g. permission denied, an I/O error
            raise IndexCorruptError(f"{fpath} cannot be read ({exc.strerror or exc}): {REBUILD_HINT}") from exc
