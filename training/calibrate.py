"""The "no answer" calibration: null scores of answerable and unanswerable chunk-sized reads on held-out passages.

A read's null score is ``start[0] + end[0] - best span score``: above 0 the head
prefers "no answer in this passage" to its best span. Chunk-sized reads (a
stretch of 48-200 tokens) stand for retrieved chunks: positives hold the
answer, negatives are stretches of other held-out passages or of the rest of
the question's own passage.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from rag.answer.reading import best_spans
from training.examples import HEAD, Example, ExampleMaker
from training.model import ReaderHead
from training.train import to_torch


def _reads(maker: ExampleMaker, rng: random.Random) -> tuple[list[Example], list[Example]]:
    positives, negatives = [], []
    for qi in maker.subset_questions:
        if not maker.positives[qi]:
            continue
        w, first, last = maker.positives[qi][0]
        a, b, n = first - HEAD, last - HEAD, maker.text_length(w)
        size = min(n, max(b - a + 1, rng.randint(48, 200)))
        lo = rng.randint(max(0, b + 1 - size), min(a, n - size))
        positives.append(Example(qi, w, lo, lo + size, a - lo + HEAD, b - lo + HEAD))
        negatives.append(maker._negative(rng, qi, maker.questions[qi][0], w, a, b))
    return positives, negatives


@torch.no_grad()
def null_scores(model: ReaderHead, maker: ExampleMaker, reads: list[Example], prior: np.ndarray) -> np.ndarray:
    """The null score of each read (see the module docstring)."""
    out = []
    for i in range(0, len(reads), 16):
        part = reads[i: i + 16]
        batch = maker.batch(part)
        start, end = (x.numpy() for x in model(*to_torch(batch)))
        for row, ex in enumerate(part):
            _, wrow, length = (int(x) for x in maker.store.windows[ex.window])
            keep = np.concatenate([np.arange(HEAD), np.arange(HEAD + ex.lo, HEAD + ex.hi), [length - 1]]) + wrow
            offsets = maker.store.passage_offsets[keep]
            n = len(keep)
            spans = best_spans(start[row, :n], end[row, :n], offsets, prior)
            out.append(float(start[row, 0] + end[row, 0]) - (spans[0][2] if spans else -1e9))
    return np.asarray(out)


def calibrate(model: ReaderHead, maker: ExampleMaker, prior: np.ndarray, seed: int = 1) -> dict[str, object]:
    """Null-score figures on held-out reads: quantiles, and the threshold refusing at most 3% of answerable reads."""
    positives, negatives = _reads(maker, random.Random(seed))
    pos, neg = null_scores(model, maker, positives, prior), null_scores(model, maker, negatives, prior)
    threshold = float(np.quantile(pos, 0.97))
    quantiles = (0.05, 0.25, 0.5, 0.75, 0.95)
    return {
        "reads": {"answerable": len(pos), "unanswerable": len(neg)},
        "null_threshold": round(threshold, 3),
        "refused_at_threshold": {"answerable": round(float((pos > threshold).mean()), 4),
                                 "unanswerable": round(float((neg > threshold).mean()), 4)},
        "refused_at_zero": {"answerable": round(float((pos > 0).mean()), 4),
                            "unanswerable": round(float((neg > 0).mean()), 4)},
        "quantiles": {"answerable": [round(float(np.quantile(pos, q)), 3) for q in quantiles],
                      "unanswerable": [round(float(np.quantile(neg, q)), 3) for q in quantiles],
                      "at": list(quantiles)},
    }
