"""Watch mode: re-index when files in the corpus folder change (debounced)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.errors import RagError

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 2.0


def watch_corpus(corpus_dir: Path, reindex: Callable[[], Any], debounce: float = DEBOUNCE_SECONDS,
                 stop: threading.Event | None = None,
                 on_error: Callable[[RagError], None] | None = None) -> None:
    """Call ``reindex`` once the corpus has been quiet for ``debounce`` seconds after a change.

    Runs until ``stop`` is set or the process is interrupted. A re-index that
    fails with a ``RagError`` is logged and passed to ``on_error``, and watching
    goes on.
    """
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    changed = threading.Event()
    last_change = [0.0]

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            # A folder's own "modified" event comes with every file event in it.
            if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                return
            # An atomic save renames a hidden temporary file to the real name: look at both.
            paths = [event.src_path, getattr(event, "dest_path", "")]
            names = [Path(str(p)).name for p in paths if p]
            if all(n.startswith(".") or n.endswith("~") for n in names):
                return
            last_change[0] = time.monotonic()
            changed.set()

    observer = Observer()
    observer.schedule(Handler(), str(corpus_dir), recursive=True)
    observer.start()
    log.info("watching %s for changes", corpus_dir)
    stop = stop or threading.Event()
    try:
        while not stop.is_set():
            if not changed.wait(timeout=0.2):
                continue
            # Debounce: wait until no event has come for `debounce` seconds.
            while time.monotonic() - last_change[0] < debounce and not stop.is_set():
                time.sleep(0.1)
            changed.clear()
            if stop.is_set():
                break
            try:
                reindex()
            except RagError as exc:  # keep watching: the next change may fix it
                log.error("re-index failed: %s", exc)
                if on_error is not None:
                    on_error(exc)
    finally:
        observer.stop()
        observer.join(timeout=5)
