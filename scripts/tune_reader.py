"""Choose what the reader reads and calibrate the refusal rule, on CMRC 2018 train passages the reader never saw.

    python scripts/tune_reader.py collect --train PATH/TO/cmrc2018_train.json --out eval-runs/reader-tune
    python scripts/tune_reader.py fit eval-runs/reader-tune/signals.jsonl [--config s3c40] [--target 0.02]
    python scripts/tune_reader.py heldout --train PATH/TO/cmrc2018_train.json --out DIR

``heldout`` writes only the held-out passages as a SQuAD file, for ``rag eval FILE
--hold-out N`` (the product's whole path, refusal included, on passages the reader never saw).

The reading model was trained on CMRC 2018 train less a share of its passages held
out (``val_fraction`` and ``seed`` in rag/data/reader/reader.json); those held-out
passages are indexed here as a corpus of their own, as ``rag eval`` indexes a
SQuAD file. Every question is asked twice, with the default retrieval settings:
once over all of them (answerable) and once with its own passage left out of the
search (unanswerable: what ``rag eval --hold-out`` does on dev). CMRC dev is
never read.

``collect`` reads, for each question and each reading configuration (the best N
sentences with C characters of context: ``s{N}c{C}``; or the top N chunks:
``k{N}``), the reader's best span and its scores, with the evidence signals of
``rag.answer.extractive``; one JSON line per question and condition. ``fit``
prints official EM/F1 and the tokens read per configuration, then, for one
configuration, the refusal rule (``is_refusal``) that refuses the most
unanswerable questions while refusing at most ``--target`` of the answerable ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.extractive import AnswerParams, refusal_signals
from rag.answer.question_terms import kind_mismatch
from rag.answer.reader import Reader, shipped_reader_dir
from rag.answer.short_answer import ReadPassage, chunk_passages, merge_passages, sentence_bounded
from rag.evaluation.cmrc_scorer import exact_match, f1_score
from rag.evaluation.datasets import load_question_set, passage_articles
from rag.evaluation.metrics import chunk_holds_gold
from rag.evaluation.runner import EvalOptions, evaluation_settings
from rag.kb.knowledge_base import KnowledgeBase
from rag.search.sentences import score_sentences
from rag.settings import load_settings
from rag.text import lexical_tokens

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = "cmrc2018-train-heldout.json"  # written by collect beside signals.jsonl
CONFIGS = ("s1c0", "s1c40", "s2c0", "s2c40", "s3c0", "s3c40", "s3c1000", "s4c40", "s5c40", "k1", "k2", "k3")


def parse_config(name: str) -> tuple[str, int, int]:
    """("s", sentences, context chars) or ("k", chunks, 0) from a name like s3c40 or k2.

    >>> parse_config("s3c40"), parse_config("k2")
    (('s', 3, 40), ('k', 2, 0))
    """
    if name.startswith("k"):
        return "k", int(name[1:]), 0
    count, context = name[1:].split("c")
    return "s", int(count), int(context)


def heldout_file(train: Path, out: Path, reader_dir: Path) -> Path:
    """The reader's held-out passages of CMRC train as a SQuAD file (the split of training/train_reader.py)."""
    sys.path.insert(0, str(ROOT))  # training/ sits beside scripts/, not installed: its split, not a copy
    from training.data import load_all, split_by_passage, write_squad

    config = json.loads((reader_dir / "reader.json").read_text(encoding="utf-8"))
    fraction = float(config["training"]["val_fraction"])
    seed = int(config["training"]["config"]["seed"])
    _, held = split_by_passage(load_all([train]), fraction, seed)
    path = out / HELD_OUT
    write_squad(held, path)
    print(f"{len(held)} held-out passages (val_fraction {fraction}, seed {seed}), "
          f"{sum(len(p.questions) for p in held)} questions -> {path}", file=sys.stderr)
    return path


