"""Articles: find them in the corpus folder, decode them, split them into paragraphs.

Offsets are into the decoded text (BOM not counted, line endings untouched):
``article.text[p.start:p.end]`` is paragraph ``p`` exactly as in the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ArticleError
from rag.files import display_name
from rag.ingest.decode import control_ratio, decode_bytes
from rag.ingest.limits import MAX_PARAGRAPHS, one_line, too_many_paragraphs, too_much_text
from rag.records import Article, Paragraph
from rag.text import SENTENCE_END

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
EXTRACTED_SUFFIXES = (".html", ".htm", ".docx", ".pdf")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + EXTRACTED_SUFFIXES

# Characters that make a short plain-text line a sentence rather than a heading.
HEADING_FORBIDDEN = re.compile(r"[。！？!?；;，,：:（）()“”\"‘’'《》…]")
ENUMERATION = re.compile(r"^(?:[一二三四五六七八九十百]+、|（[一二三四五六七八九十]+）|\d+[.、]\s*)")
MAX_HEADING_CHARS = 30
BLANK_LINE = re.compile(r"\n[ \t\r\f\v\u3000]*\n")
MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")


@dataclass(frozen=True)
class Block:
    """A run of non-blank lines, with its span in the text."""

    start: int
    end: int
    heading_level: int  # 0 for a paragraph, 1.. for a heading
    heading_text: str


def split_blocks(text: str, markdown_headings: bool, plain_headings: bool) -> list[Block]:
    """Split text into blocks on blank lines; mark heading blocks.

    ``markdown_headings``: ``#`` lines are headings; ``plain_headings``: short
    lines without punctuation (e.g. 「一、总体要求」) standing alone are headings too.
    """
    blocks: list[Block] = []
    pos = 0
    separators = [(m.start(), m.end()) for m in BLANK_LINE.finditer(text)]
    separators.append((len(text), len(text)))
    for sep_start, sep_end in separators:
        raw_start, raw_end = pos, sep_start
        pos = sep_end
        segment = text[raw_start:raw_end]
        stripped = segment.strip()
        if not stripped:
            continue
        start = raw_start + (len(segment) - len(segment.lstrip()))
        end = start + len(stripped)
        # Headings inside a block (a "#" line right above text) split the block.
        line_start = start
        for line in text[start:end].split("\n"):
            line_end = line_start + len(line)
            match = MD_HEADING.match(line.strip()) if markdown_headings else None
            if match:
                if line_start > start:
                    _add_paragraph(blocks, text, start, line_start)
                blocks.append(Block(line_start, line_end, len(match.group(1)), match.group(2).strip()))
                start = line_end + 1
            line_start = line_end + 1
        if start < end:
            _add_paragraph(blocks, text, start, end)
    if plain_headings:
        blocks = [_maybe_plain_heading(text, b) for b in blocks]
    return blocks


def _add_paragraph(blocks: list[Block], text: str, start: int, end: int) -> None:
    segment = text[start:end]
    stripped = segment.strip()
    if stripped:
        s = start + (len(segment) - len(segment.lstrip()))
        blocks.append(Block(s, s + len(stripped), 0, ""))


def _maybe_plain_heading(text: str, block: Block) -> Block:
    if block.heading_level:
        return block
    line = text[block.start:block.end]
    body = ENUMERATION.sub("", line)
    if "\n" in line or len(line) > MAX_HEADING_CHARS or not body or HEADING_FORBIDDEN.search(body):
        return block
    return Block(block.start, block.end, 2, line.strip())


def parse_article(
    text: str,
    path: str,
    sha256: str,
    encoding: str,
    size_bytes: int,
    plain_headings: bool = True,
    page_starts: list[int] | None = None,
) -> Article:
    """Turn decoded text into an Article: title, sections and numbered paragraphs.

    The title is the first ``#`` heading, else a short unpunctuated first line,
    else the file name (bytes of it that are not UTF-8 shown as ``\\xNN``).
    Paragraphs broken mid-sentence are rejoined with the next.
    """
    if not text.strip():
        raise ArticleError(
            f"{display_name(path)}: the article is empty (no text after decoding); add text or delete it")
    if sum(1 for _ in BLANK_LINE.finditer(text)) >= MAX_PARAGRAPHS:  # counted before the costly split
        raise too_many_paragraphs(display_name(path))
    blocks = split_blocks(text, markdown_headings=True, plain_headings=plain_headings)
    title = ""
    first_h1 = next((b for b in blocks if b.heading_level == 1), None)
    if first_h1 is not None:
        title = first_h1.heading_text
        blocks = [b for b in blocks if b is not first_h1]
    elif blocks and plain_headings and blocks[0].heading_level == 2 and len(blocks) > 1:
        # A short unpunctuated first line is the title, not a section.
        title = blocks[0].heading_text
        blocks = blocks[1:]
    if not title:
        title = display_name(Path(path).stem)

    paragraphs: list[Paragraph] = []
    section = ""
    pending: Block | None = None  # a paragraph broken mid-sentence, waiting for its rest
    for block in blocks:
        if block.heading_level:
            if pending is not None:
                paragraphs.append(_paragraph(len(paragraphs) + 1, pending.start, pending.end, section, page_starts))
                pending = None
            section = block.heading_text
            continue
        start = pending.start if pending is not None else block.start
        pending = None
        last = text[block.end - 1]
        if last not in SENTENCE_END and (last.isalnum() or "\u4e00" <= last <= "\u9fff"):
            pending = Block(start, block.end, 0, "")
            continue
        paragraphs.append(_paragraph(len(paragraphs) + 1, start, block.end, section, page_starts))
    if pending is not None:
        paragraphs.append(_paragraph(len(paragraphs) + 1, pending.start, pending.end, section, page_starts))
    if not paragraphs:
        raise ArticleError(f"{display_name(path)}: no paragraph of text: every block of it is a heading (a # "
                           "line, or a short line without sentence punctuation, which reads as a section title); "
                           "add text, or end its lines with 。")
    return Article(path=path, title=title, text=text, paragraphs=tuple(paragraphs), sha256=sha256,
                   encoding=encoding, size_bytes=size_bytes)


def _paragraph(number: int, start: int, end: int, section: str, page_starts: list[int] | None) -> Paragraph:
    page = None
    if page_starts:
        page = sum(1 for p in page_starts if p <= start) or 1
    return Paragraph(number=number, start=start, end=end, section=section, page=page)


def load_article(
    path: Path,
    corpus_dir: Path,
    max_bytes: int,
    max_chars: int,
    max_pdf_pages: int = 2000,
) -> Article:
    """Read, decode and parse one article file: the one boundary between a file and the index.

    Every reason a file cannot be an article is an ArticleError whose message
    is one line naming the file and what to do: its type, size, encoding or
    damage, a limit, an OS error, a file nested too deeply, an extractor
    failing. Anything else it raises is a bug in this package.
    """
    rel = relative_name(path, corpus_dir)
    shown = display_name(rel)
    try:
        return _load(path, rel, shown, max_bytes, max_chars, max_pdf_pages)
    except (OSError, UnicodeError, RecursionError, MemoryError) as exc:
        raise ArticleError(one_line(f"{shown}: {_reason(exc)}")) from exc


def _reason(exc: BaseException) -> str:
    """What to tell about a file whose reading raised ``exc`` (not an ArticleError)."""
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc}); check that it exists and its permissions"
    if isinstance(exc, UnicodeError):
        return f"cannot be decoded ({exc}); re-save it as UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply to be read; save it again in a simpler form"
    return "too large to be read in memory; split it"


def _load(path: Path, rel: str, shown: str, max_bytes: int, max_chars: int, max_pdf_pages: int) -> Article:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ArticleError(one_line(
            f"{shown}: unsupported file type {display_name(suffix) or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}"
        ))
    # Size is checked before reading: a huge file must not be loaded to be refused.
    size = path.stat().st_size
    if size > max_bytes:
        raise ArticleError(
            f"{shown}: {size / 1024 / 1024:.1f} MB is over the article size limit of "
            f"{max_bytes / 1024 / 1024:.0f} MB (setting max_article_bytes); split the file or raise the limit"
        )
    if size == 0:
        raise ArticleError(f"{shown}: the file is empty; add text or delete it")
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)  # a file that grew since stat is still read no further than the limit
    if len(data) > max_bytes:
        raise ArticleError(f"{shown}: it grew past the article size limit while being read; try again")
    digest = hashlib.sha256(data).hexdigest()
    page_starts: list[int] | None = None
    if suffix in TEXT_SUFFIXES:
        text, encoding = decode_bytes(data, shown)
        if control_ratio(text) > 0.01:
            raise ArticleError(f"{shown}: looks like a binary file (control characters), not text")
    else:
        from rag.ingest.extract import extract_document

        document = extract_document(data, suffix, shown, max_chars, max_pdf_pages)
        text, encoding, page_starts = document.text, document.source_format, document.page_starts
    if len(text) > max_chars:
        raise too_much_text(shown, max_chars, len(text))
    return parse_article(text, rel, digest, encoding, size, plain_headings=suffix != ".md",
                         page_starts=page_starts)


def relative_name(path: Path, corpus_dir: Path) -> str:
    """The article's id: its path relative to the corpus, with forward slashes."""
    try:
        return path.relative_to(corpus_dir).as_posix()
    except ValueError:
        return path.name


