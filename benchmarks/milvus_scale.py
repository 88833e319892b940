"""The stores at synthetic scale, for benchmarks/milvus_bench.py ``--sizes``.

The same three ways (FAISS, Milvus Lite by file path, and with ``server`` a
``milvus-lite server`` process over http) on the synthetic corpora of
benchmarks/synthetic.py (real CMRC chunks and text, every further copy with
vectors of its own; real CMRC questions as queries): build time from ready
vectors, dense and hybrid search p50/p95, dense recall@10 against exact search,
and memory (a fresh process that opens the store and answers questions, via
benchmarks/probe.py; the server process's own RSS). Milvus is left out at a size
whose memory, extrapolated from the sizes before it, the machine cannot hold.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.report import size_label
from benchmarks.scale import Percentiles, exact_top, probe_startup, recall_at
from benchmarks.synthetic import DESCRIPTION, BaseCorpus, synthetic_corpus, write_synthetic_index
from rag.embed.encoder import Encoder
from rag.kb.knowledge_base import KnowledgeBase
from rag.search.searcher import Searcher
from rag.settings import Settings
from rag.store.dense import EXACT_LIMIT, DenseIndex, auto_kind
from rag.store.milvus.build import fill_collection, finish_sync
from rag.store.milvus.store import disconnect
from rag.store.versions import load_version

# Milvus is not filled at a size whose estimated memory (from the per-row growth measured at the
# sizes before it) exceeds this share of the memory the machine has available at that moment.
MEMORY_SHARE = 0.8


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `milvus-lite server` on a free local port; return it and its URI once it accepts connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen([str(Path(sys.executable).with_name("milvus-lite")), "server", "--data-dir", str(data),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"milvus-lite server did not start on port {port} within 60 s")


@dataclass
class ScaleRow:
    """One store at one synthetic size."""

    size: int
    store: str
    index: str  # the dense index kind
    build_s: float
    dense_ms: Percentiles
    hybrid_ms: Percentiles
    recall_at_10: float  # dense leg against exact search
    hybrid_same: float  # hybrid top-10 shared with FAISS's hybrid top-10
    rss_mib: float  # a fresh process with the store open, after answering questions
    peak_rss_mib: float
    server_rss_mib: float = float("nan")  # the `milvus-lite server` process (network rows only)
    server_peak_rss_mib: float = float("nan")


def process_tree_rss(pid: int) -> tuple[float, float]:
    """Resident memory (now, peak) in MiB of a process and its children (peak: the sum of their peaks)."""
    rss = peak = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text(encoding="utf-8").splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text(encoding="utf-8").split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return rss, peak


def time_searches(searcher: Searcher, questions: list[str], vectors: np.ndarray,
                  mode: str) -> tuple[Percentiles, list[list[int]]]:
    """Latency (after one warm-up) and top-10 chunk ids of every query; encoding excluded."""
    searcher.search(questions[0], k=10, mode=mode, query_vector=vectors[0])
    times, found = [], []
    for question, vector in zip(questions, vectors, strict=True):
        t0 = time.perf_counter()
        hits = searcher.search(question, k=10, mode=mode, query_vector=vector).hits
        times.append((time.perf_counter() - t0) * 1000)
        found.append([h.chunk.id for h in hits])
    return Percentiles.of(times), found


def measure_store(size: int, store: str, index: str, build_s: float, kb: KnowledgeBase, questions: list[str],
                  vectors: np.ndarray, chunk_vectors: np.ndarray, exact_scores: np.ndarray,
                  faiss_hybrid: list[list[int]] | None) -> tuple[ScaleRow, list[list[int]]]:
    """Search one store with every query, both modes; memory is filled in afterwards."""
    searcher = kb.searcher()
    dense_ms, dense_found = time_searches(searcher, questions, vectors, "dense")
    hybrid_ms, hybrid_found = time_searches(searcher, questions, vectors, "hybrid")
    recall = recall_at([np.asarray(ids, dtype=np.int64) for ids in dense_found], chunk_vectors, vectors,
                       exact_scores)
    same = float("nan")
    if faiss_hybrid is not None:
        same = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                              for a, b in zip(hybrid_found, faiss_hybrid, strict=True)]))
    row = ScaleRow(size, store, index, build_s, dense_ms, hybrid_ms, recall, same, float("nan"), float("nan"))
    print(f"{size_label(size):>5} {store:26} build {build_s:7.1f} s  dense p50 {dense_ms.p50:7.2f} ms  "
          f"hybrid p50 {hybrid_ms.p50:7.2f} ms  recall@10 {recall:.4f}", file=sys.stderr)
    return row, hybrid_found


def fill_milvus(settings: Settings, chunk_vectors: np.ndarray) -> float:
    """Insert the current index version's chunks with their ready vectors into a new collection; seconds."""
    t0 = time.perf_counter()
    version = load_version(settings.index_dir)
    hashes = {path: info.sha256 for path, info in version.manifest.articles.items()}
    pending = fill_collection(settings, version.chunks, hashes, lambda ids: chunk_vectors[np.asarray(ids)],
                              int(chunk_vectors.shape[1]), rebuild=True)
    finish_sync(pending)
    return time.perf_counter() - t0


