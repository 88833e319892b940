"""The API's FastAPI app: routes, keys, limits and the error shape of each contract.

``create_api`` returns the app ``rag serve`` mounts the browser page into (the
routes come first, the page takes the rest of the paths); ``rag serve
--api-only`` serves it alone. Keys are checked when ``api_keys`` is set; the
caller (``rag.server``) does not create the API at all on a network address
without keys. Every route shares the library's limits (``max_question_chars``)
and ``api_max_concurrent`` requests per key (``/mcp``'s tools included); the
server's body limit (``body_limit``) sits on the root app. Refusals take the
shape of their path's contract (``shapes``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.api import dify, native, openai_chat
from rag.api.access import ApiKeyError, Slots, check_key
from rag.api.catalog import one_name
from rag.api.dify import RetrievalRequest
from rag.api.held_stream import HeldSlot, HeldStream
from rag.api.mcp_tools import McpLimit, build_mcp
from rag.api.native import AskRequest, ExplainRequest, FaqImportRequest, SearchRequest, TeachRequest
from rag.api.openai_chat import ChatRequest, ChatRequestError
from rag.api.shapes import Json, api_message, error_response, status_of, unreadable_body_message, validation_message
from rag.errors import RagError
from rag.kb.bases import KnowledgeBases
from rag.records import Answer
from rag.serialize import json_text
from rag.settings import Settings

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/retrieval", "/api/", "/mcp", "/docs", "/openapi.json")


class ServerTiming:
    """Add ``Server-Timing: app;dur=MS`` to API responses: the time from the request to the response's headers.

    For a stream that is the time to its first byte; the benchmark reads it
    (benchmarks/api_latency.py) beside the time its client measures.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, stamping the response's headers."""
        if scope["type"] != "http" or not str(scope["path"]).startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - began) * 1000
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"server-timing", f"app;dur={took:.2f}".encode())]}
            await send(message)

        await self.app(scope, receive, stamped)


