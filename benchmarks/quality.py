"""Answer and retrieval quality on CMRC 2018 dev and the own question set, written into BENCHMARKS.md.

Usage: python benchmarks/quality.py [--modes hybrid,dense,lexical] [--no-full] [--no-gold] [--no-traditional]

Every figure comes from one run of this command, side by side:
- retrieval (hit@k, MRR@10) and answers (containment, EM/F1 of the short answers,
  EM/F1 of the whole answers, false refusals, answer length) for the three
  retrieval modes on the CMRC test half and on the full set;
- the short answers (benchmarks/reading.py): open-domain on CMRC dev and on an
  OpenCC-traditional copy, the reader alone on the gold paragraphs, latency, and
  the literature anchors;
- the "most similar sentence" baselines (1 and 2 sentences) on the same hits;
- refusal recall on CMRC test-half questions whose passage is left out of the search;
- refusal precision/recall on the report half of questions/shenzhen-ai.jsonl
  (the threshold was calibrated on its other half by scripts/calibrate_refusal.py);
- the CI guard figure: hybrid hit@5 of `rag eval --dataset cmrc2018-dev --sample 100
  --seed 0 --passages questions` (tests/test_quality_guard.py fails 0.03 below it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks import reading  # noqa: E402
from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.report import write_block  # noqa: E402
from rag.answer.extractive import AnswerParams, extractive_answer  # noqa: E402
from rag.evaluation.datasets import (  # noqa: E402
    bundled_dataset,
    hold_out_articles,
    load_question_set,
    select_questions,
)
from rag.evaluation.metrics import Summary, contains_answer  # noqa: E402
from rag.evaluation.report import EM_F1_NOTE  # noqa: E402
from rag.evaluation.runner import EvalOptions, EvalReport, run_evaluation  # noqa: E402
from rag.kb.knowledge_base import KnowledgeBase  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402

START, END = "<!-- bench:quality:start -->", "<!-- bench:quality:end -->"
GUARD_PATTERN = re.compile(r"ci-guard hybrid hit@5 = ([0-9.]+)")
MARKER = re.compile(r"\[\d+\]")


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric for a table cell."""
    return "–" if value is None else f"{value:.{digits}f}"


def summary_row(label: str, s: Summary) -> str:
    """One table row of a run's summary."""
    return (f"| {label} | {fmt(s.hit_at.get(1))} | {fmt(s.hit_at.get(3))} | {fmt(s.hit_at.get(5))} | "
            f"{fmt(s.hit_at.get(10))} | {fmt(s.mrr_at_10)} | {fmt(s.containment)} | {fmt(s.em)} | {fmt(s.f1)} | "
            f"{fmt(s.em_sentences)} / {fmt(s.f1_sentences)} | "
            f"{fmt(s.false_refusals)} | {fmt(s.answer_chars_median, 0)} / {fmt(s.answer_chars_p95, 0)} | "
            f"{fmt(s.search_ms_p50, 0)} / {fmt(s.total_ms_p50, 0)} / {fmt(s.total_ms_p95, 0)} |")


def baselines(settings: Settings, report: EvalReport) -> list[str]:
    """Containment and length of the "most similar sentence" baselines and of the default, on the same hits."""
    kb = KnowledgeBase(settings.replace(index_dir=Path(report.index.index_dir)))
    searcher = kb.searcher()
    questions = [q for q in report.question_set.questions if not q.unanswerable]
    vectors = kb.encoder().encode_queries([q.question for q in questions])
    # The baseline: dense similarity alone, whole sentences, never refusing.
    plain = replace(AnswerParams.from_settings(settings), w_lexical=0.0, w_rank=0.0, w_type=0.0, refusal_threshold=0.0,
                    refuse_missing_terms=False, trim=False)
    variants = {
        "most similar sentence (1)": replace(plain, max_sentences=1),
        "most similar sentences (2)": replace(plain, strategy="top2", second_margin=float("inf")),
        "this project without the reader (refusal off)": replace(kb.answer_params(), refusal_threshold=0.0,
                                                                 refuse_missing_terms=False),
    }
    rows = []
    for name, params in variants.items():
        contained, lengths = 0, []
        for q, vector in zip(questions, vectors, strict=True):
            result = searcher.search(q.question, settings.top_k, "hybrid", query_vector=vector)
            assert result.query_vector is not None
            answer = extractive_answer(searcher.version, q.question, q.question, result.hits,
                                       result.query_vector, params)
            text = MARKER.sub("", answer.text)
            contained += contains_answer(text, q.answer_texts)
            lengths.append(len(text))
        lengths.sort()
        rows.append(f"| {name} | {contained / len(questions):.3f} | {statistics.median(lengths):.0f} | "
                    f"{lengths[int(0.95 * (len(lengths) - 1))]} |")
    return rows


