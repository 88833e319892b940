"""The build lock: one build at a time per index folder, across processes.

Taking it is also where a build finds out that it cannot write: an index folder
that is read-only (permissions, a read-only mount) is refused here in one line,
before anything is read or embedded. Questions never take the lock and never
write, so they keep working on such a folder.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rag import filelock
from rag.errors import IndexLockedError, IndexReadOnlyError, StoreError
from rag.store.format import BUILD_LOCK, VERSIONS

_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def _read_only(index_dir: Path, path: Path, reason: str) -> IndexReadOnlyError:
    return IndexReadOnlyError(
        f"the index folder {index_dir} is read-only ({path} {reason}): questions still work; to index, make "
        f"it writable (e.g. `chmod -R u+w {index_dir}`) or index into another folder with --index-dir"
    )


def check_writable(index_dir: Path, writes: Sequence[Path] = ()) -> None:
    """Raise IndexReadOnlyError when the index folder, its versions or ``writes`` (if there) cannot be written."""
    for path in (index_dir, index_dir / VERSIONS, *writes):
        # os.access answers for this process's user (root may write anywhere
        # but on a read-only mount, where it answers no as well).
        if path.exists() and not os.access(path, os.W_OK):
            raise _read_only(index_dir, path, "is not writable")


@contextmanager
def build_lock(index_dir: Path, wait: bool = False, writes: Sequence[Path] = ()) -> Iterator[None]:
    """Hold the index's build lock; a second build refuses (or waits) with a clear message.

    A read-only index folder raises ``IndexReadOnlyError`` instead; ``writes``:
    other paths the build will write (the embedding cache and its folder).
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        check_writable(index_dir, writes)
        fh = filelock.acquire(index_dir / BUILD_LOCK, wait)
    except filelock.LockHeldError as held:
        raise IndexLockedError(
            f"another build (pid {held.holder}) is running on {index_dir}; wait for it to finish, then try again"
        ) from held
    except OSError as exc:
        if exc.errno not in _READ_ONLY:
            raise StoreError(f"cannot use {index_dir} as the index folder ({exc.strerror or exc}): "
                             "give another folder with --index-dir") from exc
        raise _read_only(index_dir, Path(exc.filename or index_dir), f"cannot be written: {exc.strerror}") from exc
    try:
        yield
    finally:
        filelock.release(fh)
