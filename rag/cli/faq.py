"""``rag faq import FILE | list | delete ID | teach QUESTION ANSWER``: a knowledge base's question–answer pairs."""

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
    q = faq_sub.add_parser("teach", help="after a 👎: keep the right answer to a question",
                           description="The right answer becomes an FAQ entry; with --link ARTICLE it is a sentence "
                                       "of that article and the question is linked to the chunk that holds it "
                                       "(the index is built to apply it). The 👎 row of the ratings file "
                                       "(feedback.jsonl beside the index) records it, so re-running that file as a "
                                       "question set (`rag eval`) shows the fix.")
    q.add_argument("question")
    q.add_argument("answer", help="the right answer (with --link: a sentence of the article, as it stands there)")
    q.add_argument("--link", metavar="ARTICLE", help="link the question to the chunk of ARTICLE holding the answer")
    q.add_argument("--rating", metavar="ID", help="the id of the 👎 row (default: the latest 👎 of the question)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
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
    if args.faq_command == "teach":
        return _teach(args, bases, name)
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


def _teach(args: argparse.Namespace, bases: KnowledgeBases, name: str) -> int:
    from rag.kb.teach import teach

    how = "link" if args.link else "faq"
    taught = teach(bases.get(name), args.question, args.answer, how, answer_id=args.rating, article=args.link)
    if args.json:
        print(json_line(taught.to_json()))
        return 0
    done = f"FAQ entry {taught.faq_id}" if how == "faq" else f"a linked question on chunk {taught.chunk} of " \
        f"{terminal_line(args.link)}"
    rating = "no 👎 of it was found in the ratings file" if taught.rating is None else \
        f"recorded on the 👎 row {terminal_line(str(taught.rating.get('id')))} of the ratings file"
    print(f"taught: {done}; {rating}")
    return 0