class KeyGuard:
    """An ASGI app behind the API keys (the MCP endpoint, which is not a FastAPI route)."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...]) -> None:
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key, then pass the request on."""
        headers = dict(scope.get("headers", []))
        try:
            check_key(headers.get(b"authorization", b"").decode("latin-1") or None, self.keys)
        except ApiKeyError as exc:
            await error_response("/mcp", 401, str(exc), exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_api(bases: KnowledgeBases, settings: Settings) -> FastAPI:
    """The API app over the door's knowledge bases (the page is mounted into it by ``rag serve``).

    Its body limit is the server's, on the root app (``rag.api.body_limit``, added by ``rag.server``).
    """
    slots = Slots(settings.api_max_concurrent)
    keys = settings.api_keys
    mcp = build_mcp(bases, McpLimit(slots, keys))
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=settings.host)
    mcp_endpoint = next(r.endpoint for r in mcp_app.routes if isinstance(r, Route) and r.path == "/mcp")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    app = FastAPI(title="rag-zh API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, default_response_class=Json,
                  description="OpenAI-compatible chat with citations, Dify's External Knowledge API, the CLI's JSON "
                              "and MCP at /mcp. Send `Authorization: Bearer KEY` when the server has api_keys.")

    def caller(authorization: str | None = Header(default=None, include_in_schema=False)) -> int | None:
        return check_key(authorization, keys)

    _error_handlers(app)
    _openai_routes(app, bases, slots, caller)
    _dify_route(app, bases, slots, caller)
    _native_routes(app, bases, slots, caller)

    @app.get("/openapi.json", include_in_schema=False, response_model=None)
    def openapi(_: int | None = Depends(caller)) -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, response_model=None)
    def docs(_: int | None = Depends(caller)) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="rag-zh API")

    app.router.routes.append(Route("/mcp", endpoint=KeyGuard(mcp_endpoint, keys), methods=["GET", "POST", "DELETE"]))

    # Any other path of the two families is theirs too (the page, mounted at /, would answer in its own shape).
    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def no_route(request: Request, _: int | None = Depends(caller)) -> None:
        raise StarletteHTTPException(404, api_message("api_no_route", method=request.method, path=request.url.path))

    app.add_middleware(ServerTiming)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every refusal in the shape of its path's contract (``shapes.error_response``), never FastAPI's own."""

    @app.exception_handler(RagError)
    async def on_rag_error(request: Request, exc: RagError) -> Json:
        return error_response(request.url.path, status_of(exc), str(exc), exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Json:
        message, field = validation_message(exc)
        return error_response(request.url.path, 400, message, ChatRequestError(message, field))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Json:
        # FastAPI's own refusals: a body it cannot parse (bytes that are not UTF-8, nesting too deep for
        # its parser, a 5,000-digit number), a method a route does not take.
        path = request.url.path
        if exc.status_code == 400:
            return error_response(path, 400, unreadable_body_message(exc.__cause__ or exc.detail))
        if exc.status_code == 405:
            return error_response(path, 405, api_message("api_no_method", method=request.method, path=path))
        return error_response(path, exc.status_code, str(exc.detail))


def _openai_routes(app: FastAPI, bases: KnowledgeBases, slots: Slots, caller: Any) -> None:
    @app.get("/v1/models", summary="The knowledge bases, as OpenAI models", response_model=None)
    def models(_: int | None = Depends(caller)) -> dict[str, Any]:
        return {"object": "list", "data": [_model(name) for name in bases.names()]}

    @app.get("/v1/models/{name}", summary="One knowledge base, as an OpenAI model", response_model=None)
    def model(name: str, _: int | None = Depends(caller)) -> dict[str, Any]:
        return _model(one_name(bases, name))

    @app.post("/v1/chat/completions", summary="A cited answer in OpenAI's chat completion format",
              response_model=None)
    def chat(body: ChatRequest, who: int | None = Depends(caller)) -> Json | HeldStream:
        names = bases.pick(body.model)
        name = ",".join(names)
        question, history = openai_chat.question_and_history(body.messages)
        bases.check_question(question, history, names)
        generative = bases.generative_default(names)

        def tokens(text: str) -> int:
            return bases.count_tokens(text, names[0])

        def steps() -> Iterator[Any]:
            return bases.answer_steps(question, names, history, generative=generative)

        if not body.stream:
            with slots.hold(who):
                answer = _collect(steps())
                return Json(openai_chat.completion(answer, name, tokens))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def events() -> Iterator[str]:
            try:
                wanted = (s for s in steps() if isinstance(s, str | Answer))
                yield from openai_chat.stream_events(wanted, name, tokens, include_usage)
            except RagError as exc:  # after the headers: the error travels as an event, as OpenAI sends them
                yield f"data: {json_text(openai_chat.error_body(str(exc), 'server_error'))}\n\n"
                yield "data: [DONE]\n\n"

        # The slot is the response's from here: it goes back when the stream ends, however it ends.
        return HeldStream(events(), HeldSlot(slots, who), headers={"Cache-Control": "no-cache",
                                                                   "X-Accel-Buffering": "no"})


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "rag-zh"}


def _collect(steps: Iterator[Any]) -> Answer:
    answer = None
    for step in steps:
        if isinstance(step, Answer):
            answer = step
    assert answer is not None  # answer_steps always ends with the Answer
    return answer


def _dify_route(app: FastAPI, bases: KnowledgeBases, slots: Slots, caller: Any) -> None:
    @app.post("/retrieval", summary="Dify's External Knowledge API", response_model=None)
    def retrieval(body: RetrievalRequest | None = None, who: int | None = Depends(caller)) -> dict[str, Any]:
        if body is None or not body.query.strip():  # Dify probes the endpoint with an empty request
            return {"records": []}
        name = one_name(bases, body.knowledge_id)
        dify.check_condition(body.metadata_condition)
        filtered = bool(body.metadata_condition and body.metadata_condition.conditions)
        depth = bases.settings_of(name).candidates if filtered else body.retrieval_setting.top_k
        with slots.hold(who):
            hits = bases.search(body.query, [name], k=depth).hits
        return {"records": dify.records(hits, body.retrieval_setting, body.metadata_condition, name)}


def _native_routes(app: FastAPI, bases: KnowledgeBases, slots: Slots, caller: Any) -> None:
    @app.post("/api/search", summary="`rag search --json`: the ranked hits", response_model=None)
    def search(body: SearchRequest, who: int | None = Depends(caller)) -> list[dict[str, Any]]:
        name = one_name(bases, body.knowledge_base)
        with slots.hold(who):
            return native.search(bases, name, body)

    @app.post("/api/ask", summary="`rag ask --json`: the cited answer", response_model=None)
    def ask(body: AskRequest, who: int | None = Depends(caller)) -> dict[str, Any]:
        name = one_name(bases, body.knowledge_base)
        with slots.hold(who):
            return native.ask(bases, name, body)

    @app.post("/api/explain", summary="`rag ask --explain --json`: the answer and why", response_model=None)
    def explain(body: ExplainRequest, who: int | None = Depends(caller)) -> dict[str, Any]:
        name = one_name(bases, body.knowledge_base)
        with slots.hold(who):
            return native.explain(bases, name, body)

    @app.get("/api/faq", summary="`rag faq list --json`: the FAQ entries", response_model=None)
    def faq_list(knowledge_base: str | None = None, _: int | None = Depends(caller)) -> list[dict[str, Any]]:
        return native.faq_list(bases, one_name(bases, knowledge_base))

    @app.post("/api/faq", summary="`rag faq import`: add FAQ entries", response_model=None)
    def faq_import(body: FaqImportRequest, who: int | None = Depends(caller)) -> dict[str, Any]:
        name = one_name(bases, body.knowledge_base)
        with slots.hold(who):  # the new questions are embedded
            return native.faq_import(bases, name, body)

    @app.delete("/api/faq/{entry_id}", summary="`rag faq delete ID`", response_model=None)
    def faq_delete(entry_id: str, knowledge_base: str | None = None,
                   _: int | None = Depends(caller)) -> dict[str, Any]:
        return native.faq_delete(bases, one_name(bases, knowledge_base), entry_id)

    @app.post("/api/teach", summary="`rag faq teach`: after a 👎, keep the right answer", response_model=None)
    def teach(body: TeachRequest, who: int | None = Depends(caller)) -> dict[str, Any]:
        name = one_name(bases, body.knowledge_base)
        with slots.hold(who):  # the question is embedded; a link builds the index
            return native.teach(bases, name, body)

    @app.get("/api/status", summary="`rag status --json`", response_model=None)
    def status(knowledge_base: str | None = None, _: int | None = Depends(caller)) -> dict[str, Any]:
        return bases.status(one_name(bases, knowledge_base)).to_json()