def collect(args: argparse.Namespace) -> int:
    """Write signals.jsonl: per question and condition, the evidence signals and every configuration's read."""
    args.out.mkdir(parents=True, exist_ok=True)
    qs = load_question_set(heldout_file(args.train, args.out, args.reader_dir))
    settings = load_settings()
    run_settings = evaluation_settings(settings, qs, EvalOptions(index_cache=ROOT / "eval-runs" / ".index"))
    kb = KnowledgeBase(run_settings)
    kb.build(articles=passage_articles(qs.passages))
    version = kb.version()
    reader = Reader.load(settings.models_dir, args.reader_dir, threads=settings.threads or 2)
    params = AnswerParams.from_settings(settings)
    everything = list(version.articles)
    questions = qs.questions[: args.limit] if args.limit else qs.questions
    began = time.perf_counter()
    with (args.out / "signals.jsonl").open("w", encoding="utf-8") as out:
        for n, q in enumerate(questions, start=1):
            for condition in ("answerable", "unanswerable"):
                allowed = everything if condition == "answerable" else [a for a in everything if a != q.article]
                result = kb.search(q.question, articles=allowed)
                assert result.query_vector is not None
                hits = result.hits[: settings.top_k]
                scored = score_sentences(version, hits, result.query_vector, lexical_tokens(q.question), params,
                                         q.question)
                signals = refusal_signals(q.question, hits, scored)
                row: dict[str, Any] = {
                    "id": q.id, "condition": condition, "evidence": signals.evidence, "missing": signals.missing,
                    "gold": list(q.answer_texts), "gold_in_hits": any(chunk_holds_gold(h.chunk, q) for h in hits)
                    if condition == "answerable" else False, "reads": {}}
                if scored:
                    row["reads"] = read_all(reader, version, q.question, hits, scored, list(q.answer_texts))
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            if n % 50 == 0:
                print(f"{n}/{len(questions)} questions, {time.perf_counter() - began:.0f} s", file=sys.stderr,
                      flush=True)
    return 0


def sentence_windows(version: Any, scored: list[Any], count: int, context_chars: int) -> list[ReadPassage]:
    """The best ``count`` sentences, each widened by up to ``context_chars`` of its paragraph's neighbours (merged)."""
    passages: list[ReadPassage] = []
    for item in scored[:count]:
        sent = version.sentences[item.sentence_id]
        start, end, ids = sent.start, sent.end, [item.sentence_id]
        for step in (-1, 1):
            sid = item.sentence_id + step
            if context_chars <= 0 or not 0 <= sid < len(version.sentences):
                continue
            other = version.sentences[sid]
            if other.article != sent.article or other.paragraph != sent.paragraph:
                continue
            ids.append(sid)
            if step < 0:
                start = max(other.start, sent.start - context_chars)
            else:
                end = min(other.end, sent.end + context_chars)
        passages.append(ReadPassage(sent.article, start, end, tuple(sorted(ids))))
    return merge_passages(passages)


def read_all(reader: Reader, version: Any, question: str, hits: list[Any], scored: list[Any],
             gold: list[str]) -> dict[str, Any]:
    """Every configuration's best span (by span score and by null score) and what it read."""
    plans: dict[str, list[ReadPassage]] = {}
    for name in CONFIGS:
        kind, count, context = parse_config(name)
        plans[name] = sentence_windows(version, scored, count, context) if kind == "s" else chunk_passages(hits, count)
    distinct = list(dict.fromkeys(p for plan in plans.values() for p in plan))
    encoded = dict(zip(distinct, reader.encode_passages(
        [version.articles[p.article].text[p.start:p.end] for p in distinct]), strict=True))
    reads = {}
    for name, plan in plans.items():
        spans = reader.read_encoded(question, [encoded[p] for p in plan])
        tokens = [len(w.ids) for p in plan for w in encoded[p].windows]
        entry: dict[str, Any] = {"tokens": sum(tokens), "padded": max(tokens, default=0) * len(tokens)}
        if spans:
            for pick, span in (("score", max(spans, key=lambda s: s.score)), ("null", spans[0])):
                passage = plan[span.passage]
                a, b = sentence_bounded(version, passage, passage.start + span.start, passage.start + span.end)
                text = version.articles[passage.article].text[a:b]
                entry[pick] = {"text": text, "score": span.score, "null": span.null_score,
                               "f1": f1_score(text, gold), "em": exact_match(text, gold),
                               "mismatch": kind_mismatch(question, text)}
            entry["best_null"] = spans[0].null_score
        reads[name] = entry
    return reads


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The lines of signals.jsonl, each span's kind mismatch recomputed with today's ``kind_mismatch``."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    questions = {q.id: q.question for q in load_question_set(path.parent / HELD_OUT).questions}
    for row in rows:
        for read in row["reads"].values():
            for pick in ("score", "null"):
                if pick in read:
                    read[pick]["mismatch"] = kind_mismatch(questions[row["id"]], read[pick]["text"])
    return rows


