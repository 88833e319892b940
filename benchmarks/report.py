"""The benchmark's Markdown: tables, targets, and the performance section of BENCHMARKS.md."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.encoders import Quality, Throughput
from benchmarks.pipeline import PipelineRun
from benchmarks.scale import APPROX_KIND, BEFORE_KIND, PROBE_SWEEP, Percentiles, ScaleResult
from benchmarks.synthetic import DESCRIPTION
from rag.store.dense import IVF_PROBES

START = "<!-- bench:performance:start -->"
END = "<!-- bench:performance:end -->"
PLUS_ONE_LIMIT = 1.5  # "about the cost of embedding that article alone"


@dataclass
class BenchmarkRun:
    """Everything one run measured, with what it ran on."""

    meta: dict[str, Any]
    throughput: list[Throughput] = field(default_factory=list)
    quality: list[Quality] = field(default_factory=list)
    pipeline: list[PipelineRun] = field(default_factory=list)
    scale: list[ScaleResult] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """One target of the issue and what was measured against it."""

    name: str
    measured: str
    met: bool | None  # None: not measured in this run


def _f(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def size_label(n: int) -> str:
    """1000 → "1k", 1000000 → "1M", 300 → "300".

    >>> size_label(1000), size_label(100_000), size_label(1_000_000), size_label(300)
    ('1k', '100k', '1M', '300')
    """
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def targets(run: BenchmarkRun) -> list[Target]:
    """Each target of issue 8 against this run's figures."""
    out: list[Target] = []
    by_engine = {t.engine: t for t in run.throughput}
    if "torch fp32" in by_engine and "onnx-int8" in by_engine:
        speed = by_engine["onnx-int8"].best.chunks_per_s / by_engine["torch fp32"].best.chunks_per_s
        out.append(Target("onnx-int8 ≥ 2× torch fp32 (chunks/s, each at its best batch)", f"{speed:.2f}×",
                          speed >= 2.0))
    quality = {q.backend: q for q in run.quality}
    if "torch" in quality and "onnx-int8" in quality:
        delta = quality["onnx-int8"].hit_at_5 - quality["torch"].hit_at_5
        out.append(Target("CMRC dev hit@5, onnx-int8 within 0.005 of fp32", f"{delta:+.4f}", abs(delta) <= 0.005))
    for p in run.pipeline:
        out.append(Target(f"`rag index` / encode-only ≤ 1.15 ({p.backend})", f"{p.overhead_ratio:.3f}",
                          p.overhead_ratio <= 1.15))
        out.append(Target(f"unchanged re-index embeds nothing, < 5% of a full build ({p.backend})",
                          f"{p.unchanged_embedded} embedded, {100 * p.unchanged_fraction:.1f}%",
                          p.unchanged_embedded == 0 and p.unchanged_fraction < 0.05))
        out.append(Target(f"re-index + 1 article ≈ embedding it alone, ≤ {PLUS_ONE_LIMIT}× ({p.backend})",
                          f"{p.plus_one_ratio:.2f}×", p.plus_one_ratio <= PLUS_ONE_LIMIT))
    for s in run.scale:
        recall = s.dense.exact_recall_at_10 if s.dense_kind == "flat" else s.dense.approx_recall_at_10
        out.append(Target(f"recall@10 ≥ 0.99 against exact, {size_label(s.size)} chunks ({s.dense_kind})",
                          f"{recall:.4f}", recall >= 0.99))
    sizes = {s.size: s for s in run.scale}
    big = sizes.get(1_000_000)
    out.append(Target("search p50 < 20 ms at 1M chunks",
                      f"{big.search_ms.p50:.1f} ms" if big else "not run (add 1m to --sizes)",
                      big.search_ms.p50 < 20 if big else None))
    out.append(Target("search p99 < 60 ms at 1M chunks",
                      f"{big.search_ms.p99:.1f} ms" if big else "not run (add 1m to --sizes)",
                      big.search_ms.p99 < 60 if big else None))
    out.append(Target("start-up to first answer < 10 s at 1M chunks",
                      f"{big.startup.startup_s:.1f} s" if big else "not run (add 1m to --sizes)",
                      big.startup.startup_s < 10 if big else None))
    mid = sizes.get(100_000)
    out.append(Target("full answer p50 < 100 ms at 100k chunks",
                      f"{mid.answer_ms.p50:.1f} ms" if mid else "not run", mid.answer_ms.p50 < 100 if mid else None))
    out.append(Target("start-up to first answer < 10 s at 100k chunks",
                      f"{mid.startup.startup_s:.1f} s" if mid else "not run",
                      mid.startup.startup_s < 10 if mid else None))
    return out


