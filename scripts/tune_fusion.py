"""Choose the fusion constant, the lexical leg's weight and the sentence re-rank weight on the CMRC tuning half.

Usage: python scripts/tune_fusion.py [--split tune] [--k 1,5,10,30,60] [--weights 1.0,1.1,1.2,1.5]
                                     [--rerank 0,0.5,1,2]

Runs the evaluation (hybrid, default settings otherwise) once per pair and prints
hit@1, hit@5, MRR@10 and containment, best MRR@10 first, beside the two single
legs. Choose on the tuning half; the test half is reported in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

from rag.embed.encoder import Encoder
from rag.evaluation.datasets import bundled_dataset, load_question_set, select_questions
from rag.evaluation.runner import EvalOptions, run_evaluation
from rag.settings import Settings, load_settings


def floats(text: str) -> list[float]:
    """A comma-separated list of numbers."""
    return [float(x) for x in text.split(",") if x]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="tune", choices=["tune", "test", "all"])
    parser.add_argument("--k", type=floats, default=[1, 5, 10, 30, 60], help="rrf_k values")
    parser.add_argument("--weights", type=floats, default=[1.0, 1.1, 1.2, 1.5, 2.0], help="lexical weights")
    parser.add_argument("--rerank", type=floats, default=[0.0], help="sentence re-rank weights (0: off)")
    args = parser.parse_args()
    settings = load_settings()
    questions = select_questions(load_question_set(bundled_dataset("cmrc2018-dev")), args.split)
    encoder = Encoder.from_settings(settings)

    def run(s: Settings) -> tuple[float, float, float, float]:
        m = run_evaluation(s, questions, options=EvalOptions(), encoder=encoder).summary
        return m.hit_at[1] or 0.0, m.hit_at[5] or 0.0, m.mrr_at_10 or 0.0, m.containment or 0.0

    print(f"{len(questions.questions)} questions ({args.split} half)")
    print("mode     rrf_k  weight  rerank  hit@1   hit@5   mrr@10  containment")
    for mode in ("dense", "lexical"):
        figures = run(settings.replace(retrieval_mode=mode))
        print(f"{mode:8} {'-':>5}  {'-':>6}  {'-':>6}  " + "  ".join(f"{x:.4f}" for x in figures))
    rows = []
    for k in args.k:
        for w in args.weights:
            for r in args.rerank:
                figures = run(settings.replace(retrieval_mode="hybrid", rrf_k=int(k), rrf_lexical_weight=w,
                                               rerank_weight=r))
                rows.append((int(k), w, r, figures))
                print(f"hybrid   {int(k):5}  {w:6.2f}  {r:6.2f}  " + "  ".join(f"{x:.4f}" for x in figures),
                      flush=True)
    k, w, r, best = max(rows, key=lambda row: (row[3][2], row[3][1]))
    print(f"best MRR@10: rrf_k={k} rrf_lexical_weight={w} rerank_weight={r} (hit@1 {best[0]:.4f}, "
          f"hit@5 {best[1]:.4f}, MRR@10 {best[2]:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
