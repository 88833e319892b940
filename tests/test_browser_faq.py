"""The 文章 tab's FAQ panel in a real headless Chromium: import a CSV, the chat answers from it, delete it.

One app over a fresh index of the default article; the file is chosen in the
panel's upload (choosing is importing), as a user does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.kb.knowledge_base import KnowledgeBase
from tests.browser_support import BROWSER_MARKS, ask, open_chat_page, screenshot, start_app
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS

FAQ_CSV = ("问题,答案,来源\n深圳的人工智能企业有多少家？,深圳有人工智能企业2600多家，居全国前列。,深圳市工信局\n"
           ",没有问题,\n")
PARAPHRASE = "请问深圳人工智能企业有多少家"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("browser-faq")
    settings = make_settings(workdir / "data")
    KnowledgeBase(settings).build()
    app = start_app(workdir, settings)
    try:
        yield app.url, workdir
    finally:
        app.stop()


def test_faq_panel_imports_answers_and_deletes(browser: Any, served: tuple[str, Path]) -> None:
    url, workdir = served
    csv = workdir / "faq.csv"
    csv.write_text(FAQ_CSV, encoding="utf-8")
    page = open_chat_page(browser, url)
    try:
        page.click("#tab-articles-button")
        page.locator("#faq-box").get_by_text("常见问题").first.click()
        expect(page.locator("#faq-status")).to_contain_text("共 0 条常见问题")
        page.set_input_files("#faq-upload input[type=file]", [str(csv)])
        status = page.locator("#faq-status")
        expect(status).to_contain_text("新增 1 条，更新答案 0 条，跳过 1 行")
        expect(status).to_contain_text("line 3: the question is empty")
        expect(page.locator("#faq-table")).to_contain_text("深圳的人工智能企业有多少家？")
        screenshot(page, "faq-panel.png")

        page.click("#tab-chat-button")
        message = ask(page, PARAPHRASE)
        expect(message).to_contain_text("深圳有人工智能企业2600多家")
        expect(page.locator("#sources")).to_contain_text("常见问题")

        page.click("#tab-articles-button")
        page.fill("#faq-delete-id textarea, #faq-delete-id input", "1")
        page.click("#faq-delete")
        expect(status).to_contain_text("已删除第 1 条")
        expect(status).to_contain_text("共 0 条常见问题")
    finally:
        page.context.close()
