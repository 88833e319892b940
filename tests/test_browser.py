"""The browser chat in a real headless Chromium, against `rag serve` with the real model and index.

One app per module, behind a login: its corpus (a copy of corpus/) and index live
in a temporary folder, and it runs from another, empty one. Tests wait for
elements, never for "network idle". Every page counts the requests it makes: none
may go where an article's markup points. Screenshots go to test-artifacts/ for a
person to look at.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rag.evaluation.datasets import parse_jsonl
from rag.ingest.articles import load_article
from rag.kb.feedback import feedback_path
from rag.kb.knowledge_base import KnowledgeBase
from rag.serialize import answer_to_json
from rag.settings import Settings
from rag.ui.escape import esc_markdown
from tests.browser_support import (
    ANSWER_TIMEOUT,
    BROWSER_MARKS,
    NEW_ARTICLE,
    NEW_QUESTION,
    QUESTION,
    ROOT,
    FakeChatEndpoint,
    ask,
    expect_answer_shown,
    log_in,
    open_settings,
    screenshot,
    start_app,
    upload,
)
from tests.helpers import QUESTION_SET, make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS

# Markup inside article text must show as text: nothing runs, nothing renders as a tag.
EVIL_SCRIPT = "<script>window.__pwned=1</script>"
EVIL_IMG = '<img src=x onerror="window.__pwned=2">'
EVIL_ARTICLE = ("markup-test.txt",
                "# 标记测试文章\n\n"
                f"这篇文章用来检查网页会不会执行文章里的标记，例如 {{{{value}}}} 和 ${{window.__pwned=3}}。\n\n"
                f"星河动力公司的火箭年产量是 4321 枚{EVIL_SCRIPT}{EVIL_IMG}。\n")
EVIL_QUESTION = "星河动力公司的火箭年产量是多少枚？"
# What the fake chat endpoint streams (it holds back all but the first piece until released).
GENERATIVE_PIECES = ["深圳人工智能核心产业", "营收约 2200 亿元", "[1]。"]
# A title that is markup pointing at a port nobody serves, and a "[1]" in the article's own text.
TRAP = "127.0.0.1:8799"
HOSTILE_TITLE = f'T<img src="http://{TRAP}/p.png"><a href="http://x">重新登录</a>'
HOSTILE_ARTICLE = ("hostile-title.md",
                   f"# {HOSTILE_TITLE}\n\n这篇文章的编号是 [1]，蓝鲸公司的员工有 5150 名[2]。"
                   f"![图](http://{TRAP}/i.png)\n")
HOSTILE_QUESTION = "蓝鲸公司的员工有多少名？"
DEFAULT_TITLE = "全栈创新+全域应用 深圳「雁阵梯队」AI产业图景正加速成型"
LOGIN = ("reader", "pw-not-a-secret")


@dataclass
class Served:
    """The app under test and what it was started with."""

    url: str
    settings: Settings  # corpus and index in data/ of a temporary folder
    cwd: Path  # where the server runs from: nothing may be written there
    cli: dict[str, Any]  # the `rag ask --json QUESTION` output for the same index
    endpoint: FakeChatEndpoint  # the chat endpoint generative mode streams from
    requests: list[str]  # every URL the test pages asked for


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`rag serve` on a free port over a fresh index of the default article."""
    workdir = tmp_path_factory.mktemp("browser")
    settings = make_settings(workdir / "data")
    cwd = workdir / "cwd"
    cwd.mkdir()
    kb = KnowledgeBase(settings)
    kb.build()
    # Exactly what `rag ask --json QUESTION` prints (commands.cmd_ask), without loading the model again.
    cli = json.loads(json.dumps(answer_to_json(kb.ask(QUESTION)), ensure_ascii=False))
    endpoint = FakeChatEndpoint(GENERATIVE_PIECES).start()
    app = start_app(workdir, settings, {"RAG_LLM_BASE_URL": endpoint.base_url, "RAG_LLM_MODEL": endpoint.model,
                                        "RAG_LLM_API_KEY": "sk-test-not-a-secret", "RAG_AUTH_USER": LOGIN[0],
                                        "RAG_AUTH_PASSWORD": LOGIN[1]}, cwd=cwd)
    try:
        yield Served(app.url, settings, cwd, cli, endpoint, [])
    finally:
        app.stop()
        endpoint.stop()



