"""Follow-up questions measured end to end: each row of ``questions/followups.jsonl`` asked after its previous one.

A row of the set is ``{"previous", "question", "followup", "kind", "stands_for", "answer"}``:
``followup`` labels detection (``rag.answer.followup.is_followup``), ``kind`` says how the
question leans on the previous one ("back-reference": 它/该/其/this/its; "what-about":
「…呢？」/"what about …?"; "predicate": only a predicate, 「累计投入了多少？」; "none": not
a follow-up), ``stands_for`` is the question it stands for, written by hand, and
``answer`` the gold short answer in the default article (a string, or a list of the
article's wordings), absent where the article does not answer: then the right reply is
the refusal.

``measure_followups`` asks every row through the real answering path
(``KnowledgeBase.ask`` with the previous question as history) and scores it by the
evaluation's pass rule (``answer_match.answer_passes``). ``FollowupReport.table`` is the
table ``python scripts/followup_accuracy.py`` prints, by kind, script and language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answer.followup import is_followup
from rag.errors import QuestionSetError
from rag.evaluation.answer_match import answer_passes, answer_prediction, short_prediction
from rag.evaluation.cmrc_scorer import f1_score
from rag.text import fold_script

if TYPE_CHECKING:
    from rag.kb.knowledge_base import KnowledgeBase

FOLLOWUP_KINDS = ("back-reference", "what-about", "predicate", "none")
# The table's rows: a row counts in its kind and, when it is one, in "traditional" and "English".
GROUPS = ("back-reference", "what-about", "predicate", "not a follow-up", "traditional", "English", "all")


@dataclass(frozen=True)
class FollowupRow:
    """One labelled row: a question after the previous one, what it stands for and its gold answers."""

    previous: str
    question: str
    followup: bool
    kind: str
    stands_for: str
    answers: tuple[str, ...] = ()  # empty: the default article does not answer it (the refusal is right)

    @property
    def groups(self) -> tuple[str, ...]:
        """The table rows this row counts in.

        >>> FollowupRow("How much?", "What about Huawei?", True, "what-about", "…").groups
        ('what-about', 'English', 'all')
        """
        own = "not a follow-up" if self.kind == "none" else self.kind
        script = ("traditional",) if fold_script(self.question) != self.question else ()
        language = ("English",) if self.question.isascii() and any(c.isalpha() for c in self.question) else ()
        return (own, *script, *language, "all")


@dataclass(frozen=True)
class FollowupResult:
    """One row asked: the question searched and read, the reply, and whether it was right."""

    row: FollowupRow
    detected: bool  # the rule took the question for a follow-up
    asked: str  # the query searched and read (the rewritten question for a follow-up)
    refused: bool
    short_answer: str | None
    answer: str  # the whole answer without citation marks ("" for a refusal)
    f1: float | None  # official F1 of the short answer (the whole answer without one) against the gold
    correct: bool

    @property
    def substituted(self) -> bool:
        """The question asked equals the one the row stands for (white space aside)."""
        return "".join(self.asked.split()) == "".join(self.row.stands_for.split())


@dataclass(frozen=True)
class FollowupReport:
    """Every row's result, with the figures by group."""

    rows: list[FollowupResult]

    @property
    def accuracy(self) -> float:
        """Share of rows answered right (the gold passes, or a row without gold refused)."""
        return sum(r.correct for r in self.rows) / len(self.rows) if self.rows else 0.0

    def detection(self) -> tuple[float, float]:
        """Precision and recall of follow-up detection against the ``followup`` labels."""
        tp = sum(r.detected and r.row.followup for r in self.rows)
        fp = sum(r.detected and not r.row.followup for r in self.rows)
        fn = sum(r.row.followup and not r.detected for r in self.rows)
        return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)

    def table(self) -> str:
        """Markdown: per group the rows, right answers, answerable rows answered, unanswerable rows refused."""
        lines = ["| rows | n | right | accuracy | answerable: passed | unanswerable: refused | asked as stands_for |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for group in GROUPS:
            members = [r for r in self.rows if group in r.row.groups]
            if not members:
                continue
            answerable = [r for r in members if r.row.answers]
            unanswerable = [r for r in members if not r.row.answers]
            right = sum(r.correct for r in members)
            lines.append(
                f"| {group} | {len(members)} | {right} | {right / len(members):.3f} | "
                f"{sum(r.correct for r in answerable)}/{len(answerable)} | "
                f"{sum(r.correct for r in unanswerable)}/{len(unanswerable)} | "
                f"{sum(r.substituted for r in members)}/{len(members)} |")
        precision, recall = self.detection()
        lines += ["", f"Detection: precision {precision:.3f}, recall {recall:.3f}; "
                      f"asked as stands_for: {sum(r.substituted for r in self.rows)}/{len(self.rows)}."]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The figures and every row, for a file."""
        precision, recall = self.detection()
        return {"accuracy": round(self.accuracy, 4), "detection_precision": round(precision, 4),
                "detection_recall": round(recall, 4),
                "substituted": sum(r.substituted for r in self.rows), "rows": [
                    {"previous": r.row.previous, "question": r.row.question, "kind": r.row.kind,
                     "stands_for": r.row.stands_for, "asked": r.asked, "answers": list(r.row.answers),
                     "refused": r.refused, "short_answer": r.short_answer, "f1": r.f1, "correct": r.correct}
                    for r in self.rows]}


def load_followup_rows(path: Path) -> list[FollowupRow]:
    """The rows of a follow-up set (JSONL); a malformed row is a QuestionSetError naming its line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(_row(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise QuestionSetError(f"{path}:{number}: not a follow-up row ({exc})") from exc
    if not rows:
        raise QuestionSetError(f"{path}: no follow-up row")
    return rows


def _row(data: Any) -> FollowupRow:
    """One parsed JSON line as a FollowupRow (KeyError, TypeError or ValueError when it is not one)."""
    if not isinstance(data, dict):
        raise TypeError("a row is a JSON object")
    answer = data.get("answer")
    answers = (answer,) if isinstance(answer, str) else tuple(answer or ())
    if not all(isinstance(a, str) and a.strip() for a in answers):
        raise ValueError("answer is a string or a list of strings")
    kind = str(data["kind"])
    if kind not in FOLLOWUP_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(FOLLOWUP_KINDS)}")
    return FollowupRow(previous=str(data["previous"]), question=str(data["question"]),
                       followup=bool(data["followup"]), kind=kind,
                       stands_for=str(data.get("stands_for") or data["question"]), answers=answers)


def measure_followups(kb: KnowledgeBase, rows: list[FollowupRow]) -> FollowupReport:
    """Ask every row after its previous question, as the chat and the API do, and score the reply."""
    results = []
    for row in rows:
        answer = kb.ask(row.question, history=[row.previous])
        short = short_prediction(answer)
        whole = answer_prediction(answer)
        if row.answers:
            correct = not answer.refused and answer_passes(short, whole, row.answers)
            f1: float | None = f1_score(short if short is not None else whole, row.answers)
        else:
            correct, f1 = answer.refused, None
        results.append(FollowupResult(row=row, detected=is_followup(row.question), asked=answer.query,
                                      refused=answer.refused, short_answer=short, answer=whole, f1=f1,
                                      correct=correct))
    return FollowupReport(results)
