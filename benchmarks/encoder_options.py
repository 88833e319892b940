"""onnxruntime's options for the int8 encoder, timed beside today's session: ``python benchmarks/encoder_options.py``.

Issue 27, item 3. Today's session (``Encoder.load(..., "onnx-int8")``: one intra-op
thread, no spinning, one text per run, ``threads`` texts side by side) is timed in
the same run as variants of it, interleaved round by round (A B C ... A B C ...)
so that the machine's load falls on all of them alike:

* session options: a saved optimised model loaded with optimisation off, two
  intra-op threads, the parallel executor, spinning threads, no memory arena;
* batch layout: padded batches of 8/16/32/64 texts sorted by length (the
  encoder's own order) run in one call, against one text per call;
* query encoding of a 20-character question, p50 over ``--queries`` warm calls.

Chunks are real CMRC 2018 dev chunk texts (default chunking), spread across the
set. Each variant's vectors are compared with today's (max abs difference):
session options that leave them unchanged need no new hit@5. Writes its table
into BENCHMARKS.md between the encoder-options markers.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.data import load_cmrc, spread_sample  # noqa: E402
from benchmarks.machine import git_commit, load_average, machine_info  # noqa: E402
from benchmarks.report import write_block  # noqa: E402
from rag.embed.encoder import Encoder  # noqa: E402
from rag.embed.modelprep import ONNX_DIRNAME, ONNX_INT8, ensure_model  # noqa: E402
from rag.embed.pooling import kept_tokens, normalise_rows  # noqa: E402
from rag.embed.runners import OnnxRunner  # noqa: E402
from rag.settings import DEFAULT_MODEL, Settings  # noqa: E402

START = "<!-- bench:encoder-options:start -->"
END = "<!-- bench:encoder-options:end -->"
AFTER = "<!-- bench:performance:end -->"
QUESTION = "2025年深圳人工智能核心产业营收约多少？"  # 20 characters, as the issue asks
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "f16c")


@dataclass(frozen=True)
class Variant:
    """One way of running the int8 export: its name, session options, and how chunks are laid out."""

    name: str
    options: dict[str, Any]  # SessionOptions attributes and "config" entries
    workers: int  # texts side by side, one per run (one-per-run layout)
    batch: int = 0  # 0: one text per run; else padded batches of this many, one run each
    optimised_file: bool = False  # load a saved optimised model with optimisation off


@dataclass
class Timing:
    """What one variant measured: best chunk pass, query calls, load time, vectors."""

    chunk_seconds: float = float("inf")
    query_ms: list[float] | None = None
    load_s: float = 0.0
    vectors: np.ndarray | None = None


def cpu_flags() -> list[str]:
    """Which of CPU_FLAGS this CPU reports in /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return []
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return [f for f in CPU_FLAGS if f in flags]


def variants(threads: int) -> list[Variant]:
    """Today's session first, then the variants; every session option differs from today's in one thing."""
    today = {"intra_op_num_threads": 1, "inter_op_num_threads": 1, "config": {"session.intra_op.allow_spinning": "0"}}
    out = [
        Variant("today (1 thread/run, no spin)", today, threads),
        Variant("saved optimised model", today, threads, optimised_file=True),
        Variant("basic graph opt only", {**today, "graph_optimization_level": "ORT_ENABLE_BASIC"}, threads),
        Variant("spinning on", {**today, "config": {"session.intra_op.allow_spinning": "1"}}, threads),
        Variant("no memory arena", {**today, "enable_cpu_mem_arena": False}, threads),
        Variant("no memory pattern", {**today, "enable_mem_pattern": False}, threads),
        Variant("2 intra threads, 1 text at a time", {**today, "intra_op_num_threads": 2}, 1),
        Variant("parallel executor, 2 inter", {**today, "execution_mode": "ORT_PARALLEL", "inter_op_num_threads": 2},
                threads),
    ]
    intra = {**today, "intra_op_num_threads": threads}
    out += [Variant(f"padded batch {b}, sorted, {threads} intra", intra, 1, batch=b) for b in (8, 16, 32, 64)]
    # A second copy of today's session: how far two identical sessions differ is the run's noise floor.
    return [*out, Variant("today again (control)", today, threads)]