def find_article_files(corpus_dir: Path) -> tuple[list[Path], list[str]]:
    """List supported files under the corpus folder; return (files, warnings).

    Symlinks that point outside the corpus, or in a loop, are skipped with a
    warning, never followed; so are folders that cannot be read. Hidden files
    and folders (``.name``) and README files are not articles. Names are kept
    as the file system gives them (``display_name`` shows them).
    """
    if not corpus_dir.is_dir():
        raise ArticleError(f"corpus folder {corpus_dir} does not exist; create it and put .txt or .md articles in it")
    root = corpus_dir.resolve()
    files: list[Path] = []
    warnings: list[str] = []
    for path in sorted(_corpus_entries(corpus_dir, warnings)):
        rel = relative_name(path, corpus_dir)
        if any(part.startswith(".") for part in Path(rel).parts):
            continue
        shown = display_name(rel)
        try:
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                warnings.append(f"{shown}: symlink to a file outside the corpus folder, skipped")
                continue
            if not path.is_file():
                continue
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11's Path.resolve)
            warnings.append(one_line(f"{shown}: cannot be followed ({exc}); skipped"))
            continue
        if path.stem.upper() in ("README", "LICENSE", "NOTICE"):
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            warnings.append(f"{shown}: unsupported file type, skipped (use {', '.join(SUPPORTED_SUFFIXES)})")
            continue
        files.append(path)
    return files, warnings


def _corpus_entries(corpus_dir: Path, warnings: list[str]) -> list[Path]:
    """Every file and folder under ``corpus_dir`` (what ``rglob("*")`` lists), symlinked folders not entered.

    A folder that cannot be listed is a warning, not a stop.
    """
    def unreadable(exc: OSError) -> None:
        rel = relative_name(Path(exc.filename or corpus_dir), corpus_dir)
        name = display_name(str(corpus_dir) if rel == "." else rel)
        warnings.append(one_line(f"{name}: folder cannot be read ({exc.strerror or exc}); its articles are skipped"))

    entries: list[Path] = []
    for folder, folders, names in os.walk(corpus_dir, onerror=unreadable):
        folders[:] = [f for f in folders if not f.startswith(".")]  # hidden folders hold no articles
        entries.extend(Path(folder, name) for name in (*folders, *names))
    return entries
