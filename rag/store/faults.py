"""Test hook for crash tests: ``RAG_FAULT_POINT=<point>`` makes a build exit abruptly at that point.

Named points make a kill deterministic: the build stops there with exit code 70,
as a crash or ``kill -9`` would leave it (no clean-up runs).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

FAULT_ENV = "RAG_FAULT_POINT"
EXIT_CODE = 70
# Every build passes these.
FAULT_POINTS = ("after-embedding", "while-writing", "before-switch")
# Only a build on the Milvus store passes this one: after its first insert into the collection.
STORE_FAULT_POINTS = ("while-filling-store",)


def fault(point: str) -> None:
    """Exit at once, without clean-up, when ``RAG_FAULT_POINT`` names ``point``."""
    if os.environ.get(FAULT_ENV) == point:
        log.error("fault point %s reached: exiting", point)
        os._exit(EXIT_CODE)
