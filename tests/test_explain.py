"""Why this answer (issue 25, item 1): the explanation is of the answer actually given.

``rag ask --explain``, ``POST /api/explain`` and the MCP tool ``explain`` run the
question through the same code as ``ask``, with a trace the stages fill
(``rag.trace``). On the real default article with the real encoder and reader:
the trace's final ranks are the answer's hits, its kept chunks hold the
citations, its chosen span is the short answer and its decision is the
refusal given; settings tried for one question change that question alone.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.errors import SettingsError
from rag.kb.bases import KnowledgeBases
from rag.kb.explain import Explained, explanation_text
from rag.records import Answer
from rag.serialize import answer_to_json, json_text, trace_to_json
from tests.helpers import make_settings

ANSWERABLE = "2025年深圳人工智能核心产业营收约多少？"
UNANSWERABLE = "深圳市的人口总数是多少？"
BY_READER = "深圳的气候怎么样？"  # no term unsupported: the reader's support score refuses it
MISSING = "上海有多少家AI眼镜企业？"  # 上海 is in no chunk
FOLLOWUP = ("它的营收是多少？", ["深圳人工智能产业的规模"])


@dataclass
class Built:
    bases: KnowledgeBases
    workdir: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    workdir = tmp_path_factory.mktemp("explain")
    bases = KnowledgeBases(make_settings(workdir))
    bases.build("default")
    return Built(bases, workdir)


def _without_timings(answer: Answer) -> dict[str, Any]:
    return {k: v for k, v in json.loads(json_text(answer_to_json(answer))).items() if k != "timings_ms"}


def _agrees(explained: Explained, answer: Answer) -> None:
    """The explanation agrees with the answer given: hits, citations, short answer, refusal."""
    trace = explained.trace
    assert _without_timings(explained.answer) == _without_timings(answer)  # the trace changed nothing
    kept = trace.final_candidates()
    assert [(c.chunk.id, c.final_rank) for c in kept] == [(h.chunk.id, h.rank) for h in answer.hits]
    for c, hit in zip(kept, answer.hits, strict=True):
        assert (c.dense_rank, c.dense_score, c.lexical_rank, c.lexical_score) == \
            (hit.dense_rank, hit.dense_score, hit.lexical_rank, hit.lexical_score)
        assert hit.score == (c.rerank_score if trace.reranked else c.fused_score)
    for citation in answer.citations:  # every cited sentence lies in a kept chunk
        assert any(c.chunk.article == citation.article and c.chunk.start <= citation.start < citation.end
                   <= c.chunk.end for c in kept)
    assert trace.query == answer.query
    assert trace.decision is not None and trace.decision.refused == answer.refused
    assert (trace.decision.rule == "answered") == (not answer.refused)
    chosen = [s for s in trace.spans if s.chosen]
    if answer.short_answer is not None:
        assert [(s.text, s.start, s.end) for s in chosen] == \
            [(answer.short_answer.text, answer.short_answer.start, answer.short_answer.end)]
        assert kept[0].chunk.id in chosen[0].chunk_ids  # the reader reads the top chunk
    else:  # refused, or nothing the reader found in its sentence: its best span (if any) answered nothing
        assert answer.refused or chosen == []


@pytest.mark.parametrize(("question", "history"), [(ANSWERABLE, []), (UNANSWERABLE, []), (MISSING, []), FOLLOWUP],
                         ids=["answered", "refused", "missing", "followup"])
def test_the_explanation_is_of_the_answer_given(built: Built, question: str, history: list[str]) -> None:
    explained = built.bases.explain(question, history=history)
    _agrees(explained, built.bases.ask(question, history=history))
    trace = explained.trace
    assert trace.mode == "hybrid" and trace.reranked and len(trace.candidates) > trace.top_k == 5
    assert trace.followup == bool(history) and (trace.query != question) == bool(history)
    assert [c.fused_rank for c in trace.candidates] == list(range(1, len(trace.candidates) + 1))


def test_each_refusal_rule_names_its_signals(built: Built) -> None:
    answered = built.bases.explain(ANSWERABLE).trace.decision
    assert answered is not None and answered.rule == "answered" and answered.reader
    assert answered.support is not None and answered.threshold is not None and answered.support >= answered.threshold
    assert answered.null_score is not None and answered.evidence is not None
    unsupported = built.bases.explain(UNANSWERABLE).trace.decision  # 人口总数: no paragraph says it
    assert unsupported is not None and unsupported.rule == "unsupported_terms" and unsupported.refused
    assert unsupported.unsupported == ("人口总数",) and not unsupported.missing
    by_reader = built.bases.explain(UNANSWERABLE, changes={"refuse_unsupported_terms": False}).trace.decision
    assert by_reader is not None and by_reader.rule == "reader_support" and by_reader.refused
    assert by_reader.support is not None and by_reader.threshold is not None and by_reader.support < by_reader.threshold
    missing = built.bases.explain(MISSING)
    decision = missing.trace.decision
    assert decision is not None and decision.rule == "missing_terms" and "上海" in decision.missing
    assert missing.trace.spans == []  # a missing term refuses before the reader reads
    overview = built.bases.explain("这篇文章主要讲了什么？")
    assert overview.trace.decision is not None and overview.trace.decision.rule == "overview"
    assert not overview.answer.refused and overview.trace.spans == [] and overview.trace.final_candidates()
    without_reader = built.bases.explain(
        UNANSWERABLE, changes={"short_answers": False, "refuse_unsupported_terms": False}).trace.decision
    assert without_reader is not None and without_reader.rule == "evidence" and not without_reader.reader
    assert without_reader.threshold == built.bases.settings.refusal_threshold and without_reader.support is None


def test_settings_tried_change_that_question_alone(built: Built) -> None:
    tried = built.bases.explain(UNANSWERABLE, changes={"reader_refusal_threshold": -2,
                                                       "refuse_unsupported_terms": "false"})
    assert not tried.answer.refused and tried.trace.decision is not None
    assert tried.trace.decision.rule == "answered" and tried.trace.decision.threshold == -2
    assert tried.trace.settings["reader_refusal_threshold"] == -2
    assert tried.trace.settings["refuse_unsupported_terms"] is False
    dense = built.bases.explain(ANSWERABLE, changes={"retrieval_mode": "dense", "top_k": "3"})
    assert dense.trace.mode == "dense" and not dense.trace.reranked and len(dense.answer.hits) == 3
    assert all(c.lexical_rank is None and c.sentence_score is None for c in dense.trace.candidates)
    _agrees(dense, built.bases.get("default").with_settings(
        built.bases.settings.replace(retrieval_mode="dense", top_k=3)).ask(ANSWERABLE))
    # nothing was saved: the door and its knowledge base answer as before
    assert built.bases.ask(UNANSWERABLE).refused and built.bases.settings.top_k == 5
    assert built.bases.get("default").settings.retrieval_mode == "hybrid"


@pytest.mark.parametrize(("changes", "error"), [
    ({"top_k": 0}, "top_k must be a number of at least 1 and at most 10000; got 0"),
    ({"retrieval_mode": "fuzzy"}, "retrieval_mode must be one of hybrid, dense, lexical; got 'fuzzy'"),
    ({"rerank_weight": "heavy"}, "setting rerank_weight: cannot read 'heavy' as a number"),
    ({"model": "BAAI/bge-small-zh-v1.5"}, "setting 'model' cannot be tried for one question"),
])
def test_a_bad_setting_is_one_clear_line(built: Built, changes: dict[str, Any], error: str) -> None:
    with pytest.raises(SettingsError) as exc:
        built.bases.explain(ANSWERABLE, changes=changes)
    assert str(exc.value).startswith(error) and "\n" not in str(exc.value)


def test_the_text_tells_each_step_in_chinese_and_english(built: Built) -> None:
    trace = built.bases.explain(FOLLOWUP[0], history=FOLLOWUP[1]).trace
    zh, en = explanation_text(trace, "zh"), explanation_text(trace, "en")
    assert "为什么是这个回答" in zh and trace.query in zh and "追问" in zh and "← 最佳片段" in zh and "结论：回答" in zh
    assert "Why this answer" in en and "follow-up" in en and "Decision: answered" in en
    refused = explanation_text(built.bases.explain(UNANSWERABLE).trace, "en")
    assert "Decision: refused because the answer's paragraph lacks" in refused and "threshold 0.9090" in refused
    assert "Question terms the answer's paragraph lacks: 人口总数" in refused
    assert "答案所在段落里没有的问题词：人口总数" in explanation_text(built.bases.explain(UNANSWERABLE).trace, "zh")
    by_reader = built.bases.explain(UNANSWERABLE, changes={"refuse_unsupported_terms": False}).trace
    assert "Decision: refused by reader support" in explanation_text(by_reader, "en")


def _cli(built: Built, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["ask", *args, "--index-dir", str(built.bases.settings.index_dir)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rag_ask_explain_json_adds_the_key_explain(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(built, capsys, ANSWERABLE, "--json")
    plain = json.loads(out)
    code, out, _ = _cli(built, capsys, ANSWERABLE, "--json", "--explain", "--set", "rerank_weight=1.5")
    explained = json.loads(out)
    assert code == 0 and set(explained) == set(plain) | {"explain"}
    assert {k: v for k, v in explained.items() if k not in ("timings_ms", "explain")} == \
        {k: v for k, v in plain.items() if k != "timings_ms"}
    data = explained["explain"]
    assert set(data) == {"question", "history", "query", "followup", "mode", "top_k", "reranked", "settings",
                         "candidates", "reader_spans", "refusal", "faq"}
    assert data["faq"] is None  # no FAQ: no FAQ step (tests/test_faq.py has one)
    final = sorted((c for c in data["candidates"] if c["final_rank"] is not None), key=lambda c: c["final_rank"])
    assert [c["chunk_id"] for c in final] == [h["chunk_id"] for h in plain["hits"]]
    assert {"dense_rank", "dense_score", "lexical_rank", "lexical_score", "fused_rank", "fused_score",
            "sentence_score", "rerank_score", "final_rank"} <= set(final[0])
    chosen = [s for s in data["reader_spans"] if s["chosen"]]
    assert [s["text"] for s in chosen] == [plain["short_answer"]["text"]]
    assert data["refusal"]["rule"] == "answered" and data["refusal"]["refused"] is False
    assert json.loads(json_text(trace_to_json(built.bases.explain(ANSWERABLE).trace)))["refusal"] == data["refusal"]


def test_rag_ask_explain_prints_the_steps(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(built, capsys, UNANSWERABLE, "--explain")
    assert code == 0 and out.startswith("文章中没有找到相关信息") and "为什么是这个回答" in out
    assert "结论：拒答（答案所在段落没有问题中的专名、数字或所问的量）" in out
    code, _, err = _cli(built, capsys, ANSWERABLE, "--explain", "--set", "top_k=0")
    assert code == 2 and err.strip() == "error: top_k must be a number of at least 1 and at most 10000; got 0"
    code, _, err = _cli(built, capsys, ANSWERABLE, "--set", "top_k=3")
    assert code == 2 and "add --explain" in err
    code, _, err = _cli(built, capsys, ANSWERABLE, "--explain", "--set", "top_k")
    assert code == 2 and "NAME=VALUE" in err


def test_api_explain_route(built: Built) -> None:
    from fastapi.testclient import TestClient

    from rag.api.app import create_api

    keyed = built.bases.settings.replace(api_keys=("key-1a2b",), api_max_concurrent=1)
    with TestClient(create_api(built.bases, keyed)) as http:
        headers = {"Authorization": "Bearer key-1a2b"}
        assert http.post("/api/explain", json={"question": ANSWERABLE}).status_code == 401
        reply = http.post("/api/explain", headers=headers, json={"question": UNANSWERABLE,
                                                                  "settings": {"top_k": 3}})
        bad = http.post("/api/explain", headers=headers, json={"question": ANSWERABLE,
                                                                "settings": {"rerank_weight": -1}})
        unknown = http.post("/api/explain", headers=headers, json={"question": ANSWERABLE, "kb": "default"})
        other = http.post("/api/explain", headers=headers, json={"question": ANSWERABLE, "knowledge_base": "none"})
    assert reply.status_code == 200
    data = reply.json()
    expected = built.bases.explain(UNANSWERABLE, changes={"top_k": 3})
    assert data["refused"] is True and data["explain"]["refusal"]["rule"] == "unsupported_terms"
    assert data["explain"]["refusal"]["unsupported_terms"] == ["人口总数"]
    assert [h["chunk_id"] for h in data["hits"]] == [h.chunk.id for h in expected.answer.hits]
    assert data["explain"]["top_k"] == 3 and data["explain"]["settings"]["top_k"] == 3
    assert bad.status_code == 400 and bad.json() == {"error": "rerank_weight must be a number of at least 0 and at "
                                                              "most 1e+06; got -1.0"}
    assert unknown.status_code == 400 and "kb" in unknown.json()["error"]
    assert other.status_code == 404


def test_mcp_explain_tool(built: Built) -> None:
    mcp_client = pytest.importorskip("mcp.client.client")
    from rag.api.mcp_tools import build_mcp

    async def call() -> tuple[Any, Any]:
        async with mcp_client.Client(build_mcp(built.bases)) as client:
            good = await client.call_tool("explain", {"question": FOLLOWUP[0], "history": FOLLOWUP[1]})
            bad = await client.call_tool("explain", {"question": ANSWERABLE, "settings": {"top_k": 0}})
            return good, bad

    good, bad = asyncio.run(call())
    data = good.structured_content
    answer = built.bases.ask(FOLLOWUP[0], history=FOLLOWUP[1])
    assert data["short_answer"] == answer_to_json(answer)["short_answer"] and data["citations"] == \
        json.loads(json_text(answer_to_json(answer)))["citations"]
    assert data["explain"]["followup"] is True and data["explain"]["query"] == answer.query
    text = good.content[0].text
    assert "为什么是这个回答" in text and answer.query in text
    assert bad.is_error and "top_k must be a number" in bad.content[0].text


def test_the_page_lays_out_the_same_explanation(built: Built) -> None:
    from rag.ui.explain_tab import explanation_html, run_explain

    explained = built.bases.explain(BY_READER)
    html = explanation_html(explained, "zh")
    kept = explained.trace.final_candidates()
    assert html.count('<tr class="kept">') == len(kept) == 5 and "拒答（阅读模型参与的支持分低于阈值）" in html
    assert 'class="explain-decision refused"' in html
    tried = run_explain(built.bases, "default", BY_READER, "hybrid", 5, 1.1, 1.5, 0.5)  # the threshold alone
    assert 'class="explain-decision">结论：回答' in tried
    assert built.bases.ask(BY_READER).refused  # nothing saved
    unsupported = explanation_html(built.bases.explain(UNANSWERABLE), "zh")
    assert "答案所在段落没有问题中的专名、数字或所问的量" in unsupported
    assert "答案所在段落里没有的问题词：人口总数" in unsupported
    bad = run_explain(built.bases, "default", ANSWERABLE, "hybrid", 5, -1, 1.5, 0.9)
    assert "explain-note error" in bad and "rrf_lexical_weight must be a number" in bad
    assert "请先输入一个问题" in run_explain(built.bases, "default", " ", "hybrid", 5, 1.1, 1.5, 0.9)
    hostile = run_explain(built.bases, "default", "<img src=x onerror=alert(1)>的营收？", "hybrid", 5, 1.1, 1.5, 0.9)
    assert "<img" not in hostile