def own_set_refusal(settings: Settings) -> list[str]:
    """Refusal precision/recall on each half of the own question set (calibration half: a check; report half)."""
    rows = [json.loads(line) for line in (ROOT / "questions" / "shenzhen-ai.jsonl").read_text("utf-8").splitlines()
            if line]
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "corpus", Path(tmp) / "corpus")
        kb = KnowledgeBase(settings.replace(corpus_dir=Path(tmp) / "corpus", index_dir=Path(tmp) / "index"))
        kb.build()
        outcome = [(r["split"], kb.ask(r["question"]).refused, bool(r.get("unanswerable"))) for r in rows]
    lines = []
    for half, note in (("calibrate", "calibration half: confirms the rule calibrated on CMRC train"),
                       ("report", "report half")):
        got = [(refused, u) for split, refused, u in outcome if split == half]
        tp = sum(1 for refused, u in got if refused and u)
        fp = sum(1 for refused, u in got if refused and not u)
        fn = sum(1 for refused, u in got if not refused and u)
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        lines.append(f"| questions/shenzhen-ai.jsonl, {note} ({len(got)} questions, {sum(u for _, u in got)} "
                     f"unanswerable) | {fmt(precision)} | {fmt(recall)} | {fp} answerable refused |")
    return lines


def write_section(markdown_file: Path, section: str) -> None:
    """Put ``section`` between this benchmark's markers, keeping the rest of the file."""
    write_block(markdown_file, START, END, section)