def reading_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: official EM/F1 (x100) of the short answers per configuration, answerable rows, refusal off."""
    answerable = [r for r in rows if r["condition"] == "answerable"]
    lines = ["| reads | F1, span score picks | EM | F1, null score picks | EM | tokens mean | padded p95 |",
             "|---|---|---|---|---|---|---|"]
    for name in CONFIGS:
        got = [r["reads"].get(name, {}) for r in answerable]
        if not any(got):
            continue
        line = [config_label(name)]
        for pick in ("score", "null"):
            line += [f"{100 * statistics.mean(g.get(pick, {}).get(key, 0.0) for g in got):.1f}"
                     for key in ("f1", "em")]
        padded = sorted(g.get("padded", 0) for g in got)
        line += [f"{statistics.mean(g.get('tokens', 0) for g in got):.0f}", f"{padded[int(0.95 * (len(padded) - 1))]}"]
        lines.append("| " + " | ".join(line) + " |")
    return lines


def config_label(name: str) -> str:
    """A configuration's name in words.

    >>> config_label("s2c0"), config_label("s3c40"), config_label("k1")
    ('best 2 sentences (s2c0)', 'best 3 sentences + 40 chars of context (s3c40)', 'top chunk (k1)')
    """
    kind, count, context = parse_config(name)
    if kind == "k":
        return f"top {count} chunks ({name})" if count > 1 else f"top chunk ({name})"
    what = f"best {count} sentences" if count > 1 else "best sentence"
    return f"{what}{f' + {context} chars of context' if context else ''} ({name})"


def fit(args: argparse.Namespace) -> int:
    """Print (and with --markdown write into BENCHMARKS.md) the reading table and the refusal rules, best first."""
    rows = load_rows(args.signals)
    table = signal_table(rows, args.config)
    outcomes = []
    for w_null, w_mismatch in itertools.product(args.w_null, args.w_mismatch):
        threshold = threshold_for(table, w_null, w_mismatch, args.target)
        rates = refusal_rates(table, w_null, w_mismatch, threshold)
        outcomes.append((rates["recall"], -rates["false_refusals"], -w_null, -w_mismatch, threshold, rates))
    outcomes.sort(reverse=True)
    params = AnswerParams.from_settings(load_settings())
    shipped = refusal_rates(table, params.w_null, params.w_mismatch, params.reader_refusal_threshold)
    answerable = sum(1 for r in rows if r["condition"] == "answerable")
    # The reader's null score alone, without the evidence score (which needs the per-sentence vectors).
    null_only = {**table, "evidence": np.zeros_like(table["evidence"])}
    alone = refusal_rates(null_only, 1.0, 0.0, threshold_for(null_only, 1.0, 0.0, args.target))
    lines = [
        "## Reading model: what it reads and when it refuses (CMRC 2018 train, held-out passages)", "",
        f"Written by `python scripts/tune_reader.py fit {args.signals.name} --config {args.config} --target "
        f"{args.target}` from `scripts/tune_reader.py collect` ({answerable} questions on the "
        "CMRC 2018 train passages held out of the reader's training, each asked "
        "over all of them (answerable) and with its own passage left out of the search (unanswerable); default "
        "retrieval, answers from the top 5 chunks). CMRC dev is never read here.", "",
        "What the reader reads (answerable rows, refusal off, official scorer x100):", "",
        *reading_table(rows), "",
        f"Refusal rules on the reads of {config_label(args.config)}: support = evidence − w_null × null score − "
        f"w_mismatch × (the span lacks the kind asked for); refuse below the threshold that refuses at most "
        f"{100 * args.target:.1f}% of the answerable rows (a missing name or number refuses first), best first:", "",
        "| w_null | w_mismatch | reader_refusal_threshold | refusal recall | false refusals | precision |",
        "|---|---|---|---|---|---|",
        *[f"| {-w_null:g} | {-w_mismatch:g} | {threshold:.4f} | {recall:.3f} | {rates['false_refusals']:.3f} | "
          f"{rates['precision']:.3f} |" for recall, _, w_null, w_mismatch, threshold, rates in outcomes[:6]], "",
        f"Shipped (settings and AnswerParams): w_null {params.w_null:g}, w_mismatch {params.w_mismatch:g}, "
        f"reader_refusal_threshold {params.reader_refusal_threshold:g}: recall {shipped['recall']:.3f}, false refusals "
        f"{shipped['false_refusals']:.3f}, precision {shipped['precision']:.3f}. The evidence score alone "
        f"(w_null 0, w_mismatch 0) reaches recall "
        f"{next(o[0] for o in outcomes if o[2] == 0 and o[3] == 0):.3f} at the same false-refusal rate; the "
        f"reader's null score alone (no evidence score) {alone['recall']:.3f} (false refusals "
        f"{alone['false_refusals']:.3f}). The evidence score, a similarity of the question to the best sentences, "
        "carries the rule, so a build keeps embedding each sentence: the reader does not make the per-sentence "
        "vectors unnecessary.", "",
    ]
    print("\n".join(lines))
    if args.markdown:
        sys.path.insert(0, str(ROOT))  # benchmarks/ is not installed
        from benchmarks.report import write_block

        write_block(args.markdown, "<!-- bench:reader-tune:start -->", "<!-- bench:reader-tune:end -->",
                    "\n".join(lines), after="<!-- bench:quality:end -->")
    return 0


def signal_table(rows: list[dict[str, Any]], config: str) -> dict[str, np.ndarray]:
    """The signals of every row as arrays, with the span ``rag.answer.short_answer`` picks (lowest null score).

    A row without a span has null 0 and no mismatch: its support is its evidence.
    """
    spans = [r["reads"].get(config, {}).get("null") for r in rows]
    return {
        "unanswerable": np.array([r["condition"] == "unanswerable" for r in rows]),
        "refused": np.array([not r["reads"] or bool(r["missing"]) for r in rows]),  # refused before any reading
        "evidence": np.array([r["evidence"] for r in rows]),
        "null": np.array([0.0 if s is None else s["null"] for s in spans]),
        "mismatch": np.array([bool(s and s["mismatch"]) for s in spans], dtype=float),
        "f1": np.array([0.0 if s is None else s["f1"] for s in spans]),
    }


def refused_by(table: dict[str, np.ndarray], w_null: float, w_mismatch: float, threshold: float) -> np.ndarray:
    """Which rows ``is_refusal`` refuses (reader on) with these weights and threshold: the same rule, on arrays."""
    support = table["evidence"] - w_null * table["null"] - w_mismatch * table["mismatch"]
    return table["refused"] | (support < threshold)


def refusal_rates(table: dict[str, np.ndarray], w_null: float, w_mismatch: float,
                  threshold: float) -> dict[str, float]:
    """Recall, false-refusal rate, precision, and the answerable questions' F1 (x100, a refusal scores 0)."""
    refused = refused_by(table, w_null, w_mismatch, threshold)
    unanswerable = table["unanswerable"]
    right, wrong = int((refused & unanswerable).sum()), int((refused & ~unanswerable).sum())
    return {"recall": right / max(int(unanswerable.sum()), 1),
            "false_refusals": wrong / max(int((~unanswerable).sum()), 1),
            "precision": right / max(right + wrong, 1),
            "f1": 100 * float(np.where(refused, 0.0, table["f1"])[~unanswerable].mean())}