def available_mib() -> float:
    """The memory the machine can give without swapping (MemAvailable), in MiB."""
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def milvus_memory_estimate(previous: list[ScaleRow], size: int) -> float | None:
    """MiB Milvus would hold at ``size`` chunks, from the sizes measured before it (None: no basis).

    Milvus's memory: the embedded process's peak RSS above FAISS's at the same size, and the
    server process's own peak; the larger of the two. Extrapolated along the line through the
    two largest sizes measured (with one size: in proportion to it).
    """
    by_size: dict[int, dict[str, ScaleRow]] = {}
    for row in previous:
        by_size.setdefault(row.size, {})[row.store] = row

    def held(rows: dict[str, ScaleRow]) -> float:
        mib = rows["milvus-lite"].peak_rss_mib - rows["faiss"].peak_rss_mib
        served = rows.get("milvus-lite server (http)")
        if served is not None and not np.isnan(served.server_peak_rss_mib):
            mib = max(mib, served.server_peak_rss_mib)
        return mib

    measured = sorted(n for n, rows in by_size.items() if "faiss" in rows and "milvus-lite" in rows)
    if not measured:
        return None
    top = measured[-1]
    if len(measured) == 1:
        return held(by_size[top]) / top * size
    below = measured[-2]
    slope = (held(by_size[top]) - held(by_size[below])) / (top - below)
    return held(by_size[top]) + max(slope, 0.0) * (size - top)


@dataclass
class Skipped:
    """A size at which Milvus was not filled, and why."""

    size: int
    reason: str


def measure_size(base: BaseCorpus, size: int, settings: Settings, encoder: Encoder, questions: list[str],
                 work_dir: Path, server: bool, previous: list[ScaleRow] | None = None,
                 skipped: list[Skipped] | None = None) -> list[ScaleRow]:
    """FAISS, Milvus Lite by file path and (``server``) a `milvus-lite server` on one synthetic corpus.

    Milvus is left out (and the reason added to ``skipped``) when the memory it would take,
    estimated from the ``previous`` sizes' rows, does not fit in what the machine has available.
    """
    corpus = synthetic_corpus(base, size)
    chunk_vectors = corpus.chunk_vectors
    vectors = encoder.encode_queries(questions)
    _, exact_scores = exact_top(chunk_vectors, vectors, 10)
    probe_questions = questions[:20]
    faiss_settings = settings.replace(index_dir=work_dir / f"scale-{size}")
    kind = auto_kind(size)
    t0 = time.perf_counter()
    write_synthetic_index(corpus, faiss_settings, DenseIndex.build(chunk_vectors, kind=kind))
    faiss_build = time.perf_counter() - t0
    del corpus
    faiss_row, faiss_hybrid = measure_store(size, "faiss", kind, faiss_build, KnowledgeBase(faiss_settings, encoder),
                                            questions, vectors, chunk_vectors, exact_scores, None)
    rows = [faiss_row]
    milvus_index = "FLAT" if size <= EXACT_LIMIT else "HNSW"
    estimate, available = milvus_memory_estimate(previous or [], size), available_mib()
    if estimate is not None and estimate > MEMORY_SHARE * available:
        reason = (f"Milvus Lite would hold about {estimate / 1024:.1f} GiB at {size_label(size)} chunks (its memory "
                  "at the sizes measured before, extrapolated by the row count), more than "
                  f"{MEMORY_SHARE:.0%} of the {available / 1024:.1f} GiB this machine had available then")
        print(f"{size_label(size):>5} milvus skipped: {reason}", file=sys.stderr)
        if skipped is not None:
            skipped.append(Skipped(size, reason))
        faiss_row.rss_mib, faiss_row.peak_rss_mib = _probe_memory(faiss_settings, probe_questions)
        shutil.rmtree(faiss_settings.index_dir, ignore_errors=True)
        return rows

    lite = faiss_settings.replace(store="milvus")
    build = fill_milvus(lite, chunk_vectors)
    row, _ = measure_store(size, "milvus-lite", milvus_index, build, KnowledgeBase(lite, encoder), questions,
                           vectors, chunk_vectors, exact_scores, faiss_hybrid)
    rows.append(row)
    disconnect(lite)  # the probe process opens the file next (Milvus Lite by path: one process)

    served = None
    if server:
        process, uri = start_server(work_dir / f"served-{size}.db")
        try:
            served = faiss_settings.replace(store="milvus", milvus_uri=uri)
            build = fill_milvus(served, chunk_vectors)
            row, _ = measure_store(size, "milvus-lite server (http)", milvus_index, build,
                                   KnowledgeBase(served, encoder), questions, vectors, chunk_vectors, exact_scores,
                                   faiss_hybrid)
            disconnect(served)
            row.rss_mib, row.peak_rss_mib = _probe_memory(served, probe_questions)
            row.server_rss_mib, row.server_peak_rss_mib = process_tree_rss(process.pid)
            rows.append(row)
        finally:
            process.terminate()
            process.wait(timeout=60)
    for row, row_settings in zip(rows, (faiss_settings, lite), strict=False):
        row.rss_mib, row.peak_rss_mib = _probe_memory(row_settings, probe_questions)
    shutil.rmtree(faiss_settings.index_dir, ignore_errors=True)
    return rows