def main(argv: list[str] | None = None) -> int:
    """Run every quality measurement and write the section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="hybrid,dense,lexical")
    parser.add_argument("--no-full", action="store_true", help="skip the full-set rows (test half only)")
    parser.add_argument("--hold-out", type=int, default=100, help="test-half passages left out for refusal recall")
    parser.add_argument("--sample", type=int, help="a seeded sample of this many questions per half (quicker)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--guard-only", action="store_true", help="measure and write only the CI guard figure")
    parser.add_argument("--no-gold", action="store_true", help="skip the reader's gold-paragraph figures")
    parser.add_argument("--no-traditional", action="store_true", help="skip the OpenCC-traditional copy of CMRC dev")
    args = parser.parse_args(argv)
    command = "python benchmarks/quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = load_settings()
    options = EvalOptions(index_cache=ROOT / "eval-runs" / ".index")
    cmrc = load_question_set(bundled_dataset("cmrc2018-dev"))
    started = datetime.now(UTC)
    loads = [load_average()]

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"  {done}/{total}", file=sys.stderr, flush=True)

    if args.guard_only:
        guard = run_evaluation(settings, select_questions(cmrc, sample=100, seed=0), None,
                               EvalOptions(index_cache=options.index_cache, passages="questions"))
        section = (f"## Quality: CI guard\n\nWritten by `{command.strip()}` on {started:%Y-%m-%d %H:%M} UTC, "
                   f"commit {git_commit(ROOT)}.\n\nci-guard hybrid hit@5 = {fmt(guard.summary.hit_at.get(5))} "
                   "(`rag eval --dataset cmrc2018-dev --sample 100 --seed 0 --passages questions`)\n")
        write_section(args.output, section)
        print(section)
        return 0
    mode_rows, test_reports, summaries = [], {}, {}
    for mode in args.modes.split(","):
        for split in ("test",) if args.no_full else ("test", "all"):
            print(f"CMRC {split} {mode}", file=sys.stderr, flush=True)
            chosen = select_questions(cmrc, split=split, sample=args.sample, seed=0)
            report = run_evaluation(settings.replace(retrieval_mode=mode), chosen, progress, options)
            label = "test half" if split == "test" else "full set"
            if args.sample:
                label += f" (sample of {len(chosen.questions)}, seed 0)"
            mode_rows.append(summary_row(f"{label}, {mode}", report.summary))
            summaries[label, mode] = report.summary
            if split == "test":
                test_reports[mode] = report
            loads.append(load_average())
    index = next(iter(test_reports.values())).index
    print("baselines", file=sys.stderr, flush=True)
    baseline_rows = baselines(settings, test_reports.get("hybrid") or next(iter(test_reports.values())))
    print("hold-out", file=sys.stderr, flush=True)
    held_set = hold_out_articles(select_questions(cmrc, split="test", sample=args.sample, seed=0), args.hold_out,
                                 seed=0)
    held = run_evaluation(settings, held_set, progress, options)
    print("own set", file=sys.stderr, flush=True)
    own_rows = own_set_refusal(settings)
    guard = run_evaluation(settings, select_questions(cmrc, sample=100, seed=0), None,
                           EvalOptions(index_cache=options.index_cache, passages="questions"))
    loads.append(load_average())
    short_rows = [reading.open_domain_row(f"open-domain, {label}, {mode}", summary)
                  for (label, mode), summary in summaries.items() if mode == "hybrid"]
    if not args.no_traditional:
        copy = reading.traditional_copy(bundled_dataset("cmrc2018-dev"),
                                        ROOT / "eval-runs" / ".index" / "cmrc2018_dev_traditional.json")
        traditional = load_question_set(copy)
        for split in ("test",) if args.no_full else ("test", "all"):
            print(f"CMRC traditional {split}", file=sys.stderr, flush=True)
            chosen = select_questions(traditional, split=split, sample=args.sample, seed=0)
            report = run_evaluation(settings, chosen, progress, options)
            label = "test half" if split == "test" else "full set"
            if args.sample:
                label += f" (sample of {len(chosen.questions)}, seed 0)"
            short_rows.append(reading.open_domain_row(f"open-domain, traditional copy, {label}, hybrid",
                                                      report.summary))
            loads.append(load_average())
    if not args.no_gold:
        for traditional_script in (False, True):
            print(f"gold paragraph, traditional={traditional_script}", file=sys.stderr, flush=True)
            figures = reading.gold_paragraph(bundled_dataset("cmrc2018-dev"), traditional_script)
            short_rows.append(reading.gold_row("reader alone, gold paragraph, full set"
                                               + (", traditional copy" if traditional_script else ""), figures))
            loads.append(load_average())
    short_rows += reading.literature_rows()

    machine = machine_info()
    lines = [
        "## Quality: retrieval and answers (CMRC 2018 dev, own question set)", "",
        f"Written by `{command.strip()}` on {started:%Y-%m-%d %H:%M} UTC, commit {git_commit(ROOT)}, "
        f"{machine['cpu']} ({machine['cores']} cores, {machine['ram_gib']} GiB), "
        f"load average during the run {min(x[0] for x in loads):.1f}–{max(x[0] for x in loads):.1f}. "
        f"Encoder {settings.encoder_identity}; chunks of {settings.chunk_size} characters, overlap "
        f"{settings.chunk_overlap}: {index.chunks} chunks for {index.articles} passages, mean "
        f"{index.mean_chunk_chars:.0f} characters, {index.chunks_per_article:.2f} chunks per passage. "
        "Retrieval settings were tuned on the tuning half (SHA-1 of the passage id even) before the reading model; "
        "the reader's reads and the refusal rule on CMRC 2018 train (next section); the test half is reported here. "
        "Answers are drawn from the top 5 chunks; hit@k from the top 10. Refusal is on: a refusal counts as a "
        "miss, and its rate on answerable questions is the false-refusal column.", "",
        "| run | hit@1 | hit@3 | hit@5 | hit@10 | MRR@10 | containment | EM | F1 | EM / F1 whole answers | "
        "false refusals | answer chars median / p95 | search p50 / answer p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *mode_rows, "",
        EM_F1_NOTE, "",
        "### Short answers (the reading model)", "",
        f"Reader {reading.reader_identity(settings)}, reading the top {settings.reader_chunks} chunk(s) of "
        "each question (scripts/tune_reader.py). Open-domain rows: retrieval + reader with refusal on (a refusal "
        "scores 0), official CMRC scorer, figures x100; the whole answers of the same runs beside them. "
        "Gold-paragraph rows: the reader alone on each question's own passage (training/evaluate_reader.py); "
        "they appear here only.", "",
        *reading.TABLE_HEAD, *short_rows, "",
        "### Answer baselines (test half, hybrid retrieval, same hits, refusal off)", "",
        "| answer | containment | median chars | p95 chars |", "|---|---|---|---|", *baseline_rows, "",
        "### Refusal", "",
        "| question set | refusal precision | refusal recall | note |", "|---|---|---|---|",
        f"| CMRC test half{' sample' if args.sample else ''}, {args.hold_out} passages left out of the search "
        f"({held.summary.counts.unanswerable} "
        f"questions unanswerable) | {fmt(held.summary.refusal_precision)} | {fmt(held.summary.refusal_recall)} | "
        f"{fmt(held.summary.false_refusals)} of the answerable refused; "
        "BM25 statistics still include the held-out passages |",
        *own_rows, "",
        f"ci-guard hybrid hit@5 = {fmt(guard.summary.hit_at.get(5))} "
        "(`rag eval --dataset cmrc2018-dev --sample 100 --seed 0 --passages questions`)", "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()), "",
    ]
    write_section(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
