"""The follow-up rule measured on questions/followups.jsonl: precision ≥ 0.95, recall ≥ 0.8.

Only a follow-up borrows the previous question's terms; a greeting, a thank-you or a
one-word topic is searched as it is, whatever came before.
"""

from __future__ import annotations

import json

import pytest

from rag.answer.followup import borrowed_words, followup_query, is_followup
from tests.helpers import ROOT

FOLLOWUPS = ROOT / "questions" / "followups.jsonl"


def load_rows() -> list[dict[str, object]]:
    """The labelled rows of the follow-up question set."""
    return [json.loads(line) for line in FOLLOWUPS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_question_set_has_every_kind_of_row() -> None:
    rows = load_rows()
    assert len(rows) >= 40
    assert all(set(r) == {"previous", "question", "followup"} and isinstance(r["followup"], bool) for r in rows)
    questions = [str(r["question"]) for r in rows]
    for needed in ("你好", "谢谢", "深圳", "那华为呢？"):
        assert needed in questions
    assert any("這" in q or "該" in q for q in questions), "traditional-script rows"
    assert any(q.isascii() for q in questions), "English rows"
    assert sum(bool(r["followup"]) for r in rows) >= 15 and sum(not r["followup"] for r in rows) >= 15


def test_rule_precision_and_recall_on_the_question_set() -> None:
    rows = load_rows()
    predicted = [is_followup(str(r["question"])) for r in rows]
    gold = [bool(r["followup"]) for r in rows]
    tp = sum(p and g for p, g in zip(predicted, gold, strict=True))
    fp = sum(p and not g for p, g in zip(predicted, gold, strict=True))
    fn = sum(g and not p for p, g in zip(predicted, gold, strict=True))
    wrong = [r["question"] for r, p in zip(rows, predicted, strict=True) if p != r["followup"]]
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.95, (precision, wrong)
    assert recall >= 0.8, (recall, wrong)


@pytest.mark.parametrize("question", ["你好", "你好！", "谢谢", "深圳", "荣耀", "hello", "謝謝"])
def test_greetings_and_one_word_topics_are_never_rewritten(question: str) -> None:
    previous = "荣耀累计投入了多少资金用于AI研发？"
    assert followup_query(question, [previous]) == question


def test_every_non_followup_row_is_searched_as_asked() -> None:
    for r in load_rows():
        query = followup_query(str(r["question"]), [str(r["previous"])])
        if not is_followup(str(r["question"])):
            assert query == r["question"]


def test_a_followup_borrows_the_previous_terms_and_says_which_in_words() -> None:
    question = "它的AI生态战略叫什么？"
    query = followup_query(question, ["荣耀累计投入了多少资金用于AI研发？"])
    assert query.startswith(question + " ") and "荣耀" in query
    assert borrowed_words(question, query)[0] == "荣耀"
    assert followup_query("那华为呢？", []) == "那华为呢？"  # nothing before: nothing to borrow
