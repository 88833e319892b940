"""Typed records of a question set: questions, their gold answers, passages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How a gold answer was found in its passage.
LOCATED_EXACT = "exact"  # the given offset reproduces the text
LOCATED_NEAREST = "nearest"  # the text occurs elsewhere: its occurrence nearest the given offset
LOCATED_NORMALIZED = "normalized"  # occurs only once whitespace and punctuation are ignored
LOCATED_MISSING = "missing"  # not in the passage at all (annotators sometimes paraphrased)


@dataclass(frozen=True)
class GoldAnswer:
    """A gold answer; ``span`` is where it was found in the passage (SQuAD sets only)."""

    text: str
    answer_start: int | None = None  # as given in the file
    span: tuple[int, int] | None = None
    located: str | None = None  # one of the LOCATED_* values; None without a passage


@dataclass(frozen=True)
class Question:
    """One question with whatever gold it comes with."""

    id: str
    question: str
    answers: tuple[GoldAnswer, ...] = ()
    article: str | None = None  # gold article path (the passage id in a SQuAD set)
    paragraph: int | None = None
    unanswerable: bool = False
    line: int | None = None  # where the row stands in its file, for messages
    # A 👎 rating (rag.kb.feedback): the answer a user rejected, or that they rejected a refusal.
    rejected_answer: str | None = None
    rejected_refusal: bool = False
    rejected_short: str | None = None  # the short answer of the rejected answer, when it had one

    @property
    def answer_texts(self) -> tuple[str, ...]:
        """The gold answer texts, in file order (duplicates kept, as the official scorers do)."""
        return tuple(a.text for a in self.answers)

    @property
    def split_key(self) -> str:
        """What the tuning/test split hashes: the passage or article, else the question id."""
        return self.article if self.article is not None else self.id


@dataclass(frozen=True)
class Passage:
    """A passage of a SQuAD-format file: one article of the evaluation corpus."""

    id: str
    title: str  # the document title
    text: str


@dataclass
class QuestionSet:
    """Questions read from one file, plus the rows that were skipped and why."""

    name: str
    format: str  # "jsonl", "csv" or "squad"
    sha256: str  # of the file's bytes
    questions: list[Question]
    passages: list[Passage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    path: Path | None = None
    total_questions: int = 0  # valid questions in the file, before any selection
    selection: str = "all"  # how ``questions`` was chosen from the file
    held_out: frozenset[str] = frozenset()  # articles left out of the search (their questions: unanswerable)

    def passage_texts(self) -> dict[str, str]:
        """Passage id -> text."""
        return {p.id: p.text for p in self.passages}


def rejection(row: dict[str, Any]) -> dict[str, Any]:
    """What a 👎 row of the ratings file rejected, as ``Question`` fields: the answer's text, or a refusal.

    >>> rejection({"rating": "down", "rejected_answer": "不知道", "refused": True})
    {'rejected_answer': None, 'rejected_refusal': True, 'rejected_short': None}
    >>> rejection({"rating": "down", "rejected_answer": "约 2200 亿元。", "rejected_short_answer": "2200 亿元"})
    {'rejected_answer': '约 2200 亿元。', 'rejected_refusal': False, 'rejected_short': '2200 亿元'}
    >>> rejection({"rating": "up"})
    {'rejected_answer': None, 'rejected_refusal': False, 'rejected_short': None}
    """
    text, short = row.get("rejected_answer"), row.get("rejected_short_answer")
    down = row.get("rating") == "down"
    refused = down and row.get("refused") is True
    kept = text.strip() or None if down and not refused and isinstance(text, str) else None
    kept_short = short.strip() or None if kept is not None and isinstance(short, str) else None
    return {"rejected_answer": kept, "rejected_refusal": refused, "rejected_short": kept_short}
