"""Answers to follow-up questions, end to end: every row of questions/followups.jsonl asked after its previous one.

Usage: python scripts/followup_accuracy.py [--questions questions/followups.jsonl] [--corpus corpus]
                                          [--json FILE] [--rows]

Indexes the corpus (the default article) into a temporary folder, asks each row's
question with its previous question as the conversation (``KnowledgeBase.ask``, the
path of the chat and the API, with the settings' reading model), and prints the
table by kind (back-reference 它/该/其, what-about 呢, predicate only, not a follow-up),
script (traditional) and language (English): rows right, answerable rows whose short
answer passes (official F1 ≥ PASS_F1 or EM against ``answer``), unanswerable rows
refused, and rows asked exactly as their ``stands_for``; then detection precision
and recall. ``--rows`` lists every row; ``--json FILE`` writes the figures and rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from rag.evaluation.followups import load_followup_rows, measure_followups
from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import load_settings


def main() -> int:
    """Measure and print; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=Path("questions/followups.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures and every row here")
    parser.add_argument("--rows", action="store_true", help="print every row: asked as, reply, right or wrong")
    args = parser.parse_args()
    rows = load_followup_rows(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.corpus, Path(tmp) / "corpus")
        settings = load_settings(overrides={"corpus_dir": Path(tmp) / "corpus", "index_dir": Path(tmp) / "index"})
        kb = KnowledgeBase(settings)
        kb.build()
        report = measure_followups(kb, rows)
        reader = kb.answer_status()["reader"]
    if args.rows:
        for r in report.rows:
            reply = "(refused)" if r.refused else r.short_answer or r.answer[:40]
            print(f"{'✓' if r.correct else '✗'} [{r.row.kind}] {r.row.question} → {r.asked} → {reply}"
                  f" (gold: {' | '.join(r.row.answers) or 'refuse'})")
        print()
    print(f"{len(rows)} rows of {args.questions}, reader {reader}\n")
    print(report.table())
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
