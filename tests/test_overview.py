"""Questions about an article as a whole: its title, sections and cited lead, or the titles to choose from."""

from __future__ import annotations

from rag.answer.overview import is_overview_question, overview_answer
from rag.ingest.articles import parse_article
from rag.ui import render as view

TEXT = "# 测试文章\n\n## 一、规模\n\n第一段讲规模。营收约 2200 亿元。\n\n## 二、人才\n\n人才超 1200 人。\n"


def article(path: str = "t/test.md", text: str = TEXT):  # type: ignore[no-untyped-def]
    return parse_article(text, path, "0" * 64, "utf-8", len(text.encode()), plain_headings=False)


def test_overview_questions_are_recognised_in_both_scripts() -> None:
    for q in ("这篇文章主要讲了什么？", "本文讲了什么", "這篇文章主要講了什麼？", "本文講了什麼？",
              "这篇文章的主要内容"):
        assert is_overview_question(q), q
    for q in ("2025年深圳人工智能核心产业营收约多少？", "你好", "深圳", "它讲了什么技术？"):
        assert not is_overview_question(q), q


def test_one_article_in_scope_gets_title_sections_and_cited_lead() -> None:
    a = article()
    answer = overview_answer("这篇文章主要讲了什么？", [a], [])
    assert not answer.refused and answer.text.startswith("《测试文章》")
    assert "一、规模" in answer.text and "二、人才" in answer.text
    (c,) = answer.citations
    assert a.text[c.start : c.end] == c.sentence_text == "第一段讲规模。营收约 2200 亿元。"  # an exact span
    assert answer.text.endswith(c.sentence_text + "[1]")
    assert "[\\[1\\]](#cite-0-c1)" in view.chat_text(0, answer)


def test_several_articles_in_scope_list_their_titles() -> None:
    other = article("t/other.md", "# 另一篇\n\n别的内容。\n")
    answer = overview_answer("本文讲了什么", [article(), other], [])
    assert not answer.refused and not answer.citations
    assert "《测试文章》" in answer.text and "《另一篇》" in answer.text and "选定一篇" in answer.text
