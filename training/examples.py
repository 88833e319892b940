"""Training examples over a feature store: answer windows cropped at random, and negatives.

A positive is a question with a window that holds its answer, usually cropped
to a random stretch around the answer (retrieved chunks are shorter than CMRC
passages); a negative is the question with a window, or a crop, that does not
hold it: another passage (of the same article when there is one) or the rest
of its own passage. Negatives point both pointers at position 0 (``<s>``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from rag.answer.reading import match_features
from training.data import Passage, Question
from training.features import FeatureStore

HEAD = 3  # <s> ▁passage : before a window's text
# Crop sizes in tokens: retrieved chunks are short (about 300 characters, some
# 200 tokens), and a short crop costs the head far less than a 512-token window.
CROP = (32, 192)


@dataclass(frozen=True)
class Example:
    """A question with a stretch ``[lo, hi)`` of a window's text tokens; ``first``/``last`` 0 for no answer."""

    question: int
    window: int
    lo: int
    hi: int
    first: int
    last: int


@dataclass
class Batch:
    """Padded arrays of a batch, ready for the head."""

    passage: np.ndarray
    passage_mask: np.ndarray
    question: np.ndarray
    question_mask: np.ndarray
    match: np.ndarray
    first: np.ndarray
    last: np.ndarray


def answer_tokens(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """Window positions of the first and last token covering characters ``[start, end)``; None when not inside."""
    text = offsets[:, 0] >= 0
    hit = np.flatnonzero(text & (offsets[:, 1] > start) & (offsets[:, 0] < end))
    if len(hit) == 0 or offsets[hit[0], 0] > start or offsets[hit[-1], 1] < end:
        return None
    return int(hit[0]), int(hit[-1])


class ExampleMaker:
    """Positives and negatives for one list of passages (the store's order) and a subset of them."""

    def __init__(self, store: FeatureStore, passages: list[Passage], subset: list[int]) -> None:
        self.store, self.passages = store, passages
        self.questions: list[tuple[int, Question]] = [(p, q) for p, passage in enumerate(passages)
                                                      for q in passage.questions]
        first_question = np.cumsum([0] + [len(p.questions) for p in passages])
        self.subset_questions = [int(first_question[p]) + k for p in subset for k in range(len(passages[p].questions))]
        self.subset_passages = subset
        self.windows_of = {p: store.passage_windows(p) for p in subset}
        by_title: dict[str, list[int]] = {}
        for p in subset:
            by_title.setdefault(passages[p].title, []).append(p)
        self.same_title = {p: [o for o in by_title[passages[p].title] if o != p] for p in subset}
        self.positives: dict[int, list[tuple[int, int, int]]] = {}
        for qi in self.subset_questions:
            p, question = self.questions[qi]
            answer = question.answers[0]
            found = []
            for w in self.windows_of[p]:
                span = answer_tokens(self.offsets(w), answer.start, answer.start + len(answer.text))
                if span is not None:
                    found.append((w, *span))
            self.positives[qi] = found

    def offsets(self, window: int) -> np.ndarray:
        """Character offsets of a window's tokens."""
        _, row, length = self.store.windows[window]
        return self.store.passage_offsets[row: row + length]

    def text_length(self, window: int) -> int:
        """Text tokens in a window."""
        return int(self.store.windows[window, 2]) - HEAD - 1

    def epoch(self, rng: random.Random, negatives: float = 1.0, crop: float = 0.7) -> list[Example]:
        """One epoch's examples, shuffled: each question's positive (cropped with chance ``crop``) and negatives."""
        out = []
        for qi in self.subset_questions:
            if not self.positives[qi]:
                continue
            w, first, last = rng.choice(self.positives[qi])
            out.append(self._positive(rng, qi, w, first - HEAD, last - HEAD, crop))
            p = self.questions[qi][0]
            n = int(negatives) + (rng.random() < negatives - int(negatives))
            for _ in range(n):
                out.append(self._negative(rng, qi, p, w, first - HEAD, last - HEAD))
        rng.shuffle(out)
        return out

    @staticmethod
    def batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
        """Batches of similar length (little padding), in random order: chunks of 50 batches sorted by length."""
        out = []
        pool = size * 50
        for i in range(0, len(examples), pool):
            part = sorted(examples[i: i + pool], key=lambda ex: ex.hi - ex.lo)
            out.extend(part[k: k + size] for k in range(0, len(part), size))
        rng.shuffle(out)
        return out

    def _positive(self, rng: random.Random, qi: int, w: int, a: int, b: int, crop: float) -> Example:
        n = self.text_length(w)
        if rng.random() >= crop:
            return Example(qi, w, 0, n, a + HEAD, b + HEAD)
        size = min(n, max(b - a + 1, rng.randint(CROP[0], CROP[1])))
        lo = rng.randint(max(0, b + 1 - size), min(a, n - size))
        return Example(qi, w, lo, lo + size, a - lo + HEAD, b - lo + HEAD)

    def _negative(self, rng: random.Random, qi: int, p: int, w: int, a: int, b: int) -> Example:
        """A negative whose text holds none of the question's gold answers (8.6% of answers occur twice)."""
        for _ in range(20):
            example = self._draw_negative(rng, qi, p, w, a, b)
            if not self.holds_answer(example):
                return example
        other_w = rng.choice(self.windows_of[rng.choice(self.subset_passages)])
        return Example(qi, other_w, 0, self.text_length(other_w), 0, 0)

    def holds_answer(self, example: Example) -> bool:
        """True when the text of the example's stretch contains one of its question's gold answers."""
        offsets = self.offsets(example.window)[HEAD + example.lo: HEAD + example.hi]
        if len(offsets) == 0:
            return False
        context = self.passages[int(self.store.windows[example.window, 0])].context
        text = context[int(offsets[0, 0]): int(offsets[-1, 1])]
        return any(answer.text and answer.text in text for answer in self.questions[example.question][1].answers)

    def _draw_negative(self, rng: random.Random, qi: int, p: int, w: int, a: int, b: int) -> Example:
        choice = rng.random()
        if choice < 0.3 and (a >= CROP[0] or self.text_length(w) - b - 1 >= CROP[0]):
            # the rest of its own window: the hardest negatives, same topic and words
            n = self.text_length(w)
            left = a >= CROP[0] and (rng.random() < 0.5 or n - b - 1 < CROP[0])
            lo, hi = (0, a) if left else (b + 1, n)
            size = rng.randint(CROP[0], min(CROP[1], hi - lo))
            start = rng.randint(lo, hi - size)
            return Example(qi, w, start, start + size, 0, 0)
        own_windows = [x for x in self.windows_of[p] if x not in {pos[0] for pos in self.positives[qi]}]
        if choice < 0.45 and own_windows:
            other_w = rng.choice(own_windows)
            return Example(qi, other_w, 0, self.text_length(other_w), 0, 0)
        pool = self.same_title[p] if choice < 0.75 and self.same_title[p] else self.subset_passages
        other = rng.choice(pool)
        if other == p:
            other = rng.choice(self.subset_passages)
        other_w = rng.choice(self.windows_of[other])
        n = self.text_length(other_w)
        size = n if rng.random() < 0.1 else min(n, rng.randint(CROP[0], CROP[1]))
        lo = rng.randint(0, n - size)
        return Example(qi, other_w, lo, lo + size, 0, 0)

    def batch(self, examples: list[Example]) -> Batch:
        """Gather, crop and pad the features of some examples."""
        store = self.store
        rows_list, match_list, q_list = [], [], []
        for ex in examples:
            _, row, length = (int(x) for x in store.windows[ex.window])
            keep = np.concatenate([np.arange(HEAD), np.arange(HEAD + ex.lo, HEAD + ex.hi), [length - 1]]) + row
            rows_list.append(keep)
            question = self.questions[ex.question][1]
            qrow, qlen = (int(x) for x in store.questions[ex.question])
            q_list.append((qrow, qlen))
            context = self.passages[int(store.windows[ex.window, 0])].context
            match_list.append(match_features(store.passage_ids[keep], store.passage_offsets[keep], context,
                                             store.question_ids[qrow: qrow + qlen], question.text))
        size, qsize = len(examples), max(q[1] for q in q_list)
        width = max(len(r) for r in rows_list)
        out = Batch(np.zeros((size, width, store.passage_feats.shape[1]), np.float32),
                    np.zeros((size, width), np.float32),
                    np.zeros((size, qsize, store.question_feats.shape[1]), np.float32),
                    np.zeros((size, qsize), np.float32), np.zeros((size, width, 2), np.float32),
                    np.array([ex.first for ex in examples]), np.array([ex.last for ex in examples]))
        for i, (rows, match, (qrow, qlen)) in enumerate(zip(rows_list, match_list, q_list, strict=True)):
            out.passage[i, : len(rows)] = store.passage_feats[rows]
            out.passage_mask[i, : len(rows)] = 1
            out.question[i, :qlen] = store.question_feats[qrow: qrow + qlen]
            out.question_mask[i, :qlen] = 1
            out.match[i, : len(rows)] = match
        return out
