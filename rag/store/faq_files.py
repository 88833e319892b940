"""The FAQ file of a knowledge base: ``curation/faq.jsonl``, one entry a line, read and written whole.

Each line is ``{"id": "3", "question": …, "answer": …, "source": …}`` (``source``
optional). Ids are numbers as text, given in order and never reused while the
file has a higher one, so ``rag faq delete 3`` names one entry. The file is read
at question time (no index build applies it), so an import or a deletion is
answered from at the next question.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import CurationError
from rag.filelock import acquire
from rag.files import write_atomically
from rag.ingest.faq_import import check_entry
from rag.records import FaqEntry
from rag.serialize import json_text, parse_json
from rag.store.curation_files import read_text

FAQ_FILE = "faq.jsonl"
LOCK_FILE = ".faq.lock"  # held while the file is read and rewritten, so two imports never lose one
MAX_FAQ_ENTRIES = 10_000  # a knowledge base's FAQ: every question is compared with all of them


def entry_from_json(data: Any) -> FaqEntry:
    """An entry from its line; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a line must be a JSON object")
    for key in ("id", "question", "answer"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"{key} must be text")
    source = data.get("source") or ""
    if not isinstance(source, str):
        raise ValueError("source must be text")
    problem = check_entry(data["question"], data["answer"], source)
    if problem is not None:
        raise ValueError(problem)
    return FaqEntry(data["id"], data["question"].strip(), data["answer"].strip(), source.strip())


def entry_to_json(entry: FaqEntry) -> dict[str, Any]:
    """An entry as its line of ``faq.jsonl`` (and of ``rag faq list --json``)."""
    row = {"id": entry.id, "question": entry.question, "answer": entry.answer}
    if entry.source:
        row["source"] = entry.source
    return row


def _entries(text: str, path: Path) -> Iterator[FaqEntry]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield entry_from_json(parse_json(line))
            except (ValueError, TypeError) as exc:
                raise CurationError(f"{path} line {number}: {exc}; correct or delete that line") from None


def read_faq(folder: Path) -> tuple[FaqEntry, ...]:
    """The FAQ entries of a curation folder (none when there is no ``faq.jsonl``); CurationError naming a bad line."""
    path = folder / FAQ_FILE
    entries = tuple(_entries(read_text(path) or "", path))
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise CurationError(f"{path}: the id {e.id!r} is given twice; give each entry its own id")
        seen.add(e.id)
    return entries


def write_faq(folder: Path, entries: Sequence[FaqEntry]) -> None:
    """Write the FAQ file whole, in one rename."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / FAQ_FILE, "".join(json_text(entry_to_json(e)) + "\n" for e in entries))


@contextmanager
def _editing(folder: Path) -> Iterator[None]:
    """Hold the FAQ's lock (other processes and threads wait) while it is read, changed and rewritten."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = acquire(folder / LOCK_FILE, wait=True)
    try:
        yield
    finally:
        lock.close()


def _next_id(entries: Iterable[FaqEntry]) -> int:
    return 1 + max((int(e.id) for e in entries if e.id.isdigit()), default=0)


def add_entries(folder: Path, rows: Sequence[tuple[str, str, str]]) -> tuple[list[FaqEntry], list[FaqEntry]]:
    """Add (question, answer, source) rows: (added, updated).

    A question the FAQ already has (the same text) takes the new answer and
    keeps its id; the file is rewritten in one rename. CurationError when the FAQ
    would pass ``MAX_FAQ_ENTRIES``.
    """
    with _editing(folder):
        return _add(folder, rows)


def _add(folder: Path, rows: Sequence[tuple[str, str, str]]) -> tuple[list[FaqEntry], list[FaqEntry]]:
    entries = list(read_faq(folder))
    by_question = {e.question: i for i, e in enumerate(entries)}
    added, updated = [], []
    n = _next_id(entries)
    for question, answer, source in rows:
        question, answer, source = question.strip(), answer.strip(), source.strip()
        if question in by_question:
            i = by_question[question]
            entries[i] = FaqEntry(entries[i].id, question, answer, source)
            updated.append(entries[i])
            continue
        entry = FaqEntry(str(n), question, answer, source)
        n += 1
        by_question[question] = len(entries)
        entries.append(entry)
        added.append(entry)
    if len(entries) > MAX_FAQ_ENTRIES:
        raise CurationError(f"the FAQ would hold {len(entries):,} entries, over the limit of {MAX_FAQ_ENTRIES:,}: "
                            "nothing was imported; import fewer rows or delete some (`rag faq delete ID`)")
    write_faq(folder, entries)
    return added, updated


def delete_entry(folder: Path, entry_id: str) -> FaqEntry:
    """Delete the entry ``entry_id`` and return it; CurationError when there is none."""
    with _editing(folder):
        entries = list(read_faq(folder))
        for i, e in enumerate(entries):
            if e.id == entry_id:
                del entries[i]
                write_faq(folder, entries)
                return e
    raise CurationError(f"the FAQ has no entry {entry_id!r}: `rag faq list` shows the ids")