def threshold_for(table: dict[str, np.ndarray], w_null: float, w_mismatch: float, target: float) -> float:
    """The highest reader_refusal_threshold that refuses at most ``target`` of the answerable rows.

    The answerable rows not refused anyway are sorted by support; the threshold
    sits halfway between the last one it may refuse and the first it must answer.
    """
    answerable = ~table["unanswerable"]
    room = max(0, int(target * answerable.sum()) - int((table["refused"] & answerable).sum()))
    support = table["evidence"] - w_null * table["null"] - w_mismatch * table["mismatch"]
    free = np.sort(support[answerable & ~table["refused"]])
    if room >= len(free):
        return float(free[-1]) + 1e-4
    return float((free[room - 1] + free[room]) / 2) if room else float(free[0]) - 1e-4


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run ``collect``, ``fit`` or ``heldout``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--train", type=Path, required=True, help="CMRC 2018 train (SQuAD format)")
    c.add_argument("--out", type=Path, default=ROOT / "eval-runs" / "reader-tune")
    c.add_argument("--limit", type=int, default=0, help="only the first N questions")
    c.add_argument("--reader-dir", type=Path, default=shipped_reader_dir(), help="the head (default: shipped)")
    h = sub.add_parser("heldout")
    h.add_argument("--train", type=Path, required=True, help="CMRC 2018 train (SQuAD format)")
    h.add_argument("--out", type=Path, default=ROOT / "eval-runs" / "reader-tune")
    h.add_argument("--reader-dir", type=Path, default=shipped_reader_dir(), help="the head (default: shipped)")
    f = sub.add_parser("fit")
    f.add_argument("signals", type=Path)
    f.add_argument("--config", default="k1")
    f.add_argument("--target", type=float, default=0.025, help="most answerable questions refused (default 0.025)")
    f.add_argument("--w-null", type=float, nargs="+", default=[0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01])
    f.add_argument("--w-mismatch", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 1.0])
    f.add_argument("--markdown", type=Path, help="write the tables into this file (BENCHMARKS.md) between markers")
    args = parser.parse_args(argv)
    if args.command == "heldout":
        args.out.mkdir(parents=True, exist_ok=True)
        heldout_file(args.train, args.out, args.reader_dir)
        return 0
    return collect(args) if args.command == "collect" else fit(args)


if __name__ == "__main__":
    sys.exit(main())
