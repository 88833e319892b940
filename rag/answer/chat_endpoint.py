"""The client of an OpenAI-compatible chat endpoint: one streamed request, its deltas, its failures.

``chat_deltas`` posts ``{base_url}/chat/completions`` with ``stream: true`` and
yields the content deltas of the server-sent events (or the whole reply of a
server that ignores streaming). Every failure (connection, timeout, HTTP status,
a malformed stream) becomes one ``EndpointError`` that says what went wrong and
what to check. The API key goes in the ``Authorization`` header only and is
scrubbed, with a password in the base URL, from every message.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from rag.errors import EndpointError
from rag.settings import Settings
from rag.urls import mask_url

if TYPE_CHECKING:
    import httpx

EXTRACTIVE_HINT = "the extractive answer still works (run `rag ask` without --generative, answer mode extractive)"


class StreamFormatError(ValueError):
    """The response does not follow the chat-completions stream format, or reports an error."""


def parse_sse(lines: Iterable[str]) -> Iterator[str]:
    """Content deltas of a chat-completions server-sent-events stream, up to ``data: [DONE]``.

    >>> list(parse_sse(['data: {"choices":[{"delta":{"content":"深圳"}}]}', "", "data: [DONE]", ""]))
    ['深圳']
    """
    data: list[str] = []
    finished = False
    # A final blank line dispatches an event left open at the end.
    for line in itertools.chain(lines, [""]):
        if line == "":
            if not data:
                continue
            payload, data = "\n".join(data), []
            if payload.strip() == "[DONE]":
                return
            content, finish = _chunk_content(payload)
            finished = finished or finish
            if content:
                yield content
            continue
        if line.startswith(":"):
            continue  # a comment, e.g. a keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
        # event:, id: and retry: carry nothing a chat answer needs
    if not finished:
        raise StreamFormatError("ended the stream before `data: [DONE]` (closed mid-answer?)")


def _chunk_content(payload: str) -> tuple[str | None, bool]:
    """(content delta, finished) of one stream chunk."""
    try:
        chunk = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise StreamFormatError(f"sent a malformed stream: a data line is not JSON ({payload[:60]!r})") from exc
    if not isinstance(chunk, dict):
        raise StreamFormatError(f"sent a malformed stream: a chunk is not an object ({payload[:60]!r})")
    if "error" in chunk:
        raise StreamFormatError(f"reported an error mid-answer: {_error_detail(chunk)}")
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise StreamFormatError(f"sent a malformed stream: a chunk has no choices ({payload[:60]!r})")
    if not choices:
        return None, False  # e.g. the usage chunk some servers send last
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict):
        raise StreamFormatError(f"sent a malformed stream: a choice has no delta ({payload[:60]!r})")
    content = delta.get("content")  # None in the role-only first chunk; reasoning_content is not shown
    if content is not None and not isinstance(content, str):
        raise StreamFormatError(f"sent a malformed stream: delta content is not text ({payload[:60]!r})")
    return content, choice.get("finish_reason") is not None


def _whole_answer(body: str) -> str:
    """The content of a non-streamed reply (a server that ignored ``stream: true``)."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise StreamFormatError(f"sent a JSON reply that is not a chat completion ({body[:60]!r})") from exc
    if not isinstance(content, str):
        raise StreamFormatError("sent a chat completion without text content")
    return content


def _error_detail(body: Any) -> str:
    """The human part of an error body: ``error.message``, ``error``, ``detail`` or the text."""
    detail: Any = body
    if isinstance(body, dict):
        detail = body.get("error") or body.get("detail") or body.get("message") or body
        if isinstance(detail, dict):
            detail = detail.get("message") or detail
    text = " ".join(str(detail).split())
    return text[:200] + ("…" if len(text) > 200 else "")


def _chat_url(base_url: str) -> str:
    """The chat-completions URL under ``base_url``; a query string (``?api-version=…``) stays at the end.

    >>> _chat_url("http://h:8000/v1/?key=1")
    'http://h:8000/v1/chat/completions?key=1'
    """
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def shown_url(settings: Settings) -> str:
    """The base URL for messages: without a user, password or query string, which may hold secrets."""
    return mask_url(settings.llm_base_url or "", keep_query=False) or "(none)"


