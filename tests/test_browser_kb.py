"""Several knowledge bases in the browser (issue 19) in a real headless Chromium.

One app for the module (no login), over a fresh index of the default article; its
``kbs/`` is the test's temporary folder (``RAG_KBS_DIR``). The test makes a knowledge
base in the 文章 tab, uploads an article into it (into its corpus only), asks it
alone and together with ``default`` (source cards name the base, a citation opens
the right article), sees the conversation's choice come back after a reload, and
deletes it: gone from every selector, ``default`` still answers. Tests wait for
elements, never for "network idle".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import Settings
from tests.browser_support import (
    BROWSER_MARKS,
    QUESTION,
    ask,
    choose,
    open_chat_page,
    open_settings,
    start_app,
    stored_turns,
    upload,
)
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS

BASE = "harbor_kb"
ARTICLE = ("harbor.md", "# 蛇口港务简报\n\n## 吞吐量\n\n2025 年蛇口港全年集装箱吞吐量达到 4321 万标箱。\n\n"
                        "港区新建自动化码头 3 座。\n")
QUESTION_NEW = "蛇口港全年集装箱吞吐量达到多少万标箱？"
BUILD_TIMEOUT = 180_000


@dataclass
class Served:
    """The app under test and its folders."""

    url: str
    settings: Settings
    kbs: Path
    files: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`rag serve` on a free port over a fresh index of the default article, ``kbs/`` in the temp folder."""
    workdir = tmp_path_factory.mktemp("browser-kb")
    settings = make_settings(workdir / "data")
    KnowledgeBase(settings).build()
    files, kbs = workdir / "uploads", workdir / "kbs"
    files.mkdir()
    app = start_app(workdir, settings, extra_env={"RAG_KBS_DIR": str(kbs)})
    try:
        yield Served(app.url, settings, kbs, files)
    finally:
        app.stop()



@pytest.fixture(scope="module")
def page(browser: Any, served: Served) -> Iterator[Any]:
    """One page for the module's story (local storage and the made base carry from step to step)."""
    page = open_chat_page(browser, served.url)
    expect(page.locator("#status-line")).to_contain_text("篇文章")
    yield page
    page.context.close()


def chosen_bases(page: Any) -> list[str]:
    """The knowledge bases chosen in the chat's multi-select (its tokens)."""
    return [t.strip() for t in page.locator("#kb-choice .token").all_inner_texts()]


