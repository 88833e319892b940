"""The follow-up rule measured on questions/followups.jsonl: detection, substitution, answers.

Detection: precision ≥ 0.95, recall ≥ 0.8. Substitution: a follow-up is asked as the
question it stands for (``stands_for``), written by hand for every row by one convention:

- a word that points back (它/它们/其/该…/这个…/上述…, it/its) becomes the previous question's
  subject (its leading noun phrase up to its head noun: 荣耀, 华为盘古大模型, 比亚迪的AI视觉检测系统,
  2025年深圳人工智能核心产业); 其 and 它的 read 「subject的」, 其中 reads 「subject中」; 这家公司/该公司
  is the company the previous question names; a demonstrative before a noun that the previous
  question holds before its question word (这套系统, 那个准确率, 该模型) becomes the previous
  question's words up to that noun, before any other noun 「subject的」;
- 「X呢？」 or "what about X?": X takes the place of the previous question's word of its kind (a
  name with the names right after it, a place, a year); an X the previous question already holds
  stands for the previous question; an attribute (准确率, 不良贷款率) reads 「subject的X呢？」;
- a follow-up that brings only a predicate (累计投入了多少？) gets the previous subject in front;
  one that only asks again (具体是多少？, 还有呢？) stands for the previous question;
- any other question stands for itself.

The rule's rewrite must equal ``stands_for`` exactly (white space aside) on at least
SUBSTITUTION_BAR of the rows. Answers: every row asked after its previous question through the
real knowledge base of the default article (``rag.evaluation.followups``); a row is right when
its short answer passes the pass rule against ``answer`` or, without ``answer``, when it is
refused. ``python scripts/followup_accuracy.py`` prints the table by kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.followup import followup_query, is_followup, resolve_followup
from rag.evaluation.followups import FOLLOWUP_KINDS, load_followup_rows, measure_followups
from rag.kb.knowledge_base import KnowledgeBase
from rag.text import fold_script
from tests.helpers import ROOT, make_settings

FOLLOWUPS = ROOT / "questions" / "followups.jsonl"
# 93 of the 94 rows are asked exactly as they stand for; the one missed is not detected as a
# follow-up (「辅助诊断了多少疑难病例？」). The last 12 rows were written after the rule: it wrote
# 9 of them right at first (「该公司」 for 微众银行 and a new subject that is no name were then
# taught; the detection miss stays). 0.95 leaves three rows of slack.
SUBSTITUTION_BAR = 0.95
# Measured with the shipped reader (python scripts/followup_accuracy.py): 46 of 94 rows right (0.489)
# with reader-head:41a0f169dc5b and again with its fine-tune e0a177338453; the old rule (every term
# of the previous question added) got 35 of the first 82 (0.427). The floor leaves four rows of slack
# for another machine's arithmetic.
ACCURACY_FLOOR = 0.45
HONOR = "荣耀累计投入了多少资金用于AI研发？"


def load_rows() -> list[dict[str, object]]:
    """The labelled rows of the follow-up question set, as stored."""
    import json

    return [json.loads(line) for line in FOLLOWUPS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_question_set_has_every_kind_of_row() -> None:
    rows = load_rows()
    assert len(rows) >= 40
    for r in rows:
        assert {"previous", "question", "followup", "kind", "stands_for"} <= set(r) <= {
            "previous", "question", "followup", "kind", "stands_for", "answer"}, r
        assert isinstance(r["followup"], bool) and r["kind"] in FOLLOWUP_KINDS
        assert (r["kind"] != "none") == r["followup"], r
        if not r["followup"]:
            assert r["stands_for"] == r["question"], r
    questions = [str(r["question"]) for r in rows]
    for needed in ("你好", "谢谢", "深圳", "那华为呢？"):
        assert needed in questions
    follow = [r for r in rows if r["followup"]]
    for word in ("它", "该", "其", "這", "該", "呢", "its", "it ", "What about"):
        assert any(word in str(r["question"]) for r in follow), word
    for kind in ("back-reference", "what-about", "predicate"):
        of_kind = [r for r in follow if r["kind"] == kind]
        assert len(of_kind) >= 8 and sum("answer" in r for r in of_kind) >= 3, kind
    assert sum(fold_script(str(r["question"])) != r["question"] for r in follow) >= 8, "traditional follow-ups"
    assert sum(str(r["question"]).isascii() for r in follow) >= 6, "English follow-ups"
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


def test_each_follow_up_is_asked_as_the_question_it_stands_for() -> None:
    rows = load_rows()
    asked = [followup_query(str(r["question"]), [str(r["previous"])]) for r in rows]
    same = ["".join(a.split()) == "".join(str(r["stands_for"]).split()) for a, r in zip(asked, rows, strict=True)]
    wrong = [(r["question"], a, r["stands_for"]) for a, r, ok in zip(asked, rows, same, strict=True) if not ok]
    assert sum(same) / len(rows) >= SUBSTITUTION_BAR, wrong
    # a question that names its own subject is asked as it is, always
    assert all(a == r["question"] for a, r in zip(asked, rows, strict=True) if not is_followup(str(r["question"])))


def test_a_new_subject_replaces_the_old_one_and_it_follows_the_conversation() -> None:
    assert followup_query("那华为呢？", [HONOR]) == "华为累计投入了多少资金用于AI研发？"
    assert followup_query("比亚迪呢？", [HONOR]) == "比亚迪累计投入了多少资金用于AI研发？"
    # 它 is the subject of the question before, as the conversation left it: 华为 now, not 荣耀
    assert followup_query("它的AI生态战略叫什么？", [HONOR, "那华为呢？"]) == "华为的AI生态战略叫什么？"
    assert followup_query("它投入了多少钱用于AI研发？", [HONOR]) == "荣耀投入了多少钱用于AI研发？"
    # a greeting in between is not what a follow-up leans on
    assert followup_query("那华为呢？", [HONOR, "谢谢"]) == "华为累计投入了多少资金用于AI研发？"
    assert followup_query("那华为呢？", []) == "那华为呢？"  # nothing before: nothing to substitute
    # a question in the other language than the one before it
    english = "How much did Honor invest in AI research?"
    assert followup_query("那华为呢？", [english]) == "How much did 华为 invest in AI research?"
    assert followup_query("它的AI生态战略叫什么？", [english]) == "Honor的AI生态战略叫什么？"
    assert followup_query("What about Huawei?", [HONOR]) == "Huawei累计投入了多少资金用于AI研发？"
    asked = ("它的AI生态战略叫什么？", "那华为呢？", "有多少研发人员？", "深圳")
    kinds = [resolve_followup(q, [HONOR]).kind for q in asked]
    assert kinds == ["back-reference", "what-about", "predicate", "none"]


def test_a_long_conversation_costs_no_more_than_its_last_questions() -> None:
    """The API takes a history of any length: only the last questions (and their first words) are read."""
    import time

    history = [HONOR] + [f"{n}它的" + "营收" * 900 + "？" for n in range(300)]
    started = time.perf_counter()
    followup_query("它呢？", history)
    assert time.perf_counter() - started < 3.0  # 0.3 s here; tagging every question took minutes


@pytest.mark.parametrize("question", ["你好", "你好！", "谢谢", "深圳", "荣耀", "hello", "謝謝"])
def test_greetings_and_one_word_topics_are_never_rewritten(question: str) -> None:
    assert followup_query(question, [HONOR]) == question


def test_answers_to_the_follow_ups_with_the_real_reader(tmp_path: Path, encoder: object) -> None:
    """Every row asked after its previous question through the real answering path, right or wrong."""
    kb = KnowledgeBase(make_settings(tmp_path), encoder=encoder)  # type: ignore[arg-type]
    kb.build()
    report = measure_followups(kb, load_followup_rows(FOLLOWUPS))
    assert len(report.rows) == len(load_rows())
    table = report.table()
    assert report.accuracy >= ACCURACY_FLOOR, table
    asked = {(r.row.previous, r.row.question): r for r in report.rows}
    # the rewritten question is what was searched and read, and it is refused: the article says what
    # 荣耀 invested, in a paragraph that does not name 华为 (rag.answer.extractive.unsupported_terms)
    huawei = asked[HONOR, "那华为呢？"]
    assert huawei.asked == "华为累计投入了多少资金用于AI研发？" and huawei.refused and huawei.correct, table
    honor = asked[HONOR, "它投入了多少钱用于AI研发？"]  # one of the five the API got wrong in the issue
    assert honor.asked == "荣耀投入了多少钱用于AI研发？" and honor.correct, table
    for kind in ("back-reference", "what-about", "predicate", "traditional", "English", "not a follow-up"):
        assert f"| {kind} |" in table


@pytest.mark.parametrize("module", ["rag.answer.followup", "rag.answer.substitution", "rag.evaluation.followups"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module))
    assert tried and failures == 0
