"""A streamed response that holds its caller's concurrency slot from the request to the end of its body.

A streaming ``/v1/chat/completions`` takes its slot before the response starts
and must give it back on every way out: the last event sent, an error, the
generative deadline, and a client that closes the socket at once. Starlette
never starts (so never finishes) the body of a response whose client left
before it began, and a plain generator's ``finally`` then never runs: a dozen
abandoned streams held every slot for good, and the API answered 429 to
everyone. Here the response itself gives the slot back when it ends, however it
ends, and a client that leaves stops the work too: the events are made on a
worker thread one at a time, and the generator is closed (ending, say, the
request to the chat endpoint) before the slot is given back, so a slot is free
exactly when its work has stopped.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from rag.api.access import Slots

_END = object()


class HeldSlot:
    """One slot taken for ``caller``; ``release`` gives it back once, however often it is called."""

    def __init__(self, slots: Slots, caller: int | None) -> None:
        slots.take(caller)  # BusyError when none is free
        self._slots, self._caller, self._lock, self._held = slots, caller, threading.Lock(), True

    def release(self) -> None:
        """Give the slot back (the first call only)."""
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._slots.release(self._caller)


async def events_on_a_thread(events: Iterator[str]) -> AsyncIterator[str]:
    """``events``, each made on a worker thread; closed (on a thread too) when the stream ends or is cancelled."""
    try:
        while True:
            event = await anyio.to_thread.run_sync(next, events, _END)
            if event is _END:
                return
            yield str(event)
    finally:
        # Shielded: a cancelled stream (the client left) still closes its generator before the slot goes back.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, events)


def _close(events: Iterator[str]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()


class HeldStream(StreamingResponse):
    """Server-sent events made by ``events``, holding ``slot`` until the response ends in any way."""

    def __init__(self, events: Iterator[str], slot: HeldSlot, **options: Any) -> None:
        super().__init__(events_on_a_thread(events), media_type="text/event-stream", **options)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the events; the slot goes back when this returns or raises (cancelled included)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()  # a body never started closes at once; a started one closes its events
            self.slot.release()