def endpoint_error(settings: Settings, problem: str) -> EndpointError:
    """The error for a failed answer: the endpoint, what went wrong, the fallback; secrets scrubbed."""
    return EndpointError(_scrub(f"chat endpoint {shown_url(settings)} {problem}; {EXTRACTIVE_HINT}", settings))


def _scrub(text: str, settings: Settings) -> str:
    """``text`` with the API key (and a password in the base URL) replaced by ***."""
    secrets = [settings.llm_api_key, urlsplit(settings.llm_base_url or "").password]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _status_problem(response: httpx.Response) -> str:
    """What an HTTP error status means, with the server's own message and what to check."""
    raw = b""
    for part in response.iter_bytes():
        raw += part
        if len(raw) > 4000:
            break
    body = raw.decode("utf-8", errors="replace")
    try:
        detail = _error_detail(json.loads(body))
    except json.JSONDecodeError:
        detail = _error_detail(body)
    code = response.status_code
    if code in (401, 403):
        check = "check llm_api_key (RAG_LLM_API_KEY or OPENAI_API_KEY)"
    elif code == 404:
        check = "check llm_base_url (it usually ends in /v1) and llm_model"
    elif code == 429:
        check = "it is rate-limiting, try again later"
    elif code >= 500:
        check = "the server failed"
    else:
        check = "check llm_model and the server's log"
    return f"answered HTTP {code} ({detail or response.reason_phrase}); {check}"


def _until_deadline(lines: Iterable[str], settings: Settings) -> Iterator[str]:
    """The stream's lines, cut off with an EndpointError once the whole answer has taken ``llm_deadline``.

    ``llm_timeout`` bounds each wait; a server that keeps sending (tokens or
    keep-alive comments) forever would pass it, so the whole answer has a deadline too.
    """
    deadline = time.monotonic() + settings.llm_deadline
    for line in lines:
        if time.monotonic() > deadline:
            raise endpoint_error(settings, f"was still answering after {settings.llm_deadline:g} s (llm_deadline): "
                                           "it may be stuck in a loop; try again or raise llm_deadline")
        yield line


def chat_deltas(settings: Settings, messages: list[dict[str, str]]) -> Generator[str, None, None]:
    """Raw content deltas from the endpoint; every failure becomes an EndpointError."""
    import httpx

    assert settings.llm_base_url is not None and settings.llm_model is not None
    timeout = settings.llm_timeout
    headers = {"Accept": "text/event-stream"}
    if settings.llm_api_key:
        headers["Authorization"] = f"Bearer {settings.llm_api_key}"
    body = {"model": settings.llm_model, "messages": messages, "stream": True, "temperature": 0}

    def failure(problem: str) -> EndpointError:
        return endpoint_error(settings, problem)

    try:
        # One timeout for connecting and for each read, so a stalled stream fails
        # within llm_timeout of its last chunk rather than hanging.
        with (
            httpx.Client(timeout=httpx.Timeout(timeout)) as client,
            client.stream("POST", _chat_url(settings.llm_base_url), json=body, headers=headers) as response,
        ):
            if response.status_code >= 400:
                raise failure(_status_problem(response))
            if response.headers.get("content-type", "").startswith("application/json"):
                response.read()
                yield _whole_answer(response.text)
                return
            yield from parse_sse(_until_deadline(response.iter_lines(), settings))
    except StreamFormatError as exc:
        raise failure(str(exc)) from exc
    except httpx.ConnectTimeout as exc:
        raise failure(f"did not accept a connection within {timeout:g} s (llm_timeout)") from exc
    except httpx.ConnectError as exc:
        raise failure(f"cannot be reached ({exc or 'connection failed'}): check that the server is running") from exc
    except httpx.ReadTimeout as exc:
        raise failure(f"sent nothing for {timeout:g} s (llm_timeout): it is down or overloaded") from exc
    except httpx.TimeoutException as exc:
        raise failure(f"timed out after {timeout:g} s (llm_timeout)") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise failure(f"closed the connection mid-answer ({exc})") from exc
    except httpx.UnsupportedProtocol as exc:
        raise failure("is not an http(s) URL: set llm_base_url like http://localhost:8000/v1") from exc
    except httpx.InvalidURL as exc:
        raise failure(f"is not a valid URL ({exc})") from exc
    except httpx.HTTPError as exc:
        raise failure(f"failed ({type(exc).__name__}: {exc})") from exc
