"""The page-wide and administration side of the browser in a real headless Chromium (issue 17).

One app per module (no login), over a copy of the default article in a temporary
folder: a page load shows the current state; one upload adds and indexes a .docx,
which is answered; a deleted article is no longer answered; a rated refusal fails
alike in the evaluation's table, metrics and report; a wrong short answer fails though
the whole answer holds the gold; the 评测 tab offers the shipped question sets and the
CMRC sample; the page speaks the browser's language.
Tests wait for elements, never for "network idle".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import Settings
from tests.browser_support import (
    ANSWER_TIMEOUT,
    BROWSER_MARKS,
    QUESTION,
    ask,
    open_chat_page,
    open_settings,
    screenshot,
    start_app,
    upload,
)
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS

DOCX_NAME = "harbor-report.docx"
DOCX_TITLE = "前海港口年度报告"
DOCX_QUESTION = "前海港口全年集装箱吞吐量达到多少万标箱？"
DOCX_ANSWER = "3456"
REFUSED = "2025年北京人工智能核心产业营收是多少？"
BUILD_TIMEOUT = 180_000


@dataclass
class Served:
    """The app under test and its folders."""

    url: str
    settings: Settings
    files: Path  # where the test writes the files it uploads


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`rag serve` on a free port over a fresh index of the default article."""
    workdir = tmp_path_factory.mktemp("browser-admin")
    settings = make_settings(workdir / "data")
    KnowledgeBase(settings).build()
    files = workdir / "uploads"
    files.mkdir()
    app = start_app(workdir, settings)
    try:
        yield Served(app.url, settings, files)
    finally:
        app.stop()



