"""Calibrate the FAQ match (settings ``faq_threshold``, ``faq_lexical_weight``) on CMRC 2018 train question pairs.

Usage: python scripts/calibrate_faq.py --train PATH/TO/cmrc2018_train.json [--pairs 2000]
                                       [--sample tests/data/faq_pairs.jsonl]

Pairs of questions about one CMRC 2018 train passage:

- NEAR MISS: two questions on the same passage with different answers (they share
  the passage's names and often its template, so they are the hard negatives);
- MATCH: two different questions on the same passage with the same answer text.
  CMRC train has only 8 such pairs (checked by this script, printed), so the
  matches are filled up with the same question asked another way: a seeded
  rewrite of one train question (a polite prefix, another question word,
  another ending: the ways users re-ask an FAQ question), paired with the
  original. The 8 natural pairs are kept and reported on their own.

Pairs are split by passage (seeded) into a calibration and a report half; on the
calibration half the lexical weight (a small grid) and the threshold with the
highest recall at precision >= 0.95 are chosen; the report half reports
precision and recall. Matches and near misses are taken in equal numbers.
``--sample`` writes a few hundred report pairs for tests/test_faq.py.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from platform import node, processor

import numpy as np

from rag.embed.encoder import Encoder
from rag.search.faq import faq_score, lexical_similarity
from rag.settings import load_settings

WEIGHTS = (0.25, 0.5, 1.0, 2.0)  # never 0: the decision is dense similarity *plus* a lexical check
BASELINE_WEIGHT = 0.0  # dense alone, printed for comparison
TARGET_PRECISION = 0.95

PREFIXES = ("请问", "请问一下，", "我想知道", "想问一下，", "你知道", "谁能告诉我，")
# A question word and the ways users write it instead.
REWORDS = (("什么时候", ("何时", "啥时候")), ("为什么", ("为何", "怎么")), ("什么", ("啥", "哪些")),
           ("哪里", ("哪儿", "什么地方")), ("哪儿", ("哪里",)), ("多少", ("多少呢",)), ("是谁", ("是哪位", "是什么人")),
           ("哪一年", ("哪年", "什么年份")), ("如何", ("怎样", "怎么")), ("怎样", ("如何",)), ("几", ("多少",)))


def rewrite(question: str, rng: random.Random) -> str:
    """The question asked another way: another question word, a prefix and/or another ending (never unchanged)."""
    text = question.strip().rstrip("?？")
    changes = 0
    for word, others in REWORDS:
        if word in text and rng.random() < 0.8:
            text = text.replace(word, rng.choice(others), 1)
            changes += 1
            break
    if rng.random() < 0.6 or changes == 0:
        text = rng.choice(PREFIXES) + text
    ending = rng.choice(("？", "?", "呢？", ""))
    return text + ending


def build_pairs(train: dict, seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    """(natural matches, rewritten matches, near misses), each pair with its passage id."""
    rng = random.Random(seed)
    natural, rewritten, near = [], [], []
    for article in train["data"]:
        for p_number, paragraph in enumerate(article["paragraphs"]):
            passage = f"{article.get('id', article.get('title', ''))}#{p_number}"
            qas = paragraph["qas"]
            for x, y in combinations(qas, 2):
                if x["question"].strip() == y["question"].strip():
                    continue
                same = x["answers"][0]["text"] == y["answers"][0]["text"]
                row = {"a": x["question"], "b": y["question"], "match": same, "passage": passage}
                (natural if same else near).append(row)
            for q in qas:
                rewritten.append({"a": q["question"], "b": rewrite(q["question"], rng), "match": True,
                                  "passage": passage})
    return natural, rewritten, near


def best_threshold(dense: np.ndarray, lexical: np.ndarray, match: np.ndarray, weight: float) -> tuple[float, float]:
    """(threshold, recall): the lowest score threshold whose precision is >= TARGET_PRECISION, and its recall."""
    scores = faq_score(dense, lexical, weight)
    best = (float("inf"), 0.0)
    for t in np.unique(scores):
        chosen = scores >= t
        tp = int((chosen & match).sum())
        if chosen.sum() and tp / chosen.sum() >= TARGET_PRECISION:
            recall = tp / match.sum()
            if recall > best[1]:
                best = (float(t), float(recall))
    return best


def rates(scores: np.ndarray, match: np.ndarray, threshold: float) -> tuple[float, float, int, int]:
    """Precision, recall, true and false positives at ``threshold``."""
    chosen = scores >= threshold
    tp, fp = int((chosen & match).sum()), int((chosen & ~match).sum())
    return (tp / (tp + fp) if tp + fp else 1.0), tp / max(1, int(match.sum())), tp, fp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="CMRC 2018 train (SQuAD format)")
    parser.add_argument("--pairs", type=int, default=2000, help="matches (and as many near misses) in all")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--sample", type=Path, default=None, help="write report pairs here (for the test)")
    parser.add_argument("--sample-size", type=int, default=300)
    args = parser.parse_args()
    train = json.loads(args.train.read_text(encoding="utf-8"))
    natural, rewritten, near = build_pairs(train, args.seed)
    print(f"CMRC train: {len(natural)} natural match pairs (same passage, same answer), {len(rewritten)} rewrites, "
          f"{len(near)} near misses")
    rng = random.Random(args.seed)
    rng.shuffle(rewritten)
    rng.shuffle(near)
    pairs = natural + rewritten[: args.pairs - len(natural)] + near[: args.pairs]
    passages = sorted({p["passage"] for p in pairs})
    rng.shuffle(passages)
    report_passages = set(passages[: len(passages) // 2])

    settings = load_settings()
    encoder = Encoder.from_settings(settings)
    texts = sorted({t for p in pairs for t in (p["a"], p["b"])})
    vectors = dict(zip(texts, encoder.encode_queries(texts), strict=True))
    dense = np.array([float(vectors[p["a"]] @ vectors[p["b"]]) for p in pairs])
    lexical = np.array([lexical_similarity(p["a"], p["b"]) for p in pairs])
    match = np.array([p["match"] for p in pairs])
    report = np.array([p["passage"] in report_passages for p in pairs])
    cal = ~report

    print(f"{'weight':>6} {'threshold':>9} {'cal recall':>10}")
    fits = []
    for w in (BASELINE_WEIGHT, *WEIGHTS):
        t, r = best_threshold(dense[cal], lexical[cal], match[cal], w)
        if w in WEIGHTS:
            fits.append((r, -w, t, w))
        print(f"{w:>6} {t:>9.4f} {r:>10.3f}{'' if w in WEIGHTS else '  (dense alone, not a choice)'}")
    _, _, threshold, weight = max(fits)
    threshold = float(np.floor(threshold * 10000) / 10000)  # shipped rounded down to 4 places
    scores = faq_score(dense, lexical, weight)
    lines = [f"chosen: faq_lexical_weight = {weight}, faq_threshold = {threshold:.4f}"]
    for name, part in (("calibration", cal), ("report", report)):
        p, r, tp, fp = rates(scores[part], match[part], threshold)
        lines.append(f"| {name} | {int(match[part].sum())} | {int((~match[part]).sum())} | {p:.3f} | {r:.3f} | "
                     f"{tp} | {fp} |")
    nat = np.array([i < len(natural) for i in range(len(pairs))])
    p_nat = (scores[nat] >= threshold).mean() if nat.any() else 0.0
    lines.append(f"natural same-answer pairs matched: {int((scores[nat] >= threshold).sum())} of {int(nat.sum())} "
                 f"({p_nat:.2f}); near misses over the threshold, report half: "
                 f"{int(((scores >= threshold) & ~match & report).sum())}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines.append(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, {node()} ({processor() or 'cpu'}), "
                 f"encoder {encoder.identity}")
    print("| half | matches | near misses | precision | recall | matches over | near misses over |")
    print("\n".join(lines))
    if args.sample is not None:
        idx = [i for i in np.flatnonzero(report)]
        rng.shuffle(idx)
        keep_m = [i for i in idx if match[i]][: args.sample_size // 2]
        keep_n = [i for i in idx if not match[i]][: args.sample_size // 2]
        rows = [{"a": pairs[i]["a"], "b": pairs[i]["b"], "match": bool(match[i])} for i in sorted(keep_m + keep_n)]
        args.sample.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} report pairs to {args.sample}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