def options(page: Any, selector: str) -> list[str]:
    """The options a gradio dropdown offers (opened and closed again)."""
    page.click(f"{selector} input")
    names = [t.strip() for t in page.locator("ul.options li").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def test_a_bad_name_is_refused_in_one_line(page: Any, served: Served) -> None:
    """新建知识库 with a name against the rule: the library's one line, nothing made."""
    page.click("#tab-articles-button")
    page.fill("#kb-name textarea", "Bad Name!")
    page.click("#kb-create")
    expect(page.locator("#articles-status")).to_contain_text("无法新建知识库")
    expect(page.locator("#articles-status")).to_contain_text("is not a knowledge-base name")
    assert not served.kbs.exists() or not any(served.kbs.iterdir())


def test_create_upload_into_it_and_ask_it_alone(page: Any, served: Served) -> None:
    """A base made in the page takes an upload into its own corpus; asked alone, it answers and the card names it."""
    page.click("#tab-articles-button")
    page.fill("#kb-name textarea", BASE)
    page.click("#kb-create")
    expect(page.locator("#articles-status")).to_contain_text(f"已新建知识库 {BASE}")
    expect(page.locator("#articles-kb input")).to_have_value(BASE)
    expect(page.locator("#articles-table")).not_to_contain_text("shenzhen")  # its own, empty table
    (served.files / ARTICLE[0]).write_text(ARTICLE[1], encoding="utf-8")
    upload(page, served.files / ARTICLE[0])
    expect(page.locator("#upload-files tr[data-state=done]")).to_contain_text("已完成", timeout=BUILD_TIMEOUT)
    expect(page.locator("#articles-table")).to_contain_text(ARTICLE[0])
    assert (served.kbs / BASE / "corpus" / ARTICLE[0]).is_file()
    assert not (served.settings.corpus_dir / ARTICLE[0]).exists()  # isolation: not in default's corpus
    choose(page, "#articles-kb", "default")
    expect(page.locator("#articles-table")).not_to_contain_text(ARTICLE[0])
    expect(page.locator("#articles-table")).to_contain_text("shenzhen")

    page.click("#tab-chat-button")
    choose(page, "#kb-choice", BASE)
    page.locator("#kb-choice .token", has_text="default").locator(".token-remove").click()
    expect(page.locator("#kb-choice .token")).to_have_count(1)
    expect(page.locator("#status-line")).to_contain_text(f"知识库 {BASE}")
    expect(ask(page, QUESTION_NEW)).to_contain_text("4321")
    card = page.locator("#sources .cite-card").first
    expect(card.locator(".src-kb")).to_have_text(f"知识库 {BASE}")
    # The citation opens the article of its own knowledge base (default has no harbor.md).
    card.locator(".open-article").click()
    expect(page.locator("#viewer .rag-article")).to_contain_text("蛇口港务简报")
    expect(page.locator("#viewer mark")).to_contain_text("4321")


def test_both_selected_answer_from_each_and_the_choice_survives_a_reload(page: Any) -> None:
    """With both chosen, each answers its own question and cards name their base; a reload brings the choice back."""
    page.click("#tab-chat-button")
    page.click("#clear")
    choose(page, "#kb-choice", "default")
    expect(page.locator("#kb-choice .token")).to_have_count(2)
    open_settings(page)
    expect(page.locator("#article-filter input")).to_be_disabled()
    expect(page.locator("#article-filter")).to_contain_text("选择了多个知识库")
    expect(ask(page, QUESTION)).to_contain_text("亿元")
    expect(page.locator("#sources .cite-card .src-kb").first).to_have_text("知识库 default")
    expect(ask(page, QUESTION_NEW)).to_contain_text("4321")
    expect(page.locator("#sources .cite-card .src-kb").first).to_have_text(f"知识库 {BASE}")
    stored_turns(page, 2)
    page.reload()
    page.wait_for_selector("#question textarea")
    expect(page.locator("#chat [data-testid=bot]").nth(1)).to_contain_text("4321")
    expect(page.locator("#kb-choice .token")).to_have_count(2)
    assert sorted(chosen_bases(page)) == sorted(["default", BASE])
    # A new choice is kept with the conversation at once (no new answer needed).
    page.locator("#kb-choice .token", has_text="default").locator(".token-remove").click()
    expect(page.locator("#kb-choice .token")).to_have_count(1)
    page.wait_for_function("(base) => { const s = JSON.parse(localStorage.getItem('rag-chat') || '{}');"
                           " const c = (s.conversations || []).find((x) => x.id === s.current);"
                           " return c && JSON.stringify(c.knowledge_bases) === JSON.stringify([base]); }", arg=BASE)
    page.reload()
    page.wait_for_selector("#question textarea")
    expect(page.locator("#chat [data-testid=bot]").nth(1)).to_contain_text("4321")
    expect(page.locator("#kb-choice .token")).to_have_count(1)
    assert chosen_bases(page) == [BASE]


def test_delete_it_and_it_is_gone_everywhere_while_default_answers(page: Any, served: Served) -> None:
    """default cannot be deleted (the page says why); the made base goes from every selector and from disk."""
    page.click("#tab-articles-button")
    choose(page, "#articles-kb", "default")
    page.click("#kb-delete")
    page.click("#kb-really-delete")
    expect(page.locator("#articles-status")).to_contain_text("cannot be deleted")
    choose(page, "#articles-kb", BASE)
    page.click("#kb-delete")
    expect(page.locator("#articles-status")).to_contain_text(f"确定删除知识库 {BASE}")
    page.click("#kb-really-delete")
    expect(page.locator("#articles-status")).to_contain_text(f"已删除知识库 {BASE}")
    expect(page.locator("#articles-kb input")).to_have_value("default")
    assert not (served.kbs / BASE).exists()
    assert BASE not in options(page, "#articles-kb")
    page.click("#tab-evaluate-button")
    assert BASE not in options(page, "#eval-kb")
    page.click("#tab-chat-button")
    expect(page.locator("#kb-choice .token")).to_have_count(1)
    assert chosen_bases(page) == ["default"]
    assert BASE not in options(page, "#kb-choice")
    expect(ask(page, QUESTION)).to_contain_text("亿元")
