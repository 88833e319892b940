"""One error shape per API family: OpenAI's for ``/v1``, Dify's for ``/retrieval``, the CLI's one line elsewhere.

Whatever refuses a request (a library error, a body that is not JSON, a field
of the wrong type, a body over the limit, a route that is not there) answers
through ``error_response``, so a client of one contract never meets another's
shape (FastAPI's ``{"detail": …}`` included).
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rag.api import dify, openai_chat
from rag.api.access import ApiKeyError, BusyError
from rag.api.dify import DifyRequestError
from rag.api.openai_chat import ChatRequestError
from rag.errors import (
    EndpointError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    KnowledgeBaseError,
    ModelError,
    QuestionError,
    RagError,
    StoreError,
)
from rag.messages import message
from rag.serialize import json_text
from rag.text import one_line

# The API's wire contracts (OpenAI's, Dify's) speak English; its own lines come from the catalogue in it.
API_LANG = "en"

MAX_MESSAGE_CHARS = 1000

_STATUS: list[tuple[type[RagError], int]] = [
    (ApiKeyError, 401), (BusyError, 429), (KnowledgeBaseError, 404), (EndpointError, 502),
    (IndexMissingError, 503), (IndexCorruptError, 503), (IndexMismatchError, 503), (ModelError, 503),
    (StoreError, 503), (QuestionError, 400), (ChatRequestError, 400), (DifyRequestError, 400),
]
_OPENAI_TYPES = {401: "authentication_error", 429: "rate_limit_error", 404: "invalid_request_error"}
_OPENAI_CODES = {401: "invalid_api_key", 404: "model_not_found", 413: "request_too_large"}


class Json(JSONResponse):
    """JSON as the CLI writes it: UTF-8, a file name's undecodable bytes as ``\\udcNN`` escapes."""

    def render(self, content: Any) -> bytes:
        """The body bytes."""
        return json_text(content).encode("utf-8")


def status_of(exc: RagError) -> int:
    """The HTTP status of a library error (400 for the rest: the request can be fixed)."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)


def error_response(path: str, status: int, message: str, exc: RagError | None = None) -> Json:
    """An error in the shape of the contract the path belongs to (OpenAI, Dify, or the CLI's one line).

    The message is made one line of at most 1,000 characters here, whatever it quotes of the request.
    """
    message = one_line(message, MAX_MESSAGE_CHARS)
    if path.startswith("/retrieval"):
        if isinstance(exc, ApiKeyError):
            code = dify.INVALID_AUTH_HEADER if exc.reason == "malformed" else dify.INVALID_KEY
            return Json(dify.error_body(code, message), status_code=403)
        if isinstance(exc, KnowledgeBaseError):
            return Json(dify.error_body(dify.UNKNOWN_KNOWLEDGE, message), status_code=404)
        return Json(dify.error_body(status, message), status_code=status)
    if path.startswith("/v1/"):
        kind = _OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        unknown_model = isinstance(exc, KnowledgeBaseError)  # a 404 without one is a path that is not there
        param = exc.param if isinstance(exc, ChatRequestError) else "model" if unknown_model else None
        reason = _OPENAI_CODES.get(status) if status != 404 or unknown_model else None
        return Json(openai_chat.error_body(message, kind, param, reason), status_code=status)
    return Json({"error": message}, status_code=status)


def api_message(key: str, **values: object) -> str:
    """One of the API's own lines from the message catalogue (``rag.messages``), in the API's language, English."""
    return message(key, API_LANG, **values)


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first validation error as one line, and the field it is about.

    Only the field and the rule are named: the value sent is never echoed (it may be megabytes).
    """
    first = exc.errors()[0] if exc.errors() else {}
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        detail = str((first.get("ctx") or {}).get("error", "")) or "malformed"
        return api_message("api_not_json", detail=detail), None
    field = ".".join(where) or None
    return f"{field or 'the body'}: {first.get('msg', 'invalid request')}", (where[0] if where else None)


def unreadable_body_message(cause: object) -> str:
    """The line for a body FastAPI could not parse at all, from what its JSON parser raised.

    >>> unreadable_body_message(RecursionError("maximum recursion depth exceeded"))
    'the body cannot be read as JSON: it is nested too deeply; send a JSON object of reasonable depth'
    """
    if isinstance(cause, UnicodeDecodeError):
        what = api_message("api_not_utf8", byte=cause.start)
    elif isinstance(cause, RecursionError):
        what = api_message("api_too_deep")
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        what = api_message("api_too_many_digits")
    else:
        what = api_message("api_send_json")
    return api_message("api_unreadable_body", what=what)
