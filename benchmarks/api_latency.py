"""Latency of each API route: ``python benchmarks/api_latency.py [--questions 100]``.

Indexes the passages of a seeded sample of CMRC 2018 dev questions (as .txt
articles) in a temporary folder, starts `rag serve` on a free port as a user
would, and asks every question once through each route with a keep-alive client:
OpenAI chat (whole and streamed), Dify's /retrieval, /api/search, /api/ask and
MCP's ``ask`` tool over HTTP. Client-side: from sending the request to the last
byte; server-side: the ``Server-Timing`` header (request to response headers;
for a stream, its first byte). Writes its table into BENCHMARKS.md between the
api markers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.data import load_cmrc, write_passage_files  # noqa: E402
from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.report import write_block  # noqa: E402
from benchmarks.scale import Percentiles  # noqa: E402
from rag.kb.knowledge_base import KnowledgeBase  # noqa: E402
from rag.settings import Settings, default_models_dir  # noqa: E402

START = "<!-- bench:api:start -->"
END = "<!-- bench:api:end -->"
AFTER = "<!-- bench:performance:end -->"


@dataclass
class RouteTimes:
    """One route's client-side and server-side milliseconds."""

    route: str
    client: list[float]
    server: list[float]


def server_ms(response: httpx.Response) -> float:
    """The ``Server-Timing: app;dur=MS`` value."""
    return float(response.headers["server-timing"].split("dur=")[1])


def start_server(settings: Settings, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`rag serve` on a free port, its URL once it prints it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_INDEX_DIR": str(settings.index_dir),
                "RAG_MODELS_DIR": str(settings.models_dir), "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONPATH": str(ROOT)})
    log = folder / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=folder, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if "rag: API at" in log.read_text(errors="replace"):
            return process, f"http://127.0.0.1:{port}/"
        if process.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace"))
        time.sleep(0.25)
    process.kill()
    raise RuntimeError("rag serve did not start")


def time_route(name: str, questions: list[str], call: Callable[[str], httpx.Response]) -> RouteTimes:
    """Ask every question once through one route (after one warm-up call)."""
    call(questions[0])
    times = RouteTimes(name, [], [])
    for q in questions:
        began = time.perf_counter()
        response = call(q)
        times.client.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
        times.server.append(server_ms(response))
    return times


def time_stream(http: httpx.Client, url: str, question: str) -> httpx.Response:
    """A streamed chat completion, read to its ``[DONE]``."""
    body = {"model": "default", "stream": True, "messages": [{"role": "user", "content": question}]}
    with http.stream("POST", url + "v1/chat/completions", json=body) as response:
        for _ in response.iter_lines():
            pass
    return response


async def time_mcp(url: str, questions: list[str]) -> RouteTimes:
    """MCP ``ask`` calls over streamable HTTP, the server time read from each response's header."""
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    stamps: list[float] = []

    async def note(response: Any) -> None:
        if "server-timing" in response.headers and response.request.method == "POST":
            stamps.append(float(response.headers["server-timing"].split("dur=")[1]))

    times = RouteTimes("MCP tool `ask` (streamable HTTP)", [], [])
    async with httpx2.AsyncClient(timeout=120, event_hooks={"response": [note]}) as http, \
            Client(streamable_http_client(url + "mcp", http_client=http)) as client:
        await client.call_tool("ask", {"question": questions[0]})
        for q in questions:
            stamps.clear()
            began = time.perf_counter()
            await client.call_tool("ask", {"question": q})
            times.client.append((time.perf_counter() - began) * 1000)
            times.server.append(sum(stamps))
    return times


def measure(url: str, questions: list[str]) -> list[RouteTimes]:
    """Every route over the same questions, one after another."""
    rows = []
    with httpx.Client(timeout=120) as http:
        chat = lambda q: http.post(url + "v1/chat/completions",  # noqa: E731
                                   json={"model": "default", "messages": [{"role": "user", "content": q}]})
        rows.append(time_route("OpenAI chat completion", questions, chat))
        rows.append(time_route("OpenAI chat completion, streamed (server: to first byte)", questions,
                               lambda q: time_stream(http, url, q)))
        rows.append(time_route("Dify /retrieval (top 5)", questions, lambda q: http.post(url + "retrieval", json={
            "knowledge_id": "default", "query": q, "retrieval_setting": {"top_k": 5, "score_threshold": 0}})))
        rows.append(time_route("/api/search", questions, lambda q: http.post(url + "api/search", json={"question": q})))
        rows.append(time_route("/api/ask", questions, lambda q: http.post(url + "api/ask", json={"question": q})))
    rows.append(asyncio.run(time_mcp(url, questions)))
    return rows


def render(rows: list[RouteTimes], questions: int, passages: int, argv: list[str], loads: list[float]) -> str:
    """The markdown section."""
    info = machine_info()
    versions = library_versions()
    lines = [
        "## API latency (rag serve, one client, keep-alive)\n",
        f"Written by `python benchmarks/api_latency.py {shlex.join(argv)}`".rstrip() + " on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {git_commit(ROOT)}, {info['cpu']} ({info['cores']} cores, "
        f"{info['ram_gib']} GiB), load average during the run {min(loads):.1f}–{max(loads):.1f}. "
        f"{questions} CMRC 2018 dev questions (seeded sample) over an index of their {passages} passages, each "
        "asked once per route after one warm-up call, default settings (extractive answers with the reader). "
        "Client: from sending the request to the last byte, on the same machine; server: the `Server-Timing` "
        "header (request to response headers; a stream's first byte).\n",
        "| route | client p50 ms | client p95 ms | server p50 ms | server p95 ms |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        c, s = Percentiles.of(row.client), Percentiles.of(row.server)
        lines.append(f"| {row.route} | {c.p50:.1f} | {c.p95:.1f} | {s.p50:.1f} | {s.p95:.1f} |")
    lines.append("\nVersions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run and write the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100, help="CMRC dev questions in the sample (default 100)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(corpus_dir=folder / "corpus", index_dir=folder / "index",
                            models_dir=default_models_dir(ROOT))
        cmrc = load_cmrc(settings, quick=True, quick_questions=args.questions)
        write_passage_files(cmrc.passages, settings.corpus_dir)
        KnowledgeBase(settings).build()
        process, url = start_server(settings, folder)
        loads = [load_average()[0]]
        try:
            rows = measure(url, [q.question for q in cmrc.question_set.questions])
        finally:
            loads.append(load_average()[0])
            process.terminate()
            process.wait(timeout=30)
    section = render(rows, len(cmrc.question_set.questions), len(cmrc.passages), sys.argv[1:], loads)
    write_block(args.output, START, END, section, after=AFTER)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
