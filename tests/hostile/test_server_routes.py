"""The server's routes under attack, on a live `rag serve`: the page's upload, the API's slots, bodies, shapes.

One server on 127.0.0.1 without keys (so every local client shares one set of
slots), at most 2 requests at once, a 100 KB upload limit, generative answers
from a local fake endpoint whose gate a test can close to hold its streams
open, and gradio's upload cache in the test's own folder. Requests are made as
an attacker makes them: raw sockets, chunked bodies, gradio's HTTP API, the
`openai` package and the `mcp` SDK. A second server, with a login and on 0.0.0.0
without keys, shows what a stranger can read of the page.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.kb.knowledge_base import KnowledgeBase
from tests.browser_support import QUESTION, FakeChatEndpoint, ServedApp, start_app
from tests.helpers import ROOT, make_settings

mcp_client = pytest.importorskip("mcp.client.client")

UPLOAD_LIMIT = 100_000
SLOTS = 2
PIECES = ["深圳人工智能核心产业", "营收约 2200 亿元", "[1]。"]
SECRET = "外星人基地位于火星第三号陨石坑QZX。"


@dataclass
class Server:
    url: str
    app: ServedApp
    corpus: Path
    uploads: Path
    endpoint: FakeChatEndpoint
    workdir: Path

    def rss_mb(self) -> float:
        """The server process's resident memory now."""
        status = Path(f"/proc/{self.app.process.pid}/status").read_text(encoding="utf-8")
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, encoder: Any) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("routes")
    settings = make_settings(workdir / "data")
    KnowledgeBase(settings, encoder).build()
    uploads = workdir / "gradio-uploads"
    uploads.mkdir()
    endpoint = FakeChatEndpoint(PIECES).start()
    endpoint.gate.set()
    app = start_app(workdir, settings, {
        "RAG_API_MAX_CONCURRENT": str(SLOTS), "RAG_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "RAG_ANSWER_MODE": "generative", "RAG_LLM_BASE_URL": endpoint.base_url, "RAG_LLM_MODEL": endpoint.model,
        "GRADIO_TEMP_DIR": str(uploads)})
    try:
        yield Server(app.url.rstrip("/"), app, settings.corpus_dir, uploads, endpoint, workdir)
    finally:
        app.stop()
        endpoint.stop()


def _corpus(server: Server) -> list[str]:
    return sorted(p.name for p in server.corpus.iterdir())


def _call_upload(server: Server, path: str, name: str = "x.txt") -> str:
    """The issue's request: gradio's HTTP API asked to add the file at ``path``; the outcome's last event."""
    return _call_upload_body(server, {"data": [[{"path": path, "orig_name": name,
                                                 "meta": {"_type": "gradio.FileData"}}], "default"]})


def _call_upload_body(server: Server, body: dict[str, Any]) -> str:
    """``body`` sent to gradio's HTTP API for the upload handler; the outcome's last event."""
    with httpx.Client(timeout=120) as http:
        event = http.post(server.url + "/gradio_api/call/on_upload", json=body).json()["event_id"]
        stream = http.get(f"{server.url}/gradio_api/call/on_upload/{event}").text
    return stream.strip().split("\n\n")[-1]


# -- 1. the page's upload takes only uploads ---------------------------------------------------------
def test_the_upload_route_refuses_a_file_of_the_server(server: Server) -> None:
    outside = server.workdir / "outside.txt"
    outside.write_text(f"# 秘密\n\n{SECRET}\n", encoding="utf-8")
    link = server.uploads / "planted" / "link.txt"  # a link inside the upload cache to a file outside it
    link.parent.mkdir()
    link.symlink_to(outside)
    before = _corpus(server)
    for path in (str(outside), str(ROOT / "BENCHMARKS.md"), str(link), "http://127.0.0.1:9/a.txt"):
        last = _call_upload(server, path)
        assert last.startswith("event: error"), (path, last)
        message = json.loads(last.split("data: ", 1)[1])["error"]
        assert message == "只能使用通过本页上传的文件；请重新上传。", (path, message)
    assert _corpus(server) == before
    with httpx.Client(timeout=60) as http:
        hits = http.post(server.url + "/api/search", json={"question": "火星陨石坑里有什么？"}).json()
    assert not any("QZX" in h["text"] for h in hits)
    assert "Traceback" not in server.app.log()


