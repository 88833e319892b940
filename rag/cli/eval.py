"""``rag eval``: argument parsing, progress bars and printing; the work is in ``rag.evaluation.session``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.cli.terminal import json_line, terminal_line, terminal_text
from rag.errors import RagError
from rag.evaluation.datasets import BUNDLED_DATASETS, MAX_PROBLEMS_SHOWN, SPLITS
from rag.settings import RETRIEVAL_MODES, Settings

EPILOG = """\
examples:
  rag eval --dataset cmrc2018-dev --sample 100 --seed 0
  rag eval --dataset cmrc2018-dev --split test --mode dense
  rag eval questions.jsonl                      (against the index in index/)
  rag eval questions.csv --corpus articles/     (against a cached index of that folder)
  rag eval questions.jsonl --fail-under pass_rate=0.8
  rag eval --compare eval-runs/RUN_A eval-runs/RUN_B

A SQuAD-format file (CMRC 2018, DRCD) is answered from its own passages, indexed
once into --index-cache and reused while the file, encoder and chunking stay the same.
--split cuts CMRC by passage: tune = SHA-1 of the passage id is even, test = odd.
Reports go to a new folder under eval-runs/ beside the index folder (setting eval_dir).
Malformed rows of a question set are skipped with a warning and listed in the reports.
A question passes on its short answer where there is one (official F1 >= 0.5 or EM; a
refusal of an answerable question fails), else when its whole answer contains the gold;
pass_rate is the share that pass, containment stays a metric of its own.
Exit status: 0 when the reports were written, skipped rows or not; 1 when a
--fail-under bound was missed, or with --strict when rows were skipped; 2 on an error.
"""


def add_eval_parser(subparsers: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``eval`` command to the ``rag`` parser."""
    p = subparsers.add_parser(
        "eval", help="evaluate a question set (hit@k, EM/F1, containment, refusals, latency)",
        description="Ask every question of a set, score retrieval and answers, and write report.json, "
                    "report.md, report.html and predictions.json.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", type=Path, help="question set: .jsonl, .csv or SQuAD-format .json")
    p.add_argument("--dataset", choices=sorted(BUNDLED_DATASETS), help="a question set shipped with rag")
    p.add_argument("--mode", dest="eval_mode", choices=RETRIEVAL_MODES, help="retrieval mode (default: settings)")
    p.add_argument("--k", type=int, default=10, dest="depth", metavar="N",
                   help="chunks retrieved per question for hit@k (default 10); answers use the top --top-k")
    p.add_argument("--top-k", type=int, dest="top_k", metavar="N", help="chunks answers are drawn from (default 5)")
    p.add_argument("--chunk-size", type=int, dest="eval_chunk_size", metavar="CHARS", help="chunk size in characters")
    p.add_argument("--chunk-overlap", type=int, dest="eval_chunk_overlap", metavar="CHARS",
                   help="chunk overlap in characters")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="CMRC half: tune (choose settings here) or test (report here); default all")
    p.add_argument("--sample", type=int, metavar="N", help="a random sample of N questions (after --split)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions (after --sample)")
    p.add_argument("--hold-out", type=int, metavar="N",
                   help="keep the passages of N random chosen questions (seeded by --seed) out of the search; "
                        "their questions count as unanswerable (refusal recall on CMRC)")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help="folder for the reports, created if missing (default: a new timestamped folder under "
                        "eval-runs/ beside the index folder)")
    p.add_argument("--index-cache", type=Path, metavar="DIR",
                   help="where evaluation indexes are cached (default: eval-runs/.index beside the index folder)")
    p.add_argument("--corpus", type=Path, metavar="DIR",
                   help="for a JSONL/CSV set: index this folder (cached) instead of using the index in --index-dir")
    p.add_argument("--passages", choices=("all", "questions"), default="all",
                   help="SQuAD sets: index all the file's passages (default) or only those of the chosen "
                        "questions (a quick check; retrieval is then easier)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                   help="print two runs (report.json files or run folders) side by side and exit")
    p.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit with status 1 when a summary metric is below VALUE, e.g. hit@5=0.8 or "
                        "pass_rate=0.8 (the questions that pass); repeatable")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when malformed rows of the question set were skipped")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    common(p)


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``rag eval`` with parsed arguments; returns the exit status."""
    from rag.evaluation.compare import format_comparison, load_report

    if args.compare:
        a, b = (load_report(path) for path in args.compare)
        print(terminal_text(format_comparison(a, b, str(args.compare[0]), str(args.compare[1]))))
        return 0
    bounds = [_parse_bound(text) for text in args.fail_under]

    from rag.cli.progress import count_bar, stage_bars
    from rag.evaluation.datasets import bundled_dataset, load_question_set
    from rag.evaluation.report import summary_to_json
    from rag.evaluation.runner import EvalOptions
    from rag.evaluation.session import Selection, check_output_folder, evaluate

    if args.output is not None:
        check_output_folder(args.output)  # before the run, not after it

    if (args.file is None) == (args.dataset is None):
        raise RagError("give a question-set file or --dataset (e.g. `rag eval --dataset cmrc2018-dev`), not both")
    question_set = load_question_set(args.file if args.file is not None else bundled_dataset(args.dataset))
    _print_problems(question_set.problems)
    shown = len(question_set.problems)
    changes = {name: value for name, value in (("retrieval_mode", args.eval_mode),
                                               ("chunk_size", args.eval_chunk_size),
                                               ("chunk_overlap", args.eval_chunk_overlap)) if value is not None}
    settings = settings.replace(**changes)
    if question_set.format != "squad" and args.corpus is None and (
            args.eval_chunk_size is not None or args.eval_chunk_overlap is not None):
        raise RagError("--chunk-size/--chunk-overlap need an index built for them: add --corpus DIR "
                       "(or rebuild your index with `rag index --chunk-size …`)")
    selection = Selection(args.split, args.sample, args.seed, args.limit, args.hold_out)
    # index_cache None: the runner's default, <eval_root>/.index
    options = EvalOptions(depth=args.depth, index_cache=args.index_cache, corpus_dir=args.corpus,
                          passages=args.passages)
    with stage_bars({"embed": "embedding", "write": "writing index"}) as build_progress, \
            count_bar("questions", "q") as progress:
        run = evaluate(settings, question_set, selection, options, args.output, progress, build_progress)

    report = run.report
    _print_problems(report.question_set.problems[shown:])  # the questions the run skipped (too long, …)
    question_set = report.question_set
    summary = summary_to_json(report.summary)
    if args.json:
        print(json_line({"summary": summary, "reports": {k: str(v) for k, v in run.files.items()}}))
    else:
        print(f"{terminal_line(report.question_set.name)}: {len(report.questions)} questions "
              f"({report.question_set.selection}), mode {settings.retrieval_mode}")
        print(_summary_table(summary))
        print(f"reports in {terminal_line(str(run.out_dir))}: {', '.join(p.name for p in run.files.values())}")
    skipped = len(question_set.problems)
    if skipped:
        print(f"warning: {skipped} malformed row{'s' if skipped != 1 else ''} of {terminal_line(question_set.name)} "
              f"skipped (listed above and in report.json); the reports cover the other {len(report.questions)} "
              f"questions{'' if args.strict else ' (--strict makes this exit with status 1)'}", file=sys.stderr)
    missed = [(key, bound, summary.get(key)) for key, bound in bounds
              if summary.get(key) is None or summary[key] < bound]
    for key, bound, value in missed:
        print(f"below bound: {key} = {value} < {bound}", file=sys.stderr)
    return 1 if missed or (args.strict and skipped) else 0


def _print_problems(problems: list[str]) -> None:
    """The malformed rows that were skipped, the first MAX_PROBLEMS_SHOWN of them, on stderr."""
    for line in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"skipped: {terminal_line(line)}", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"skipped: … and {len(problems) - MAX_PROBLEMS_SHOWN} more rows", file=sys.stderr)


def _summary_table(summary: dict[str, Any]) -> str:
    from rag.evaluation.report import METRICS, format_value

    width = max(len(label) for _, label, _ in METRICS)
    return "\n".join(f"  {label:<{width}}  {format_value(summary.get(key), kind):>8}" for key, label, kind in METRICS)


def _parse_bound(text: str) -> tuple[str, float]:
    from rag.evaluation.report import METRICS

    key, _, value = text.partition("=")
    known = [k for k, _, kind in METRICS if kind == "fraction"]  # the rates where higher is better
    if key not in known:
        raise RagError(f"--fail-under {text!r}: not a rate where higher is better; use one of {', '.join(known)}")
    try:
        return key, float(value)
    except ValueError as exc:
        raise RagError(f"--fail-under {text!r}: the bound must be a number, e.g. {key}=0.8") from exc