def make_session(model: Path, variant: Variant, saved: Path) -> Any:
    """An onnxruntime session over ``model`` (or the saved optimised copy) with the variant's options."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    for key, value in variant.options.items():
        if key == "config":
            for name, setting in value.items():
                options.add_session_config_entry(name, setting)
        elif key == "graph_optimization_level":
            options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, value)
        elif key == "execution_mode":
            options.execution_mode = getattr(ort.ExecutionMode, value)
        else:
            setattr(options, key, value)
    path = model
    if variant.optimised_file:
        if not saved.is_file():
            writer = ort.SessionOptions()
            writer.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            writer.optimized_model_filepath = str(saved)
            ort.InferenceSession(str(model), writer, providers=["CPUExecutionProvider"])
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        path = saved
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class PaddedRunner(OnnxRunner):
    """The int8 session over padded batches: one run per batch, masked mean over each text's tokens."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed one batch (already sorted by length by the encoder) in a single padded run."""
        rows = [kept_tokens(e.ids, self.max_tokens) for e in self.tokenizer.encode_batch(texts)]
        longest = max(len(r) for r in rows)
        ids = np.zeros((len(rows), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        states = np.asarray(self.session.run(None, feeds)[0])
        summed = (states * mask[:, :, None]).sum(axis=1)
        return normalise_rows(summed / mask.sum(axis=1, keepdims=True))


def build(variant: Variant, base: Encoder, model: Path, saved: Path) -> tuple[Encoder, float]:
    """A copy of ``base`` whose runner is the variant's; the session's load time in seconds."""
    t0 = time.perf_counter()
    session = make_session(model, variant, saved)
    load_s = time.perf_counter() - t0
    runner_type = PaddedRunner if variant.batch else OnnxRunner
    runner = runner_type(session, base._tokenizer, base.max_tokens, variant.workers)
    encoder = Encoder(model=base.model, backend=base.backend, runner=runner, counter=base._counter,
                      query_prefix=base.query_prefix, passage_prefix=base.passage_prefix,
                      batch_size=variant.batch or base.batch_size, dimension=base.dimension,
                      max_tokens=base.max_tokens, tokenizer=base._tokenizer)
    return encoder, load_s


def measure(encoders: list[Encoder], texts: list[str], repeat: int, queries: int) -> list[Timing]:
    """Chunk passes (best of ``repeat``, round by round) and query calls (call by call) across the encoders."""
    timings = [Timing(query_ms=[]) for _ in encoders]
    for enc in encoders:  # warm-up: first-call allocations, thread pools
        enc.encode_passages(texts[:8])
        for _ in range(5):
            enc.encode_queries([QUESTION])
    for r in range(repeat):
        # Each round starts at a different variant, so no session always runs first (or after the same one).
        shift = r * len(encoders) // repeat
        for enc, timing in list(zip(encoders, timings, strict=True))[shift:] + list(zip(encoders, timings,
                                                                                        strict=True))[:shift]:
            t0 = time.perf_counter()
            timing.vectors = enc.encode_passages(texts)
            timing.chunk_seconds = min(timing.chunk_seconds, time.perf_counter() - t0)
    for _ in range(queries):
        for enc, timing in zip(encoders, timings, strict=True):
            q0 = time.perf_counter()
            enc.encode_queries([QUESTION])
            if timing.query_ms is not None:
                timing.query_ms.append((time.perf_counter() - q0) * 1000)
    return timings


def render(rows: list[tuple[Variant, Timing, float, float]], meta: dict[str, Any]) -> str:
    """The Markdown section: one row per variant, ratios against today's session."""
    today = rows[0][1]
    today_cps = meta["texts"] / today.chunk_seconds
    today_q = statistics.median(today.query_ms or [float("nan")])
    lines = [
        "## Encoder options (onnxruntime, int8 export)", "",
        f"Written by `{meta['command']}` on {meta['date']}, commit {meta['commit']}; {meta['cpu']}, "
        f"{meta['cores']} cores, flags: {', '.join(meta['flags']) or 'none of ' + '/'.join(CPU_FLAGS)}; "
        f"onnxruntime {meta['ort']}; load average (1/5/15 min) {meta['load_start']} at start, "
        f"{meta['load_end']} at end.", "",
        f"{meta['texts']} CMRC 2018 dev chunk texts (default chunking, spread across the set), best of "
        f"{meta['repeat']} passes; query: a {len(QUESTION)}-character question, p50 of {meta['queries']} warm calls. "
        "Variants run interleaved with today's session: chunk passes round by round (each round starting at "
        "a different variant), queries call by call; \"today again\" is a second copy of today's session, "
        "the run's noise floor. "
        "Ratios are against today's session in this run (> 1: faster). "
        "Max |Δ| is the largest difference of a vector component from today's.", "",
        "| variant | chunks/s | × today | query p50 ms | × today | session load s | max abs Δ vs today |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, timing, cps, q50 in rows:
        delta = float(np.abs(timing.vectors - today.vectors).max()) if timing.vectors is not None else float("nan")
        lines.append(f"| {variant.name} | {cps:.1f} | {cps / today_cps:.2f} | {q50:.2f} | {today_q / q50:.2f} | "
                     f"{timing.load_s:.2f} | {delta:.1e} |")
    lines += ["", meta["note"], ""]
    return "\n".join(lines) + "\n"


NOTE = ("Session options that leave every vector unchanged (max |Δ| 0, or float rounding) keep today's CMRC "
        "hit@5, so it is not recomputed for them. Padded batches change the vectors: dynamic int8 quantisation "
        "picks one activation scale per tensor, so a text's vector depends on its batch neighbours (why "
        "today's runner embeds one text per run); such a row would need its own hit@5 before it could be kept. "
        "Not measured here: VNNI is no option to set (onnxruntime's MLAS picks its int8 kernels from the CPU's "
        "flags at run time), and fp16/bf16 (the CPU provider has no fp16 kernels for most of this graph's ops).")


def main(argv: list[str] | None = None) -> int:
    """Measure every variant beside today's session, print the section, write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--texts", type=int, default=256, help="chunk texts per pass (default 256)")
    parser.add_argument("--repeat", type=int, default=2, help="timed passes per variant (default 2)")
    parser.add_argument("--queries", type=int, default=200, help="query calls per variant (default 200)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    settings = Settings()
    machine = machine_info()
    meta: dict[str, Any] = {
        "command": "python benchmarks/encoder_options.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(ROOT),
        "cpu": machine["cpu"], "cores": machine["cores"], "flags": cpu_flags(), "ort": ort.__version__,
        "load_start": "/".join(map(str, load_average())), "texts": args.texts, "repeat": args.repeat,
        "queries": args.queries, "note": NOTE,
    }
    threads = settings.threads or int(machine["cores"])  # type: ignore[call-overload]
    model = Path(ensure_model(DEFAULT_MODEL, settings.models_dir)) / ONNX_DIRNAME / ONNX_INT8
    base = Encoder.load(DEFAULT_MODEL, "onnx-int8", settings.models_dir, batch_size=settings.batch_size,
                        threads=threads)
    texts = spread_sample(load_cmrc(settings, quick=False).chunk_texts, args.texts)
    chosen = variants(threads)
    with tempfile.TemporaryDirectory(prefix="rag-ort-") as tmp:
        saved = Path(tmp) / "model_int8_optimised.onnx"
        built = [build(v, base, model, saved) for v in chosen]
        timings = measure([e for e, _ in built], texts, args.repeat, args.queries)
    rows = []
    for variant, (_, load_s), timing in zip(chosen, built, timings, strict=True):
        timing.load_s = load_s
        rows.append((variant, timing, args.texts / timing.chunk_seconds, statistics.median(timing.query_ms or [])))
    meta["load_end"] = "/".join(map(str, load_average()))
    section = render(rows, meta)
    print(section)
    if not args.no_write:
        write_block(args.output, START, END, section, after=AFTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
