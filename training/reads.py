"""Training reads: a question with the segments the reader would be given, and where its answer lies in them.

The reader reads what retrieval returns: the top chunks (``training.retrieve``),
each encoded alone through the frozen lower layers, then read together. So a
training example is a question with a list of chunks of the training index:

* **retrieved**: the top 1-3 chunks of a search over every passage: a positive
  when one of them holds the gold span; a negative when none does and none holds
  any gold answer text (retrieval missed, and "no answer" is right);
* **whole passage**: every chunk of the question's own passage, in order (the
  "gold paragraph" read);
* **held out**: the top 1-3 chunks of a search that leaves the question's own
  passage out: hard negatives, same topic and words, no answer;
* **rest of passage**: one chunk of its own passage that does not hold the answer.

A negative never holds any gold answer text (a read that would be a negative but
holds one is skipped). Labels are token spans of the gold answer in each segment
that holds it (overlapping chunks may both hold it); training takes the
probability of all of them together.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.reading import match_features, passage_windows, question_ids

MAX_TOKENS = 512  # a segment longer than this is cut into windows (chunks are far shorter)
STRIDE = 384
QUESTION_TOKENS = 64
K_CHOICES = ((1, 0.2), (2, 0.3), (3, 0.5))  # how many retrieved chunks a read holds, and how often


@dataclass(frozen=True)
class Segment:
    """One encoder input: a window over a chunk of an article (``base`` is the chunk's start in the article)."""

    article: str
    base: int
    text: str
    ids: np.ndarray
    offsets: np.ndarray  # [T, 2] into ``text``; -1 for <s>, the prefix and </s>


@dataclass(frozen=True)
class Example:
    """A question and the segments it reads; ``gold`` are (segment position, first, last) token spans, () for none."""

    question: int
    segments: tuple[int, ...]
    gold: tuple[tuple[int, int, int], ...]
    kind: str


@dataclass(frozen=True)
class TrainQuestion:
    """A training question, its passage and gold answers (text and article span)."""

    qid: str
    text: str
    article: str
    answers: tuple[tuple[str, int, int], ...]
    hits: tuple[tuple[str, int, int], ...]
    held_out: tuple[tuple[str, int, int], ...]


def answer_tokens(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """Positions of the first and last token covering characters ``[start, end)``; None when not inside.

    >>> answer_tokens(np.array([[-1, -1], [0, 2], [2, 5], [5, 6], [-1, -1]]), 2, 6)
    (2, 3)
    """
    text = offsets[:, 0] >= 0
    hit = np.flatnonzero(text & (offsets[:, 1] > start) & (offsets[:, 0] < end))
    if len(hit) == 0 or offsets[hit[0], 0] > start or offsets[hit[-1], 1] < end:
        return None
    return int(hit[0]), int(hit[-1])


class ReadMaker:
    """Segments, questions and examples over one training index (``retrieval.jsonl``) and its question set."""

    def __init__(self, tokenizer: Any, passages: dict[str, str], questions: list[TrainQuestion],
                 chunks: list[tuple[str, int, int]], max_span: int) -> None:
        self.tokenizer, self.passages, self.questions, self.max_span = tokenizer, passages, questions, max_span
        self.segments: list[Segment] = []
        self.of_chunk: dict[tuple[str, int, int], list[int]] = {}
        self.by_article: dict[str, list[tuple[str, int, int]]] = {}
        for key in chunks:
            self._add_chunk(key)
        self.question_ids = [question_ids(tokenizer, q.text, QUESTION_TOKENS) for q in questions]

    @classmethod
    def load(cls, tokenizer: Any, dataset: Path, retrieval: Path, max_span: int) -> ReadMaker:
        """Read the question set and ``retrieval.jsonl`` (rows of questions the file does not hold are dropped)."""
        from rag.evaluation.datasets import load_question_set

        qs = load_question_set(dataset)
        passages = {p.id: p.text for p in qs.passages}
        lines = retrieval.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0])
        found = {row["id"]: row for row in map(json.loads, lines[1:])}
        questions = []
        for q in qs.questions:
            row = found.get(q.id)
            if row is None or q.article is None:
                continue
            answers = tuple((a.text, a.span[0], a.span[1]) for a in q.answers if a.span is not None)
            if answers:
                questions.append(TrainQuestion(q.id, q.question, q.article, answers,
                                               tuple(map(tuple, row["hits"])), tuple(map(tuple, row["held_out"]))))
        chunks = [tuple(c) for c in head["chunks"]]
        return cls(tokenizer, passages, questions, chunks, max_span)  # type: ignore[arg-type]

    def _add_chunk(self, key: tuple[str, int, int]) -> list[int]:
        if key in self.of_chunk:
            return self.of_chunk[key]
        article, start, end = key
        text = self.passages[article][start:end]
        ids = []
        for window in passage_windows(self.tokenizer, text, MAX_TOKENS, STRIDE):
            ids.append(len(self.segments))
            self.segments.append(Segment(article, start, text, window.ids, window.offsets))
        self.of_chunk[key] = ids
        self.by_article.setdefault(article, []).append(key)
        return ids

    # -- examples -------------------------------------------------------------------------

    def read(self, question: int, chunks: list[tuple[str, int, int]], kind: str,
             positive: bool | None) -> Example | None:
        """An example over ``chunks``; ``positive`` True/False demands one kind (else None), None takes either."""
        q = self.questions[question]
        segments = tuple(s for key in chunks for s in self._add_chunk(key))
        gold = []
        for n, s in enumerate(segments):
            seg = self.segments[s]
            if seg.article != q.article:
                continue
            for _, start, end in q.answers:
                span = answer_tokens(seg.offsets, start - seg.base, end - seg.base)
                if span is not None and span[1] - span[0] < self.max_span:
                    gold.append((n, *span))
        if gold:
            return Example(question, segments, tuple(dict.fromkeys(gold)), kind) if positive is not False else None
        if positive is True or any(text in self.segments[s].text for s in segments for text, _, _ in q.answers):
            return None
        return Example(question, segments, (), kind)

    def passage_chunks(self, question: int) -> list[tuple[str, int, int]]:
        """Every chunk of the question's own passage, in order."""
        return sorted(self.by_article.get(self.questions[question].article, []), key=lambda c: c[1])

    def epoch(self, subset: list[int], rng: random.Random, whole: float = 0.35,
              negatives: float = 0.6) -> list[Example]:
        """One epoch's examples over ``subset`` (question indices), shuffled."""
        out = []
        for qi in subset:
            q = self.questions[qi]
            k = _choose_k(rng)
            if rng.random() < whole:
                example = self.read(qi, self.passage_chunks(qi), "whole", None)
            else:
                example = self.read(qi, list(q.hits[:k]), "retrieved", None)
            if example is not None:
                out.append(example)
            for _ in range(int(negatives) + (rng.random() < negatives % 1)):
                example = self._negative(qi, rng)
                if example is not None:
                    out.append(example)
        rng.shuffle(out)
        return out

    def _negative(self, qi: int, rng: random.Random) -> Example | None:
        q = self.questions[qi]
        if rng.random() < 0.6:
            return self.read(qi, list(q.held_out[: _choose_k(rng)]), "held_out", False)
        own = [c for c in self.passage_chunks(qi) if not any(c[1] <= s and e <= c[2] for _, s, e in q.answers)]
        return self.read(qi, [rng.choice(own)], "rest", False) if own else None

    def tokens(self, example: Example) -> int:
        """Passage tokens of an example."""
        return sum(len(self.segments[s].ids) for s in example.segments)

    # -- batches ----------------------------------------------------------------------------

    def batch(self, examples: list[Example], states: Any, question_states: Any) -> dict[str, np.ndarray]:
        """Padded arrays of some examples: lower-layer states, masks, segments, match features, gold spans."""
        size = len(examples)
        width = max(self.tokens(ex) for ex in examples)
        qwidth = max(len(self.question_ids[ex.question]) for ex in examples)
        out = {"passage": np.zeros((size, width, states.states.shape[1]), np.float32),
               "passage_mask": np.zeros((size, width), np.float32),
               "segments": np.zeros((size, width), np.int64),
               "question": np.zeros((size, qwidth, states.states.shape[1]), np.float32),
               "question_mask": np.zeros((size, qwidth), np.float32),
               "match": np.zeros((size, width, 2), np.float32),
               "valid": np.zeros((size, width), bool),
               "gold": np.zeros((size, width, self.max_span), bool),
               "answerable": np.zeros(size, bool)}
        for row, ex in enumerate(examples):
            q = self.questions[ex.question]
            q_ids = self.question_ids[ex.question]
            qrows = question_states.rows(ex.question)
            out["question"][row, : len(q_ids)] = question_states.states[qrows]
            out["question_mask"][row, : len(q_ids)] = 1
            at, starts = 0, []
            for n, s in enumerate(ex.segments):
                seg = self.segments[s]
                t = len(seg.ids)
                starts.append(at)
                out["passage"][row, at: at + t] = states.states[states.rows(s)]
                out["segments"][row, at: at + t] = n + 1
                out["valid"][row, at: at + t] = seg.offsets[:, 0] >= 0
                out["match"][row, at: at + t] = match_features(seg.ids, seg.offsets, seg.text, q_ids, q.text)
                at += t
            out["passage_mask"][row, :at] = 1
            for n, first, last in ex.gold:
                out["gold"][row, starts[n] + first, last - first] = True
            out["answerable"][row] = bool(ex.gold)
        return out


def _choose_k(rng: random.Random) -> int:
    roll, total = rng.random(), 0.0
    for k, share in K_CHOICES:
        total += share
        if roll < total:
            return k
    return K_CHOICES[-1][0]
