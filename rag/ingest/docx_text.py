"""Text out of a .docx without unpacking it whole: the zip's member list first, then the XML as a stream.

A .docx is a zip of XML files. Its member list is checked before anything is
inflated (``rag.ingest.limits``: total size, member count, compression ratio),
then ``word/styles.xml`` and ``word/document.xml`` are read with lxml's
``iterparse``, each element emptied once read, under a budget of characters.
Memory stays near the size of the text kept, whatever the XML's size.

The text is what python-docx gave (``document.paragraphs``, then the rows of
``document.tables``): each body paragraph's runs and hyperlinks (tabs and
breaks included), stripped; a "Title" paragraph becomes ``# ``, "Heading N"
N+1 ``#``s; then each table row's non-empty cells joined by `` | ``, a cell
spanning columns repeated once per column and a vertically merged one taking
the text of the cell it continues.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from rag.errors import ArticleError
from rag.ingest.limits import (
    DOCX_MAX_EXPANDED_BYTES,
    DOCX_MAX_MEMBERS,
    DOCX_MAX_RATIO,
    DOCX_RATIO_FROM_BYTES,
    MAX_PARAGRAPHS,
    MB,
    one_line,
    third_party,
    too_many_paragraphs,
    too_much_text,
)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
DOCUMENT_XML = "word/document.xml"
STYLES_XML = "word/styles.xml"
SAVE_AGAIN = "save it again from Word"

_BODY = (f"{W}document", f"{W}body")
_TABLE = (*_BODY, f"{W}tbl")
_ROW = (*_TABLE, f"{W}tr")
_CELL = (*_ROW, f"{W}tc")
_BODY_PARAGRAPH = (*_BODY, f"{W}p")
_CELL_PARAGRAPH = (*_CELL, f"{W}p")
_RUN, _HYPERLINK = f"{W}r", f"{W}hyperlink"
# The run content python-docx reads as text; a w:br is a line break only when it is not a page or column break.
_RUN_TEXT = {f"{W}t": None, f"{W}tab": "\t", f"{W}ptab": "\t", f"{W}cr": "\n", f"{W}noBreakHyphen": "-",
             f"{W}br": "\n"}
# python-docx shows these built-in style names capitalised ("heading 1" in styles.xml is "Heading 1").
_UI_NAMES = {"caption": "Caption", "footer": "Footer", "header": "Header",
             **{f"heading {n}": f"Heading {n}" for n in range(1, 10)}}
_HEADING = re.compile(r"Heading (\d)")
MAX_COLUMNS = 63


def docx_text(data: bytes, name: str, max_chars: int) -> str:
    """The text of a .docx (paragraphs, then table rows); ArticleError for a bomb, broken XML or too much text."""
    with third_party(name, "not a readable .docx file", SAVE_AGAIN):
        archive = zipfile.ZipFile(io.BytesIO(data))
    with archive:
        names = check_members(archive, name)
        if DOCUMENT_XML not in names:
            raise ArticleError(f"{name}: not a Word document (it has no {DOCUMENT_XML}); {SAVE_AGAIN} as .docx")
        styles = _paragraph_styles(archive, name) if STYLES_XML in names else _Styles()
        return _DocumentReader(name, styles, max_chars).read(archive)


def check_members(archive: zipfile.ZipFile, name: str, kind: str = ".docx", fix: str = SAVE_AGAIN) -> set[str]:
    """Refuse a zip bomb by its member list alone (nothing is inflated); return the member names.

    ``kind``, ``fix``: the file kind and the remedy the error names (an .xlsx FAQ file is checked the same way).
    """
    members = archive.infolist()
    if len(members) > DOCX_MAX_MEMBERS:
        raise ArticleError(f"{name}: the {kind} holds {len(members):,} files, over the limit of "
                           f"{DOCX_MAX_MEMBERS:,} for a {kind} (a zip bomb?); {fix}")
    total = sum(m.file_size for m in members)
    if total > DOCX_MAX_EXPANDED_BYTES:
        raise ArticleError(f"{name}: the {kind} expands to {total / MB:,.0f} MB, over the limit of "
                           f"{DOCX_MAX_EXPANDED_BYTES // MB} MB for a {kind}'s contents (a zip bomb?); "
                           f"{fix} or split it")
    for m in members:
        if m.file_size > DOCX_RATIO_FROM_BYTES and m.file_size > DOCX_MAX_RATIO * max(m.compress_size, 1):
            raise ArticleError(one_line(
                f"{name}: {m.filename!r} inside the {kind} expands {m.file_size // max(m.compress_size, 1):,} "
                f"times, over the limit of {DOCX_MAX_RATIO} (a zip bomb?); {fix}"))
    return {m.filename for m in members}


def _elements(archive: zipfile.ZipFile, member: str, name: str) -> Iterator[tuple[str, Any]]:
    """("start" | "end", element) for each element of an XML member, read as a stream.

    After its "end" is handled, an element is emptied and dropped from its
    parent, so the tree never holds more than the open elements.
    """
    from lxml import etree

    with third_party(name, f"cannot open {member} in the .docx", SAVE_AGAIN):
        stream: IO[bytes] = archive.open(member)
    with stream:
        events = etree.iterparse(stream, events=("start", "end"), resolve_entities=False, load_dtd=False,
                                 no_network=True, huge_tree=False)
        while True:
            try:
                event, element = next(events)
            except StopIteration:
                return
            except etree.XMLSyntaxError as exc:
                raise ArticleError(one_line(f"{name}: {member} in the .docx is not well-formed XML ({exc}); "
                                            f"{SAVE_AGAIN}")) from exc
            except Exception as exc:  # the zip stream fails: bad CRC, truncated, encrypted, unknown method
                raise ArticleError(one_line(f"{name}: {member} in the .docx cannot be read "
                                            f"({type(exc).__name__}: {exc}); {SAVE_AGAIN}")) from exc
            yield event, element
            if event == "end":
                element.clear(keep_tail=False)
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]


@dataclass
class _Styles:
    """Paragraph style names by style id, as python-docx resolves them."""

    by_id: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # id → (w:type, name)
    default: str = ""  # the default paragraph style's name

    def name(self, style_id: str | None) -> str:
        """The name python-docx gives a paragraph's style: an unknown id or another type's style is the default."""
        found = self.by_id.get(style_id) if style_id else None
        if found is None or found[0] != "paragraph":
            return self.default
        return found[1]


def _paragraph_styles(archive: zipfile.ZipFile, name: str) -> _Styles:
    """The style names of styles.xml (the first style of an id wins; the last default paragraph style)."""
    styles = _Styles()
    depth = 0
    current: dict[str, str | None] = {}
    for event, el in _elements(archive, STYLES_XML, name):
        tag = el.tag
        if event == "start":
            depth += 1
            if depth == 2 and tag == f"{W}style":
                current = {"type": el.get(f"{W}type"), "id": el.get(f"{W}styleId"),
                           "default": el.get(f"{W}default"), "name": None}
            elif depth == 3 and tag == f"{W}name" and current:
                current["name"] = el.get(f"{W}val")
            continue
        depth -= 1
        if depth == 1 and tag == f"{W}style" and current:
            ui_name = _UI_NAMES.get(current["name"] or "", current["name"] or "")
            style_id = current["id"]
            if style_id is not None and style_id not in styles.by_id:
                styles.by_id[style_id] = (current["type"], ui_name)
            if current["type"] == "paragraph" and current["default"] in ("1", "true", "on"):
                styles.default = ui_name
            current = {}
    return styles


@dataclass
class _Cell:
    paragraphs: list[str] = field(default_factory=list)
    span: int = 1
    merge: str | None = None  # w:vMerge: "continue" takes the text of the cell above


@dataclass
class _Row:
    cells: list[_Cell] = field(default_factory=list)
    grid_before: int = 0


class _DocumentReader:
    """One pass over document.xml's elements, keeping body paragraphs and table rows as text blocks."""

    def __init__(self, name: str, styles: _Styles, max_chars: int):
        self.name, self.styles, self.max_chars = name, styles, max_chars
        self.paragraphs: list[str] = []
        self.rows: list[str] = []
        self.chars = 0  # of the blocks kept, separators included
        self.pending = 0  # of the paragraph or table row being read
        self.stack: list[str] = []
        self.text: list[str] | None = None  # the runs of the paragraph being read
        self.paragraph_path: tuple[str, ...] = ()
        self.style_id: str | None = None
        self.row = _Row()
        self.cell = _Cell()
        self.above: dict[int, tuple[str, int]] = {}  # the previous row's cells by grid offset: (text, span)

    def read(self, archive: zipfile.ZipFile) -> str:
        """The document's text blocks joined by blank lines, as python-docx's paragraphs and tables gave them."""
        for event, el in _elements(archive, DOCUMENT_XML, self.name):
            if event == "start":
                self.stack.append(el.tag)
                self._start(el)
            else:
                self._end(el)
                self.stack.pop()
        blocks = self.paragraphs + self.rows
        return "\n\n".join(blocks) + ("\n" if blocks else "")

    def _start(self, el: Any) -> None:
        path = tuple(self.stack)
        get = el.get
        if path in (_BODY_PARAGRAPH, _CELL_PARAGRAPH):
            self.text, self.paragraph_path, self.style_id = [], path, None
        elif path == (*_BODY_PARAGRAPH, f"{W}pPr", f"{W}pStyle"):
            self.style_id = get(f"{W}val")
        elif path == _TABLE:
            self.above = {}
        elif path == _ROW:
            self.row = _Row()
        elif path == (*_ROW, f"{W}trPr", f"{W}gridBefore"):
            self.row.grid_before = _number(get(f"{W}val"), 0)
        elif path == _CELL:
            self.cell = _Cell()
        elif path == (*_CELL, f"{W}tcPr", f"{W}gridSpan"):
            # Word tables have at most 63 columns; a larger span is damage (or a bomb of repeated text).
            self.cell.span = min(max(_number(get(f"{W}val"), 1), 1), MAX_COLUMNS)
        elif path == (*_CELL, f"{W}tcPr", f"{W}vMerge"):
            self.cell.merge = get(f"{W}val") or "continue"

    def _end(self, el: Any) -> None:
        tag = self.stack[-1]
        if self.text is not None and tag in _RUN_TEXT and self._in_run():
            piece = _RUN_TEXT[tag]
            if piece is None:
                piece = el.text or ""
            elif tag == f"{W}br" and el.get(f"{W}type") not in (None, "textWrapping"):
                piece = ""  # a page or column break
            self._keep(piece)
            return
        path = tuple(self.stack)
        if path == _BODY_PARAGRAPH and self.text is not None:
            self._add_paragraph("".join(self.text).strip())
            self.text = None
        elif path == _CELL_PARAGRAPH and self.text is not None:
            self.cell.paragraphs.append("".join(self.text))
            self.text = None
        elif path == _CELL:
            self.row.cells.append(self.cell)
        elif path == _ROW:
            self._add_row()

    def _in_run(self) -> bool:
        """The element ending is a run's child in the paragraph being read (directly or in a hyperlink)."""
        outer = self.stack[len(self.paragraph_path):-1]
        return tuple(self.stack[: len(self.paragraph_path)]) == self.paragraph_path and (
            outer == [_RUN] or outer == [_HYPERLINK, _RUN])

    def _keep(self, piece: str) -> None:
        assert self.text is not None
        self.pending += len(piece)
        self._check_budget()
        self.text.append(piece)

    def _check_budget(self) -> None:
        if self.chars + self.pending > self.max_chars:
            raise too_much_text(self.name, self.max_chars)

    def _add_block(self, blocks: list[str], block: str) -> None:
        self.pending = 0
        self.chars += len(block) + 2
        self._check_budget()
        if len(self.paragraphs) + len(self.rows) >= MAX_PARAGRAPHS:
            raise too_many_paragraphs(self.name)
        blocks.append(block)

    def _add_paragraph(self, text: str) -> None:
        self.pending = 0
        if not text:
            return
        style = self.styles.name(self.style_id)
        heading = _HEADING.match(style)
        if style == "Title":
            self._add_block(self.paragraphs, f"# {text}")
        elif heading:
            self._add_block(self.paragraphs, f"{'#' * (int(heading.group(1)) + 1)} {text}")
        else:
            self._add_block(self.paragraphs, text)

    def _add_row(self) -> None:
        """The row's cells as python-docx's ``row.cells`` lists them, non-empty ones joined by " | "."""
        texts: list[str] = []
        here: dict[int, tuple[str, int]] = {}
        offset = self.row.grid_before
        for cell in self.row.cells:
            if cell.merge == "continue":
                found = self.above.get(offset)  # the cell this one continues (python-docx fails without one)
                if found is not None:
                    texts.extend([found[0]] * found[1])
                    here[offset] = found
            else:
                text = "\n".join(cell.paragraphs)
                texts.extend([text] * cell.span)
                here[offset] = (text, cell.span)
            offset += cell.span
        self.above = here
        self.pending = 0
        cells = [t.strip() for t in texts if t.strip()]
        if cells:
            self._add_block(self.rows, " | ".join(cells))


def _number(value: str | None, default: int) -> int:
    """An XML decimal attribute; a missing or malformed one is ``default``."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
