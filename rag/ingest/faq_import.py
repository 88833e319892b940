"""Question–answer rows out of a file a person made: CSV, XLSX or JSONL, each row checked on its own.

Columns (a header row for CSV and XLSX, keys for JSONL): ``question`` and
``answer``, optional ``source``; the Chinese names 问题, 答案 and 来源 are read
the same. A row that cannot be used (an empty cell, a cell over its limit) is one
line in ``FaqRows.problems`` and the other rows are still read; a file that cannot
be read at all (unknown kind, too big, not UTF-8, no question or answer column,
too many rows, a zip bomb) is one ``CurationError`` line that says what to do.

An .xlsx is a zip: its member list is checked with the .docx limits
(``rag.ingest.docx_text.check_members``) before openpyxl opens it.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import ArticleError, CurationError
from rag.ingest.limits import MB

MAX_IMPORT_BYTES = 20 * MB
MAX_IMPORT_ROWS = 10_000
KINDS = (".csv", ".xlsx", ".jsonl")
COLUMNS = {"question": "question", "问题": "question", "answer": "answer", "答案": "answer",
           "source": "source", "来源": "source"}
FIX = "save it as CSV (UTF-8), XLSX or JSONL with the columns question and answer (问题, 答案), optional source (来源)"
MAX_QUESTION_CHARS = 500
MAX_ANSWER_CHARS = 5_000
MAX_SOURCE_CHARS = 500


def check_entry(question: str, answer: str, source: str = "") -> str | None:
    """What is wrong with an entry's cells (None: nothing), as a phrase a line can end with.

    >>> check_entry("深圳在哪？", "广东。"), check_entry(" ", "广东。")
    (None, 'the question is empty')
    """
    for name, value, limit in (("question", question, MAX_QUESTION_CHARS), ("answer", answer, MAX_ANSWER_CHARS),
                               ("source", source, MAX_SOURCE_CHARS)):
        if name != "source" and not value.strip():
            return f"the {name} is empty"
        if len(value) > limit:
            return f"the {name} has {len(value):,} characters, over the limit of {limit:,}"
    return None




@dataclass(frozen=True)
class FaqRow:
    """One row of an import file: its line (CSV/JSONL) or row number (XLSX), and its cells."""

    line: int
    question: str
    answer: str
    source: str = ""


@dataclass(frozen=True)
class FaqRows:
    """The rows read from an import file, and one line for each row that could not be read."""

    rows: tuple[FaqRow, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)


def read_faq_rows(path: Path) -> FaqRows:
    """The rows of an import file (``KINDS``); CurationError, one line, when the file cannot be read at all."""
    kind = path.suffix.lower()
    if kind not in KINDS:
        raise CurationError(f"{path.name}: {kind or 'a file without an extension'} is not an FAQ file; {FIX}")
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise CurationError(f"{path.name} has {size:,} bytes, over the limit of {MAX_IMPORT_BYTES:,} for an "
                                "FAQ file; split it")
        data = path.read_bytes()
    except OSError as exc:
        raise CurationError(f"{path} cannot be read ({exc.strerror or exc}); give the path of an FAQ file") from exc
    if kind == ".xlsx":
        records: Iterable[tuple[int, dict[str, Any]]] = _xlsx_records(data, path.name)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CurationError(f"{path.name} is not UTF-8 text (byte {exc.start + 1}); {FIX}") from exc
        records = _jsonl_records(text, path.name) if kind == ".jsonl" else _csv_records(text, path.name)
    return _checked(records, path.name)


def faq_rows_from_json(items: Sequence[Any], name: str = "the request") -> FaqRows:
    """Rows from JSON objects (the API's ``entries``), checked like a file's; a row is numbered from 1."""
    if len(items) > MAX_IMPORT_ROWS:
        raise CurationError(f"{name} has {len(items):,} entries, over the limit of {MAX_IMPORT_ROWS:,} for one "
                            "import: nothing was imported; send fewer")
    records = ((n, {COLUMNS[k.lower()]: v for k, v in item.items() if k.lower() in COLUMNS}
                if isinstance(item, dict) else "not a JSON object") for n, item in enumerate(items, start=1))
    return _checked(records, name, "entry")


def _checked(records: Iterable[tuple[int, Any]], name: str, unit: str = "line") -> FaqRows:
    """Rows with a question and an answer; the others as problems. CurationError past ``MAX_IMPORT_ROWS``."""
    rows, problems = [], []
    for count, (line, record) in enumerate(records, start=1):
        if count > MAX_IMPORT_ROWS:
            raise CurationError(f"{name} has more than {MAX_IMPORT_ROWS:,} rows, over the limit for one import: "
                                "nothing was imported; split it into several files")
        if isinstance(record, str):  # a line that could not be read (JSONL)
            problems.append(f"{name} {unit} {line}: {record}; the row was skipped")
            continue
        cells = {key: _cell(record.get(key)) for key in ("question", "answer", "source")}
        problem = check_entry(cells["question"], cells["answer"], cells["source"])
        if problem is not None:
            problems.append(f"{name} {unit} {line}: {problem}; the row was skipped")
            continue
        rows.append(FaqRow(line, cells["question"].strip(), cells["answer"].strip(), cells["source"].strip()))
    return FaqRows(tuple(rows), tuple(problems))


def _cell(value: Any) -> str:
    """A cell as text ('' for an empty one; numbers as they read)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _header(cells: Sequence[Any], name: str) -> dict[int, str]:
    """Column number -> our column name, from a header row; CurationError without a question and an answer column."""
    found = {i: COLUMNS[str(c).strip().lower()] for i, c in enumerate(cells)
             if c is not None and str(c).strip().lower() in COLUMNS}
    missing = [c for c in ("question", "answer") if c not in found.values()]
    if missing:
        shown = ", ".join(repr(str(c)) for c in cells if c is not None) or "nothing"
        raise CurationError(f"{name}: the first row must name the columns; it has {shown[:200]}, no "
                            f"{' and no '.join(missing)} column; {FIX}")
    return found


def _csv_records(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(MAX_IMPORT_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise CurationError(f"{name} is empty; {FIX}")
        columns = _header(header, name)
        for cells in reader:
            if any(c.strip() for c in cells):
                yield reader.line_num, {key: cells[i] for i, key in columns.items() if i < len(cells)}
    except csv.Error as exc:
        raise CurationError(f"{name} line {reader.line_num}: not CSV ({exc}); {FIX}") from exc


def _jsonl_records(text: str, name: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            yield number, f"not JSON ({exc.args[0] if exc.args else exc})"
            continue
        if not isinstance(data, dict):
            yield number, "not a JSON object"
            continue
        yield number, {COLUMNS[k.lower()]: v for k, v in data.items() if k.lower() in COLUMNS}


def _xlsx_records(data: bytes, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of the first sheet, after the zip's member list passed the .docx limits."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            from rag.ingest.docx_text import check_members

            check_members(archive, name, ".xlsx", "save it again from the spreadsheet program")
    except ArticleError as exc:
        raise CurationError(str(exc)) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CurationError(f"{name} is not an .xlsx file ({exc}); {FIX}") from None
    try:
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file: each is this file's error
        raise CurationError(f"{name} cannot be read as a spreadsheet ({type(exc).__name__}: {exc}); {FIX}") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True) if book.worksheets else iter(())
        header = next(rows, None)
        if header is None:
            raise CurationError(f"{name} has no rows; {FIX}")
        columns = _header(header, name)
        for number, cells in enumerate(rows, start=2):
            if any(c is not None and str(c).strip() for c in cells):
                yield number, {key: cells[i] for i, key in columns.items() if i < len(cells)}
    finally:
        book.close()
