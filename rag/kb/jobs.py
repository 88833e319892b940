"""Index builds that run in the background, one per knowledge base, for the page (and any face that polls).

``KnowledgeBases.start_build`` starts one (or returns the one running) and the
page polls its progress. A build's failure is kept for the face to show: a
``RagError`` as its one line, anything else with its type (``unexpected``), and
logged with its traceback here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rag.errors import RagError
from rag.store.build import BuildReport as BuildReport  # the record a job's report is (re-exported for faces)

log = logging.getLogger(__name__)


class BuildJob:
    """An index build running in a thread; a face polls ``stage``, ``done``, ``total`` and reads ``report``."""

    def __init__(self, build: Callable[..., Any]) -> None:
        """``build(progress=…)``: the knowledge base's build, called on the job's thread."""
        self.stage = "load"
        self.created = time.monotonic()  # a change saved after this may not be in this build
        self.done = 0
        self.total = 0
        self.report: BuildReport | None = None  # when it ends well
        self.error: str | None = None
        self.unexpected = False  # the error is no RagError (a bug, a full disk): ``error`` is "Type: message"
        self.thread = threading.Thread(target=self._run, args=(build,), name="rag-build", daemon=True)

    def progress(self, stage: str, done: int, total: int) -> None:
        """Progress callback of the build."""
        self.stage, self.done, self.total = stage, done, total

    def _run(self, build: Callable[..., Any]) -> None:
        try:
            self.report = build(progress=self.progress)
        except RagError as exc:
            self.error = str(exc)
        except Exception as exc:  # a thread has no caller to raise to: keep it for the face
            log.exception("index build failed")
            self.error, self.unexpected = f"{type(exc).__name__}: {exc}", True

    @property
    def running(self) -> bool:
        """True while the build thread is alive."""
        return self.thread.is_alive()

    @property
    def failed(self) -> dict[str, str]:
        """Article path -> why this build could not read it (empty while running or after a failure)."""
        return {} if self.running or self.report is None else dict(self.report.failed)
