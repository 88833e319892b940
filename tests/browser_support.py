"""Support for the browser tests: `rag serve` in a subprocess on a free port, Debian's Chromium.

The app runs exactly as a user starts it (``python -m rag.cli serve``), with its
corpus and index in a temporary folder given through ``RAG_…`` variables; its
evaluation reports go beside the index folder, whatever its working folder is.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"  # git-ignored: screenshots a person can look at
CHROMIUM = Path("/usr/bin/chromium")
# Every browser-test module's marks: ``pytestmark = BROWSER_MARKS``.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]
# Playwright does not download a browser here; these flags suit a headless container.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
READY_LINE = "rag: chat at "
QUESTION = "2025年深圳人工智能核心产业营收约多少？"
ANSWER_TIMEOUT = 60_000  # ms; a busy CI machine answers in well under a second, this is slack
NEW_ARTICLE = ("low-altitude.md",
               "# 深圳低空经济发展报告\n\n## 产业规模\n\n"
               "2025 年深圳低空经济产业规模突破 960 亿元，低空飞行器企业超过 1700 家。\n\n"
               "全市已建成无人机起降点 483 个，开通航线 250 条。\n")
NEW_QUESTION = "深圳低空经济产业规模突破了多少亿元？"
START_TIMEOUT = 240.0  # importing torch and loading the model on a busy CI machine


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's Chromium, headless (playwright does not download a browser here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_chat_page(browser: Any, url: str, locale: str = "zh-CN", **options: Any) -> Any:
    """A page on the app at ``url`` in a new context (its own cookies and local storage), once the chat shows.

    ``options`` go to ``new_context`` (the viewport defaults to a desktop's); the caller closes the context.
    """
    options.setdefault("viewport", {"width": 1400, "height": 1000})
    context = browser.new_context(locale=locale, **options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return page


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_environment(settings: Settings) -> dict[str, str]:
    """The environment of a child `rag` process: the test's folders, offline, no analytics.

    ``RAG_…`` variables of the caller's shell are dropped so they cannot point the
    app at the user's corpus or index.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "OPENAI_API_KEY"}
    env.update({
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_MODELS_DIR": str(settings.models_dir),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    })
    return env


@dataclass
class ServedApp:
    """A running `rag serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stop the server (this process only, by its pid)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_app(workdir: Path, settings: Settings, extra_env: dict[str, str] | None = None,
              timeout: float = START_TIMEOUT, cwd: Path | None = None) -> ServedApp:
    """Start `python -m rag.cli serve` on a free port (in ``cwd``, default ``workdir``) and wait for its URL.

    Its output goes to ``workdir``/serve.log.
    """
    port = free_port()
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
            cwd=cwd or workdir, env={**app_environment(settings), **(extra_env or {})}, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    app = ServedApp(url="", process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = app.log()
        for line in text.splitlines():
            if line.startswith(READY_LINE):
                app.url = line[len(READY_LINE):].split()[0]
                return app
        if process.poll() is not None:
            raise RuntimeError(f"rag serve exited with code {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.25)
    app.stop()
    raise RuntimeError(f"rag serve did not start within {timeout:.0f} s:\n{app.log()[-3000:]}")


def log_in(page: Any, url: str, user: str, password: str) -> None:
    """Fill in gradio's login form at ``url`` and wait for the chat page behind it."""
    page.goto(url)
    page.fill("input[data-testid=textbox]", user)
    page.fill("input[type=password]", password)
    page.locator("button", has_text="登录").click()
    page.wait_for_selector("#question textarea")


def ask(page: Any, question: str) -> Any:
    """Ask in the chat; return the locator of the final answer message."""
    from playwright.sync_api import expect

    turn = page.locator("#chat [data-testid=bot]").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_selector(f"#sources .rag-sources[data-state=answered][data-turn='{turn}']",
                           timeout=ANSWER_TIMEOUT)
    message = page.locator("#chat [data-testid=bot]").nth(turn)
    expect(message).not_to_contain_text("正在")
    return message


def expect_answer_shown(message: Any, cli: dict[str, Any]) -> None:
    """The chat message shows the answer ``rag ask --json`` gives (``cli``).

    With a short answer: it leads in bold with its citation's marker, then the
    evidence (``cli["answer"]``) with its markers; white space aside, nothing else.
    """
    from playwright.sync_api import expect

    short = cli.get("short_answer")
    if short is None:
        expect(message).to_have_text(cli["answer"])
        return
    expect(message.locator("strong")).to_have_text(" ".join(short["text"].split()))
    expected = f"{short['text']}[{short['n']}]{cli['answer']}"
    assert "".join(message.inner_text().split()) == "".join(expected.split())


@dataclass(frozen=True)
class ChunkInView:
    """Where the 文章 tab's chunk view shows one chunk of an article."""

    label: str  # the article's choice in the view's chooser
    n: int  # the number of the chunk in the article
    total: int  # the article's chunks


def build_and_find_chunk(settings: Settings, article: str, paragraphs: tuple[int, ...]) -> ChunkInView:
    """Build the default knowledge base of ``settings``; where its chunk of ``paragraphs`` of ``article`` is shown."""
    from rag.kb.bases import KnowledgeBases

    bases = KnowledgeBases(settings)
    bases.build("default")
    version = bases.get("default").version()
    chunks = [c for c in version.chunks if c.article == article]
    n = next(i for i, c in enumerate(chunks, start=1) if c.paragraphs == paragraphs)
    return ChunkInView(f"{version.articles[article].title}（{article}）", n, len(chunks))


def upload(page: Any, *paths: Path) -> None:
    """Choose files in the Articles tab: choosing is uploading, which adds and indexes them in one action."""
    page.set_input_files("#upload input[type=file]", [str(p) for p in paths])


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot into test-artifacts/ and return its path.

    Waits until no component shows gradio's pending fade, so the picture is what a user sees.
    """
    page.wait_for_function("!document.querySelector('.pending, .generating')", timeout=10_000)
    page.wait_for_timeout(400)  # the fade-out transition; only the picture waits for it, no assertion does
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


class FakeChatEndpoint:
    """A real local HTTP server speaking the OpenAI chat-completions stream (the one allowed fake).

    It sends the first piece of its answer, then waits for ``gate`` before the
    rest, so a test can see the answer arrive token by token without timing.
    """

    def __init__(self, pieces: list[str], model: str = "fake-model"):
        self.pieces = pieces
        self.model = model
        self.gate = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``llm_base_url`` to configure."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeChatEndpoint:
        """Serve in a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (and let a waiting answer finish)."""
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked streaming, as vLLM and Ollama send it

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.close_connection = True
                endpoint.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, piece in enumerate(endpoint.pieces):
                    if i == 1:
                        endpoint.gate.wait(60)
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _event(self, payload: dict[str, Any]) -> None:
                self._chunk(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def open_settings(page: Any) -> None:
    """Open the chat's 设置 accordion; a click that lands before the page is live is made again.

    Under load a click can reach the accordion before gradio has wired it, and
    then it stays closed (seen once in CI): wait for its content, click again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    content = page.locator("#answer-mode")
    for _ in range(5):
        if content.is_visible():
            return
        page.click("#settings")
        try:
            content.wait_for(state="visible", timeout=3000)
            return
        except PlaywrightTimeout:
            continue
    expect(content).to_be_visible()


def stored_turns(page: Any, turns: int) -> None:
    """Wait until this browser's storage holds the current conversation with ``turns`` turns."""
    page.wait_for_function(
        """(n) => { try { const s = JSON.parse(localStorage.getItem('rag-chat') || '{}');
           const c = (s.conversations || []).find((x) => x && x.id === s.current);
           return !!c && c.turns.length === n; } catch (e) { return false; } }""", arg=turns, timeout=ANSWER_TIMEOUT)


def choose(page: Any, selector: str, option: str) -> None:
    """Pick ``option`` in a gradio dropdown; an open list that an update closes again is opened again.

    A page-load event that updates the dropdown re-renders it, which closes a list
    opened a moment before (seen under load): wait for the option, click again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    item = page.get_by_role("option", name=option, exact=True)
    for _ in range(4):
        page.click(f"{selector} input")
        try:
            item.wait_for(state="visible", timeout=5000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        item.click()
        return
    page.click(f"{selector} input")
    item.click()
