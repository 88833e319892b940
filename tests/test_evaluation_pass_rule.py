"""A question's pass/fail judges its short answer where there is one (issue 26, item 7).

Official F1 of the short answer against the gold ≥ ``PASS_F1`` (0.5), or EM, passes; a
refusal of an answerable question fails; without a short answer (the reader off, a
generative answer) the whole answer must contain the gold. Containment stays a column
and a metric of its own. report.json's ``failed`` keeps its name with that meaning, says
so in ``summary.pass_rule`` and in the reports' notes, and ``--fail-under pass_rate=…``
bounds the share that passes (tests/test_evaluation_e2e.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluation.datasets import GoldAnswer, Question
from rag.evaluation.metrics import PASS_F1, score_question, summarize
from rag.evaluation.report_files import write_reports
from rag.records import Answer, Citation, ShortAnswer
from rag.ui.eval_tab import eval_summary_text, question_rows

SENTENCE = "数据显示,2025 年深圳人工智能核心产业营收约 2200 亿元,集聚典型企业超 2600 家。"


def answered(short: str | None) -> Answer:
    """The answer of 「2025年深圳人工智能核心产业营收约多少？」: the sentence, and ``short`` in bold."""
    citation = Citation(n=1, article="a.txt", title="t", section="", paragraph=1, page=None,
                        paragraph_text=SENTENCE, paragraph_start=0, start=0, end=len(SENTENCE))
    answer = Answer(question="q", query="q", text=f"{SENTENCE}[1]", refused=False, citations=[citation],
                    timings_ms={"search": 1.0, "total": 2.0})
    if short is not None:
        at = SENTENCE.index(short)
        answer.short_answer = ShortAnswer(short, 1, at, at + len(short))
    return answer


def asked(gold: str) -> Question:
    return Question(id=gold, question="q", answers=(GoldAnswer(gold),))


def test_a_wrong_short_answer_fails_though_the_whole_answer_contains_the_gold() -> None:
    wrong = score_question(asked("超 2600 家"), [], answered("2200 亿元"))
    assert wrong.contained and wrong.f1 == 0.0
    assert wrong.failed and wrong.judged_by == "short_answer" and wrong.verdict == "wrong short answer"
    right = score_question(asked("约 2200 亿元"), [], answered("2200 亿元"))  # F1 0.8, not exact
    assert right.f1 is not None and PASS_F1 <= right.f1 < 1.0 and not right.failed
    # without a short answer the whole answer is judged by containment, as before
    whole = score_question(asked("超 2600 家"), [], answered(None))
    assert not whole.failed and whole.judged_by == "containment"
    refused = Answer(question="q", query="q", text="文章中没有找到相关信息。", refused=True)
    assert score_question(asked("超 2600 家"), [], refused).failed


def test_the_threshold_is_official_f1_at_least_one_half_or_exact() -> None:
    # 2025 年 10 月 for 2025 年: tokens 2025 年 10 月 against 2025 年, P 2/4, R 1: F1 0.67 passes
    assert not score_question(asked("2025 年"), [], answered_with("2025 年 10 月")).failed
    # 10 月 for 2025 年 10 月: P 1, R 2/4: F1 0.67 passes; 月 alone: P 1, R 1/4, F1 0.4 fails
    assert not score_question(asked("2025 年 10 月"), [], answered_with("10 月")).failed
    assert score_question(asked("2025 年 10 月"), [], answered_with("月")).failed


def answered_with(short: str) -> Answer:
    """An answer whose sentence is 「2025 年 10 月，荣耀披露战略。」 with ``short`` in bold."""
    sentence = "2025 年 10 月，荣耀披露战略。"
    citation = Citation(n=1, article="a.txt", title="t", section="", paragraph=1, page=None,
                        paragraph_text=sentence, paragraph_start=0, start=0, end=len(sentence))
    at = sentence.index(short)
    return Answer(question="q", query="q", text=f"{sentence}[1]", refused=False, citations=[citation],
                  short_answer=ShortAnswer(short, 1, at, at + len(short)))


def test_report_json_says_the_rule_and_the_tab_shows_the_short_answer_beside_the_evidence(tmp_path: Path) -> None:
    from tests.test_evaluation import _hand_made_report

    report = _hand_made_report()
    wrong = score_question(asked("超 2600 家"), [], answered("2200 亿元"))
    report.questions = [*report.questions, wrong]
    report.summary = summarize(report.questions)
    write_reports(report, tmp_path / "en", "en")
    write_reports(report, tmp_path / "zh", "zh")
    data = json.loads((tmp_path / "en" / "report.json").read_text(encoding="utf-8"))
    summary = data["summary"]
    assert summary["pass_f1"] == PASS_F1 and "short answer" in summary["pass_rule"]
    failed = [q["failed"] for q in data["questions"]]
    assert summary["counts"]["failed"] == sum(failed) == 2  # the hand-made miss and the wrong short answer
    assert summary["pass_rate"] == pytest.approx(1 - 2 / 5)
    row = data["questions"][-1]
    assert row["failed"] and row["contained"] and row["judged_by"] == "short_answer"
    assert "judges the short answer" in (tmp_path / "en" / "report.md").read_text(encoding="utf-8")
    assert "按短答案判定" in (tmp_path / "zh" / "report.md").read_text(encoding="utf-8")
    for lang in ("en", "zh"):
        page = (tmp_path / lang / "report.html").read_text(encoding="utf-8")
        assert ("judges the short answer" if lang == "en" else "按短答案判定") in page
    # the 评测 tab: the short answer beside the evidence, containment a column of its own
    shown = next(r for r in question_rows(report.questions) if r[1] == wrong.id)
    verdict, _, _, gold, short, whole, contained, *_ = shown
    assert (verdict, gold, short, contained) == ("✗ 失败", "超 2600 家", "2200 亿元", "✓")
    assert whole.startswith("数据显示")
    assert "F1 ≥ 0.5" in eval_summary_text(report)



def test_docstring_examples() -> None:
    import doctest

    from rag.evaluation import answer_match

    failures, tried = doctest.testmod(answer_match)
    assert tried and failures == 0
