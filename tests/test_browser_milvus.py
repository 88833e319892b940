"""The browser chat on the Milvus store, as a new user runs it: `RAG_STORE=milvus rag serve`.

Two deployments: Milvus Lite by file path (inside the app's process) and a
`milvus-lite server` process reached by http:// with a token (the code path a
Milvus server or cluster uses). On each: the answer and its highlighted span
equal what the Python API gives on the same store, and an article uploaded and
rebuilt in the browser is answered from Milvus.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.milvus_scale import start_server
from rag.embed.encoder import Encoder
from rag.kb.knowledge_base import KnowledgeBase
from rag.serialize import answer_to_json
from rag.settings import Settings
from rag.store.milvus.store import connect, disconnect, filter_literal
from tests.browser_support import (
    BROWSER_MARKS,
    NEW_ARTICLE,
    NEW_QUESTION,
    QUESTION,
    ServedApp,
    ask,
    expect_answer_shown,
    launch_chromium,
    open_chat_page,
    screenshot,
    start_app,
    upload,
)
from tests.helpers import make_settings

playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("pymilvus")
expect = playwright_api.expect

pytestmark = BROWSER_MARKS

TOKEN = "tok-browser-7d1e-never-shown"


@dataclass
class MilvusApp:
    """`rag serve` on the Milvus store, and what the API answered on the same store before it started."""

    deployment: str
    app: ServedApp
    settings: Settings
    cli: dict[str, Any]


@pytest.fixture(scope="module", params=("lite", "server"))
def milvus_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               encoder: Encoder) -> Iterator[MilvusApp]:
    """The default article indexed into Milvus by this process, then served by `rag serve` with RAG_STORE=milvus."""
    workdir = tmp_path_factory.mktemp(f"milvus-{request.param}")
    settings = make_settings(workdir, store="milvus")
    env = {"RAG_STORE": "milvus"}
    server: subprocess.Popen[bytes] | None = None
    if request.param == "server":
        server, uri = start_server(workdir / "served.db")
        settings = settings.replace(milvus_uri=uri, milvus_token=TOKEN)
        env.update(RAG_MILVUS_URI=uri, RAG_MILVUS_TOKEN=TOKEN)
    app: ServedApp | None = None
    try:
        kb = KnowledgeBase(settings, encoder)
        assert kb.build().store_inserted > 0
        cli = json.loads(json.dumps(answer_to_json(kb.ask(QUESTION)), ensure_ascii=False))
        disconnect(settings)  # Milvus Lite by file path belongs to one process: the app's, from here on
        app = start_app(workdir, settings, env)
        yield MilvusApp(request.param, app, settings, cli)
    finally:
        if app is not None:
            app.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def page(milvus_app: MilvusApp) -> Iterator[Any]:
    """A fresh page on the app."""
    with launch_chromium() as browser:
        yield open_chat_page(browser, milvus_app.app.url)


def test_answer_and_highlight_equal_the_api_on_milvus(page: Any, milvus_app: MilvusApp) -> None:
    expected = milvus_app.cli
    assert not expected["refused"] and expected["citations"]
    expect(page.locator("#status-line")).to_contain_text("存储 Milvus")
    message = ask(page, QUESTION)
    expect_answer_shown(message, expected)
    cards = page.locator("#sources .cite-card")
    expect(cards).to_have_count(len(expected["citations"]))
    for i, citation in enumerate(expected["citations"]):
        assert cards.nth(i).locator("mark").inner_text() == citation["text"]
        assert cards.nth(i).locator(".cite-para").inner_text() == citation["paragraph_text"]
    screenshot(page, f"milvus-{milvus_app.deployment}-chat.png")
    assert TOKEN not in milvus_app.app.log()


def test_uploaded_article_is_answered_from_milvus(page: Any, milvus_app: MilvusApp, tmp_path: Path,
                                                  encoder: Encoder) -> None:
    name, text = NEW_ARTICLE
    (tmp_path / name).write_text(text, encoding="utf-8")
    page.click("#tab-articles-button")
    upload(page, tmp_path / name)
    status = page.locator("#articles-status")
    expect(status).to_contain_text("已添加")
    expect(status).to_contain_text(f"{name}：已完成", timeout=180_000)  # one action: added and indexed

    page.click("#tab-chat-button")
    message = ask(page, NEW_QUESTION)
    expect(message).to_contain_text("960")
    expect(page.locator("#sources .cite-card").first).to_contain_text("深圳低空经济发展报告")
    if milvus_app.deployment == "server":
        # A second app server on the same knowledge base (same Milvus server, same index folder):
        # it sees the rows the browser's rebuild wrote and answers from the new article too.
        conn = connect(milvus_app.settings)
        rows = conn.client.query(milvus_app.settings.milvus_collection, filter=f"article == {filter_literal(name)}",
                                 output_fields=["text"])
        assert rows and any("960" in row["text"] for row in rows)
        other = KnowledgeBase(milvus_app.settings, encoder).ask(NEW_QUESTION)
        assert not other.refused and "960" in other.text and other.citations[0].article == name
        disconnect(milvus_app.settings)
    assert TOKEN not in milvus_app.app.log()
