"""The 检索测试 tab in a real headless Chromium against `rag serve`: the explanation the page shows is the CLI's.

One server over a fresh index of the default article (no login). The tab runs a
question with settings tried for it alone: its table's kept rows are the hits of
`rag ask --explain --json`, its decision is the same rule, and nothing is saved
(the chat still answers with the server's settings).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from rag.kb.bases import KnowledgeBases
from rag.serialize import answer_to_json, trace_to_json
from tests.browser_support import ANSWER_TIMEOUT, BROWSER_MARKS, open_chat_page, screenshot, start_app
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS
UNANSWERABLE = "深圳的气候怎么样？"  # refused by the reader's support score; a lower threshold answers it


@dataclass
class Served:
    """The app under test and `rag ask --explain --json` for UNANSWERABLE, as asked and with a lower threshold."""

    url: str
    refused: dict[str, Any]
    tried: dict[str, Any]


def _as_cli(bases: KnowledgeBases, changes: dict[str, Any]) -> dict[str, Any]:
    explained = bases.explain(UNANSWERABLE, changes=changes)
    data = {**answer_to_json(explained.answer), "explain": trace_to_json(explained.trace)}
    return json.loads(json.dumps(data, ensure_ascii=False))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("browser-explain")
    settings = make_settings(workdir / "data")
    bases = KnowledgeBases(settings)
    bases.build("default")
    refused, tried = _as_cli(bases, {}), _as_cli(bases, {"reader_refusal_threshold": 0.5})
    app = start_app(workdir, settings)
    try:
        yield Served(app.url, refused, tried)
    finally:
        app.stop()


def _kept_chunks(data: dict[str, Any]) -> list[str]:
    """The text the page shows of each kept candidate, by final rank (its first 60 characters)."""
    kept = sorted((c for c in data["explain"]["candidates"] if c["final_rank"]), key=lambda c: c["final_rank"])
    return [" ".join(c["text"][:60].split()) for c in kept]


def _run(page: Any) -> Any:
    page.click("#explain-run")
    output = page.locator("#explain-output .rag-explain")
    expect(output).to_be_visible(timeout=ANSWER_TIMEOUT)
    return output


def test_the_tab_shows_the_cli_s_explanation_and_saves_nothing(browser: Any, served: Served) -> None:
    page = open_chat_page(browser, served.url)
    page.click("#tab-explain-button")
    page.fill("#explain-question textarea", UNANSWERABLE)
    output = _run(page)
    expect(output.locator(".explain-decision.refused")).to_contain_text("拒答（阅读模型参与的支持分低于阈值）")
    rows = output.locator("tr.kept td:last-child")
    assert [" ".join(t.rstrip("…").split()) for t in rows.all_inner_texts()] == _kept_chunks(served.refused)
    # settings tried for this question alone
    page.fill("#explain-threshold input", "0.5")
    output = _run(page)
    expect(output.locator(".explain-decision")).to_have_text("结论：回答")
    assert served.tried["refused"] is False
    assert [" ".join(t.rstrip("…").split()) for t in output.locator("tr.kept td:last-child").all_inner_texts()] == \
        _kept_chunks(served.tried)
    expect(output.locator(".explain-answer strong")).to_have_text(served.tried["short_answer"]["text"])
    screenshot(page, "explain-tab.png")
    page.context.close()
    # nothing was saved: the server still refuses the question
    assert httpx.post(served.url + "api/ask", json={"question": UNANSWERABLE}, timeout=60).json()["refused"] is True


def test_the_tab_speaks_english_to_an_english_browser(browser: Any, served: Served) -> None:
    page = open_chat_page(browser, served.url, "en-US")
    expect(page.locator("#tab-explain-button")).to_have_text("Retrieval test")
    page.click("#tab-explain-button")
    expect(page.locator("#explain-run")).to_have_text("Test")
    page.fill("#explain-question textarea", UNANSWERABLE)
    output = _run(page)
    expect(output.locator(".explain-decision")).to_have_text(
        "Decision: refused by reader support (the support score is below the threshold)")
    expect(output.locator("th").first).to_have_text("final")
    page.context.close()
