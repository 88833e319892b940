"""How fast each ``rag`` command starts: ``python benchmarks/cli_start.py [--runs 5] [--before REV]``.

Runs ``rag --help``, ``rag status``, ``rag search``, ``rag ask`` and ``rag serve``
``--runs`` times each, every run a fresh ``python -P -m rag.cli`` process over this
checkout's ``index/`` and ``models/`` (``rag index`` is run first when there is no
index). Wall time is from starting the process to its exit; for ``rag serve``, to
the line that says the chat page is ready (the process is then stopped). CPU time
(user + system, the process and its children) is given beside it: the machine is
shared, and CPU time moves less with the load than wall time does.

``--before REV``: the same commands, in the same run and interleaved with these, on
the ``rag`` package of commit REV (exported with ``git archive`` into a temporary
folder; the working tree is not touched). The issue's own figures are quoted as
reported. Writes its table into BENCHMARKS.md between the cli-start markers.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import git_commit, load_average, machine_info  # noqa: E402
from benchmarks.report import write_block  # noqa: E402

START = "<!-- bench:cli-start:start -->"
END = "<!-- bench:cli-start:end -->"
AFTER = "<!-- bench:api:end -->"
QUESTION = "2025年深圳人工智能核心产业营收约多少？"
SERVE = "rag serve"


# What the figures leave to loading rather than importing (profiled with cProfile and -X importtime).
NOTE = ("`--help` and `status` import no model library (tests/test_cli_imports.py). What `search` and `ask` "
        "still spend is loading, one load after another because each holds the GIL: the encoder's tokenizer "
        "(250k pieces), jieba's dictionary, the ONNX sessions, numpy, scipy (for bm25s) and FAISS; `ask` adds "
        "the reading model and jieba's part-of-speech tags, `serve` gradio and a first question.")


@dataclass(frozen=True)
class Command:
    """One command as the table names it, its arguments, the issue's figure and the target in seconds."""

    name: str
    args: tuple[str, ...]
    reported: str  # what issue 27 measured before this work (2 cores), as it says it
    target_s: float


COMMANDS = (
    Command("rag --help", ("--help",), "–", 0.5),
    Command("rag status", ("status",), "3.6", 0.5),
    Command('rag search "深圳"', ("search", "深圳"), "4.9", 2.0),
    Command(f'rag ask "{QUESTION}"', ("ask", QUESTION), "4.2–6.2", 3.0),
    Command(f"{SERVE} (until the chat page is ready)", ("serve",), "–", 5.0),
)