def _probe_memory(settings: Settings, questions: list[str]) -> tuple[float, float]:
    """RSS and peak RSS (MiB) of a fresh process that opened the store and answered ``questions``."""
    probe = probe_startup(settings, questions)
    return probe.rss_mib, probe.peak_rss_mib


def render_scale(rows: list[ScaleRow], queries: int, server: bool, sizes: list[int],
                 skipped: list[Skipped] | None = None) -> list[str]:
    """The synthetic-scale table and its text."""
    lines = [
        "",
        f"### Stores at scale: {', '.join(size_label(s) for s in sizes)} synthetic chunks",
        "",
        DESCRIPTION,
        "",
        f"{queries} CMRC dev questions per size (the same sample as above), encoding excluded, k = 10. Build: from "
        "ready vectors (nothing embedded); FAISS: dense index + bm25s over pre-tokenised chunks + records "
        "(rag's own `write_version`); Milvus: create the collection, insert rows (vector, fields, text; its BM25 "
        "function tokenises on insert), flush, alias, through `rag.store.milvus.build` as `rag index` does. Recall@10: "
        "the dense leg against exact inner-product search (ties with the 10th exact score count). Memory: a "
        "fresh process (benchmarks/probe.py) that opens the store, loads the onnx-int8 encoder and answers 20 "
        "questions, then its RSS (peak); Milvus Lite by file path runs inside that process; for the network rows "
        "the `milvus-lite server` process's own RSS (peak) after the run is given too. Hybrid top-10 "
        "agreement falls with size because every synthetic copy repeats the real texts, so lexical scores "
        "tie in groups of one chunk per copy, which bm25s and Milvus's BM25 break differently (the dense legs agree "
        "exactly).",
        "",
        "| chunks | store | dense index | build s | dense p50 / p95 ms | hybrid p50 / p95 ms | recall@10 dense | "
        "hybrid top-10 same as FAISS | process RSS (peak) MiB | server RSS (peak) MiB |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    skipped = skipped or []
    for r in rows:
        same = "–" if np.isnan(r.hybrid_same) else f"{r.hybrid_same:.3f}"
        srv = "–" if np.isnan(r.server_rss_mib) else f"{r.server_rss_mib:.0f} ({r.server_peak_rss_mib:.0f})"
        lines.append(f"| {size_label(r.size)} | {r.store} | {r.index} | {r.build_s:.1f} | "
                     f"{r.dense_ms.p50:.2f} / {r.dense_ms.p95:.2f} | {r.hybrid_ms.p50:.2f} / {r.hybrid_ms.p95:.2f} | "
                     f"{r.recall_at_10:.4f} | {same} | {r.rss_mib:.0f} ({r.peak_rss_mib:.0f}) | {srv} |")
    for skip in skipped:
        lines += ["", f"{size_label(skip.size)}: Milvus not filled (FAISS measured): {skip.reason}. Milvus Lite's own "
                  "documentation calls it a store for small scale; a million chunks belong on a Milvus standalone "
                  "server or a cluster (deploy/milvus-standalone/), which needs Docker and the Milvus images, "
                  "neither of which this machine has."]
    not_run = [label for label, cond in (("Milvus over the network (`--server`)", not server),
                                         ("1M chunks (run only when asked, `--sizes 1m`)", 1_000_000 not in sizes))
               if cond]
    if not_run:
        lines += ["", "Not run here: " + "; ".join(not_run) + "."]
    return lines
