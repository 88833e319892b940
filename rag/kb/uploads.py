"""Changes the browser makes to the corpus folder: uploads, deletions, and the article list.

Pure library code (no gradio): the UI calls these and words their results for
the page. Every check an upload must pass lives here, so it is unit-tested
without a browser: size, type, a name that can live in the corpus, decodable
text that is not empty, and content that is not already there. A refusal is an
``UploadError`` whose ``reason`` names the rule and whose ``values`` hold the
details, so a face can say it in its own words. Files are written atomically (a
hidden temporary file, then a rename), so a half-written upload is never indexed.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rag.errors import ArticleError
from rag.files import file_sha256, write_atomically
from rag.ingest.articles import SUPPORTED_SUFFIXES, find_article_files, load_article
from rag.settings import Settings
from rag.store.format import ArticleInfo
from rag.store.lock import check_writable
from rag.store.versions import read_manifest

# find_article_files skips these names (they describe the corpus), so an upload must not use them.
RESERVED_STEMS = ("README", "LICENSE", "NOTICE")

UploadReason = Literal[
    "no-name", "hidden", "control-characters", "unsupported-type", "reserved-name",  # the file name
    "too-large", "empty", "unreadable",  # the file's content (check_upload)
    "duplicate", "exists", "changed",  # saving (save_upload)
    "outside-corpus", "missing",  # deleting (delete_article)
]


class UploadError(ArticleError):
    """An upload, save or deletion the corpus refuses; ``reason`` names the rule, ``values`` the details."""

    def __init__(self, reason: UploadReason, message: str, **values: Any):
        super().__init__(message)
        self.reason: UploadReason = reason
        self.values: dict[str, Any] = values


@dataclass(frozen=True)
class ArticleRow:
    """One article of the corpus as the Articles tab lists it."""

    path: str  # relative to the corpus folder
    title: str
    size_bytes: int
    paragraphs: int | None  # None: not in the current index
    chunks: int | None
    indexed_at: str | None
    state: Literal["indexed", "changed", "new", "removed"]


@dataclass(frozen=True)
class UploadCheck:
    """The verdict on an uploaded file, before anything is written.

    ``status``: "new" (write it), "replace" (a file of that name exists: ask
    first), "duplicate" (the same bytes are already in the corpus: don't add).
    """

    status: Literal["new", "replace", "duplicate"]
    name: str  # the file name it gets in the corpus
    title: str
    paragraphs: int
    sha256: str
    size_bytes: int
    duplicate_of: str | None = None


def upload_name(name: str) -> str:
    """The corpus file name for an uploaded file's name; UploadError when it cannot be one.

    Only the last path part counts (a browser may send a path); hidden names,
    unsupported types and names the corpus ignores are refused.

    >>> upload_name("C:\\\\docs\\\\新闻.TXT")
    '新闻.TXT'
    """
    base = unicodedata.normalize("NFC", name.replace("\\", "/").split("/")[-1]).strip()
    if not base or base in (".", ".."):
        raise UploadError("no-name", "the uploaded file has no name")
    if base.startswith("."):
        raise UploadError("hidden", f"{base}: a hidden file (its name starts with a dot) is never indexed; "
                          "rename it and upload it again", name=base)
    if any(ord(ch) < 32 for ch in base):
        raise UploadError("control-characters", f"{base!r}: the file name holds control characters; rename it "
                          "and upload it again", name=base)
    suffix = Path(base).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError("unsupported-type", f"{base}: unsupported file type {suffix or '(no extension)'}; "
                          f"supported: {', '.join(SUPPORTED_SUFFIXES)}", name=base, suffix=suffix,
                          supported=SUPPORTED_SUFFIXES)
    if Path(base).stem.upper() in RESERVED_STEMS:
        raise UploadError("reserved-name", f"{base}: README, LICENSE and NOTICE files are not indexed as articles; "
                          "rename it and upload it again", name=base)
    return base


def check_upload(source: Path, name: str, settings: Settings) -> UploadCheck:
    """Check an uploaded file (at ``source``, originally called ``name``) without writing to the corpus.

    Raises UploadError with the reason when the file cannot be an article:
    too large, unsupported type, empty, binary or undecodable.
    """
    target = upload_name(name)
    size = source.stat().st_size
    limit = settings.max_upload_bytes
    # Size first: an oversized file is refused before it is read.
    if size > limit:
        raise UploadError("too-large", f"{target}: {size / 1024 / 1024:.1f} MB is over the upload limit of "
                          f"{limit / 1024 / 1024:.0f} MB (setting max_upload_bytes)", name=target, size_bytes=size,
                          limit_bytes=limit)
    if size == 0:
        raise UploadError("empty", f"{target}: the file is empty", name=target)
    # load_article names the article after its path relative to the corpus, so
    # a temporary copy under the target name gives the same title the index will.
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        copy = Path(tmp) / target
        shutil.copyfile(source, copy)
        try:
            article = load_article(copy, Path(tmp), min(settings.max_article_bytes, limit),
                                   settings.max_extracted_chars, settings.max_pdf_pages)
        except ArticleError as exc:
            raise UploadError("unreadable", f"the file cannot be used as an article: {exc}",
                              detail=str(exc)) from exc
    duplicate = find_same_content(settings.corpus_dir, article.sha256, size)
    if duplicate is not None:
        return UploadCheck("duplicate", target, article.title, len(article.paragraphs), article.sha256, size,
                           duplicate_of=duplicate)
    status: Literal["new", "replace"] = "replace" if (settings.corpus_dir / target).exists() else "new"
    return UploadCheck(status, target, article.title, len(article.paragraphs), article.sha256, size)


def find_same_content(corpus_dir: Path, sha256: str, size: int) -> str | None:
    """The corpus article with exactly these bytes, or None (only files of the same size are hashed)."""
    if not corpus_dir.is_dir():
        return None
    files, _ = find_article_files(corpus_dir)
    for path in files:
        try:
            if path.stat().st_size != size:
                continue
            if file_sha256(path) == sha256:
                return path.relative_to(corpus_dir).as_posix()
        except OSError:
            continue
    return None


def check_indexable(settings: Settings) -> None:
    """Raise IndexReadOnlyError when the index folder or its embedding cache cannot be written.

    Asked before an upload is saved: a file saved into the corpus that the build then could not index
    stayed there, while the page said the upload had failed.
    """
    cache = settings.embedding_cache_path
    check_writable(settings.index_dir, (cache.parent, cache))


def save_upload(source: Path, check: UploadCheck, settings: Settings, replace: bool = False) -> Path:
    """Write a checked upload into the corpus folder atomically; return its path.

    A duplicate is never written; an existing name is overwritten only with ``replace``.
    The bytes are checked against the verdict again, so a file changed since the check is refused;
    nothing is written when the index could not take the file (``check_indexable``).
    """
    if check.status == "duplicate":
        raise UploadError("duplicate", f"the content of {check.title!r} is already in the corpus "
                          f"({check.duplicate_of}); it was not added again", title=check.title,
                          duplicate_of=check.duplicate_of)
    check_indexable(settings)
    corpus = settings.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    target = corpus / upload_name(check.name)
    if target.exists() and not replace:
        raise UploadError("exists", f"the corpus already has a file named {check.name}; confirm the replacement "
                          "to save it", name=check.name)
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != check.sha256:
        raise UploadError("changed", f"{check.name}: the file changed after it was checked; upload it again",
                          name=check.name)
    # write_atomically writes a hidden temporary file first: find_article_files
    # skips it, so a build never sees half a file.
    return write_atomically(target, data)


def delete_article(path: str, settings: Settings) -> Path:
    """Delete an article file from the corpus folder (it leaves the index at the next build)."""
    corpus = settings.corpus_dir.resolve()
    target = (settings.corpus_dir / path).resolve()
    # Only a file inside the corpus: a crafted "../x" must not delete anything else.
    if not target.is_relative_to(corpus) or target == corpus:
        raise UploadError("outside-corpus", f"{path}: not in the corpus folder {settings.corpus_dir}", path=path,
                          corpus_dir=settings.corpus_dir)
    if not target.is_file():
        raise UploadError("missing", f"{path}: no such file in the corpus (it may have been deleted already)",
                          path=path)
    target.unlink()
    return target


def list_articles(settings: Settings) -> list[ArticleRow]:
    """The corpus files with what the current index knows about each; removed ones last.

    A damaged index manifest raises IndexCorruptError (it names ``rag index --rebuild``).
    """
    manifest = read_manifest(settings.index_dir)
    indexed: dict[str, ArticleInfo] = dict(manifest.articles) if manifest is not None else {}
    rows: list[ArticleRow] = []
    seen: set[str] = set()
    files: list[Path] = []
    if settings.corpus_dir.is_dir():
        files, _ = find_article_files(settings.corpus_dir)
    for path in files:
        rel = path.relative_to(settings.corpus_dir).as_posix()
        seen.add(rel)
        size = path.stat().st_size
        info = indexed.get(rel)
        if info is None:
            rows.append(ArticleRow(rel, Path(rel).stem, size, None, None, None, "new"))
            continue
        # Same size and sha: unchanged. Hash only when the size matches (a cheap first test).
        same = info.size_bytes == size and file_sha256(path) == info.sha256
        rows.append(ArticleRow(rel, info.title or Path(rel).stem, size, info.paragraphs,
                               info.chunks, info.indexed_at, "indexed" if same else "changed"))
    for rel, info in sorted(indexed.items()):
        if rel not in seen:
            rows.append(ArticleRow(rel, info.title or Path(rel).stem, info.size_bytes,
                                   info.paragraphs, info.chunks, info.indexed_at, "removed"))
    return rows


def corpus_changed(rows: list[ArticleRow]) -> bool:
    """True when the corpus folder differs from the current index (a rebuild would change something)."""
    return any(r.state != "indexed" for r in rows)