@dataclass
class Timings:
    """The wall and CPU seconds of each run of one command on one version of the code."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def p50(self) -> tuple[float, float]:
        """Median wall and CPU seconds."""
        return statistics.median(self.wall), statistics.median(self.cpu)


def _env(code_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code_root)
    env.pop("RAG_KB", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(command: Command, code_root: Path) -> tuple[float, float]:
    """One fresh process of ``command`` on the ``rag`` package in ``code_root``: (wall s, CPU s)."""
    # -P: the working folder (this checkout) is not put in front of PYTHONPATH, which picks the code.
    argv = [sys.executable, "-P", "-m", "rag.cli", *command.args]
    if command.args[0] == "serve":
        argv += ["--port", str(_free_port())]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(code_root), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    if command.args[0] == "serve":
        for line in proc.stdout:
            if "ready in" in line:
                break
        else:
            raise RuntimeError(f"{command.name} stopped before it was ready (exit {proc.wait()})")
        wall = time.perf_counter() - started
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    else:
        proc.communicate()
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{command.name} exited {proc.returncode}")
    return wall, _children_cpu() - cpu_before


def export_package(rev: str, folder: Path) -> Path:
    """The ``rag`` package of commit ``rev`` written under ``folder`` (``git archive``); returns ``folder``."""
    archive = folder / "rag.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "archive", "--format=tar", rev, "rag"], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    archive.unlink()
    return folder


def ensure_index() -> None:
    """Build ``index/`` from ``corpus/`` when this checkout has none (the commands need one)."""
    if not (ROOT / "index" / "CURRENT").is_file():
        subprocess.run([sys.executable, "-m", "rag.cli", "index"], cwd=ROOT, env=_env(ROOT), check=True,
                       stdout=subprocess.DEVNULL)


def measure(runs: int, roots: dict[str, Path]) -> dict[tuple[str, str], Timings]:
    """``runs`` rounds; in each, every command once on every version of the code, interleaved."""
    out = {(c.name, label): Timings() for c in COMMANDS for label in roots}
    for command in COMMANDS:  # one untimed run each: the files are in the page cache for every timed one
        for root in roots.values():
            time_command(command, root)
    for _ in range(runs):
        for command in COMMANDS:
            for label, root in roots.items():
                wall, cpu = time_command(command, root)
                out[command.name, label].wall.append(wall)
                out[command.name, label].cpu.append(cpu)
    return out


def render(times: dict[tuple[str, str], Timings], runs: int, before: str | None, meta: dict[str, object]) -> str:
    """The section: how it was measured, then one row per command."""
    lines = [
        "## Command-line start",
        "",
        f"Written by `{meta['invocation']}` on {meta['date']}, commit {meta['commit']}, {meta['cpu']} "
        f"({meta['cores']} cores), load average (1/5/15 min) {meta['load_start']} at the start and "
        f"{meta['load_end']} at the end. Each command {runs} times as a fresh `python -P -m rag.cli` process "
        "after one untimed run, over the demo article's index (`index/`, 1 article, 14 chunks), default "
        "settings: p50 seconds from starting the process to its exit (`rag serve`: to its \"ready\" line). "
        "CPU: user + system seconds of the process, p50; the machine was shared with other work, which "
        "moves wall time more than CPU time.",
        "",
    ]
    if before is not None:
        lines += [f"\"before\": the `rag` package of commit {before}, measured in the same run, interleaved. "
                  "\"issue 27\": the figures the issue reported before this work.", ""]
        lines += ["| command | issue 27 s | before s | before CPU s | now s | now CPU s | target s | met |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
    else:
        lines += ["\"issue 27\": the figures the issue reported before this work.", "",
                  "| command | issue 27 s | now s | now CPU s | target s | met |", "|---|---:|---:|---:|---:|---|"]
    for c in COMMANDS:
        wall, cpu = times[c.name, "now"].p50()
        met = "yes" if wall <= c.target_s else "no"
        cells = [c.name.replace("|", "\\|"), c.reported]
        if before is not None:
            old_wall, old_cpu = times[c.name, "before"].p50()
            cells += [f"{old_wall:.2f}", f"{old_cpu:.2f}"]
        cells += [f"{wall:.2f}", f"{cpu:.2f}", f"≤ {c.target_s:g}", met]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", NOTE]
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> int:
    """Measure, print the section, write it into BENCHMARKS.md (unless ``--no-write``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--before", metavar="REV", help="also time the rag package of this commit")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args(argv)
    ensure_index()
    machine = machine_info()
    meta: dict[str, object] = {
        "invocation": "python benchmarks/cli_start.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(ROOT),
        "cpu": machine["cpu"], "cores": machine["cores"], "load_start": "/".join(map(str, load_average())),
    }
    with tempfile.TemporaryDirectory(prefix="rag-cli-start-") as tmp:
        roots = {"now": ROOT}
        before = None
        if args.before:
            before = subprocess.run(["git", "rev-parse", "--short=12", args.before], cwd=ROOT, check=True,
                                    capture_output=True, text=True).stdout.strip()
            roots["before"] = export_package(args.before, Path(tmp))
        times = measure(args.runs, roots)
    meta["load_end"] = "/".join(map(str, load_average()))
    section = render(times, args.runs, before, meta)
    print(section)
    if not args.no_write:
        write_block(args.output, START, END, section, after=AFTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
