"""Where knowledge bases may keep their folders: apart from each other, and out of the system's.

Every ``corpus_dir`` and ``index_dir`` of the installation is resolved (links
followed, relative paths taken from the working folder) when the list of
knowledge bases is read, and refused in one line naming the bases:

- two folders that are one, or one inside the other (two ``[kb.*]`` tables with
  the same ``index_dir`` made a build of one delete the other's articles from
  its index; ``index_dir = "index"`` replaced the default base silently);
- ``/``, the system's folders (``/etc``, ``/usr``, … and everything in them),
  the folders that hold the users' own (``/home``, ``/tmp``, ``/var``, …) and a
  home folder itself (``corpus_dir = "/"`` walked the whole file system, and
  ``index_dir = "/"`` was taken until write permission stopped it).

Folders under ``/tmp`` or inside a home folder are allowed (that is where tests
and most users keep them).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from rag.errors import SettingsError

# These and everything inside them belong to the system.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
                "/sbin", "/sys", "/usr")
# These hold other folders (users', services', temporary ones): each is refused itself, what is inside is allowed.
SHARED_FOLDERS = ("/", "/home", "/tmp", "/var", "/var/tmp", "/var/lib", "/srv", "/opt", "/mnt", "/media")


@dataclass(frozen=True)
class Folder:
    """One folder of one knowledge base: its base, which folder it is, and where it really is."""

    base: str
    kind: str  # "corpus_dir" or "index_dir"
    path: Path  # resolved

    @property
    def label(self) -> str:
        """How a message names it."""
        return f"{self.base}'s {self.kind} {self.path}"


def resolved(path: Path) -> Path:
    """``path`` with ``~`` expanded and every link followed (it need not exist)."""
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a link loop, a name the system refuses
        raise SettingsError(f"the folder {path} cannot be resolved ({exc}); give another") from exc


def home_folders() -> set[Path]:
    """Every user's home folder on this machine, and this user's."""
    homes = {Path(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir}
    try:
        homes.add(Path.home())
    except (KeyError, RuntimeError):  # a user without a passwd entry or HOME
        pass
    return {resolved(home) for home in homes if os.path.isabs(home)}


def system_problem(path: Path, homes: set[Path]) -> str | None:
    """Why a resolved folder cannot be a knowledge base's, or None when it can.

    >>> system_problem(Path("/etc/rag"), set()), system_problem(Path("/home/ann"), {Path("/home/ann")})
    ('is inside /etc, a system folder', 'is a home folder itself')
    >>> system_problem(Path("/home/ann/corpus"), {Path("/home/ann")}), system_problem(Path("/tmp/x"), set())
    (None, None)
    """
    for tree in SYSTEM_TREES:
        if path == Path(tree) or path.is_relative_to(tree):
            return f"is {'' if path == Path(tree) else 'inside '}{tree}, a system folder"
    if str(path) in SHARED_FOLDERS:
        return "is a folder the system shares among users and services"
    if path in homes:
        return "is a home folder itself"
    return None


def check_folders(folders: list[Folder]) -> None:
    """Refuse, in one line naming the bases, a system folder or two folders that overlap (see the module)."""
    homes = home_folders()
    for folder in folders:
        problem = system_problem(folder.path, homes)
        if problem is not None:
            raise SettingsError(f"knowledge base {folder.label} {problem}: give it a folder of its own, e.g. "
                                "one inside your home folder")
    for i, one in enumerate(folders):
        for other in folders[i + 1:]:
            if one.path == other.path:
                clash = f"{one.label} is the same folder as {other.label}"
            elif one.path.is_relative_to(other.path):
                clash = f"{one.label} is inside {other.label}"
            elif other.path.is_relative_to(one.path):
                clash = f"{other.label} is inside {one.label}"
            else:
                continue
            raise SettingsError(f"knowledge base {clash}: each knowledge base needs a corpus_dir and an index_dir "
                                "of its own, apart from every other folder")
