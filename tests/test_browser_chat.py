"""The chat's second pass (issue 17) in a real headless Chromium against `rag serve`, one server for the module.

Follow-ups only when the question leans on the previous one, the sources tab back on
a new question, [n] previewed in place (a bottom sheet on a phone, whose 查看原文
brings the paragraph into view), one copy control with feedback, and conversations
that survive a reload, kept in the browser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rag.kb.knowledge_base import KnowledgeBase
from rag.serialize import answer_to_json
from tests.browser_support import (
    ANSWER_TIMEOUT,
    BROWSER_MARKS,
    QUESTION,
    ask,
    choose,
    open_chat_page,
    screenshot,
    start_app,
    stored_turns,
)
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS
FOLLOW_UP = "它集聚了多少家典型企业？"
ASKED_AS = "按“2025年深圳人工智能核心产业集聚了多少家典型企业？”回答"  # the follow-up after QUESTION


@dataclass
class Served:
    """The app under test and `rag ask --json QUESTION` for its index."""

    url: str
    cli: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`rag serve` on a free port over a fresh index of the default article (no login)."""
    workdir = tmp_path_factory.mktemp("browser-chat")
    settings = make_settings(workdir / "data")
    kb = KnowledgeBase(settings)
    kb.build()
    cli = json.loads(json.dumps(answer_to_json(kb.ask(QUESTION)), ensure_ascii=False))
    cwd = workdir / "cwd"
    cwd.mkdir()
    app = start_app(workdir, settings, cwd=cwd)
    try:
        yield Served(app.url, cli)
    finally:
        app.stop()



