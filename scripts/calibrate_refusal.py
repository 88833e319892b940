"""Check the refusal rule on the own question set: its calibration half confirms, its report half reports.

Usage: python scripts/calibrate_refusal.py [--questions questions/shenzhen-ai.jsonl] [--fit-evidence]

Indexes the default corpus into a temporary folder and asks every question as
``rag ask`` does (with the settings' refusal rule: the evidence score, missing
terms and, with the reading model on, its refusal score; the thresholds were
calibrated on CMRC 2018 train by scripts/tune_reader.py). Prints each question's
signals and the refusal precision, recall and answerable questions refused on
each half ("calibrate" and "report").

``--fit-evidence`` also picks the evidence-score threshold alone that maximises
refusal F0.5 on the calibration half (how ``refusal_threshold`` was chosen before
the reading model).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

from rag.answer.extractive import evidence_score, score_sentences, support_score
from rag.answer.question_terms import missing_terms
from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import load_settings
from rag.text import lexical_tokens


def precision_recall(rows: list[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    """Refusal precision, recall and F0.5 when refusing below ``threshold``.

    F0.5 weighs precision twice as much as recall: refusing a question the
    articles do answer costs the user more than a cited answer they can check.
    """
    return rates([(s < threshold, unanswerable) for s, unanswerable in rows])


def rates(outcome: list[tuple[bool, bool]]) -> tuple[float, float, float]:
    """Precision, recall and F0.5 of (refused, unanswerable) pairs."""
    tp = sum(1 for r, u in outcome if r and u)
    fp = sum(1 for r, u in outcome if r and not u)
    fn = sum(1 for r, u in outcome if not r and u)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (1.25 * p * r / (0.25 * p + r) if p + r else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=Path("questions/shenzhen-ai.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--fit-evidence", action="store_true", help="also fit the evidence threshold alone")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line]
    evidence: dict[str, list[tuple[float, bool]]] = {"calibrate": [], "report": []}
    outcome: dict[str, list[tuple[bool, bool]]] = {"calibrate": [], "report": []}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.corpus, Path(tmp) / "corpus")
        settings = load_settings(overrides={"corpus_dir": Path(tmp) / "corpus", "index_dir": Path(tmp) / "index"})
        kb = KnowledgeBase(settings)
        kb.build()
        version = kb.version()
        params = kb.answer_params()
        for row in rows:
            question, unanswerable = row["question"], bool(row.get("unanswerable"))
            answer = kb.ask(question)
            result = kb.search(question)
            assert result.query_vector is not None
            sentences = score_sentences(version, result.hits, result.query_vector, lexical_tokens(question), params,
                                        question)
            # A missing name or number refuses whatever the threshold: score it 0.
            score = 0.0 if missing_terms(question, result.hits) else evidence_score(result.hits, sentences)
            evidence[row["split"]].append((score, unanswerable))
            outcome[row["split"]].append((answer.refused, unanswerable))
            short = answer.short_answer.text if answer.short_answer else "–"
            print(f"{score:.4f} {'U' if unanswerable else 'A'} {'refused ' if answer.refused else 'answered'} "
                  f"{row['id']} {question} → {short}")
    print(f"rule: short_answers {settings.short_answers}, refusal_threshold {settings.refusal_threshold} (reader off), "
          f"reader_refusal_threshold {settings.reader_refusal_threshold} (reader on; weights w_null {params.w_null}, "
          f"w_mismatch {params.w_mismatch} of {support_score.__module__}.support_score)")
    for half in ("calibrate", "report"):
        p, r, f = rates(outcome[half])
        wrong = sum(1 for refused, u in outcome[half] if refused and not u)
        print(f"{half} half: precision={p:.3f} recall={r:.3f} f0.5={f:.3f}, {wrong} answerable refused "
              f"(n={len(outcome[half])})")
    if args.fit_evidence:
        values = sorted({s for s, _ in evidence["calibrate"]})
        # Thresholds halfway between neighbouring scores, so none sits on a question.
        candidates = [round((a + b) / 2, 4) for a, b in pairwise(values)]
        best = max(candidates, key=lambda t: precision_recall(evidence["calibrate"], t)[2])
        p, r, f = precision_recall(evidence["calibrate"], best)
        print(f"evidence alone, threshold {best:.4f}: calibrate half precision={p:.3f} recall={r:.3f} f0.5={f:.3f}")
        p, r, f = precision_recall(evidence["report"], best)
        print(f"evidence alone, report half: precision={p:.3f} recall={r:.3f} f0.5={f:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
