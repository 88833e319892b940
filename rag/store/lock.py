"""The build lock: one build at a time per index folder, across processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag import filelock
from rag.errors import IndexLockedError
from rag.store.format import BUILD_LOCK


@contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """Hold the index's build lock; a second build refuses (or waits) with a clear message."""
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        fh = filelock.acquire(index_dir / BUILD_LOCK, wait)
    except filelock.LockHeldError as held:
        raise IndexLockedError(
            f"another build (pid {held.holder}) is running on {index_dir}; wait for it to finish, then try again"
        ) from held
    try:
        yield
    finally:
        filelock.release(fh)
