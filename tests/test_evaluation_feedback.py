"""Ratings re-run as a question set: one pass/fail rule for the table, the metrics and report.json.

A 👎 on a refusal says the question has an answer: re-run, the same refusal is a
false refusal, and it fails everywhere (the tab's table, the summary counts and
rates, the per-question rows of report.json). A 👎 on an answer fails when the
same answer comes again. A 👍 keeps the short answer as the first gold: re-run, the pass
rule judges the short answer (issue 26), and the same one passes.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.evaluation.datasets import load_question_set
from rag.evaluation.metrics import QuestionResult, score_question
from rag.evaluation.session import evaluate
from rag.kb.feedback import feedback_path, feedback_record, save_feedback
from rag.kb.knowledge_base import KnowledgeBase
from rag.records import Answer, Citation
from rag.ui.eval_tab import eval_summary_text, question_rows
from tests.helpers import make_settings

REFUSED = "2025年北京人工智能核心产业营收是多少？"
ANSWERED = "2025年深圳人工智能核心产业营收约多少？"


def test_a_rated_refusal_fails_in_the_table_the_metrics_and_the_report(tmp_path: Path, encoder: object) -> None:
    settings = make_settings(tmp_path / "data")
    kb = KnowledgeBase(settings, encoder=encoder)  # type: ignore[arg-type]
    kb.build()
    refusal, answer = kb.ask(REFUSED), kb.ask(ANSWERED)
    assert refusal.refused and not answer.refused
    save_feedback(settings, feedback_record("a1", refusal, "down"), "a1")
    save_feedback(settings, feedback_record("a2", answer, "down"), "a2")
    up = feedback_record("a3", answer, "up")
    # 👍 keeps the bold short answer as the first gold, so the pass rule (which judges the short answer)
    # passes the same answer again; the whole answer stays a gold for containment
    assert answer.short_answer is not None and up["answers"][:1] == [answer.short_answer.text]
    save_feedback(settings, up, "a3")

    run = evaluate(settings, load_question_set(feedback_path(settings)), out_dir=tmp_path / "run",
                   encoder=kb.encoder())
    data = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    rows = {q["id"]: q for q in data["questions"]}
    # the refusal, rejected and given again: a false refusal, and failed
    assert rows["a1"]["refused"] and rows["a1"]["false_refusal"] and rows["a1"]["failed"]
    # the answer, rejected and given again: failed, though no gold answer is known
    assert rows["a2"]["repeats_rejected"] and rows["a2"]["failed"] and not rows["a2"]["false_refusal"]
    assert not rows["a3"]["failed"] and rows["a3"]["judged_by"] == "short_answer"  # 👍: the same answer is the gold

    summary = data["summary"]
    assert summary["counts"]["false_refusals"] == sum(q["false_refusal"] for q in data["questions"]) == 1
    # the rate is over the questions whose refusal can be judged: the rejected refusal and the 👍 answer
    assert summary["false_refusals"] == 0.5
    table = question_rows(run.report.questions)
    verdicts = {row[1]: row[0] for row in table}
    assert verdicts["a1"].startswith("✗") and verdicts["a2"].startswith("✗") and verdicts["a3"] == "✓"
    assert "失败 2 题" in eval_summary_text(run.report)
    assert sum(r.failed for r in run.report.questions) == 2


def test_a_rejected_answer_that_changed_passes_and_a_refusal_of_it_is_not_a_false_refusal() -> None:
    base = dict(id="q", question="?", gold_answers=(), gold_article=None, unanswerable=False,
                retrieval_graded=False, first_hit_rank=None, retrieved=(), em=None, f1=None, contained=None,
                too_long=False, answer_chars=0, search_ms=1.0, total_ms=1.0, rejected_answer="旧的回答")
    changed = QuestionResult(prediction="新的回答", refused=False, **base)  # type: ignore[arg-type]
    refused = QuestionResult(prediction="", refused=True, **base)  # type: ignore[arg-type]
    same = QuestionResult(prediction="旧的 回答", refused=False, **base)  # type: ignore[arg-type]
    assert not changed.failed and not refused.failed and not refused.false_refusal
    assert same.repeats_rejected and same.failed


def test_a_rejected_short_answer_fails_only_when_that_short_answer_comes_again() -> None:
    """A 👎 on an answer with a short answer rejects the short answer shown (the pass rule judges it):
    the same evidence with another short answer is not the rejected answer again; the same short answer is."""
    from rag.evaluation.datasets import parse_jsonl
    from rag.records import ShortAnswer

    sentence = "数据显示,2025 年深圳人工智能核心产业营收约 2200 亿元,集聚典型企业超 2600 家。"
    citation = Citation(n=1, article="a.txt", title="t", section="", paragraph=1, page=None,
                        paragraph_text=sentence, paragraph_start=0, start=0, end=len(sentence))

    def shown(short: str) -> Answer:
        at = sentence.index(short)
        return Answer(question="营收多少？", query="营收多少？", text=f"{sentence}[1]", refused=False,
                      citations=[citation], short_answer=ShortAnswer(short, 1, at, at + len(short)))

    row = feedback_record("d1", shown("超 2600 家"), "down")
    assert row["rejected_short_answer"] == "超 2600 家"
    question = parse_jsonl(json.dumps(row, ensure_ascii=False), "feedback.jsonl").questions[0]
    again, other = score_question(question, [], shown("超 2600 家")), score_question(question, [], shown("2200 亿元"))
    assert again.repeats_rejected and again.failed
    assert not other.repeats_rejected and not other.failed  # the same evidence, another short answer
