"""The HTTP API beside the page, through real clients, against live `rag serve` processes.

Three servers over one index of the default article: on 127.0.0.1 without keys
(open to the machine), on 0.0.0.0 with keys (behind them, generative mode on a
local fake chat endpoint, one request at a time per key), and on 0.0.0.0 without
keys (the API not mounted). The clients are the `openai` package, `httpx` for
Dify's contract and the CLI's JSON, and the `mcp` SDK's own client over HTTP
(and over stdio: `rag mcp`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.kb.knowledge_base import KnowledgeBase
from rag.serialize import answer_to_json, hit_to_json
from rag.settings import Settings
from tests.browser_support import QUESTION, FakeChatEndpoint, ServedApp, app_environment, start_app
from tests.helpers import make_settings

openai = pytest.importorskip("openai")
mcp_client = pytest.importorskip("mcp.client.client")

KEYS = ("key-one-7f3a9c", "key-two-0b81d2")
UNANSWERABLE = "深圳市的人口总数是多少？"
PIECES = ["深圳人工智能核心产业", "营收约 2200 亿元", "[1]。"]
LOGIN = ("reader", "pw-9c1d")


@dataclass
class Built:
    """The index every server reads, and what `rag ask --json` / `rag search --json` print for QUESTION."""

    workdir: Path
    settings: Settings
    ask: dict[str, Any]
    refused: dict[str, Any]
    search: list[dict[str, Any]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    workdir = tmp_path_factory.mktemp("api")
    settings = make_settings(workdir / "data")
    kb = KnowledgeBase(settings)
    kb.build()
    as_cli = lambda data: json.loads(json.dumps(data, ensure_ascii=False))  # noqa: E731
    hits = [as_cli(hit_to_json(h)) for h in kb.search(QUESTION).hits]
    answered, refused = (as_cli(answer_to_json(kb.ask(q))) for q in (QUESTION, UNANSWERABLE))
    return Built(workdir, settings, answered, refused, hits)


def _serve(built: Built, name: str, env: dict[str, str]) -> ServedApp:
    folder = built.workdir / name
    folder.mkdir()
    return start_app(folder, built.settings, env)


@pytest.fixture(scope="module")
def open_api(built: Built) -> Iterator[str]:
    """`rag serve` on 127.0.0.1 without keys: the API is open to this machine."""
    app = _serve(built, "open", {})
    try:
        yield app.url
    finally:
        app.stop()


@dataclass
class Keyed:
    url: str
    app: ServedApp
    endpoint: FakeChatEndpoint


@pytest.fixture(scope="module")
def keyed(built: Built) -> Iterator[Keyed]:
    """`rag serve` on 0.0.0.0 with two keys, generative answers from a fake endpoint, one request per key."""
    endpoint = FakeChatEndpoint(PIECES).start()
    app = _serve(built, "keyed", {"RAG_HOST": "0.0.0.0", "RAG_API_KEYS": ",".join(KEYS), "RAG_API_MAX_CONCURRENT": "1",
                                  "RAG_ANSWER_MODE": "generative", "RAG_LLM_BASE_URL": endpoint.base_url,
                                  "RAG_LLM_MODEL": endpoint.model, "RAG_AUTH_USER": LOGIN[0],
                                  "RAG_AUTH_PASSWORD": LOGIN[1]})
    try:
        yield Keyed(app.url, app, endpoint)
    finally:
        app.stop()
        endpoint.stop()


def _client(url: str, key: str = "not-needed") -> Any:
    return openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key=key, max_retries=0, timeout=60)


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- OpenAI-compatible chat -----------------------------------------------------------------------------

def test_openai_client_gets_the_cited_answer_with_references(open_api: str, built: Built) -> None:
    client = _client(open_api)
    assert [m.id for m in client.models.list().data] == ["default"]
    reply = client.chat.completions.create(model="default", messages=_user(QUESTION), temperature=0.3, top_p=0.9)
    message = reply.choices[0].message
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-") and reply.created > 0
    assert reply.choices[0].finish_reason == "stop"
    extra = message.model_extra
    assert extra["references"] == built.ask["citations"] and extra["references"]
    assert extra["refused"] is False and extra["short_answer"] == built.ask["short_answer"]
    short = built.ask["short_answer"]
    assert message.content == f"**{short['text']}** [{short['n']}]\n\n{built.ask['answer']}"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_openai_stream_sends_the_extractive_answer_whole_then_references(open_api: str, built: Built) -> None:
    stream = _client(open_api).chat.completions.create(model="default", messages=_user(QUESTION), stream=True,
                                                       stream_options={"include_usage": True})
    chunks = list(stream)
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) == 1  # never typed out
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finishing) == 1
    assert finishing[0].choices[0].delta.model_extra["references"] == built.ask["citations"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)


def test_a_refusal_is_an_answer_without_references(open_api: str, built: Built) -> None:
    assert built.refused["refused"]
    message = _client(open_api).chat.completions.create(model="default", messages=_user(UNANSWERABLE)
                                                        ).choices[0].message
    assert message.content == built.refused["answer"]
    assert message.model_extra["references"] == [] and message.model_extra["refused"] is True


def test_earlier_user_turns_feed_the_follow_up(open_api: str) -> None:
    history = [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "深圳人工智能核心产业营收"},
               {"role": "assistant", "content": "……"}, {"role": "user", "content": "它的企业有多少家？"}]
    with httpx.Client(timeout=60) as http:
        followed = http.post(open_api + "api/ask", json={"question": "它的企业有多少家？",
                                                         "history": ["深圳人工智能核心产业营收"]}).json()
    reply = _client(open_api).chat.completions.create(model="default", messages=history)  # type: ignore[arg-type]
    assert reply.choices[0].message.model_extra["references"] == followed["citations"]


def test_openai_errors_have_openai_s_shape(open_api: str, built: Built) -> None:
    client = _client(open_api)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-base", messages=_user(QUESTION))
    assert missing.value.body["code"] == "model_not_found" and missing.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as wrong:
        client.chat.completions.create(model="default", messages=_user(QUESTION), temperature="hot")  # type: ignore
    assert wrong.value.body["param"] == "temperature" and wrong.value.body["type"] == "invalid_request_error"
    too_long = "深" * (built.settings.max_question_chars + 1)
    with pytest.raises(openai.BadRequestError) as long:
        client.chat.completions.create(model="default", messages=_user(too_long))
    assert "max_question_chars" in long.value.body["message"]
    with httpx.Client(timeout=60) as http:
        big = http.post(open_api + "v1/chat/completions", content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                        headers={"content-type": "application/json"})
        assert big.status_code == 413 and "error" in big.json()
        no_user = http.post(open_api + "v1/chat/completions",
                            json={"model": "default", "messages": [{"role": "system", "content": "x"}]})
        assert no_user.status_code == 400 and no_user.json()["error"]["param"] == "messages"


# -- Dify's External Knowledge API and the CLI's JSON ------------------------------------------------------

def _retrieval(url: str, body: dict[str, Any] | None, key: str | None = None,
               header: str | None = None) -> httpx.Response:
    headers = {"Authorization": header if header is not None else f"Bearer {key}"} if key or header else {}
    with httpx.Client(timeout=60) as http:
        if body is None:
            return http.post(url + "retrieval", headers=headers)
        return http.post(url + "retrieval", json=body, headers=headers)


def test_dify_records_scores_threshold_and_metadata(open_api: str, built: Built) -> None:
    assert _retrieval(open_api, None).json() == {"records": []}  # the probe Dify sends on registration
    body = {"knowledge_id": "default", "query": QUESTION, "retrieval_setting": {"top_k": 5, "score_threshold": 0}}
    records = _retrieval(open_api, body).json()["records"]
    assert [r["content"] for r in records] == [h["text"] for h in built.search]
    assert records[0]["score"] == 1.0 and all(0 <= r["score"] <= 1 for r in records)
    assert [r["score"] for r in records] == sorted((r["score"] for r in records), reverse=True)
    assert all(isinstance(r["metadata"], dict) and r["metadata"]["article"] == built.search[0]["article"]
               for r in records)
    assert records[0]["metadata"]["start"] == built.search[0]["start"]
    cut = records[2]["score"]
    kept = _retrieval(open_api, {**body, "retrieval_setting": {"top_k": 5, "score_threshold": cut}}).json()["records"]
    assert [r["score"] for r in kept] == [r["score"] for r in records if r["score"] >= cut]
    section = next(r["metadata"]["section"] for r in records if r["metadata"]["section"])
    only = {**body, "metadata_condition": {"logical_operator": "and", "conditions": [
        {"name": ["section"], "comparison_operator": "is", "value": section}]}}
    filtered = _retrieval(open_api, only).json()["records"]
    assert filtered and all(r["metadata"]["section"] == section for r in filtered)
    none = {**body, "metadata_condition": {"logical_operator": "and", "conditions": [
        {"name": ["title"], "comparison_operator": "contains", "value": "不存在的标题"}]}}
    assert _retrieval(open_api, none).json() == {"records": []}
    either = {**body, "metadata_condition": {"logical_operator": "or", "conditions": [
        {"name": ["article"], "comparison_operator": "in", "value": [built.search[0]["article"]]},
        {"name": ["title"], "comparison_operator": "is not", "value": "x"}]}}
    assert len(_retrieval(open_api, either).json()["records"]) == len(records)
    unknown = _retrieval(open_api, {**body, "knowledge_id": "other"})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == 2001


def test_native_routes_return_the_cli_json(open_api: str, built: Built) -> None:
    with httpx.Client(timeout=60) as http:
        hits = http.post(open_api + "api/search", json={"question": QUESTION}).json()
        answer = http.post(open_api + "api/ask", json={"question": QUESTION}).json()
        status = http.get(open_api + "api/status").json()
        bad_mode = http.post(open_api + "api/search", json={"question": QUESTION, "mode": "fuzzy"})
        page = http.get(open_api)
    assert [{k: v for k, v in h.items() if "score" not in k} for h in hits] == \
        [{k: v for k, v in h.items() if "score" not in k} for h in built.search]
    assert {k: v for k, v in answer.items() if k != "timings_ms"} == \
        {k: v for k, v in built.ask.items() if k != "timings_ms"}
    assert status["articles"] == 1 and status["health"] == "ok"
    assert bad_mode.status_code == 400 and "mode" in bad_mode.json()["error"]
    assert page.status_code == 200 and "gradio" in page.text.lower()  # the page is still at /


# -- MCP --------------------------------------------------------------------------------------------------

async def _use_mcp(server: Any) -> tuple[list[str], Any, Any, Any]:
    async with mcp_client.Client(server) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        asked = await client.call_tool("ask", {"question": QUESTION})
        searched = await client.call_tool("search", {"question": QUESTION, "top_k": 3})
        bases = await client.call_tool("list_knowledge_bases", {})
        return tools, asked, searched, bases


def _check_mcp(result: tuple[list[str], Any, Any, Any], built: Built) -> None:
    tools, asked, searched, bases = result
    assert tools == ["ask", "explain", "faq_list", "list_knowledge_bases", "search"]
    assert asked.structured_content["citations"] == built.ask["citations"]
    assert asked.structured_content["short_answer"] == built.ask["short_answer"]
    text = asked.content[0].text
    assert built.ask["short_answer"]["text"] in text and built.ask["citations"][0]["title"] in text
    assert [h["text"] for h in searched.structured_content["hits"]] == [h["text"] for h in built.search[:3]]
    assert bases.structured_content["knowledge_bases"][0]["name"] == "default"


def test_mcp_client_over_http(open_api: str, built: Built) -> None:
    _check_mcp(asyncio.run(_use_mcp(open_api + "mcp")), built)


def test_mcp_client_over_stdio(built: Built) -> None:
    from mcp.client.stdio import StdioServerParameters

    env = app_environment(built.settings)
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.cli", "mcp"], env=env,
                                   cwd=str(built.workdir))
    _check_mcp(asyncio.run(_use_mcp(params)), built)


# -- keys and exposure ----------------------------------------------------------------------------------------

def test_exposed_api_needs_a_key_and_never_logs_it(keyed: Keyed) -> None:
    with pytest.raises(openai.AuthenticationError):
        _client(keyed.url, "not-a-key").models.list()
    assert [m.id for m in _client(keyed.url, KEYS[1]).models.list().data] == ["default"]
    body = {"knowledge_id": "default", "query": QUESTION, "retrieval_setting": {"top_k": 2, "score_threshold": 0}}
    assert _retrieval(keyed.url, None, key=KEYS[0]).json() == {"records": []}
    malformed = _retrieval(keyed.url, body, header=f"Token {KEYS[0]}")
    assert malformed.status_code == 403 and malformed.json()["error_code"] == 1001
    assert _retrieval(keyed.url, body).json()["error_code"] == 1001  # no header at all
    wrong = _retrieval(keyed.url, body, key="key-three")
    assert wrong.status_code == 403 and wrong.json()["error_code"] == 1002
    assert len(_retrieval(keyed.url, body, key=KEYS[0]).json()["records"]) == 2
    with httpx.Client(timeout=60) as http:
        assert http.get(keyed.url + "docs").status_code == 401
        assert http.get(keyed.url + "openapi.json").status_code == 401
        assert http.post(keyed.url + "api/ask", json={"question": QUESTION}).status_code == 401
        assert http.post(keyed.url + "mcp", json={}).status_code == 401
        docs = http.get(keyed.url + "openapi.json", headers={"Authorization": f"Bearer {KEYS[0]}"}).json()
    assert "/v1/chat/completions" in docs["paths"] and "/retrieval" in docs["paths"]
    assert asyncio.run(_mcp_tools_with_key(keyed.url + "mcp", KEYS[1])) == \
        ["ask", "explain", "faq_list", "list_knowledge_bases", "search"]
    log = keyed.app.log()
    assert not any(key in log for key in KEYS)
    assert "API at" in log and "key required" in log


async def _mcp_tools_with_key(url: str, key: str) -> list[str]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http, \
            mcp_client.Client(streamable_http_client(url, http_client=http)) as client:
        return sorted(t.name for t in (await client.list_tools()).tools)


def test_generative_answers_stream_token_by_token_and_one_client_cannot_starve_others(keyed: Keyed) -> None:
    client = _client(keyed.url, KEYS[0])
    stream = client.chat.completions.create(model="default", messages=_user(QUESTION), stream=True)
    first = [next(stream) for _ in range(2)]  # the role, then the endpoint's first piece (the rest is held back)
    assert first[1].choices[0].delta.content == PIECES[0]
    with pytest.raises(openai.RateLimitError):  # the same key, while its one allowed request runs
        client.chat.completions.create(model="default", messages=_user(QUESTION))
    assert _client(keyed.url, KEYS[1]).models.list().data  # another key is not held up
    released = threading.Timer(0.2, keyed.endpoint.gate.set)
    released.start()
    rest = list(stream)
    pieces = [c.choices[0].delta.content for c in rest if c.choices and c.choices[0].delta.content]
    assert pieces == PIECES[1:]
    final = next(c for c in rest if c.choices and c.choices[0].finish_reason == "stop")
    assert final.choices[0].delta.model_extra["references"][0]["n"] == 1
    reply = client.chat.completions.create(model="default", messages=_user(QUESTION))  # the slot is free again
    assert reply.choices[0].message.content == "".join(PIECES)


def test_without_keys_a_network_address_serves_the_page_but_not_the_api(built: Built) -> None:
    app = _serve(built, "closed", {"RAG_HOST": "0.0.0.0"})
    try:
        with httpx.Client(timeout=60) as http:
            assert http.get(app.url).status_code == 200
            assert http.post(app.url + "v1/chat/completions", json={}).status_code in (404, 405)
            assert http.post(app.url + "retrieval").status_code in (404, 405)
            assert http.get(app.url + "docs").status_code == 404
        assert "the API is not served on 0.0.0.0: set RAG_API_KEYS" in app.log()
    finally:
        app.stop()
    only = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--api-only", "--host", "0.0.0.0"],
                          env=app_environment(built.settings), cwd=built.workdir, capture_output=True, text=True,
                          timeout=120)
    assert only.returncode == 2 and "RAG_API_KEYS" in only.stderr and "Traceback" not in only.stderr