def render(run: BenchmarkRun) -> str:
    """The performance section (without its markers) as Markdown."""
    m = run.meta
    lines = [
        "## Performance",
        "",
        f"Written by `{m['command']}` on {m['date']}, commit `{m['commit']}`"
        + (" (quick mode: small samples, a correctness check, not a measurement)." if m["quick"] else "."),
        f"Machine: {m['machine']['cpu']}, {m['machine']['cores']} cores, {m['machine']['ram_gib']} GiB RAM, "
        f"{m['machine']['os']}; {m['threads']} threads. Load average (1/5/15 min) at the start "
        f"{'/'.join(map(str, m['load_start']))}, at the end {'/'.join(map(str, m['load_end']))}: other jobs "
        "share the CPU when it is above the core count, and every timing is slower by about that much.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "Timings exclude process start and model loading, except start-up itself.",
        "",
    ]
    if run.throughput:
        t0 = run.throughput[0]
        lines += [
            f"### Encoder throughput: {t0.texts} real CMRC 2018 dev chunks (default chunking), {t0.tokens:,} tokens",
            "",
            "| engine | batch sizes tried (chunks/s) | best batch | chunks/s | tokens/s | × torch fp32 |",
            "|---|---|---:|---:|---:|---:|",
        ]
        torch_best = next((t.best.chunks_per_s for t in run.throughput if t.engine == "torch fp32"), float("nan"))
        for t in run.throughput:
            tried = ", ".join(f"{r.batch_size}: {r.chunks_per_s:.1f}" for r in t.runs)
            lines.append(f"| {t.engine} | {tried} | {t.best.batch_size} | {_f(t.best.chunks_per_s)} | "
                         f"{_f(t.best.tokens_per_s, 0)} | {_f(t.best.chunks_per_s / torch_best, 2)} |")
        lines.append("")
    if run.quality:
        base = next((q.hit_at_5 for q in run.quality if q.backend == "torch"), float("nan"))
        base_test = next((q.test_hit_at_5 for q in run.quality if q.backend == "torch"), float("nan"))
        lines += [
            "### Retrieval quality by encoder: CMRC 2018 dev, hybrid search, chunk-level hit@5",
            "",
            "| backend | questions | hit@5 | Δ vs fp32 | test half: questions | hit@5 | Δ vs fp32 |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for q in run.quality:
            lines.append(f"| {q.backend} | {q.questions} | {q.hit_at_5:.4f} | {q.hit_at_5 - base:+.4f} | "
                         f"{q.test_questions} | {q.test_hit_at_5:.4f} | {q.test_hit_at_5 - base_test:+.4f} |")
        lines.append("")
    if run.pipeline:
        p0 = run.pipeline[0]
        lines += [
            f"### Index build: {p0.articles} CMRC passages as .txt files ({p0.chunks} chunks, {p0.sentences} "
            "sentences), `build_index` as `rag index` runs it, fresh index folder, empty embedding cache",
            "",
            "| backend | batch | texts embedded | `rag index` s | encode only s | overhead ratio | stages s | "
            "unchanged re-index s (embedded, % of full) | + 1 article s (embedded) | embedding it alone s | ratio |",
            "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|",
        ]
        for p in run.pipeline:
            stages = ", ".join(f"{k} {v:.2f}" for k, v in p.stages_s.items())
            lines.append(
                f"| {p.backend} | {p.batch_size} | {p.embedded} | {p.build_s:.2f} | {p.encode_s:.2f} | "
                f"{p.overhead_ratio:.3f} | {stages} | {p.unchanged_s:.3f} ({p.unchanged_embedded}, "
                f"{100 * p.unchanged_fraction:.1f}%) | {p.plus_one_s:.2f} ({p.plus_one_embedded}) | "
                f"{p.plus_one_encode_s:.2f} | {p.plus_one_ratio:.2f} |")
        lines += ["", "Encode only: the same encoder and batch size on exactly the texts the build embedded; "
                  "mean of one run before and one after the build. jieba's dictionary and bm25s are loaded "
                  "before timing (one-off process costs, like the model).", ""]
    if run.scale:
        lines += scale_lines(run.scale, m)
    lines += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target in targets(run):
        met = "–" if target.met is None else ("yes" if target.met else "no")
        lines.append(f"| {target.name} | {target.measured} | {met} |")
    return "\n".join(lines) + "\n"


def _p(p: Percentiles | None, digits: int = 1) -> str:
    return "–" if p is None else f"{p.p50:.{digits}f} / {p.p95:.{digits}f} / {p.p99:.{digits}f}"


def scale_lines(results: list[ScaleResult], m: dict[str, Any]) -> list[str]:
    """The query-latency-at-scale tables (written by benchmarks/run.py and by benchmarks/scale.py alone)."""
    s0 = results[0]
    lines = [
        f"### Query latency at scale: onnx-int8 query encoder, hybrid, top {m['top_k']}, "
        f"{m['candidates']} candidates per leg, {s0.queries} real CMRC questions per size",
        "",
        f"Dense index kinds: exact; `{BEFORE_KIND}` (IVF lists of float32 vectors, the large kind before "
        f"this table) and `{APPROX_KIND}` (the same lists holding 16-bit floats, the large kind now), "
        f"{IVF_PROBES} lists scanned per query, both built from the same vectors. Each query runs on every "
        "index in turn, and each question's hybrid search runs with either kind in turn over the same written "
        "index, so load that comes and goes falls on both alike.",
        "",
        f"| chunks | dense index | recall@10 exact / {BEFORE_KIND} / {APPROX_KIND} "
        f"| dense p50 ms exact / {BEFORE_KIND} / {APPROX_KIND} | dense p99 ms {BEFORE_KIND} / {APPROX_KIND} "
        f"| search p50 / p95 / p99 ms, dense on {BEFORE_KIND} | search p50 / p95 / p99 ms, dense on rag's kind "
        "| encode / dense / lexical / fusion / sentence re-rank p50 ms (p99) | legs one after the other p50 ms "
        "| answer with the reading model p50 / p95 / p99 ms | server RSS MiB (anonymous) | disk MiB "
        "| start-up s | load |",
        "|---:|---|---|---|---|---|---|---|---:|---|---|---:|---:|---|",
    ]
    for s in results:
        st, st99, d = s.stages_p50_ms, s.stages_p99_ms, s.dense
        stages = " / ".join(f"{st.get(k, float('nan')):.1f} ({_f(st99.get(k), 0)})"
                            for k in ("encode", "dense", "lexical", "fusion", "rerank"))
        lines.append(
            f"| {size_label(s.size)} | {s.dense_kind} | {d.exact_recall_at_10:.4f} / {_f(d.before_recall_at_10, 4)} / "
            f"{d.approx_recall_at_10:.4f} | {d.exact_ms.p50:.2f} / {_f(d.before_ms.p50 if d.before_ms else None, 2)}"
            f" / {d.approx_ms.p50:.2f} | {_f(d.before_ms.p99 if d.before_ms else None, 2)} / {d.approx_ms.p99:.2f} | "
            f"{_p(s.search_before_ms)} | {_p(s.search_ms)} | {stages} | {s.search_sequential_ms.p50:.1f} | "
            f"{_p(s.answer_ms)} | {s.startup.rss_mib:,.0f} ({s.startup.anon_rss_mib:,.0f}) | "
            f"{s.disk_mib:,.0f} | {s.startup.startup_s:.1f} | {'/'.join(f'{x:.1f}' for x in s.load)} |")
    lines += [
        "",
        DESCRIPTION + " Mean best cosine of the questions among real chunks / among synthetic ones: "
        + "; ".join(f"{size_label(s.size)} {s.query_top1_real:.3f} / {_f(s.query_top1_synthetic, 3)}"
                    for s in results) + ".",
        "Search runs from question text to fused and re-ranked hits (query encoding included); the stages are "
        f"timed inside it (dense on {APPROX_KIND} at the large sizes, the written index's own kind), the lexical "
        "leg in a thread beside encoding and dense search. Answer: search plus the answer with rag's defaults, "
        "the reading model's short answer included. Server RSS: a fresh process that loaded the index and "
        "answered 20 questions; above 100k chunks the BM25 arrays are memory-mapped (the sentence vectors at every "
        "size), so the file pages it touched count in its RSS but not in the anonymous part, and the system can "
        "drop or share them; the dense index is read into memory. "
        "Start-up: that process, from its start to its first answer. Load: the load average (1/5/15 min) when "
        "the size was done. The dense index written is exact up to 100k chunks and "
        f"{APPROX_KIND} above (`rag.store.dense.auto_kind`); all kinds are measured at every size. Build: "
        + "; ".join(f"{size_label(s.size)} {APPROX_KIND} {s.dense.approx_build_s:.1f} s, {BEFORE_KIND} "
                    f"{_f(s.dense.before_build_s)} s ({s.dense.lists} lists)" for s in results) + ".",
        "",
        f"IVF lists scanned per query, {APPROX_KIND} (recall@10 / dense p50 ms; * marks rag's setting, "
        "`rag.store.dense.IVF_PROBES`, capped at the number of lists):",
        "",
        "| chunks | " + " | ".join(f"{n} lists" for n in PROBE_SWEEP) + " |",
        "|---:|" + "---|" * len(PROBE_SWEEP),
    ]
    for s in results:
        cells = [f"{'*' if count == IVF_PROBES else ''}{probes}: {rec:.4f} / {ms:.2f}"
                 for count, (probes, rec, ms) in s.dense.sweep.items()]
        lines.append(f"| {size_label(s.size)} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def write_block(markdown_file: Path, start: str, end: str, section: str, before: str | None = None,
                after: str | None = None) -> None:
    """Put ``section`` between the ``start`` and ``end`` markers of ``markdown_file``, keeping everything else.

    With ``after`` (a marker text), the block is moved to just behind it when it sits anywhere else.
    Without the markers, the block goes behind ``after`` or in front of ``before`` when given and
    present, else at the end.
    """
    block = f"{start}\n{section}{end}"
    text = markdown_file.read_text(encoding="utf-8") if markdown_file.is_file() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if after is not None and after in text and not re.search(re.escape(after) + r"\s*" + re.escape(start), text):
        text = re.sub(pattern.pattern + r"\n*", "", text, count=1, flags=re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    elif after is not None and after in text:
        text = text.replace(after, after + "\n\n" + block, 1)
    elif before is not None and before in text:
        text = text.replace(before, block + "\n\n" + before, 1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    markdown_file.parent.mkdir(parents=True, exist_ok=True)
    markdown_file.write_text(text, encoding="utf-8")


def write_section(markdown_file: Path, section: str) -> None:
    """Put ``section`` between the performance markers of ``markdown_file``, keeping everything else."""
    write_block(markdown_file, START, END, section)
