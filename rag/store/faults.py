"""Test hook for crash tests: named points where a build can be made to exit abruptly.

A build calls ``fault(point)`` at each named point; it does nothing unless a
point was armed. Only the command line arms one, once at start, from
``RAG_FAULT_POINT=<point>`` (``arm_from_environment``), so the build never reads
the environment. An armed point makes the process exit there with code 70, as
a crash or ``kill -9`` would leave it (no clean-up runs): a kill made
deterministic.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

FAULT_ENV = "RAG_FAULT_POINT"
EXIT_CODE = 70
# Every build passes these.
FAULT_POINTS = ("after-embedding", "while-writing", "before-switch")
# Only a build on the Milvus store passes this one: after its first insert into the collection.
STORE_FAULT_POINTS = ("while-filling-store",)

_armed: set[str] = set()  # the process's armed point (at most one); empty: every fault() is a no-op


def arm_from_environment(environ: Mapping[str, str] | None = None) -> None:
    """Arm the point ``RAG_FAULT_POINT`` names, if any (the command line calls this once, at start)."""
    point = (os.environ if environ is None else environ).get(FAULT_ENV)
    _armed.clear()
    if point:
        _armed.add(point)


def fault(point: str) -> None:
    """Exit at once, without clean-up, when ``point`` is armed; otherwise do nothing."""
    if point in _armed:
        log.error("fault point %s reached: exiting", point)
        os._exit(EXIT_CODE)
