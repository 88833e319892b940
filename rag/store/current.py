"""The index folder's pointers: CURRENT (the version in use) and PREVIOUS (the one in use before it).

A build switches by writing PREVIOUS, then replacing CURRENT in one rename.
Clean-up keeps the versions those two name and deletes every other folder a
build made under ``versions/``: the ``.tmp`` folder of a build that was killed,
and a complete version that was never switched to (killed before its switch).
Newest by name is no rule: an unswitched version is newer than the live one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from rag.errors import IndexCorruptError
from rag.files import write_atomically
from rag.store.format import CURRENT, MANIFEST, PREVIOUS, REBUILD_HINT, VERSIONS, Manifest, load_manifest

log = logging.getLogger(__name__)

# What a build names a version ("20260101T120000123456Z-4242"), and what tests write ("v1"); never a
# path, a hidden name or an unfinished ``.tmp`` folder.
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
# The names a build gives the folders it writes (``rag.store.write``), finished or not: clean-up deletes
# nothing else (a folder of the user's under versions/, say "v1-final", is never the project's).
GENERATED_VERSION = re.compile(r"\d{8}T\d{12}Z-\d+(?:\.tmp)?")


def is_generated(name: str) -> bool:
    """True for a version folder's name as a build makes them.

    >>> is_generated("20260101T120000123456Z-4242"), is_generated("20260101T120000123456Z-42.tmp")
    (True, True)
    >>> is_generated("v1-final"), is_generated("v1")
    (False, False)
    """
    return GENERATED_VERSION.fullmatch(name) is not None


def version_name(raw: bytes) -> str | None:
    """The version name a pointer file holds (surrounding whitespace ignored), or None when it holds none.

    >>> version_name(b"20260101T120000Z-42\\n"), version_name(b"../x"), version_name(b"v1.tmp")
    ('20260101T120000Z-42', None, None)
    """
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return name if _VERSION_NAME.fullmatch(name) and not name.endswith(".tmp") else None


def current_version(index_dir: Path) -> str | None:
    """Name of the version CURRENT points to, or None before the first build (no CURRENT file).

    A CURRENT that is a folder, cannot be read, is empty, holds no version name
    or names a version that is not there raises ``IndexCorruptError`` naming the
    file and ``rag index --rebuild`` (which replaces it).
    """
    path = index_dir / CURRENT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise IndexCorruptError(f"{path} is a folder, not the file that names the index version: "
                                f"{REBUILD_HINT}") from exc
    except OSError as exc:
        raise IndexCorruptError(f"{path} cannot be read ({exc.strerror or exc}): {REBUILD_HINT}") from exc
    name = version_name(raw)
    if name is None:
        what = "is empty" if not raw.strip() else f"does not name an index version ({raw[:40]!r})"
        raise IndexCorruptError(f"{path} {what}: {REBUILD_HINT}")
    if not (index_dir / VERSIONS / name).is_dir():
        raise IndexCorruptError(f"{path} names version {name}, which is not in {index_dir / VERSIONS}: "
                                f"{REBUILD_HINT}")
    return name


def read_manifest(index_dir: Path) -> Manifest | None:
    """The current version's manifest, or None when there is no index yet.

    A manifest (or CURRENT) that is missing, unreadable, damaged or edited by
    hand raises ``IndexCorruptError`` naming the file and ``rag index --rebuild``.
    """
    name = current_version(index_dir)
    return None if name is None else load_manifest(index_dir / VERSIONS / name / MANIFEST)


def _pointed_at(index_dir: Path, pointer: str) -> str | None:
    """The existing version a pointer file names; None when it is missing, damaged or names nothing there."""
    try:
        name = version_name((index_dir / pointer).read_bytes())
    except OSError:
        return None
    return name if name is not None and (index_dir / VERSIONS / name).is_dir() else None


def switch_current(index_dir: Path, version: str) -> Path | None:
    """Point CURRENT at ``version`` in one atomic rename, recording the version it named in PREVIOUS.

    A folder found where CURRENT belongs (nothing a build writes) is moved
    aside, never deleted; the path it was moved to is returned (else None).
    """
    moved = None
    path = index_dir / CURRENT
    if path.is_dir() and not path.is_symlink():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = index_dir / f"{CURRENT}.folder-{stamp}"
        os.replace(path, moved)
        log.info("%s was a folder: moved it to %s", path, moved)
    previous = _pointed_at(index_dir, CURRENT)
    if previous is not None and previous != version:
        write_atomically(index_dir / PREVIOUS, previous + "\n")
    elif previous is None:
        (index_dir / PREVIOUS).unlink(missing_ok=True)  # what it named is no longer known to be live
    write_atomically(path, version + "\n")
    return moved


def prune_versions(index_dir: Path) -> list[str]:
    """Delete every version folder a build made but those CURRENT and PREVIOUS name; return the names deleted.

    That removes unfinished ``.tmp`` folders and versions a killed build never
    switched to. Only names a build gives (``is_generated``) are deleted: any
    other folder under ``versions/`` is not the project's and stays. Nothing is
    deleted while CURRENT names no version (a damaged index is rebuilt first). A
    reader that still has an old version open keeps its open files (Linux
    unlinks lazily).
    """
    versions_dir = index_dir / VERSIONS
    current = _pointed_at(index_dir, CURRENT)
    if current is None or not versions_dir.is_dir():
        return []
    keep = {current, _pointed_at(index_dir, PREVIOUS)}
    deleted = []
    for path in sorted(versions_dir.iterdir()):
        if path.name not in keep and is_generated(path.name) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(path.name)
    return deleted
