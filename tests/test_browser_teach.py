"""The chat's 👎 that teaches, in a real headless Chromium: 👎 opens the box, a chosen sentence links the question
to its chunk and the next answer is right; 👎 again and a typed answer becomes an FAQ entry the next answer cites.

One app over a fresh index of the default article. The question is answered 「百亿级」 (the AI fund) today while
the chunk of paragraphs 1-2 holds 2200 亿元 (tests/test_teach.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.kb.feedback import feedback_path, read_feedback
from rag.kb.knowledge_base import KnowledgeBase
from rag.kb.teach import retrieved_sentences, shown_sentence
from rag.settings import Settings
from tests.browser_support import ANSWER_TIMEOUT, BROWSER_MARKS, ask, choose, open_chat_page, screenshot, start_app
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS

QUESTION = "深圳AI一年能赚多少钱"
TYPED = "约 2200 亿元"
BUILD_TIMEOUT = ANSWER_TIMEOUT * 3  # a link builds the index


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings, str]]:
    workdir = tmp_path_factory.mktemp("browser-teach")
    settings = make_settings(workdir / "data")
    kb = KnowledgeBase(settings)
    kb.build()
    # the sentence to choose, as the page's list shows it (the same answer, from the same index)
    right = next(s for s in retrieved_sentences(kb.ask(QUESTION)) if "2200" in s.text)
    app = start_app(workdir, settings)
    try:
        yield app.url, settings, shown_sentence(right.text)
    finally:
        app.stop()


def test_a_thumbs_down_teaches_by_a_chosen_sentence_then_by_a_typed_answer(
        browser: Any, served: tuple[str, Settings, str]) -> None:
    url, settings, sentence = served
    page = open_chat_page(browser, url)
    try:
        box = page.locator("#teach-box")
        expect(box).to_be_hidden()
        message = ask(page, QUESTION)
        expect(message).not_to_contain_text("2200")
        page.locator("#chat button[aria-label='踩']").last.click()
        expect(box).to_be_visible()
        expect(box).to_contain_text("记住这个答案")
        choose(page, "#teach-sentence", sentence)
        page.click("#teach-save")
        status = page.locator("#teach-status")
        expect(status).to_contain_text("已关联到", timeout=BUILD_TIMEOUT)
        expect(status).to_contain_text("已记在这条评价上")
        screenshot(page, "teach-box.png")
        row = read_feedback(feedback_path(settings))[-1]
        assert row["rating"] == "down" and row["taught"]["kind"] == "link", json.dumps(row, ensure_ascii=False)

        message = ask(page, QUESTION)
        expect(box).to_be_hidden()  # a new question closes it
        expect(message).to_contain_text("2200")
        page.locator("#chat button[aria-label='踩']").last.click()
        expect(status).to_have_text("")
        page.fill("#teach-typed textarea", TYPED)
        page.click("#teach-save")
        expect(status).to_contain_text("今后按常见问题第 1 条回答")
        message = ask(page, QUESTION)
        expect(message).to_contain_text(TYPED)
        expect(page.locator("#sources")).to_contain_text("常见问题")
        rows = read_feedback(feedback_path(settings))
        assert [r["taught"]["kind"] for r in rows] == ["link", "faq"] and rows[-1]["answers"] == [TYPED]
    finally:
        page.context.close()


def test_nothing_to_teach_is_said_and_nothing_is_kept(browser: Any, served: tuple[str, Settings, str]) -> None:
    url, settings, _ = served
    page = open_chat_page(browser, url)
    try:
        ask(page, "深圳有多少家人工智能企业？")
        page.locator("#chat button[aria-label='踩']").last.click()
        expect(page.locator("#teach-box")).to_be_visible()  # the rating is kept by then
        before = Path(feedback_path(settings)).read_text(encoding="utf-8")
        page.click("#teach-save")
        expect(page.locator(".toast-body, [data-testid=toast-body]").last).to_contain_text("请先输入正确答案")
        assert Path(feedback_path(settings)).read_text(encoding="utf-8") == before
    finally:
        page.context.close()