def open_page(browser: Any, served: Served, locale: str = "zh-CN") -> Any:
    """A new page (a new session) on the app in a browser of ``locale``; the caller closes its context."""
    page = open_chat_page(browser, served.url, locale)
    expect(page.locator("#status-line")).to_contain_text("篇文章" if locale.startswith("zh") else "article")
    return page


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh page in a Chinese browser."""
    page = open_page(browser, served)
    yield page
    page.context.close()


def make_docx(path: Path) -> Path:
    """A .docx with a title and two paragraphs, built at test time."""
    import docx

    document = docx.Document()
    document.add_heading(DOCX_TITLE, level=1)
    document.add_paragraph(f"2025 年前海港口全年集装箱吞吐量达到 {DOCX_ANSWER} 万标箱，同比增长百分之八。")
    document.add_paragraph("港口新开通国际航线 12 条，覆盖东南亚和中东。")
    document.save(str(path))
    return path


def cited_articles(page: Any) -> list[str]:
    """The article titles of the source cards of the last answer."""
    return [t.strip() for t in page.locator("#sources .cite-card").all_inner_texts()]


def test_one_upload_indexes_a_docx_and_a_reload_shows_the_new_state(page: Any, browser: Any, served: Served) -> None:
    """Choosing a .docx adds and indexes it (a status per file); a reload then shows 2 articles everywhere."""
    expect(page.locator("#status-line")).to_contain_text("1 篇文章")
    page.click("#tab-articles-button")
    upload(page, make_docx(served.files / DOCX_NAME))
    files = page.locator("#upload-files")
    expect(files).to_contain_text(DOCX_NAME)
    expect(files.locator("tr[data-state=done]")).to_contain_text("已完成", timeout=BUILD_TIMEOUT)
    status = page.locator("#articles-status")
    expect(status).to_contain_text(f"已添加「{DOCX_TITLE}」")
    expect(status).to_contain_text("索引已更新")
    expect(page.locator("#status-line")).to_contain_text("2 篇文章")  # the build refreshes the header
    # the progress is gone once done, and was never drawn over other components
    expect(page.locator("#build-progress progress")).to_have_count(0)
    expect(page.locator("#articles-table")).to_contain_text("上次构建")
    screenshot(page, "admin-articles.png")

    fresh = open_page(browser, served)  # a reload: a new page load reads the state again
    try:
        expect(fresh.locator("#status-line")).to_contain_text("2 篇文章")
        fresh.click("#tab-articles-button")
        table = fresh.locator("#articles-table")
        expect(table).to_contain_text(DOCX_TITLE)
        expect(table).to_contain_text("已完成")
        fresh.click("#delete-choice input")
        expect(fresh.get_by_role("option", name=f"{DOCX_TITLE}（{DOCX_NAME}）")).to_have_count(1)
        fresh.keyboard.press("Escape")
        fresh.click("#tab-chat-button")
        open_settings(fresh)
        fresh.click("#article-filter input")
        expect(fresh.get_by_role("option", name=f"{DOCX_TITLE}（{DOCX_NAME}）")).to_have_count(1)
        fresh.keyboard.press("Escape")
        message = ask(fresh, DOCX_QUESTION)  # answerable after the one action
        expect(message).to_contain_text(DOCX_ANSWER)
        assert any(DOCX_TITLE in card for card in cited_articles(fresh))
    finally:
        fresh.context.close()


def test_a_deleted_article_is_no_longer_answered(page: Any, served: Served) -> None:
    """Cited before, deleted in the 文章 tab (which re-indexes), not cited after."""
    name, title = "deleted-port.md", "盐田港临时报告"
    (served.files / name).write_text(f"# {title}\n\n盐田港的自动化岸桥共有 7788 台，全部投入使用。\n",
                                     encoding="utf-8")
    question = "盐田港的自动化岸桥共有多少台？"
    page.click("#tab-articles-button")
    upload(page, served.files / name)
    expect(page.locator("#articles-status")).to_contain_text(f"{name}：已完成", timeout=BUILD_TIMEOUT)
    page.click("#tab-chat-button")
    expect(ask(page, question)).to_contain_text("7788")
    assert any(title in card for card in cited_articles(page))

    page.click("#tab-articles-button")
    page.click("#delete-choice input")
    page.get_by_role("option", name=f"{title}（{name}）").click()
    page.click("#delete-btn")
    page.click("#really-delete")
    status = page.locator("#articles-status")
    expect(status).to_contain_text(f"已删除 {name}")
    expect(status).to_contain_text("索引已更新", timeout=BUILD_TIMEOUT)
    page.click("#tab-chat-button")
    message = ask(page, question)
    expect(message).not_to_contain_text("7788")
    assert not any(title in card for card in cited_articles(page))


def test_a_rated_refusal_fails_in_the_evaluation_table(page: Any, served: Served) -> None:
    """👎 on a refusal, re-run as the ratings set: ✗ in the table, 失败 1 题, and the same in report.json."""
    message = ask(page, REFUSED)
    expect(message).to_contain_text("文章中没有找到相关信息")
    page.locator("#chat button[aria-label='踩']").click()
    expect(page.locator(".toast-body, [data-testid=toast-body]").first).to_contain_text("已记录评价")
    page.click("#tab-evaluate-button")
    page.click("#eval-choice input")
    page.get_by_role("option", name="评价记录（1 题）").click()
    page.click("#eval-run")
    expect(page.locator("#eval-status")).to_contain_text("1 题", timeout=ANSWER_TIMEOUT * 3)
    expect(page.locator("#eval-status")).to_contain_text("失败 1 题")
    verdicts = [t.strip() for t in page.locator("#eval-questions .virtual-row [data-col='0']").all_inner_texts()]
    assert len(verdicts) == 1 and verdicts[0].startswith("✗"), verdicts
    runs = sorted((served.settings.index_dir.parent / "eval-runs").glob("*/report.json"))
    report = json.loads(runs[-1].read_text(encoding="utf-8"))
    row = report["questions"][0]
    assert row["false_refusal"] and row["failed"] and report["summary"]["false_refusals"] == 1.0
    # the downloaded reports follow the page's language
    assert "| 误拒率（可回答却拒答） | 1.000 |" in (runs[-1].parent / "report.md").read_text(encoding="utf-8")


def test_a_wrong_short_answer_fails_though_the_whole_answer_holds_the_gold(page: Any, served: Served) -> None:
    """评测: gold 「超 2600 家」 for the revenue question. Its whole answer holds it, its short answer is the
    revenue: ✗, the short answer beside the evidence, containment ✓ in its own column, alike in report.json."""
    questions = served.files / "short-answer.jsonl"
    questions.write_text(json.dumps({"id": "s1", "question": QUESTION, "answers": ["超 2600 家"]},
                                    ensure_ascii=False) + "\n", encoding="utf-8")
    page.click("#tab-evaluate-button")
    page.set_input_files("#eval-file input[type=file]", str(questions))
    expect(page.locator("#eval-file a[href$='/short-answer.jsonl']")).to_have_count(1)
    page.click("#eval-run")
    expect(page.locator("#eval-status")).to_contain_text("失败 1 题", timeout=ANSWER_TIMEOUT * 3)
    expect(page.locator("#eval-status")).to_contain_text("F1 ≥ 0.5")
    row = page.locator("#eval-questions .virtual-row").first
    verdict, _, _, gold, short, whole, contained = (row.locator(f"[data-col='{n}']").inner_text().strip()
                                                    for n in range(7))
    runs = sorted((served.settings.index_dir.parent / "eval-runs").glob("*/report.json"))
    report = json.loads(runs[-1].read_text(encoding="utf-8"))["questions"][0]
    assert report["contained"] and report["failed"] and report["judged_by"] == "short_answer"
    assert verdict.startswith("✗") and gold == "超 2600 家" and contained == "✓"
    assert short == report["short_answer"] and "2200" in short and "超 2600 家" in whole


def test_evaluate_tab_offers_the_shipped_sets_and_the_cmrc_sample(page: Any) -> None:
    """The shipped question set and CMRC 2018 dev are offered; choosing CMRC proposes a sample."""
    page.click("#tab-evaluate-button")
    page.click("#eval-choice input")
    expect(page.get_by_role("option", name="内置问题集 shenzhen-ai（48 题）")).to_have_count(1)
    page.get_by_role("option", name="CMRC 2018 dev（内置，抽样 100 题）").click()
    expect(page.locator("#eval-sample input")).to_have_value("100")


GRADIO_ENGLISH = ("Drop File Here", "Click to Upload", "Invalid file type", "Warning", "Info", "Error")


def test_a_chinese_page_has_no_english_and_an_english_page_is_english(browser: Any, served: Served) -> None:
    """zh-CN: gradio's own strings, toast titles and a wrong file's message in Chinese; en-US: English labels."""
    page = open_page(browser, served, "zh-CN")
    try:
        page.click("#tab-articles-button")
        expect(page.locator("#upload")).to_contain_text("点击上传")
        wrong = served.files / "picture.bmp"
        wrong.write_bytes(b"BM" + bytes(64))
        upload(page, wrong)
        status = page.locator("#articles-status")
        expect(status).to_contain_text("不支持的文件类型 .bmp")
        toast = page.locator("[data-testid=toast-body]").first
        expect(toast).to_contain_text("注意")
        expect(status).not_to_contain_text("请先选择要上传的文件")
        for tab in ("#tab-chat-button", "#tab-articles-button", "#tab-evaluate-button"):
            page.click(tab)
            shown = page.locator("body").inner_text()
            assert not [word for word in GRADIO_ENGLISH if word in shown], (tab, shown[:2000])
    finally:
        page.context.close()

    english = open_page(browser, served, "en-US")
    try:
        expect(english.locator("#tab-articles-button")).to_have_text("Articles")
        # the chat tab in English too: its buttons, side tabs and settings
        expect(english.locator("#ask")).to_have_text("Ask")
        expect(english.locator("#clear")).to_have_text("New chat")
        expect(english.locator("#tab-sources-button")).to_have_text("Sources")
        expect(english.locator("#settings")).to_contain_text("Settings")
        expect(english.locator("#question textarea")).to_have_attribute(
            "placeholder", "Type a question, e.g. 2025年深圳人工智能核心产业营收约多少？")
        # a follow-up says in English which question it was asked as
        ask(english, "荣耀累计投入了多少资金用于AI研发？")
        expect(ask(english, "那华为呢？")).to_contain_text("Answered as “华为累计投入了多少资金用于AI研发？”")
        english.click("#tab-articles-button")
        expect(english.locator("#upload")).to_contain_text("Upload articles to add and index them")
        expect(english.locator("#upload")).to_contain_text("Click to Upload")
        upload(english, served.files / "picture.bmp")
        expect(english.locator("#articles-status")).to_contain_text("picture.bmp: ✗ failed: ")
        expect(english.locator("#articles-table")).to_contain_text("last built")
        expect(english.locator("#articles-table")).to_contain_text("done")
        english.click("#tab-evaluate-button")
        expect(english.locator("#eval-run")).to_have_text("Run the evaluation")
        english.click("#eval-choice input")
        english.get_by_role("option", name="built-in question set shenzhen-ai (48 questions)").click()
        english.fill("#eval-sample input", "2")
        english.click("#eval-run")
        expect(english.locator("#eval-downloads a[href$='/report.md']")).to_have_count(1, timeout=ANSWER_TIMEOUT * 3)
        expect(english.locator("#eval-status")).to_contain_text("Question set shenzhen-ai.jsonl: 2 questions")
        expect(english.locator("#eval-metrics")).to_contain_text("containment")
        runs = sorted((served.settings.index_dir.parent / "eval-runs").glob("*/report.md"))
        page_report = runs[-1].read_text(encoding="utf-8")  # the reports follow the English page
        assert page_report.startswith("# Evaluation of") and "| containment |" in page_report
    finally:
        english.context.close()
