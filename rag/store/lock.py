"""The build lock: one build at a time per index folder, across processes.

Taking it is also where a build finds out that it cannot write: an index folder
that is read-only (permissions, a read-only mount) is refused here in one line,
before anything is read or embedded. Questions never take the lock and never
write, so they keep working on such a folder.

It is also where a build finds out whether the folder is the project's to write
and clean up (``check_owned``): a new or empty one, or one holding the marker
(``RAG_INDEX``, written by the first build) or a ``CURRENT``. A folder of the
user's that holds files, say ``proj/`` with ``versions/v1-final/`` in it, is
refused in one line: a build there once deleted ``v1-final`` at its clean-up.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rag import filelock
from rag.errors import IndexFolderError, IndexLockedError, IndexReadOnlyError, StoreError
from rag.files import display_name, write_atomically
from rag.store.current import is_generated
from rag.store.format import BUILD_LOCK, CURRENT, MARKER, PREVIOUS, VERSIONS

_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
# What the project writes in an index folder besides versions/ (the embedding cache, the page's ratings, the
# Milvus Lite file, an evaluation index's note), any of which may come before the first build's marker.
PROJECT_FILES = frozenset({BUILD_LOCK, PREVIOUS, "cache", "feedback.jsonl", "milvus.db", "milvus.db.lock",
                           "eval-key.json"})
MARKER_TEXT = ("A rag-zh index folder: `rag index` writes versions/, CURRENT and PREVIOUS here and deletes the\n"
               "versions it made and no longer uses. Put nothing else in this folder.\n")


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


def check_owned(index_dir: Path) -> None:
    """Raise IndexFolderError when ``index_dir`` holds files and is not an index folder (see the module)."""
    if not index_dir.exists():
        return
    if not index_dir.is_dir():
        raise IndexFolderError(f"{index_dir} is a file, not a folder: give an index folder with --index-dir")
    if (index_dir / MARKER).exists() or (index_dir / CURRENT).exists():
        return
    foreign = sorted(p.name for p in index_dir.iterdir() if not _made_by_a_build(p))
    if foreign:
        shown = ", ".join(display_name(name) for name in foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise IndexFolderError(
            f"{index_dir} is not an index folder and not empty (it holds {shown}): `rag index` writes and cleans "
            "up in its index folder, so it uses only an empty folder or one it made; give another with "
            "--index-dir (or index_dir in rag.toml)")


def _made_by_a_build(path: Path) -> bool:
    """True for what a build, or the project around it, may leave in an index folder before its first switch."""
    if path.name == VERSIONS:
        return path.is_dir() and not path.is_symlink() and all(is_generated(p.name) for p in path.iterdir())
    return path.name in PROJECT_FILES


@contextmanager
def build_lock(index_dir: Path, wait: bool = False, writes: Sequence[Path] = ()) -> Iterator[None]:
    """Hold the index's build lock; a second build refuses (or waits) with a clear message.

    A read-only index folder raises ``IndexReadOnlyError`` instead, and a folder
    that is not the project's ``IndexFolderError``; ``writes``: other paths the
    build will write (the embedding cache and its folder). The first build of a
    folder marks it as an index (``RAG_INDEX``).
    """
    try:
        check_owned(index_dir)
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
        if not (index_dir / MARKER).exists():
            write_atomically(index_dir / MARKER, MARKER_TEXT)
        yield
    finally:
        filelock.release(fh)
