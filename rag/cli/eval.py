"""``rag eval``: argument parsing, progress bars and printing; the work is in ``runner`` and ``report``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluation.datasets import BUNDLED_DATASETS, MAX_PROBLEMS_SHOWN, SPLITS
from rag.settings import RETRIEVAL_MODES, Settings

EVAL_RUNS = Path("eval-runs")
EPILOG = """\
examples:
  rag eval --dataset cmrc2018-dev --sample 100 --seed 0
  rag eval --dataset cmrc2018-dev --split test --mode dense
  rag eval questions.jsonl                      (against the index in index/)
  rag eval questions.csv --corpus articles/     (against a cached index of that folder)
  rag eval --compare eval-runs/RUN_A eval-runs/RUN_B

A SQuAD-format file (CMRC 2018, DRCD) is answered from its own passages, indexed
once into --index-cache and reused while the file, encoder and chunking stay the same.
--split cuts CMRC by passage: tune = SHA-1 of the passage id is even, test = odd.
Exit status: 0 when all went well; 1 when rows were skipped or a --fail-under bound
was missed; 2 on an error.
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
                   help="folder for the reports (default: a new timestamped folder under eval-runs/)")
    p.add_argument("--index-cache", type=Path, metavar="DIR",
                   help="where evaluation indexes are cached (default: eval-runs/.index)")
    p.add_argument("--corpus", type=Path, metavar="DIR",
                   help="for a JSONL/CSV set: index this folder (cached) instead of using the index in --index-dir")
    p.add_argument("--passages", choices=("all", "questions"), default="all",
                   help="SQuAD sets: index all the file's passages (default) or only those of the chosen "
                        "questions (a quick check; retrieval is then easier)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                   help="print two runs (report.json files or run folders) side by side and exit")
    p.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit with status 1 when a summary metric is below VALUE, e.g. hit@5=0.8; repeatable")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    common(p)


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``rag eval`` with parsed arguments; returns the exit status."""
    from rag.evaluation.compare import format_comparison, load_report

    if args.compare:
        a, b = (load_report(path) for path in args.compare)
        print(format_comparison(a, b, str(args.compare[0]), str(args.compare[1])))
        return 0
    bounds = [_parse_bound(text) for text in args.fail_under]

    from rag.evaluation.datasets import bundled_dataset, hold_out_articles, load_question_set, select_questions
    from rag.evaluation.report import summary_to_json, write_reports
    from rag.evaluation.runner import DEFAULT_INDEX_CACHE, EvalOptions, run_evaluation

    if (args.file is None) == (args.dataset is None):
        raise RagError("give a question-set file or --dataset (e.g. `rag eval --dataset cmrc2018-dev`), not both")
    path = args.file if args.file is not None else bundled_dataset(args.dataset)
    question_set = load_question_set(path)
    for line in question_set.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"skipped: {line}", file=sys.stderr)
    if len(question_set.problems) > MAX_PROBLEMS_SHOWN:
        print(f"skipped: … and {len(question_set.problems) - MAX_PROBLEMS_SHOWN} more rows", file=sys.stderr)
    question_set = select_questions(question_set, args.split, args.sample, args.seed, args.limit)
    if args.hold_out:
        question_set = hold_out_articles(question_set, args.hold_out, args.seed)

    changes = {name: value for name, value in (("retrieval_mode", args.eval_mode),
                                               ("chunk_size", args.eval_chunk_size),
                                               ("chunk_overlap", args.eval_chunk_overlap)) if value is not None}
    settings = settings.replace(**changes)
    if question_set.format != "squad" and args.corpus is None and (
            args.eval_chunk_size is not None or args.eval_chunk_overlap is not None):
        raise RagError("--chunk-size/--chunk-overlap need an index built for them: add --corpus DIR "
                       "(or rebuild your index with `rag index --chunk-size …`)")
    options = EvalOptions(depth=args.depth, index_cache=args.index_cache or DEFAULT_INDEX_CACHE,
                          corpus_dir=args.corpus, passages=args.passages)

    from tqdm import tqdm

    bars: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:  # created at the first question, so its rate and ETA leave the index build out
            bars.append(tqdm(total=total, desc="questions", unit="q", file=sys.stderr))
        bars[0].update(done - bars[0].n)

    with _build_bars() as build_progress:
        try:
            report = run_evaluation(settings, question_set, progress=progress, options=options,
                                    build_progress=build_progress)
        finally:
            for bar in bars:
                bar.close()

    out_dir = args.output or _new_run_folder(Path(question_set.name).stem, settings.retrieval_mode)
    files = write_reports(report, out_dir)
    summary = summary_to_json(report.summary)
    if args.json:
        print(json.dumps({"summary": summary, "reports": {k: str(v) for k, v in files.items()}},
                         ensure_ascii=False))
    else:
        print(f"{question_set.name}: {len(report.questions)} questions ({question_set.selection}), "
              f"mode {settings.retrieval_mode}")
        print(_summary_table(summary))
        print(f"reports in {out_dir}: {', '.join(p.name for p in files.values())}")
    missed = [(key, bound, summary.get(key)) for key, bound in bounds
              if summary.get(key) is None or summary[key] < bound]
    for key, bound, value in missed:
        print(f"below bound: {key} = {value} < {bound}", file=sys.stderr)
    return 1 if missed or question_set.problems else 0


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


def _new_run_folder(name: str, mode: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = EVAL_RUNS / f"{stamp}-{name}-{mode}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


@contextmanager
def _build_bars() -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars for an evaluation index build (embedding, writing), closed at the end."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            desc = {"embed": "embedding", "write": "writing index"}.get(stage, stage)
            bar = bars[stage] = tqdm(total=total, desc=desc, unit="texts" if stage == "embed" else "steps",
                                     file=sys.stderr)
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()
