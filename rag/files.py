"""Files written whole or not at all, and their checksums: the one place for both.

A crash (kill -9, power loss) leaves either the old file or the new one: data
goes to a hidden temporary file in the same folder, is flushed to disk, then
renamed over the target, and the folder entry is flushed too.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (so a rename in it survives a crash)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename; return ``path``.

    The temporary file is hidden (``.name.…tmp``), so a folder scan that skips
    dot-files (the corpus, the index) never sees it half-written.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path