def open_page(browser: Any, served: Served, **options: Any) -> Any:
    """A page on the app in a fresh Chinese browser (its own local storage)."""
    return open_chat_page(browser, served.url, **options)


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A desktop page."""
    page = open_page(browser, served)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url.rstrip("/"))
    yield page
    page.context.close()


def in_viewport(page: Any, locator: Any) -> bool:
    """True when the element's box lies inside the page's viewport."""
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0 \
        and box["x"] + box["width"] <= size["width"]


def test_a_greeting_after_a_question_is_not_rewritten(page: Any) -> None:
    """你好 after a question is searched as asked: not rewritten, no confident answer about the last topic."""
    ask(page, QUESTION)
    hello = ask(page, "你好")
    expect(hello).not_to_contain_text("按“")
    expect(page.locator("#sources .src-asked-as")).to_have_count(0)
    expect(page.locator("#sources")).not_to_contain_text("实际检索")  # not even behind 详情: searched as asked
    # a real follow-up is asked as the question it stands for, and says which in words
    follow = ask(page, FOLLOW_UP)
    expect(follow).to_contain_text(ASKED_AS)
    expect(follow).not_to_contain_text("实际检索")
    expect(page.locator("#sources .src-asked-as")).to_have_text(ASKED_AS)
    expect(page.locator("#sources .src-query")).to_be_hidden()
    page.locator("#sources details.src-details summary").click()
    expect(page.locator("#sources .src-query")).to_be_visible()


def test_a_new_question_brings_back_the_sources_tab(page: Any) -> None:
    ask(page, QUESTION)
    page.locator("#chat [data-testid=bot]").last.locator("a[href$='-c1']").first.click()
    expect(page.locator("#viewer .para.target")).to_be_visible()
    expect(page.locator("#sources")).to_be_hidden()
    ask(page, "到2027年深圳将开放多少个应用场景？")
    expect(page.locator("#sources .rag-sources[data-state=answered]")).to_be_visible()


def test_hovering_n_previews_the_cited_sentence_in_place(page: Any, served: Served) -> None:
    """The preview's highlighted sentence is `rag ask --json`'s citation text; the chat stays where it was."""
    message = ask(page, QUESTION)
    first = served.cli["citations"][0]
    message.locator(f"a[href$='-c{first['n']}']").last.hover()
    preview = page.locator("#rag-preview")
    expect(preview).to_be_visible()
    expect(preview.locator(f"mark[data-n='{first['n']}']")).to_have_text(first["text"])
    expect(preview).to_contain_text(first["title"])
    assert preview.locator("script, img").count() == 0
    screenshot(page, "chat-preview.png")


def test_on_a_phone_tapping_1_brings_the_paragraph_into_view(browser: Any, served: Served) -> None:
    """At 390x844 a tap on [1] shows its paragraph in a bottom sheet; 查看原文 scrolls the article to it."""
    page = open_page(browser, served, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        message = ask(page, QUESTION)
        first = served.cli["citations"][0]
        message.locator(f"a[href$='-c{first['n']}']").last.tap()
        sheet = page.locator("#rag-preview.sheet")
        expect(sheet).to_be_visible()
        mark = sheet.locator(f"mark[data-n='{first['n']}']")
        expect(mark).to_have_text(first["text"])
        assert in_viewport(page, mark), mark.bounding_box()
        screenshot(page, "phone-preview.png")
        sheet.locator(".pv-open").tap()
        target = page.locator(f"#viewer #para-{first['paragraph']}.target")
        expect(target).to_be_visible()
        page.wait_for_function("(el) => { const r = el.getBoundingClientRect();"
                               " return r.top >= 0 && r.bottom <= window.innerHeight; }",
                               arg=target.element_handle(), timeout=10_000)
        assert in_viewport(page, target.locator("mark")), target.bounding_box()
        screenshot(page, "phone-article.png")
    finally:
        page.context.close()


def test_the_conversation_survives_a_reload_and_a_new_one_starts_empty(page: Any) -> None:
    """Kept in the browser: a reload shows it again with its follow-up memory; 新对话 starts afresh."""
    first = ask(page, QUESTION)
    answer_text = first.inner_text()
    stored_turns(page, 1)  # the page stores the conversation just after the answer shows: reload after that
    page.reload()
    page.wait_for_selector("#question textarea")
    bots = page.locator("#chat [data-testid=bot]")
    expect(bots).to_have_count(1, timeout=ANSWER_TIMEOUT)
    expect(bots.first).to_have_text(answer_text)
    expect(page.locator("#sources .rag-sources[data-state=answered]")).to_be_visible()
    follow = ask(page, FOLLOW_UP)  # the restored conversation remembers its question
    expect(follow).to_contain_text(ASKED_AS)
    page.click("#clear")
    expect(bots).to_have_count(0)
    hello = ask(page, "深圳")  # a new conversation: nothing to lean on
    expect(hello).not_to_contain_text("按“")
    stored_turns(page, 1)
    page.reload()
    page.wait_for_selector("#question textarea")
    expect(bots).to_have_count(1, timeout=ANSWER_TIMEOUT)
    choose(page, "#history", QUESTION)
    expect(bots).to_have_count(2)
    expect(bots.first).to_have_text(answer_text)


def test_one_copy_control_that_says_it_copied(page: Any) -> None:
    ask(page, QUESTION)
    expect(page.get_by_text("复制为 Markdown")).to_have_count(1)
    page.locator("#chat button", has_text="复制为 Markdown").click()
    expect(page.locator("#chat button", has_text="已复制")).to_have_count(1)
    copied = page.wait_for_function("navigator.clipboard.readText().then(t => t || null)").json_value()
    assert copied.startswith("**问：** ") and "实际检索" not in copied


def test_the_chat_follows_a_new_answer_after_scrolling_up(page: Any) -> None:
    for question in (QUESTION, "到2027年深圳将开放多少个应用场景？", "荣耀累计投入了多少资金用于AI研发？"):
        ask(page, question)
    page.evaluate("document.querySelectorAll('#chat *').forEach(el => { if (el.scrollHeight > el.clientHeight + 4)"
                  " el.scrollTop = 0; })")
    last = ask(page, "比亚迪的AI视觉检测系统电池缺陷识别准确率是多少？")
    page.wait_for_timeout(500)
    chat = page.locator("#chat").bounding_box()
    box = last.bounding_box()
    assert box is not None and chat is not None
    assert box["y"] + box["height"] <= chat["y"] + chat["height"] + 2 and box["y"] >= chat["y"], (box, chat)
