"""Extractive answers on the real default article: cited, exact, short, or refused.

Every check runs on both stores (``STORES``): FAISS, and Milvus Lite filled from
the same embedding cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from rag.answer.extractive import REFUSAL
from rag.answer.followup import followup_query
from rag.answer.question_terms import missing_terms, specific_terms
from rag.cli import main
from rag.embed.encoder import Encoder
from rag.evaluation.metrics import contains_answer
from rag.kb.knowledge_base import KnowledgeBase
from tests.helpers import STORES, load_questions, make_settings, on_store

QUESTIONS = load_questions()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    base = KnowledgeBase(make_settings(tmp_path_factory.mktemp("answers")), encoder)
    base.build()
    return base


@pytest.fixture(scope="module", params=STORES)
def kb(request: pytest.FixtureRequest, built: KnowledgeBase) -> Iterator[KnowledgeBase]:
    """The default article's knowledge base on one store."""
    with on_store(built, request.param) as on:
        yield on


def test_answers_contain_gold_and_cite_exact_spans(kb: KnowledgeBase) -> None:
    answerable = [q for q in QUESTIONS if not q.get("unanswerable")]
    contained = 0
    for q in answerable:
        answer = kb.ask(q["question"])
        if answer.refused:
            continue
        plain = re.sub(r"\[\d+\]", "", answer.text)
        contained += contains_answer(plain, q["answers"])
        assert len(plain) <= 200
        assert 1 <= len(answer.citations) <= 2
        article = kb.version().articles[answer.citations[0].article]
        for c in answer.citations:
            assert f"[{c.n}]" in answer.text
            # The citation's span is exact: in the article and inside its paragraph.
            paragraph = article.paragraph(c.paragraph)
            assert paragraph.start <= c.start < c.end <= paragraph.end
            assert c.paragraph_text == article.text[paragraph.start:paragraph.end]
            assert c.sentence_text == article.text[c.start:c.end]
            assert c.sentence_text in plain
    # 32 answerable questions (direct, paraphrased, traditional script).
    assert contained >= 26, contained


def test_unanswerable_questions_are_refused_with_related_passages(kb: KnowledgeBase) -> None:
    unanswerable = [q for q in QUESTIONS if q.get("unanswerable")]
    refused = 0
    for q in unanswerable:
        answer = kb.ask(q["question"])
        if answer.refused:
            refused += 1
            assert answer.text == REFUSAL and not answer.citations
            assert answer.hits  # the nearest passages, shown as possibly related
    assert refused >= 12, refused


def test_question_about_another_city_names_the_missing_term(kb: KnowledgeBase) -> None:
    hits = kb.search("2025年北京人工智能核心产业营收是多少？").hits
    assert missing_terms("2025年北京人工智能核心产业营收是多少？", hits) == ["北京"]
    assert specific_terms("騰訊混元T1模型") == ["腾讯", "混元", "t1"] or "t1" in specific_terms("騰訊混元T1模型")


def test_followup_question_is_asked_as_the_question_it_stands_for(kb: KnowledgeBase) -> None:
    first = "华为盘古大模型已服务多少个国民经济重点行业？"
    follow = "它是哪家公司的？"
    query = followup_query(follow, [first])
    assert query == "华为盘古大模型是哪家公司的？"
    answer = kb.ask(follow, history=[first])
    assert answer.query == query and answer.question == follow
    assert 5 in answer.hits[0].chunk.paragraphs
    # A question that names its subject is searched as it is.
    assert followup_query("比亚迪工厂引入了什么系统？", [first]) == "比亚迪工厂引入了什么系统？"


def test_article_filter_limits_the_search(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = kb.settings
    extra = settings.corpus_dir / "dongguan.txt"
    extra.write_text("东莞松山湖的机器人企业在2025年突破了三百家。\n", encoding="utf-8")
    try:
        kb.build()
        hits = kb.search("机器人企业有多少家", articles=["dongguan.txt"]).hits
        assert hits and all(h.chunk.article == "dongguan.txt" for h in hits)
        hits = kb.search("机器人企业有多少家", articles=["shenzhen-ai-industry.txt"], mode="dense").hits
        assert hits and all(h.chunk.article == "shenzhen-ai-industry.txt" for h in hits)
    finally:
        extra.unlink()
        kb.build()


def test_cli_ask_json_has_stable_keys(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ask", "荣耀已累计投入多少资金用于AI研发？", "--json", "--index-dir", str(kb.settings.index_dir),
                 "--store", kb.settings.store])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {"answer", "refused", "citations", "hits", "timings_ms"} <= set(data)
    assert "100 亿元" in data["answer"] and data["refused"] is False
    citation = data["citations"][0]
    keys = {"n", "article", "title", "section", "paragraph", "page", "paragraph_text", "paragraph_start", "start",
            "end"}
    assert keys <= set(citation)
    a = citation["start"] - citation["paragraph_start"]
    assert citation["paragraph_text"][a:a + citation["end"] - citation["start"]] in data["answer"]
    assert citation["paragraph"] == 4


def test_cli_ask_prints_refusal_and_related(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "上海有多少家AI眼镜企业？", "--index-dir", str(kb.settings.index_dir),
                 "--store", kb.settings.store]) == 0
    out = capsys.readouterr().out
    assert out.startswith(REFUSAL) and "可能相关" in out