def test_a_real_upload_through_the_same_route_is_added(server: Server) -> None:
    with httpx.Client(timeout=120) as http:
        files = {"files": ("mars.txt", "# 火星工厂\n\n火星上的工厂每年生产四百台钢琴。\n".encode())}
        (uploaded,) = http.post(server.url + "/gradio_api/upload", files=files).json()
    assert Path(uploaded).resolve().is_relative_to(server.uploads.resolve())
    last = _call_upload(server, uploaded, "mars.txt")
    assert last.startswith("event: complete") and "mars" in last, last
    assert "mars.txt" in _corpus(server)
    (server.corpus / "mars.txt").unlink()


# -- 2. abandoned streams give their slots back ------------------------------------------------------
def _abandon_stream(server: Server) -> None:
    body = json.dumps({"model": "default", "stream": True, "messages": [{"role": "user", "content": QUESTION}]})
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body.encode())}\r\n\r\n".encode() + body.encode())


def test_abandoned_streams_give_their_slots_back(server: Server) -> None:
    for _ in range(12):
        _abandon_stream(server)
    deadline, status = time.monotonic() + 60, 0
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline and status != 200:
            status = http.post(server.url + "/api/search", json={"question": QUESTION}).status_code
            if status != 200:
                assert status == 429, status
                time.sleep(0.5)
        assert status == 200
        # and every slot: as many requests at once as the limit allows
        for _ in range(SLOTS):
            assert http.post(server.url + "/api/ask", json={"question": QUESTION}).status_code == 200


# -- 3. bodies past the limit, as they stream in --------------------------------------------------------
def _chunked(mb: int, head: bytes = b'{"data": ["', tail: bytes = b'"], "fn_index": 0, "session_hash": "s"}') \
        -> Iterator[bytes]:
    yield head
    for _ in range(mb):
        yield b"a" * (1024 * 1024)
    yield tail


def test_bodies_over_the_limit_are_refused_as_they_stream_in(server: Server) -> None:
    log_before = len(server.app.log())
    rss_before = server.rss_mb()
    with httpx.Client(timeout=120) as http:
        page = http.post(server.url + "/gradio_api/queue/join", content=_chunked(40),
                         headers={"content-type": "application/json"})
        chat = http.post(server.url + "/v1/chat/completions", content=_chunked(2),
                         headers={"content-type": "application/json"})
        dify = http.post(server.url + "/retrieval", content=_chunked(2), headers={"content-type": "application/json"})
        declared = http.post(server.url + "/api/ask", content=b"x" * (2 * 1024 * 1024),
                             headers={"content-type": "application/json"})
        explain = http.post(server.url + "/api/explain", content=_chunked(2, b'{"question": "'),
                            headers={"content-type": "application/json"})
        upload = http.post(server.url + "/gradio_api/upload",
                           files={"files": ("big.txt", b"a" * (UPLOAD_LIMIT * 2))})
    assert page.status_code == 413 and page.json() == {
        "error": "the request body is over the limit of 1 MB; send a smaller one"}
    assert chat.status_code == 413 and chat.json()["error"]["code"] == "request_too_large"
    assert dify.status_code == 413 and dify.json()["error_code"] == 413
    assert declared.status_code == 413 and "1 MB" in declared.json()["error"]
    assert explain.status_code == 413 and "1 MB" in explain.json()["error"]
    assert upload.status_code == 413 and "max_upload_bytes" in upload.json()["error"]
    assert server.rss_mb() - rss_before < 40  # 40 MB went in; nothing past the limit was kept
    assert len(server.app.log()) - log_before < 2000 and "aaaaaaaaaa" not in server.app.log()


