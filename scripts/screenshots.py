"""README screenshots from the real page: the chat, its sources and the evaluation tab.

Usage: python scripts/screenshots.py [--out docs/images] [--locale zh-CN]   (or `make screenshots`)

Builds an index of a copy of corpus/ in a scratch folder (test-artifacts/screenshots/,
git-ignored, with the server's log), starts `rag serve` on a free port as a user
would, drives it with Playwright and Debian's Chromium (/usr/bin/chromium, headless)
and writes chat.png, sources.png and evaluate.png into --out. Not part of `make test`:
run it when the page changes, and commit the images that changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from rag.settings import default_models_dir  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
QUESTION = "2025年深圳人工智能核心产业营收约多少？"
READY = "rag: chat at "
SAMPLE = 12  # questions of the shipped set run for the evaluation picture


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Index a copy of corpus/ in ``scratch`` and start `rag serve` there; return the process and its URL."""
    data = scratch / "data"
    shutil.rmtree(scratch, ignore_errors=True)
    (data / "corpus").mkdir(parents=True)
    for path in (ROOT / "corpus").iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy(path, data / "corpus" / path.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_CORPUS_DIR": str(data / "corpus"), "RAG_INDEX_DIR": str(data / "index"),
                "RAG_MODELS_DIR": str(default_models_dir(ROOT)), "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    subprocess.run([sys.executable, "-m", "rag.cli", "index"], env=env, cwd=scratch, check=True,
                   stdout=subprocess.DEVNULL)
    log = (scratch / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(free_port())], env=env,
                               cwd=scratch, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        for line in (scratch / "serve.log").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(READY):
                return process, line[len(READY):].split()[0]
        if process.poll() is not None:
            break
        time.sleep(0.25)
    process.kill()
    raise SystemExit(f"rag serve did not start; see {scratch / 'serve.log'}")


def settle(page: Any) -> None:
    """Wait until no component shows gradio's pending fade, then for the fade-out itself."""
    page.wait_for_function("!document.querySelector('.pending, .generating')", timeout=30_000)
    page.wait_for_timeout(500)


def take(url: str, out: Path, locale: str) -> list[Path]:
    """Drive the page and write the three pictures; return their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(locale=locale, viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("#question textarea")
        page.fill("#question textarea", QUESTION)
        page.click("#ask")
        page.wait_for_selector("#sources .rag-sources[data-state=answered]")
        settle(page)
        page.screenshot(path=str(out / "chat.png"))
        page.locator("#sources .cite-card").first.scroll_into_view_if_needed()
        page.locator("#tab-sources").screenshot(path=str(out / "sources.png"))
        page.click("#tab-evaluate-button")
        page.click("#eval-choice input")
        page.get_by_role("option").filter(has_text="shenzhen-ai").first.click()
        page.fill("#eval-sample input", str(SAMPLE))
        page.click("#eval-run")
        page.wait_for_selector("#eval-downloads a[href$='report.html']", timeout=600_000)
        settle(page)
        page.screenshot(path=str(out / "evaluate.png"), full_page=True)
        browser.close()
    return [out / name for name in ("chat.png", "sources.png", "evaluate.png")]


def main(argv: list[str] | None = None) -> int:
    """Make the screenshots; print where they went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go")
    parser.add_argument("--locale", default="zh-CN", help="the browser's language (zh-CN, en-US)")
    parser.add_argument("--scratch", type=Path, default=ROOT / "test-artifacts" / "screenshots",
                        help="corpus copy, index and server log (git-ignored)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"screenshots: needs Debian's chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    process, url = start_server(args.scratch)
    try:
        for path in take(url, args.out, args.locale):
            print(f"screenshots: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
