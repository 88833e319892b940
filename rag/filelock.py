"""An exclusive lock on a file that names the process holding it (fcntl, released on close or exit)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class LockHeldError(Exception):
    """Another process holds the lock; ``holder`` is its pid as written in the file (or "unknown")."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


def acquire(path: Path, wait: bool = False) -> IO[str]:
    """Lock ``path`` (created if missing) and write this process's pid into it; raise ``LockHeldError`` if taken."""
    fh = path.open("a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise LockHeldError(holder) from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def is_held(path: Path) -> bool:
    """True when another process holds an exclusive lock on ``path`` (its content is left alone)."""
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


def release(fh: IO[str]) -> None:
    """Clear the pid, unlock and close."""
    fh.seek(0)
    fh.truncate()
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    fh.close()