def test_inputs_are_never_echoed_into_the_log(server: Server) -> None:
    """An event sent with too few inputs (gradio's own message lists every input) is one line to the client."""
    marker = "ECHO-" + "b" * 800_000
    with httpx.Client(timeout=60) as http:
        config = http.get(server.url + "/config").json()
        fn = next(d["id"] for d in config["dependencies"] if d.get("backend_fn") and len(d["inputs"]) >= 2)
        joined = http.post(server.url + "/gradio_api/queue/join",
                           json={"data": [marker], "fn_index": fn, "session_hash": "echo-test", "event_data": None})
        assert joined.status_code == 200, joined.text
        with http.stream("GET", server.url + "/gradio_api/queue/data", params={"session_hash": "echo-test"}) as s:
            completed = next(json.loads(line.removeprefix("data: ")) for line in s.iter_lines()
                             if "process_completed" in line)
    assert completed["success"] is False and "缺少输入" in completed["output"]["error"]
    # a file named without gradio's meta: gradio's own model refused it, with a traceback in the log
    last = _call_upload_body(server, {"data": [[{"path": marker, "orig_name": "x.txt"}], "default"]})
    assert last.startswith("event: error") and "无法读取" in json.loads(last.split("data: ", 1)[1])["error"]
    time.sleep(0.5)
    log = server.app.log()
    assert "ECHO-" not in log and "Traceback" not in log


