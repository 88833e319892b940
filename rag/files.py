"""Files written whole or not at all, their checksums, and file names as text to show.

A crash (kill -9, power loss) leaves either the old file or the new one: data
goes to a hidden temporary file in the same folder, is flushed to disk, then
renamed over the target, and the folder entry is flushed too.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_BLOCK = 1 << 20
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # controls and line separators


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


def display_name(name: str | os.PathLike[str]) -> str:
    r"""A file name as one line of text that can be shown, logged or tokenised.

    Linux file names are bytes; ``os.fsdecode`` keeps bytes that are not UTF-8
    (e.g. a GBK name) as lone surrogates U+DC80-U+DCFF, which open the file but
    cannot be encoded, printed or tokenised: each is shown as ``\xNN``. Control
    characters (a newline is allowed in a name) are shown escaped too. The name
    itself stays as the file system gives it; this is only how it is shown.

    >>> display_name(os.fsdecode(b"\xb0\xa1.txt"))
    '\\xb0\\xa1.txt'
    >>> display_name("报告\n草稿.txt")
    '报告\\n草稿.txt'
    """
    text = os.fspath(name)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file system name holds: show its code point
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)
