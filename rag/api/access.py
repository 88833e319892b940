"""Who may call the HTTP API (keys, compared in constant time) and how many calls each may have running.

Keys come from the ``api_keys`` setting (``RAG_API_KEYS``, comma-separated). A
caller is the index of the key it presented, or ``None`` when no keys are set
(a server on 127.0.0.1 answers anyone on the machine, and a key sent is
ignored). A key is never logged: errors name only what is wrong with it.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import RagError

BEARER = "bearer "


class ApiKeyError(RagError):
    """The Authorization header is malformed (``reason`` "malformed") or names no key ("wrong")."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BusyError(RagError):
    """A caller already has ``api_max_concurrent`` requests running."""


def check_key(authorization: str | None, keys: tuple[str, ...]) -> int | None:
    """The index of the key the ``Authorization: Bearer KEY`` header presents; None when no keys are set.

    Every key is compared (``hmac.compare_digest``), so the time taken does not
    tell which key, or how much of one, matched.

    >>> check_key(None, ()), check_key("Bearer b", ("a", "b"))
    (None, 1)
    >>> check_key("Basic b", ("a",))
    Traceback (most recent call last):
    ...
    rag.api.access.ApiKeyError: the Authorization header must be "Bearer <key>"
    """
    if not keys:
        return None
    header = (authorization or "").strip()
    if header[: len(BEARER)].lower() != BEARER or not header[len(BEARER):].strip():
        raise ApiKeyError("malformed", 'the Authorization header must be "Bearer <key>"')
    presented = header[len(BEARER):].strip().encode("utf-8", "surrogateescape")
    found = None
    for i, key in enumerate(keys):
        if hmac.compare_digest(presented, key.encode("utf-8")):
            found = i
    if found is None:
        raise ApiKeyError("wrong", "the API key is not valid; use one of the keys set in api_keys (RAG_API_KEYS)")
    return found


class Slots:
    """At most ``limit`` requests running at once per caller, so one client cannot starve the page.

    >>> slots = Slots(1)
    >>> with slots.hold(0):
    ...     slots.try_hold(0)
    False
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[int | None, int] = {}
        self._lock = threading.Lock()

    def try_hold(self, caller: int | None) -> bool:
        """Take a slot for ``caller`` if one is free (release it with ``release``)."""
        with self._lock:
            if self._running.get(caller, 0) >= self.limit:
                return False
            self._running[caller] = self._running.get(caller, 0) + 1
            return True

    def take(self, caller: int | None) -> None:
        """Take a slot for ``caller`` (release it with ``release``); BusyError when none is free."""
        if not self.try_hold(caller):
            raise BusyError(f"too many requests at once from this client (at most {self.limit}, setting "
                            "api_max_concurrent); wait for one to finish")

    def release(self, caller: int | None) -> None:
        """Give back a slot taken by ``try_hold``."""
        with self._lock:
            self._running[caller] -= 1

    @contextmanager
    def hold(self, caller: int | None) -> Iterator[None]:
        """A slot for the duration of the block; BusyError when none is free."""
        self.take(caller)
        try:
            yield
        finally:
            self.release(caller)
