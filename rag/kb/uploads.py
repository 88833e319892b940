"""Changes the browser makes on disk: articles into the corpus folder, ratings beside the index.

Pure library code (no gradio): the UI calls these and shows their messages.
Every check an upload must pass lives here, so it is unit-tested without a browser:
size, type, a name that can live in the corpus, decodable text that is not empty,
and content that is not already there. Files are written atomically (a hidden
temporary file, then a rename), so a half-written upload is never indexed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rag.errors import ArticleError
from rag.ingest.articles import SUPPORTED_SUFFIXES, find_article_files, load_article
from rag.records import Answer
from rag.settings import Settings
from rag.store.build import read_manifest

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.jsonl"
# find_article_files skips these names (they describe the corpus), so an upload must not use them.
RESERVED_STEMS = ("README", "LICENSE", "NOTICE")
_CITATION_MARKER = re.compile(r"\[\d+\]")
_feedback_lock = threading.Lock()


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

    @property
    def message(self) -> str:
        """What to tell the user about this upload."""
        if self.status == "duplicate":
            return f"「{self.title}」的内容已在语料中（{self.duplicate_of}），没有重复添加。"
        if self.status == "replace":
            return f"语料中已有同名文件 {self.name}：要用上传的文件替换它吗？"
        return f"可以添加「{self.title}」（{self.name}，{self.paragraphs} 段）。"


def upload_name(name: str) -> str:
    """The corpus file name for an uploaded file's name; ArticleError when it cannot be one.

    Only the last path part counts (a browser may send a path); hidden names,
    unsupported types and names the corpus ignores are refused.

    >>> upload_name("C:\\\\docs\\\\新闻.TXT")
    '新闻.TXT'
    """
    base = unicodedata.normalize("NFC", name.replace("\\", "/").split("/")[-1]).strip()
    if not base or base in (".", ".."):
        raise ArticleError("上传的文件没有文件名")
    if base.startswith("."):
        raise ArticleError(f"{base}: 以点开头的隐藏文件不会被索引，请改名后再上传")
    if any(ord(ch) < 32 for ch in base):
        raise ArticleError(f"{base!r}: 文件名含有控制字符，请改名后再上传")
    suffix = Path(base).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ArticleError(
            f"{base}: 不支持的文件类型 {suffix or '（无扩展名）'}；支持 {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if Path(base).stem.upper() in RESERVED_STEMS:
        raise ArticleError(f"{base}: README、LICENSE、NOTICE 文件不作为文章索引，请改名后再上传")
    return base


def check_upload(source: Path, name: str, settings: Settings) -> UploadCheck:
    """Check an uploaded file (at ``source``, originally called ``name``) without writing to the corpus.

    Raises ArticleError with the reason when the file cannot be an article:
    too large, unsupported type, empty, binary or undecodable.
    """
    target = upload_name(name)
    size = source.stat().st_size
    # Size first: an oversized file is refused before it is read.
    if size > settings.max_upload_bytes:
        raise ArticleError(
            f"{target}: {size / 1024 / 1024:.1f} MB 超过上传上限 "
            f"{settings.max_upload_bytes / 1024 / 1024:.0f} MB（设置 max_upload_bytes）"
        )
    if size == 0:
        raise ArticleError(f"{target}: 文件是空的")
    # load_article names the article after its path relative to the corpus, so
    # a temporary copy under the target name gives the same title the index will.
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        copy = Path(tmp) / target
        shutil.copyfile(source, copy)
        try:
            article = load_article(copy, Path(tmp), min(settings.max_article_bytes, settings.max_upload_bytes),
                                   settings.max_extracted_chars)
        except ArticleError as exc:
            raise ArticleError(f"文件无法作为文章使用：{exc}") from exc
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
            if _file_sha256(path) == sha256:
                return path.relative_to(corpus_dir).as_posix()
        except OSError:
            continue
    return None


def save_upload(source: Path, check: UploadCheck, settings: Settings, replace: bool = False) -> Path:
    """Write a checked upload into the corpus folder atomically; return its path.

    A duplicate is never written; an existing name is overwritten only with ``replace``.
    The bytes are checked against the verdict again, so a file changed since the check is refused.
    """
    if check.status == "duplicate":
        raise ArticleError(check.message)
    corpus = settings.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    target = corpus / upload_name(check.name)
    if target.exists() and not replace:
        raise ArticleError(f"语料中已有同名文件 {check.name}；确认替换后再保存")
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != check.sha256:
        raise ArticleError(f"{check.name}: 文件在检查之后被改动过，请重新上传")
    # A hidden temporary name: find_article_files skips it, so a build never sees half a file.
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=corpus)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def delete_article(path: str, settings: Settings) -> Path:
    """Delete an article file from the corpus folder (it leaves the index at the next build)."""
    corpus = settings.corpus_dir.resolve()
    target = (settings.corpus_dir / path).resolve()
    # Only a file inside the corpus: a crafted "../x" must not delete anything else.
    if not target.is_relative_to(corpus) or target == corpus:
        raise ArticleError(f"{path}: 不在语料文件夹 {settings.corpus_dir} 中")
    if not target.is_file():
        raise ArticleError(f"{path}: 语料中没有这个文件（可能已被删除）")
    target.unlink()
    return target


def list_articles(settings: Settings) -> list[ArticleRow]:
    """The corpus files with what the current index knows about each; removed ones last."""
    manifest = read_manifest(settings.index_dir) or {}
    indexed: dict[str, Any] = manifest.get("articles", {})
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
        same = info.get("size_bytes") == size and _file_sha256(path) == info.get("sha256")
        rows.append(ArticleRow(rel, info.get("title") or Path(rel).stem, size, info.get("paragraphs"),
                               info.get("chunks"), info.get("indexed_at"), "indexed" if same else "changed"))
    for rel, info in sorted(indexed.items()):
        if rel not in seen:
            rows.append(ArticleRow(rel, info.get("title") or Path(rel).stem, int(info.get("size_bytes") or 0),
                                   info.get("paragraphs"), info.get("chunks"), info.get("indexed_at"), "removed"))
    return rows


def corpus_changed(rows: list[ArticleRow]) -> bool:
    """True when the corpus folder differs from the current index (a rebuild would change something)."""
    return any(r.state != "indexed" for r in rows)


# -- ratings --------------------------------------------------------------------------------
def feedback_path(settings: Settings) -> Path:
    """Where ratings are kept: a question set beside the index."""
    return settings.index_dir / FEEDBACK_FILE


def answer_without_markers(text: str) -> str:
    """The answer text without its citation markers (the form a gold answer takes).

    >>> answer_without_markers("约 2200 亿元[1]。")
    '约 2200 亿元。'
    """
    return _CITATION_MARKER.sub("", text).strip()


def feedback_record(answer_id: str, answer: Answer, rating: str, articles: list[str] | None = None) -> dict[str, Any]:
    """A rating as one row of a question set in the evaluation JSONL format.

    👍 ("up"): the shown answer becomes the gold answer and its first citation the
    gold article and paragraph, so a re-run checks they still come; a 👍 on a
    refusal marks the question unanswerable. 👎 ("down"): the shown answer was
    wrong and the right one is not known yet, so ``answers`` stays empty and the
    rejected text is kept for someone to fill in the right one.
    """
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
    shown = answer_without_markers(answer.text)
    row: dict[str, Any] = {"id": answer_id, "question": answer.question, "rating": rating}
    if rating == "up":
        row["answers"] = [] if answer.refused else [shown]
        row["unanswerable"] = answer.refused
        if answer.citations and not answer.refused:
            row["article"] = answer.citations[0].article
            row["paragraph"] = answer.citations[0].paragraph
    else:
        row["answers"] = []
        row["rejected_answer"] = shown
        row["refused"] = answer.refused
    if articles:
        row["articles"] = list(articles)  # the question was limited to these
    if answer.query != answer.question:
        row["query"] = answer.query
    row["mode"] = answer.mode
    row["rated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return row


def save_feedback(settings: Settings, record: dict[str, Any] | None, answer_id: str) -> Path:
    """Store a rating (replacing an earlier one of the same answer); ``record`` None removes it.

    The file is rewritten atomically, so a reader never sees half a line.
    """
    path = feedback_path(settings)
    with _feedback_lock:
        rows = read_feedback(path)
        rows = [r for r in rows if r.get("id") != answer_id]
        if record is not None:
            rows.append(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".feedback-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    return path


def read_feedback(path: Path) -> list[dict[str, Any]]:
    """The ratings stored so far; a line that is not a JSON object is logged and left out."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            log.warning("%s line %d is not a JSON object; it is left out", path, number)
    return rows


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
