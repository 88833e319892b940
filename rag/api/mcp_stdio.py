"""``rag mcp``: the MCP tools over stdio, and an answer to every request line, readable or not.

The SDK's stdio transport hands a line it cannot parse (a lone surrogate such as
``"\\ud800"``, which its JSON parser refuses; 100,000 nested brackets, past its
depth limit) to the server as an exception, and the server drops it: the client,
still waiting for the answer to that request id, waits forever. Here each such
line is answered with a JSON-RPC error carrying the request's id (found by
``request_id`` without parsing the whole line), as JSON-RPC asks of a request the
server cannot read.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError
from pydantic import ValidationError

log = logging.getLogger(__name__)

PARSE_ERROR = -32700  # JSON-RPC: the server cannot read the request
# The JSON tokens that matter for finding the top-level "id": strings, brackets, numbers and literals.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]]|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')
_COLON = re.compile(r"\s*:")
_WHOLE_NUMBER = re.compile(r"-?\d+")


def request_id(line: str) -> int | str | None:
    """The ``id`` of the JSON object on ``line`` (a number or a string at its top level); None when there is none.

    Reads the tokens one by one and keeps the nesting depth, so a deep or broken
    line costs one pass and an ``id`` inside ``params`` is not taken for the request's.

    >>> request_id('{"jsonrpc": "2.0", "id": 7, "method": "x", "params": {"id": 9, "q": "\\\\ud800"}}')
    7
    >>> request_id('{"params": [[[[' + "[" * 100_000 + '"id": 3}'), request_id('{"id": "a-1", "x": [}')
    (None, 'a-1')
    """
    depth, want_value = 0, False
    for match in _TOKENS.finditer(line):
        token = match.group()
        if token in ("{", "["):
            depth, want_value = depth + 1, False
        elif token in ("}", "]"):
            depth -= 1
        elif depth == 1 and want_value:
            if token.startswith('"'):
                return _string(token)
            return int(token) if _WHOLE_NUMBER.fullmatch(token) else None
        elif depth == 1 and token == '"id"':
            want_value = _COLON.match(line, match.end()) is not None
    return None


def _string(token: str) -> str | None:
    import json

    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def error_reply(problem: Exception) -> SessionMessage | None:
    """The JSON-RPC error answering a line the transport could not read; None when no request id is in it."""
    line = _raw_line(problem)
    if line is None:
        return None
    found = request_id(line)
    if found is None:
        return None
    reason = _reason(problem)
    log.warning("answered an MCP request that cannot be read: %s", reason)
    error = ErrorData(code=PARSE_ERROR, message=f"the request cannot be read ({reason}); send valid UTF-8 JSON "
                                                "text with no lone surrogate (\\ud800) and a reasonable nesting depth")
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=found, error=error))


def _raw_line(problem: Exception) -> str | None:
    """The line a parse failure was about (pydantic keeps it as the error's input)."""
    if not isinstance(problem, ValidationError):
        return None
    for error in problem.errors():
        value: Any = error.get("input")
        if isinstance(value, str | bytes):
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def _reason(problem: Exception) -> str:
    errors = problem.errors() if isinstance(problem, ValidationError) else []
    return str(errors[0].get("msg", "not JSON-RPC"))[:200] if errors else type(problem).__name__


async def serve_stdio(server: MCPServer) -> None:
    """Serve ``server``'s tools on stdin/stdout until the client closes stdin."""
    lowlevel = server._lowlevel_server  # mcp 2.3 (pinned) runs stdio only through run_stdio_async, whose
    # read stream cannot be wrapped; this is the server that method runs.
    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            async with send:
                async for item in read_stream:
                    reply = error_reply(item) if isinstance(item, Exception) else None
                    if reply is not None:
                        await write_stream.send(reply)
                    else:
                        await send.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(relay)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()
