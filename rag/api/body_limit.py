"""The request body limit of every route, counted while the body streams in, chunked or not.

``BodyLimit`` sits on the root app ``rag serve`` runs (the API's routes and the
page's alike): 1 MB for every route (``MAX_BODY``), larger limits for the paths
given (gradio's upload route gets ``max_upload_bytes``). A body declared too
large is refused before one byte is read; one that grows past the limit is cut
there: nothing past the limit is kept in memory. Without this, a 100 MB chunked
JSON body to the page's ``/gradio_api/queue/join`` was read whole (server memory
1.7 → 2.2 GB) and echoed into the server log.

The refusal is a 413 in the shape of the path's contract (``shapes``), sent
before the app has answered; the app is then told the client went away, and
whatever it does after is dropped, so a cut body never turns into a parse error
(FastAPI's 400) or a traceback. The rest of the body is read and thrown away
(up to ``DRAIN_BYTES``) before the 413 goes out, so the client, still sending,
reads the answer instead of a reset connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.api.shapes import api_message, error_response

MB = 1024 * 1024
MAX_BODY = 1 * MB
DRAIN_BYTES = 64 * MB  # past this much more, the connection is closed instead of read to its end
# An upload's file arrives wrapped in multipart boundaries and part headers: a few hundred bytes a file.
MULTIPART_FRAMING = 64 * 1024


def size_text(n: int) -> str:
    """A byte count for a message.

    >>> size_text(1024 * 1024), size_text(300 * 1024), size_text(10)
    ('1 MB', '300 KB', '10 bytes')
    """
    if n >= MB and n % MB == 0:
        return f"{n // MB} MB"
    if n >= 1024:
        return f"{n // 1024} KB"
    return f"{n} bytes"


class BodyLimit:
    """Refuse (413) a request whose body passes its route's limit, by its Content-Length or as it streams in."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY,
                 uploads: Sequence[tuple[str, int, str]] = ()) -> None:
        """``uploads``: (path prefix, limit, the setting that sets it) of upload routes, which take more.

        An upload route's body may pass its limit by the multipart framing around the files.
        """
        self.app, self.limit, self.uploads = app, limit, tuple(uploads)

    def limit_of(self, path: str) -> tuple[int, int, str]:
        """A path's body limit as stated, as enforced, and the setting that sets it ("" for the fixed one)."""
        for prefix, limit, setting in self.uploads:
            if path.startswith(prefix):
                return limit, limit + MULTIPART_FRAMING, setting
        return self.limit, self.limit, ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        stated, limit, setting = self.limit_of(path)
        declared = [value for name, value in scope["headers"] if name.lower() == b"content-length"]
        if any(not value.strip().isdigit() or int(value) > limit for value in declared):
            if all(value.strip().isdigit() and int(value) <= limit + DRAIN_BYTES for value in declared):
                await _drain(receive, {"more_body": True})
            await self._refuse(path, stated, setting, send)
            return
        cut = _Cut(limit)

        async def counted() -> Message:
            if cut.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                cut.seen += len(message.get("body", b""))
                if cut.seen > limit:
                    cut.refused = True
                    if not cut.started:  # the app has not answered: the 413 is the answer
                        await _drain(receive, message)
                        await self._refuse(path, stated, setting, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if cut.refused:
                return  # the client has its 413; what the app makes of the cut body goes nowhere
            if message["type"] == "http.response.start":
                cut.started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not cut.refused:
                raise
            # The app failed on the body it was told was cut off: the client has its answer already.

    async def _refuse(self, path: str, limit: int, setting: str, send: Send) -> None:
        which = f" (setting {setting})" if setting else ""
        message = api_message("api_body_too_large", limit=size_text(limit), which=which)
        response = error_response(path, 413, message)
        response.headers["connection"] = "close"

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await response({"type": "http"}, no_body, send)


class _Cut:
    """How much of one request's body was seen, and whether it was refused or answered."""

    def __init__(self, limit: int) -> None:
        self.limit, self.seen, self.refused, self.started = limit, 0, False, False


async def _drain(receive: Receive, message: Message) -> None:
    """Read and drop the rest of a refused body, up to ``DRAIN_BYTES``."""
    drained = 0
    while message.get("more_body", False) and drained < DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
