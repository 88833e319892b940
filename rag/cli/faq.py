"""``rag faq import FILE | list | delete ID``: a knowledge base's question–answer pairs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.cli.terminal import json_line, terminal_line

if TYPE_CHECKING:  # `rag --help` builds this parser: nothing heavy at import
    from rag.kb.bases import KnowledgeBases
    from rag.settings import Settings


def add_faq_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``rag faq …``: its three actions, each with ``--kb`` and the common options."""
    p = sub.add_parser("faq", help="import, list or delete FAQ pairs (answered before the articles are read)",
                       description="Question–answer pairs of a knowledge base, kept in its curation folder as "
                                   "faq.jsonl. A question close enough to an FAQ question (setting faq_threshold) "
                                   "is answered with that entry's answer, cited as the entry.")
    faq_sub = p.add_subparsers(dest="faq_command", metavar="ACTION", required=True)
    q = faq_sub.add_parser("import", help="add the rows of a CSV, XLSX or JSONL file",
                           description="Columns question and answer (or 问题 and 答案), optional source (来源). "
                                       "A row that cannot be used is named and skipped; the others are added. A "
                                       "question already in the FAQ takes the new answer.")
    q.add_argument("file", type=Path, help="a .csv (UTF-8), .xlsx or .jsonl file")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    common(q)
    q = faq_sub.add_parser("list", help="the FAQ entries: id, question, answer, source")
    q.add_argument("--json", action="store_true", help="one JSON object per entry")
    common(q)
    q = faq_sub.add_parser("delete", help="delete an entry by its id (`rag faq list` shows them)")
    q.add_argument("id")
    common(q)


def cmd_faq(args: argparse.Namespace, settings: Settings, name: str, bases: KnowledgeBases) -> int:
    """Run ``rag faq ACTION`` on the knowledge base ``name``."""
    from rag.kb.faq import entry_to_json

    if args.faq_command == "import":
        done = bases.faq(name).import_file(args.file)
        if args.json:
            print(json_line(done.to_json()))
        else:
            for line in done.problems:
                print(f"skipped: {terminal_line(line)}")
            print(f"imported {len(done.added)} new FAQ entries, replaced the answer of {len(done.updated)}, "
                  f"skipped {len(done.problems)} rows; `rag faq list` shows them")
        return 0
    if args.faq_command == "delete":
        entry = bases.faq(name).delete(args.id)
        print(f"deleted FAQ entry {terminal_line(entry.id)}: {terminal_line(entry.question)}")
        return 0
    entries = bases.faq(name).entries()
    if args.json:
        for e in entries:
            print(json_line(entry_to_json(e)))
        return 0
    if not entries:
        print("the FAQ is empty: `rag faq import FILE` adds question-answer pairs")
    for e in entries:
        source = f"  ({terminal_line(e.source)})" if e.source else ""
        print(f"{terminal_line(e.id):>5}  {terminal_line(e.question)}\n       {terminal_line(e.answer)}{source}")
    return 0