# -- 6 and 7. one shape per family, strict types, no traceback ----------------------------------------
BAD_BODIES = {
    "not UTF-8": b'{"question": "\xff\xfe"}',
    "deep": b"[" * 200_000 + b"]" * 200_000,
    "5,000 digits": b'{"model": "default", "n": ' + b"9" * 5000 + b', "question": "x"}',
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bodies_that_are_not_json_get_their_family_s_shape(server: Server, name: str) -> None:
    with httpx.Client(timeout=60) as http:
        def post(path: str) -> httpx.Response:
            return http.post(server.url + path, content=BAD_BODIES[name], headers={"content-type": "application/json"})

        chat, dify, native = post("/v1/chat/completions"), post("/retrieval"), post("/api/ask")
    assert chat.status_code == dify.status_code == native.status_code == 400
    assert chat.json()["error"]["type"] == "invalid_request_error"
    assert chat.json()["error"]["message"].startswith("the body cannot be read as JSON")
    assert dify.json()["error_code"] == 400 and "detail" not in dify.json()
    assert set(native.json()) == {"error"} and len(native.json()["error"].splitlines()) == 1


def test_a_lone_surrogate_in_a_question_is_one_line_on_every_route(server: Server) -> None:
    question = "深圳\ud800的营收？"
    bodies = {"/api/ask": {"question": question}, "/api/search": {"question": question},
              "/api/explain": {"question": question},
              "/retrieval": {"knowledge_id": "default", "query": question},
              "/v1/chat/completions": {"model": "default", "messages": [{"role": "user", "content": question}]}}
    with httpx.Client(timeout=60) as http:
        for path, body in bodies.items():
            for stream in ((False, True) if path.startswith("/v1") else (False,)):
                sent = json.dumps({**body, "stream": True} if stream else body)  # "\ud800" as its JSON escape
                reply = http.post(server.url + path, content=sent, headers={"content-type": "application/json"})
                assert reply.status_code == 400, (path, reply.text)
                assert "U+D800" in reply.text and "Traceback" not in reply.text
    assert "Traceback" not in server.app.log()


def test_request_types_are_strict_and_top_k_is_one_name(server: Server) -> None:
    with httpx.Client(timeout=60) as http:
        chat = http.post(server.url + "/v1/chat/completions", json={
            "model": "default", "stream": "yes", "messages": [{"role": "user", "content": QUESTION}]})
        dify = http.post(server.url + "/retrieval", json={"knowledge_id": "default", "query": QUESTION,
                                                          "retrieval_setting": {"top_k": "5"}})
        top_k = http.post(server.url + "/api/search", json={"question": QUESTION, "top_k": 2})
        k = http.post(server.url + "/api/search", json={"question": QUESTION, "k": 3})
        both = http.post(server.url + "/api/search", json={"question": QUESTION, "k": 3, "top_k": 2})
        text_k = http.post(server.url + "/api/search", json={"question": QUESTION, "top_k": "2"})
    assert chat.status_code == 400 and chat.json()["error"]["param"] == "stream"
    assert dify.status_code == 400 and "top_k" in dify.json()["error_msg"]
    assert top_k.status_code == 200 and len(top_k.json()) == 2
    assert k.status_code == 200 and len(k.json()) == 3
    assert both.status_code == 400 and "give one" in both.json()["error"]
    assert text_k.status_code == 400 and "top_k" in text_k.json()["error"]


# -- 7. /mcp shares the API's slots ----------------------------------------------------------------------
async def _mcp_ask(url: str) -> Any:
    async with mcp_client.Client(url + "/mcp") as client:
        return await client.call_tool("ask", {"question": QUESTION})


def test_mcp_calls_share_the_api_s_slots(server: Server) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    server.endpoint.gate.clear()  # the endpoint sends one piece, then holds each stream open
    try:
        streams = [client.chat.completions.create(model="default", messages=[{"role": "user", "content": QUESTION}],
                                                  stream=True) for _ in range(SLOTS)]
        for stream in streams:
            next(stream), next(stream)  # the role, then the first piece: each stream holds its slot
        busy = asyncio.run(_mcp_ask(server.url))
        assert busy.is_error and "too many requests at once" in busy.content[0].text
    finally:
        server.endpoint.gate.set()
    for stream in streams:
        list(stream)
    answered = asyncio.run(_mcp_ask(server.url))
    assert not answered.is_error and answered.structured_content["short_answer"]


def test_list_knowledge_bases_shows_no_server_folder(server: Server) -> None:
    async def listed() -> Any:
        async with mcp_client.Client(server.url + "/mcp") as client:
            return await client.call_tool("list_knowledge_bases", {})

    result = asyncio.run(listed())
    (base,) = result.structured_content["knowledge_bases"]
    assert base["name"] == "default" and base["articles"] >= 1 and base["chunks"] > 0
    assert str(server.workdir) not in json.dumps(result.structured_content) + result.content[0].text


# -- 9. what a stranger reads of a page with a login --------------------------------------------------------
def test_a_stranger_reads_no_endpoint_names_and_no_openapi(server: Server) -> None:
    folder = server.workdir / "login"
    folder.mkdir()
    app = start_app(folder, make_settings(server.workdir / "data"),
                    {"RAG_HOST": "0.0.0.0", "RAG_AUTH_USER": "reader", "RAG_AUTH_PASSWORD": "pw-4d2"})
    try:
        with httpx.Client(timeout=60) as http:
            page = http.get(app.url).text
            info = http.get(app.url + "gradio_api/info")
            openapi, docs = http.get(app.url + "openapi.json"), http.get(app.url + "docs")
    finally:
        app.stop()
    api_info = json.loads(page.split("window.gradio_api_info = ", 1)[1].split(";</script>", 1)[0])
    assert api_info.get("named_endpoints", {}) == {} and "on_upload" not in page
    assert info.status_code == 401 or info.json().get("named_endpoints", {}) == {}
    assert openapi.status_code == 404 and docs.status_code == 404


# -- 7. `rag mcp` on stdio answers every request, readable or not ------------------------------------------
def test_mcp_on_stdio_answers_a_request_it_cannot_read(server: Server) -> None:
    import select
    import subprocess
    import sys

    from tests.browser_support import app_environment

    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "mcp"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=server.workdir,
                               env=app_environment(make_settings(server.workdir / "data")))
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None

    def exchange(line: str) -> dict[str, Any]:
        process.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, f"no answer to {line[:80]}"
        return dict(json.loads(process.stdout.readline()))  # type: ignore[union-attr]

    try:
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        assert "result" in exchange(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}))
        process.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        ask = '{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "ask", "arguments": %s}}'
        surrogate = exchange(ask % (2, '{"question": "\\ud800"}'))
        deep = exchange(ask % (3, '{"question": ' + "[" * 100_000 + "]" * 100_000 + "}"))
        answered = exchange(ask % (4, json.dumps({"question": QUESTION})))
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    for reply, number in ((surrogate, 2), (deep, 3)):
        assert reply["id"] == number and reply["error"]["code"] == -32700, reply
        assert reply["error"]["message"].startswith("the request cannot be read")
    assert answered["id"] == 4 and not answered["result"].get("isError"), answered
    assert "Traceback" not in process.stderr.read().decode("utf-8", "replace")
