"""Ratings (👍/👎) of answers, kept beside the index as rows of a question set.

A rating is stored in the evaluation JSONL format, so the ratings file can be
re-run as a question set (``rag eval index/feedback.jsonl``, or the browser's
Evaluate tab). The file is rewritten atomically on every change.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.files import write_atomically
from rag.records import Answer
from rag.serialize import json_text
from rag.settings import Settings
from rag.text import strip_citation_markers

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.jsonl"
# Ratings of several browser sessions may arrive at once: one read-modify-write at a time.
_feedback_lock = threading.Lock()


def feedback_path(settings: Settings) -> Path:
    """Where ratings are kept: a question set beside the index."""
    return settings.index_dir / FEEDBACK_FILE


def rating_base(answer: Answer, asked: Sequence[str]) -> str:
    """The knowledge base a rating belongs to: the one that answered, else the first asked (``default``).

    >>> rating_base(Answer("问", "问", "不知道", True), ["news"]), rating_base(Answer("问", "问", "", True), [])
    ('news', 'default')
    """
    answered = [c.knowledge_base for c in answer.citations] + [h.knowledge_base for h in answer.hits]
    return (answered or list(asked) or ["default"])[0]


def feedback_record(answer_id: str, answer: Answer, rating: str, articles: list[str] | None = None) -> dict[str, Any]:
    """A rating as one row of a question set in the evaluation JSONL format.

    👍 ("up"): the shown answer becomes the gold answer and its first citation the
    gold article and paragraph, so a re-run checks they still come; its bold short
    answer comes first among the gold answers, since a re-run judges the short answer
    where there is one (issue 26); a 👍 on a refusal marks the question unanswerable. 👎 ("down"): the shown answer was
    wrong and the right one is not known yet, so ``answers`` stays empty and the
    rejected text (and its short answer) is kept for someone to fill in the right one.
    """
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', got {rating!r}")
    shown = strip_citation_markers(answer.text)  # the form a gold answer takes
    row: dict[str, Any] = {"id": answer_id, "question": answer.question, "rating": rating}
    if rating == "up":
        short = answer.short_answer.text.strip() if answer.short_answer is not None else ""
        row["answers"] = [] if answer.refused else [*([short] if short else []), shown]
        row["unanswerable"] = answer.refused
        if answer.citations and not answer.refused:
            row["article"] = answer.citations[0].article
            row["paragraph"] = answer.citations[0].paragraph
    else:
        row["answers"] = []
        row["rejected_answer"] = shown
        if answer.short_answer is not None and not answer.refused:
            row["rejected_short_answer"] = answer.short_answer.text  # what a re-run's pass rule judges
        row["refused"] = answer.refused
    if articles:
        row["articles"] = list(articles)  # the question was limited to these
    if answer.query != answer.question:
        row["query"] = answer.query
    row["mode"] = answer.mode
    row["rated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return row


def save_feedback(settings: Settings, record: dict[str, Any] | None, answer_id: str) -> Path:
    """Store a rating (replacing an earlier one of the same answer); ``record`` None removes it.

    The file is rewritten atomically, so a reader never sees half a line.
    """
    path = feedback_path(settings)
    with _feedback_lock:
        rows = [r for r in read_feedback(path) if r.get("id") != answer_id]
        if record is not None:
            rows.append(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, "".join(json_text(row) + "\n" for row in rows))  # json_text: names not UTF-8
    return path


def read_feedback(path: Path) -> list[dict[str, Any]]:
    """The ratings stored so far; a line that is not a JSON object is logged and left out."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            log.warning("%s line %d is not a JSON object; it is left out", path, number)
    return rows


def mark_taught(settings: Settings, answer_id: str | None, question: str,
                keys: dict[str, Any]) -> dict[str, Any] | None:
    """Add ``keys`` to the 👎 row of ``answer_id`` (without one: the latest 👎 of ``question``); the row, or None.

    What a 👎 taught (``rag.kb.teach``) is kept on its rating, so the ratings file
    lists it; keys only grow, so an older reader still reads the row.
    """
    path = feedback_path(settings)
    with _feedback_lock:
        rows = read_feedback(path)
        downs = [r for r in rows if r.get("rating") == "down"]
        found = [r for r in downs if r.get("id") == answer_id] if answer_id else \
            [r for r in downs if r.get("question") == question][-1:]
        if not found:
            return None
        found[0].update(keys)
        write_atomically(path, "".join(json_text(row) + "\n" for row in rows))
    return found[0]