def new_context(browser: Any, served: Served) -> Any:
    """A Chinese browser logged in to the app (through the login form's endpoint), counting its requests."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    context.on("request", lambda request: served.requests.append(request.url))
    login = context.request.post(served.url.rstrip("/") + "/login",
                                 form={"username": LOGIN[0], "password": LOGIN[1]})
    assert login.ok, login.text()
    return context


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh page (a new chat session) on the app, in a Chinese browser."""
    context = new_context(browser, served)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url.rstrip("/"))
    page = context.new_page()
    page.goto(served.url)
    page.wait_for_selector("#question textarea")
    yield page
    context.close()
    assert not [url for url in served.requests if TRAP in url], "a page fetched what an article pointed at"


@pytest.fixture(scope="module")
def rebuilt(browser: Any, served: Served, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Upload the new article and the markup articles in the browser (each one action: added and indexed).

    Returns the notices, one after each upload.
    """
    files = tmp_path_factory.mktemp("uploads")
    context = new_context(browser, served)
    page = context.new_page()
    page.goto(served.url)
    page.click("#tab-articles-button")
    status = page.locator("#articles-status")
    notices = []
    for name, text in (NEW_ARTICLE, EVIL_ARTICLE, HOSTILE_ARTICLE):
        (files / name).write_text(text, encoding="utf-8")
        upload(page, files / name)
        # the notice quotes the title as text: a hostile title shows its markup, which neither loads nor links
        expect(status).to_contain_text(f"已添加「{text.splitlines()[0][2:]}」")
        expect(status).to_contain_text(f"{name}：已完成", timeout=180_000)
        expect(status).to_contain_text("索引已更新")
        notices.append(status.inner_text())
    assert page.locator("#articles-status img, #articles-status a, #articles-table img, #articles-table a").count() == 0
    expect(page.locator("#articles-table")).not_to_contain_text("待索引")
    expect(page.locator("#articles-table")).to_contain_text(HOSTILE_TITLE)  # indexed: listed by its title
    assert page.locator("#articles-table img, #articles-table a").count() == 0
    screenshot(page, "articles-tab.png")
    context.close()
    assert not [url for url in served.requests if TRAP in url], "the upload page fetched what a title pointed at"
    return "\n".join(notices)


def test_server_binds_to_localhost_by_default(served: Served) -> None:
    """Safe by default: 127.0.0.1 unless --host says otherwise."""
    assert served.url.startswith("http://127.0.0.1:")


def test_nothing_of_the_corpus_before_the_login_and_all_of_it_after(browser: Any, served: Served) -> None:
    """A stranger's GET of the page or its configuration names no article; the login form opens the chat."""
    for path in ("", "config", "gradio_api/info"):
        try:
            with urllib.request.urlopen(served.url + path, timeout=30) as response:
                body = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
        for secret in ("shenzhen-ai-industry", DEFAULT_TITLE, "雁阵梯队"):
            assert secret not in body, (path, secret)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log_in(page, served.url, *LOGIN)
    expect(page.locator("#status-line")).to_contain_text("篇文章")
    open_settings(page)
    page.click("#article-filter input")
    expect(page.get_by_role("option", name=f"{DEFAULT_TITLE}（shenzhen-ai-industry.txt）")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#examples").get_by_text(QUESTION).click()  # the examples came with the load too
    expect(page.locator("#question textarea")).to_have_value(QUESTION)
    context.close()


def test_answer_highlights_the_span_rag_ask_json_gives(page: Any, served: Served) -> None:
    """The answer, its cited paragraph and the <mark> equal what `rag ask --json` returns."""
    expected = served.cli
    assert not expected["refused"] and expected["citations"]
    message = ask(page, QUESTION)
    expect_answer_shown(message, expected)

    cards = page.locator("#sources .cite-card")
    # the same paragraph cited twice is one card, each cited sentence marked in it
    expect(cards).to_have_count(len({(c["article"], c["paragraph"]) for c in expected["citations"]}))
    for citation in expected["citations"]:
        card = page.locator(f"#sources .cite-card:has(mark[data-n='{citation['n']}'])")
        # the short answer's <strong> inside too
        assert card.locator(f"mark[data-n='{citation['n']}']").inner_text() == citation["text"]
        assert card.locator(".cite-para").inner_text() == citation["paragraph_text"]
        expect(card.locator(".cite-meta")).to_contain_text(citation["title"])
        expect(card.locator(".cite-meta")).to_contain_text(f"第{citation['paragraph']}段")
    expect(page.locator("#sources details.uncited summary")).to_contain_text("其他检索到的段落")
    screenshot(page, "chat-sources.png")

    # Clicking [1] in the answer opens the whole article at that paragraph, sentence highlighted.
    first = expected["citations"][0]
    message.locator("a[href$='-c1']").first.click()
    target = page.locator(f"#viewer #para-{first['paragraph']}.target")
    expect(target).to_be_visible()
    assert target.locator("mark").inner_text() == first["text"]
    s = served.settings
    article = load_article(s.corpus_dir / first["article"], s.corpus_dir, s.max_article_bytes, s.max_extracted_chars)
    expect(page.locator("#viewer .para")).to_have_count(len(article.paragraphs))
    screenshot(page, "article-view.png")


def test_short_answer_is_bold_and_marked_as_rag_ask_json_gives(page: Any, served: Served) -> None:
    """The short answer leads the message in bold; in the sources and the article view, the span marked inside
    the highlighted sentence is the ``short_answer`` of `rag ask --json`; the copied Markdown starts with it."""
    short = served.cli["short_answer"]
    assert short is not None, "the default article answers QUESTION: rag ask --json must carry its short answer"
    citation = next(c for c in served.cli["citations"] if c["n"] == short["n"])
    assert citation["start"] <= short["start"] < short["end"] <= citation["end"]
    message = ask(page, QUESTION)
    lead = message.locator("p").first  # the bold short answer and its marker, above the evidence
    expect(lead.locator("strong")).to_have_text(" ".join(short["text"].split()))
    expect(message.locator("strong")).to_have_count(1)
    marker = lead.locator(f"a[href$='-c{short['n']}']")
    expect(marker).to_have_text(f"[{short['n']}]")

    card = page.locator(f"#sources .cite-card:has(mark[data-n='{short['n']}'])")
    assert card.locator("mark strong.short").inner_text() == short["text"]
    assert card.locator(f"mark[data-n='{short['n']}']").inner_text() == citation["text"]
    screenshot(page, "chat-short-answer.png")

    marker.click()  # the short answer's [n] opens the article with the phrase marked in its sentence
    target = page.locator(f"#viewer #para-{citation['paragraph']}.target")
    expect(target).to_be_visible()
    assert target.locator("mark strong.short").inner_text() == short["text"]
    assert target.locator("mark").inner_text() == citation["text"]
    screenshot(page, "article-view-short-answer.png")

    page.locator("#chat button", has_text="复制为 Markdown").click()
    copied = page.wait_for_function("navigator.clipboard.readText().then(t => t || null)").json_value()
    bold = esc_markdown(" ".join(short["text"].split()))
    assert copied.startswith(f"**问：** {esc_markdown(QUESTION)}\n\n**答：** **{bold}** [{short['n']}]\n\n"), copied


def test_follow_up_shows_the_query_searched_and_clear_empties_the_chat(page: Any) -> None:
    """A follow-up leaning on the previous turn is asked as the question it stands for, and says which."""
    ask(page, QUESTION)
    follow_up = ask(page, "它集聚了多少家典型企业？")
    expect(follow_up).to_contain_text("按“2025年深圳人工智能核心产业集聚了多少家典型企业？”回答")
    expect(follow_up).not_to_contain_text("实际检索")
    expect(follow_up).to_contain_text("2600")
    page.click("#clear")
    expect(page.locator("#chat [data-testid=bot]")).to_have_count(0)
    expect(page.locator("#sources")).not_to_contain_text("问：")


def test_generative_answer_streams_after_the_sources(page: Any, served: Served) -> None:
    """Generative mode: sources when retrieval ends, then the tokens as they come, then the citations."""
    open_settings(page)
    page.locator("#answer-mode label", has_text="生成式").click()
    page.fill("#question textarea", QUESTION)
    page.click("#ask")
    message = page.locator("#chat [data-testid=bot]").last
    # The endpoint has sent its first piece and holds the rest: what shows is the stream so far.
    expect(message).to_contain_text(GENERATIVE_PIECES[0], timeout=ANSWER_TIMEOUT)
    expect(message).to_contain_text("▍")
    expect(message).not_to_contain_text("2200")
    expect(page.locator("#sources")).to_contain_text("正在生成回答")
    expect(page.locator("#sources .hit-card").first).to_be_visible()
    served.endpoint.gate.set()
    page.wait_for_selector("#sources .rag-sources[data-state=answered]", timeout=ANSWER_TIMEOUT)
    expect(message).to_have_text("".join(GENERATIVE_PIECES))
    card = page.locator("#sources .cite-card")
    expect(card).to_have_count(1)
    assert card.locator("mark").inner_text().strip()
    request = served.endpoint.requests[-1]
    assert request["stream"] is True and "<<<passage 1>>>" in request["messages"][-1]["content"]


def test_refusal_shows_the_nearest_passages(page: Any) -> None:
    """A question the articles do not answer gets the refusal, with 「可能相关」 passages to check."""
    message = ask(page, "2025年北京人工智能核心产业营收是多少？")
    expect(message).to_contain_text("文章中没有找到相关信息")
    expect(page.locator("#sources")).to_contain_text("可能相关")
    expect(page.locator("#sources .maybe .hit-card").first).to_be_visible()
    expect(page.locator("#sources mark")).to_have_count(0)


def test_rating_is_saved_as_a_question_set_row(page: Any, served: Served) -> None:
    """👍 stores the question with the shown answer (its short answer first) as gold; the evaluation reads it."""
    message = ask(page, QUESTION)
    answer_text = message.inner_text()
    page.locator("#chat button[aria-label='赞']").click()
    path = feedback_path(served.settings)
    expect(page.locator(".toast-body, [data-testid=toast-body]").first).to_contain_text("已记录评价")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    liked = [r for r in rows if r["question"] == QUESTION and r["rating"] == "up"]
    assert liked, rows
    shown = answer_text.replace("[1]", "").replace("[2]", "").strip()
    golds = liked[-1]["answers"]
    if served.cli["short_answer"] is None:
        assert golds == [shown]
    else:  # the bold short answer leads the message and the golds (the pass rule judges it), then the evidence
        short, whole = golds
        assert short == served.cli["short_answer"]["text"] and short in shown and whole and whole in shown
    question_set = parse_jsonl(path.read_text(encoding="utf-8"), path.name)
    assert any(q.question == QUESTION and q.answer_texts == tuple(golds) for q in question_set.questions)

    # Copy as Markdown: the answer with its sources, the cited sentence in bold.
    page.locator("#chat button", has_text="复制为 Markdown").click()
    copied = page.wait_for_function("navigator.clipboard.readText().then(t => t || null)").json_value()
    assert f"**问：** {QUESTION}" in copied and "**来源：**" in copied
    assert f"**{served.cli['citations'][0]['text']}**" in copied


def test_uploaded_article_answers_after_rebuild(page: Any, rebuilt: str) -> None:
    """Upload, rebuild with progress, and a question only the new article answers."""
    assert "low-altitude.md" in rebuilt
    message = ask(page, NEW_QUESTION)
    expect(message).to_contain_text("960")
    expect(page.locator("#sources .cite-card").first).to_contain_text("深圳低空经济发展报告")


def test_hostile_title_and_brackets_in_the_article_stay_text(page: Any, served: Served, rebuilt: str) -> None:
    """The title's markup shows literally wherever it appears; the article's own [1] links nowhere."""
    message = ask(page, HOSTILE_QUESTION)
    expect(message).to_contain_text("5150")
    expect(message).to_contain_text("这篇文章的编号是 [1]")
    cited = page.locator("#sources .cite-card")
    # only the answer's own markers are links: one per citation, and one after the bold short answer if shown
    links = cited.count() + message.locator("strong").count()
    expect(message.locator("a")).to_have_count(links)
    expect(message.locator("a[href*='#cite-']")).to_have_count(links)
    expect(cited.first).to_contain_text(HOSTILE_TITLE)
    cited.first.locator(".open-article").click()
    expect(page.locator("#viewer .art-title")).to_have_text(HOSTILE_TITLE)
    for where in ("#viewer", "#sources", "#chat .message-content", "#status-line"):
        assert page.locator(f"{where} img").count() == 0, where
    assert served.url in served.requests[0]  # the pages' requests are counted
    assert not [url for url in served.requests if TRAP in url]  # and again when the page closes


def test_article_markup_is_shown_as_text_and_never_runs(page: Any, rebuilt: str) -> None:
    """<script> and <img onerror> in an article appear literally in chat, sources and article view."""
    message = ask(page, EVIL_QUESTION)
    expect(message).to_contain_text("4321")
    expect(message).to_contain_text(EVIL_SCRIPT)
    expect(message).to_contain_text(EVIL_IMG)
    card = page.locator("#sources .cite-card").first
    expect(card).to_contain_text(EVIL_SCRIPT)
    expect(card.locator("mark")).to_contain_text(EVIL_IMG)
    card.locator(".open-article").click()
    viewer = page.locator("#viewer .rag-article")
    expect(viewer).to_contain_text(EVIL_SCRIPT)
    expect(viewer).to_contain_text("${window.__pwned=3}")
    expect(viewer).to_contain_text("{{value}}")
    for where in ("#viewer", "#sources", "#chat .message-content"):
        assert page.locator(f"{where} script, {where} img").count() == 0, where
    assert page.evaluate("typeof window.__pwned") == "undefined"
    screenshot(page, "markup-article.png")


def test_bad_uploads_say_what_is_wrong(page: Any, served: Served, tmp_path: Path) -> None:
    """Binary, empty, duplicate and same-name uploads give messages, never a traceback."""
    page.click("#tab-articles-button")
    status = page.locator("#articles-status")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 16)
    upload(page, binary)
    expect(status).to_contain_text("binary")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    upload(page, empty)
    expect(status).to_contain_text("空")

    default = served.settings.corpus_dir / "shenzhen-ai-industry.txt"
    copy = tmp_path / "copy-of-default.txt"
    shutil.copyfile(default, copy)
    upload(page, copy)
    expect(status).to_contain_text("已在语料中")
    assert not (served.settings.corpus_dir / copy.name).exists()

    before = default.read_bytes()
    same_name = tmp_path / "same" / default.name
    same_name.parent.mkdir()
    same_name.write_text("# 另一篇文章\n\n同名但内容不同的文章。\n", encoding="utf-8")
    upload(page, same_name)
    expect(status).to_contain_text("同名文件")
    page.click("#keep-btn")
    expect(status).to_contain_text("已取消")
    assert default.read_bytes() == before
    for text in ("Traceback", "Error:"):
        assert text not in page.locator("body").inner_text()


def test_delete_asks_first_and_removes_the_file(page: Any, served: Served, tmp_path: Path) -> None:
    """An article is deleted only after 确认删除; it leaves the corpus folder at once, and the index after."""
    page.click("#tab-articles-button")
    status = page.locator("#articles-status")
    doomed = tmp_path / "to-delete.md"
    doomed.write_text("# 待删除文章\n\n这篇文章很快会被删除。\n", encoding="utf-8")
    upload(page, doomed)
    expect(status).to_contain_text("已添加「待删除文章」")
    expect(status).to_contain_text("to-delete.md：已完成", timeout=180_000)
    page.click("#delete-choice input")
    # indexed at once: listed under its title
    page.get_by_role("option", name="待删除文章（to-delete.md）").click()
    page.click("#delete-btn")
    expect(status).to_contain_text("确定从语料中删除 to-delete.md")
    assert (served.settings.corpus_dir / "to-delete.md").exists()
    page.click("#really-delete")
    expect(status).to_contain_text("已删除 to-delete.md")
    assert not (served.settings.corpus_dir / "to-delete.md").exists()
    expect(status).to_contain_text("索引已更新", timeout=180_000)
    expect(page.locator("#articles-table")).not_to_contain_text("to-delete.md")


def test_evaluate_tab_runs_a_question_set(page: Any, served: Served) -> None:
    """Upload the project's question set, run a sample, see metrics, chart, rows and the reports."""
    page.click("#tab-evaluate-button")
    page.set_input_files("#eval-file input[type=file]", str(QUESTION_SET))
    expect(page.locator(f"#eval-file a[href$='/{QUESTION_SET.name}']")).to_have_count(1)
    page.fill("#eval-sample input", "8")
    page.click("#eval-run")
    expect(page.locator("#eval-status")).to_contain_text("8 题", timeout=180_000)
    expect(page.locator("#eval-metrics")).to_contain_text("hit@5")
    expect(page.locator("#eval-chart canvas, #eval-chart svg").first).to_be_visible()
    for name in ("report.html", "report.json"):
        expect(page.locator(f"#eval-downloads a[href$='/{name}']")).to_have_count(1)
    # the table draws its rows as a virtual list: role=row elements, first column data-col=0
    verdicts = [t.strip() for t in page.locator("#eval-questions .virtual-row [data-col='0']").all_inner_texts()]
    assert len(verdicts) == 8, verdicts
    failed = [v.startswith("✗") for v in verdicts]
    assert failed == sorted(failed, reverse=True), "failures come first"
    runs = sorted((served.settings.index_dir.parent / "eval-runs").glob("*/report.json"))
    assert runs, "the reports are written under eval-runs/ beside the index folder"
    report = json.loads(runs[-1].read_text(encoding="utf-8"))
    assert report["summary"]["counts"]["questions"] == 8
    assert list(served.cwd.iterdir()) == [], "nothing is written in the folder the server was started from"
    screenshot(page, "evaluate-tab.png")


def test_repo_corpus_and_index_are_untouched(served: Served) -> None:
    """The app under test works in a temporary folder only."""
    assert served.settings.corpus_dir != ROOT / "corpus"
    assert not str(served.settings.index_dir).startswith(str(ROOT / "index"))
