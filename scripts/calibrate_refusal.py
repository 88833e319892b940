"""Calibrate the refusal threshold on the own question set (calibration half), report the other half.

Usage: python scripts/calibrate_refusal.py [--questions questions/shenzhen-ai.jsonl]

Indexes the default corpus into a temporary folder, computes the evidence score
of every question (what `rag.answer.extractive.evidence_score` compares to the
threshold), picks the threshold that maximises refusal F1 on the "calibrate"
rows and prints precision and recall on the "report" rows with it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

from rag.answer.extractive import AnswerParams, evidence_score, missing_terms, score_sentences
from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import load_settings
from rag.text import lexical_tokens


def precision_recall(rows: list[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    """Refusal precision, recall and F0.5 when refusing below ``threshold``.

    F0.5 weighs precision twice as much as recall: refusing a question the
    articles do answer costs the user more than a cited answer they can check.
    """
    refused = [(s < threshold, unanswerable) for s, unanswerable in rows]
    tp = sum(1 for r, u in refused if r and u)
    fp = sum(1 for r, u in refused if r and not u)
    fn = sum(1 for r, u in refused if not r and u)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (1.25 * p * r / (0.25 * p + r) if p + r else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=Path, default=Path("questions/shenzhen-ai.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(args.corpus, Path(tmp) / "corpus")
        settings = load_settings(overrides={"corpus_dir": Path(tmp) / "corpus", "index_dir": Path(tmp) / "index"})
        kb = KnowledgeBase(settings)
        kb.build()
        version = kb.version()
        scored: dict[str, list[tuple[float, bool]]] = {"calibrate": [], "report": []}
        for row in rows:
            result = kb.search(row["question"])
            assert result.query_vector is not None
            sentences = score_sentences(version, result.hits, result.query_vector, lexical_tokens(row["question"]),
                                        AnswerParams.from_settings(settings), row["question"])
            # A missing name or number refuses whatever the threshold: score it 0.
            score = 0.0 if missing_terms(row["question"], result.hits) else evidence_score(result.hits, sentences)
            scored[row["split"]].append((score, bool(row.get("unanswerable"))))
            print(f"{score:.4f} {'U' if row.get('unanswerable') else 'A'} {row['id']} {row['question']}")
    values = sorted({s for s, _ in scored["calibrate"]})
    # Thresholds halfway between neighbouring scores, so none sits on a question.
    candidates = [round((a + b) / 2, 4) for a, b in pairwise(values)]
    best = max(candidates, key=lambda t: precision_recall(scored["calibrate"], t)[2])
    p, r, f = precision_recall(scored["calibrate"], best)
    print(f"threshold {best:.4f}: calibrate half precision={p:.3f} recall={r:.3f} f0.5={f:.3f}")
    p, r, f = precision_recall(scored["report"], best)
    print(f"report half: precision={p:.3f} recall={r:.3f} f0.5={f:.3f} (n={len(scored['report'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
