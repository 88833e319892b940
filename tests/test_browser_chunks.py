"""The 文章 tab's chunk view and words editor in a real headless Chromium against `rag serve`.

One server over a fresh index of the default article. A user picks the article,
sees its chunks, filters them, links a question to one (the same question then
finds that chunk first, as the library searches it), turns it off and on, and
unlinks; a question that looks like markup is shown as text. The same user edits
the synonyms; a bad line is one message and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import Settings
from tests.browser_support import BROWSER_MARKS, build_and_find_chunk, choose, open_chat_page, screenshot, start_app
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS
ARTICLE = "shenzhen-ai-industry.txt"
QUESTION = "深圳AI一年能赚多少钱"  # today the chunk of paragraphs 1-2 is 5th for it (tests/test_linked_questions.py)
LINKED = "深圳的AI一年赚多少钱"
PARAGRAPHS = (1, 2)
MARKUP = "<img src=x onerror=alert(1)>是什么"
ACTION_TIMEOUT = 60_000  # ms: each action builds the index (no chunk embedded)


@dataclass
class Served:
    url: str
    settings: Settings
    label: str  # the article's choice in the chooser
    total: int  # its chunks
    n: int  # the number of its chunk of paragraphs 1-2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("browser-chunks")
    settings = make_settings(workdir / "data")
    chunk = build_and_find_chunk(settings, ARTICLE, PARAGRAPHS)
    app = start_app(workdir, settings)
    try:
        yield Served(app.url, settings, chunk.label, chunk.total, chunk.n)
    finally:
        app.stop()


def first_paragraphs(settings: Settings) -> tuple[int, ...]:
    """What the library, reading the index the server wrote, finds first for QUESTION."""
    return KnowledgeBase(settings).search(QUESTION, k=3).hits[0].chunk.paragraphs


def act(page: Any, action: str, n: int, question: str = "") -> None:
    page.fill("#chunks-number input", str(n))
    page.fill("#chunks-question textarea", question)
    page.click(f"#chunks-{action}")


def test_a_user_links_a_question_turns_a_chunk_off_and_back(browser: Any, served: Served) -> None:
    assert first_paragraphs(served.settings) != PARAGRAPHS
    page = open_chat_page(browser, served.url)
    page.click("#tab-articles-button")
    page.click("#chunks-box > button")
    choose(page, "#chunks-article", served.label)
    rows = page.locator("#chunks-table tr[data-n]")
    expect(rows).to_have_count(served.total)
    page.fill("#chunks-filter textarea", "2200 亿元")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-n", str(served.n))

    act(page, "link", served.n, LINKED)
    status = page.locator("#chunks-status")
    expect(status).to_contain_text(f"已为第 {served.n} 个分段添加关联问题", timeout=ACTION_TIMEOUT)
    expect(rows.first.locator(".chunk-questions li")).to_have_text([LINKED])
    assert first_paragraphs(served.settings) == PARAGRAPHS
    # the 检索测试 tab says the chunk was found through the linked question
    page.click("#tab-explain-button")
    page.fill("#explain-question textarea", QUESTION)
    page.click("#explain-run")
    first = page.locator("#explain-output tr.kept").first
    expect(first).to_contain_text(f"⇐ 「{LINKED}」", timeout=ACTION_TIMEOUT)
    expect(page.locator("#explain-output .explain-answer")).to_contain_text("2200 亿元")
    page.click("#tab-articles-button")
    page.fill("#chunks-filter textarea", "一年赚多少")  # the filter finds linked questions too
    expect(rows).to_have_count(1)
    page.fill("#chunks-filter textarea", "2200 亿元")
    expect(rows).to_have_count(1)

    act(page, "off", served.n)
    expect(status).to_contain_text(f"第 {served.n} 个分段已关闭", timeout=ACTION_TIMEOUT)
    expect(rows.first.locator(".chunk-state")).to_contain_text("已关闭")
    expect(rows.first.locator(".chunk-questions li")).to_have_count(0)  # a chunk off carries no link
    act(page, "on", served.n)
    expect(status).to_contain_text("已重新开启", timeout=ACTION_TIMEOUT)
    expect(rows.first.locator(".chunk-questions li")).to_have_text([LINKED])
    screenshot(page, "chunks-view.png")

    act(page, "link", served.n, MARKUP)  # data, never markup
    expect(rows.first.locator(".chunk-questions li")).to_have_text([LINKED, MARKUP], timeout=ACTION_TIMEOUT)
    assert page.locator("#chunks-table img").count() == 0
    act(page, "unlink", served.n, MARKUP)
    expect(rows.first.locator(".chunk-questions li")).to_have_count(1, timeout=ACTION_TIMEOUT)
    act(page, "unlink", served.n, LINKED)
    expect(status).to_contain_text(f"已删除第 {served.n} 个分段的关联问题「{LINKED}」", timeout=ACTION_TIMEOUT)
    expect(rows.first.locator(".chunk-questions li")).to_have_count(0)
    page.fill("#chunks-filter textarea", "")
    expect(rows).to_have_count(served.total)
    assert first_paragraphs(served.settings) != PARAGRAPHS
    page.context.close()


def test_an_action_without_a_number_says_so_in_english(browser: Any, served: Served) -> None:
    page = open_chat_page(browser, served.url, "en-US")
    page.click("#tab-articles-button")
    page.click("#chunks-box > button")
    expect(page.locator("#chunks-off")).to_have_text("Turn it off")
    choose(page, "#chunks-article", served.label)
    expect(page.locator("#chunks-table th").first).to_have_text("n")
    page.click("#chunks-link")
    expect(page.locator("#chunks-status")).to_have_text("Give the chunk's number first.")
    page.context.close()


def test_a_user_edits_the_synonyms_and_a_bad_line_changes_nothing(browser: Any, served: Served) -> None:
    question = "Pangu是什么"  # 「pangu」 is in no chunk: the lexical leg finds nothing until 盘古 has it as a synonym
    bases = KnowledgeBase(served.settings)
    assert bases.search(question, k=3, mode="lexical").hits == []
    page = open_chat_page(browser, served.url)
    page.click("#tab-articles-button")
    page.click("#words-box > button")
    expect(page.locator("#words-synonyms textarea")).to_have_value("")
    page.fill("#words-synonyms textarea", "盘古 Pangu\n")
    page.click("#words-save")
    status = page.locator("#words-status")
    expect(status).to_contain_text("同义词 1 组", timeout=ACTION_TIMEOUT)
    expect(status).to_contain_text("新计算向量 0 个")
    assert 5 in KnowledgeBase(served.settings).search(question, k=3, mode="lexical").hits[0].chunk.paragraphs
    page.fill("#words-synonyms textarea", "交大\n")
    page.click("#words-save")
    expect(status).to_contain_text("未保存，索引不变：", timeout=ACTION_TIMEOUT)
    expect(status).to_contain_text("a group of synonyms needs two words or more")
    assert (served.settings.curation_root / "synonyms.txt").read_text(encoding="utf-8") == "盘古 Pangu\n"
    page.reload()  # what the page shows is the file
    page.click("#tab-articles-button")
    page.click("#words-box > button")
    expect(page.locator("#words-synonyms textarea")).to_have_value("盘古 Pangu\n")
    page.fill("#words-synonyms textarea", "")
    page.click("#words-save")
    expect(status).to_contain_text("同义词 0 组", timeout=ACTION_TIMEOUT)
    page.context.close()
