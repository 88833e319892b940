"""FAISS beside Milvus Lite: ``python benchmarks/milvus_bench.py [--questions N] [--server] [--sizes 10k,100k]``.

One run, the same chunks, the same query vectors: build time, search latency
p50/p95 per leg (dense, lexical, hybrid fused by the project's RRF, and Milvus's
own hybrid_search with its RRFRanker), hit@5 over the CMRC dev questions, and
the dense leg's top-10 agreement with FAISS's exact search. Writes its table
into BENCHMARKS.md between the milvus markers (other sections are kept).

The index is built in a temporary folder; its embedding cache starts as a copy
of the one `rag eval` keeps (eval-runs/.index/cache), so a run embeds only what
that cache lacks. Latency excludes query encoding (vectors are computed once).

With ``--sizes``, the same three ways (FAISS, Milvus Lite by file path, and with
``--server`` a ``milvus-lite server`` process over http) are measured on the
synthetic corpora of benchmarks/synthetic.py (real CMRC chunks and text, every
further copy with vectors of its own; real CMRC questions as queries): build
time from ready vectors, dense and hybrid search p50/p95, dense recall@10
against exact search, and memory (a fresh process that opens the store and
answers questions, via benchmarks/probe.py; the server process's own RSS).
"""

from __future__ import annotations

import argparse
import random
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.report import size_label, write_block  # noqa: E402
from benchmarks.run import parse_sizes  # noqa: E402
from benchmarks.scale import Percentiles, exact_top, probe_startup, recall_at  # noqa: E402
from benchmarks.synthetic import (  # noqa: E402
    DESCRIPTION,
    BaseCorpus,
    base_from_index,
    synthetic_corpus,
    write_synthetic_index,
)
from rag.dense import DenseIndex, auto_kind  # noqa: E402
from rag.embedding import Encoder  # noqa: E402
from rag.evaluation.datasets import bundled_dataset, load_question_set, passage_articles  # noqa: E402
from rag.evaluation.metrics import first_hit_rank, is_retrieval_graded  # noqa: E402
from rag.index_store import load_version  # noqa: E402
from rag.knowledge_base import KnowledgeBase  # noqa: E402
from rag.milvus_build import FLAT_LIMIT, fill_collection, finish_sync  # noqa: E402
from rag.milvus_store import disconnect  # noqa: E402
from rag.retrieval import Searcher  # noqa: E402
from rag.settings import Settings  # noqa: E402

START = "<!-- bench:milvus:start -->"
END = "<!-- bench:milvus:end -->"
AFTER = "<!-- bench:performance:end -->"  # the stores' rows join issue 8's performance chapter
# Milvus is not filled at a size whose estimated memory (from the per-row growth measured at the
# sizes before it) exceeds this share of the memory the machine has available at that moment.
MEMORY_SHARE = 0.8
EVAL_CACHE = ROOT / "eval-runs" / ".index" / "cache" / "embeddings.sqlite"


@dataclass
class Row:
    """One store and mode: its latencies (ms) and hit@5."""

    store: str
    mode: str
    latencies: list[float] = field(default_factory=list)
    hits_at_5: list[bool] = field(default_factory=list)
    top10: list[list[int]] = field(default_factory=list)

    def p(self, q: float) -> float:
        """Latency percentile in ms."""
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    @property
    def hit_at_5(self) -> float:
        """Share of graded questions with a gold chunk in the top 5."""
        return sum(self.hits_at_5) / max(len(self.hits_at_5), 1)


def copy_cache(target: Path) -> None:
    """Copy the evaluation embedding cache (consistently, with SQLite's backup) into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not EVAL_CACHE.is_file():
        return
    src = sqlite3.connect(f"file:{EVAL_CACHE}?mode=ro", uri=True)
    dst = sqlite3.connect(str(target))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def run_queries(searcher: Searcher, row: Row, questions: list, vectors: np.ndarray, mode: str) -> None:
    """Search every question once (after one warm-up), timing the search alone."""
    searcher.search(questions[0].question, k=10, mode=mode, query_vector=vectors[0])
    for question, vector in zip(questions, vectors, strict=True):
        t = time.perf_counter()
        hits = searcher.search(question.question, k=10, mode=mode, query_vector=vector).hits
        row.latencies.append((time.perf_counter() - t) * 1000)
        row.top10.append([h.chunk.id for h in hits])
        rank = first_hit_rank([h.chunk for h in hits[:5]], question)
        row.hits_at_5.append(rank is not None and rank <= 5)


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
    hashes = {path: str(info["sha256"]) for path, info in version.manifest["articles"].items()}
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
    milvus_index = "FLAT" if size <= FLAT_LIMIT else "HNSW"
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
        "function tokenises on insert), flush, alias, through `rag.milvus_build` as `rag index` does. Recall@10: "
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


def render(meta: dict, rows: list[Row], builds: dict[str, float], counts: dict[str, int],
           scale: list[str] | None = None) -> str:
    """The section between the markers, as Markdown."""
    faiss = {r.mode: r for r in rows if r.store == "faiss"}
    lines = [
        "### Stores: FAISS beside Milvus (issue 10), CMRC 2018 dev",
        "",
        f"Written by `{meta['command']}` on {meta['date']}, commit `{meta['commit']}`.",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['ram_gib']} GiB "
        f"RAM, {meta['machine']['os']}. Load average (1/5/15 min) at the start {'/'.join(map(str, meta['load_start']))}"
        f", at the end {'/'.join(map(str, meta['load_end']))}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        f"Corpus: the whole CMRC 2018 dev set as articles ({counts['articles']} passages, {counts['chunks']} chunks, "
        f"default chunking); {counts['questions']} questions (seed 0) for latency and hit@5, chunk-level by answer "
        "offset. Both stores search the same chunks with the same query vectors (encoding excluded); Milvus Lite "
        "runs embedded by file path (and, with `--server`, as a `milvus-lite server` process on this machine "
        "reached over http, the code path a Milvus server or cluster uses). Dense: exact inner product on both "
        "(FAISS flat, Milvus FLAT). Lexical: bm25s "
        "over the project's jieba tokens (FAISS side) and Milvus's built-in BM25 with its jieba analyzer, both on "
        f"script-folded text. Hybrid: the project's RRF (k = {meta['rrf_k']}, lexical leg weighted "
        f"{meta['lexical_weight']}) over {meta['candidates']} candidates per leg, then its sentence re-rank of the "
        f"fused top {meta['rerank_depth']} (the same code on both stores); "
        f"\"milvus hybrid_search\" fuses inside Milvus with its RRFRanker({meta['rrf_k']}), unweighted, "
        "then the same re-rank.",
        "",
        "| store | mode | p50 ms | p95 ms | hit@5 | Δ hit@5 vs FAISS | top-10 same as FAISS |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        base = faiss.get(r.mode if r.mode != "milvus hybrid_search" else "hybrid")
        delta = f"{r.hit_at_5 - base.hit_at_5:+.4f}" if base is not None and r.store != "faiss" else "–"
        same = "–"
        if base is not None and r.store != "faiss":
            agree = [len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(r.top10, base.top10, strict=True)]
            same = f"{np.mean(agree):.3f}"
        lines.append(f"| {r.store} | {r.mode} | {r.p(50):.2f} | {r.p(95):.2f} | {r.hit_at_5:.4f} | {delta} | {same} |")
    lines += ["", "| target (issue 10) | measured | met |", "|---|---|---|"]
    for r in rows:
        base = faiss.get(r.mode if r.mode != "milvus hybrid_search" else "hybrid")
        if r.store == "faiss" or base is None:
            continue
        delta = r.hit_at_5 - base.hit_at_5
        lines.append(f"| CMRC dev hit@5 within 0.005 of FAISS: {r.store}, {r.mode} | {delta:+.4f} | "
                     f"{'yes' if abs(delta) <= 0.005 else 'no'} |")
    lines += [
        "",
        "| build (chunks already embedded, from the cache) | seconds |",
        "|---|---:|",
        f"| FAISS: tokenise + write the version (FAISS flat, bm25s, records) | {builds['faiss']:.1f} |",
        f"| Milvus Lite: create collection, insert chunks with vectors, BM25 function and indexes | "
        f"{builds['milvus']:.1f} |",
        *([f"| Milvus Lite server over http: the same, into a `milvus-lite server` process | "
            f"{builds['milvus-server']:.1f} |"] if "milvus-server" in builds else []),
        f"| texts embedded: FAISS build (what the copied cache lacked) / Milvus build | "
        f"{counts['faiss_embedded']} / {counts['milvus_embedded']} |",
    ]
    if scale:
        lines += scale
    else:
        lines += ["", "Not measured in this run: synthetic sizes (`--sizes 10k,100k`) and memory"
                  + ("." if "milvus-server" in builds else "; Milvus over the network (`--server`).")]
    lines.append("")
    return "\n".join(lines)


def write_section(markdown_file: Path, section: str) -> None:
    """Put ``section`` between the milvus markers, right behind the performance section (issue 8's tables)."""
    write_block(markdown_file, START, END, section, after=AFTER)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write the table."""
    parser = argparse.ArgumentParser(prog="python benchmarks/milvus_bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=500, help="CMRC dev questions to search (default 500)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--server", action="store_true",
                        help="also measure Milvus over the network: a `milvus-lite server` process reached by http://")
    parser.add_argument("--sizes", type=parse_sizes, default=[],
                        help="also measure synthetic corpora of these sizes, e.g. 10k,100k (1m only if you mean it)")
    parser.add_argument("--scale-queries", type=int, default=300,
                        help="questions searched per synthetic size (default 300)")
    args = parser.parse_args(argv)
    meta: dict[str, Any] = {"command": "python benchmarks/milvus_bench.py " + shlex.join(argv or sys.argv[1:]),
                            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(ROOT),
                            "machine": machine_info(), "load_start": load_average(),
                            "versions": {**library_versions(), **_milvus_versions()}}

    question_set = load_question_set(bundled_dataset("cmrc2018-dev"))
    articles = passage_articles(question_set.passages)
    graded = [q for q in question_set.questions if is_retrieval_graded(q)]
    questions = random.Random(0).sample(graded, min(args.questions, len(graded)))
    with tempfile.TemporaryDirectory(prefix="milvus-bench-") as tmp:
        base = Settings(index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache", corpus_dir=Path(tmp) / "corpus")
        meta.update(rrf_k=base.rrf_k, lexical_weight=base.rrf_lexical_weight, candidates=base.candidates,
                    rerank_depth=base.rerank_depth)
        copy_cache(base.embedding_cache_path)
        faiss_kb = KnowledgeBase(base)
        report = faiss_kb.build(articles=articles)
        builds = {"faiss": report.timings.get("tokenise", 0.0) + report.timings.get("write", 0.0)}
        milvus_settings = base.replace(store="milvus")
        milvus_kb = KnowledgeBase(milvus_settings, faiss_kb.encoder())
        m_report = milvus_kb.build(articles=articles)
        builds["milvus"] = m_report.timings.get("store", float("nan"))
        native_kb = KnowledgeBase(milvus_settings.replace(milvus_hybrid="milvus"), faiss_kb.encoder())
        vectors = faiss_kb.encoder().encode_queries([q.question for q in questions])
        runs = [("faiss", faiss_kb, ("dense", "lexical", "hybrid"), False),
                ("milvus-lite", milvus_kb, ("dense", "lexical", "hybrid"), False),
                ("milvus-lite", native_kb, ("hybrid",), True)]
        server = None
        if args.server:
            server, uri = start_server(Path(tmp) / "served.db")
            served = base.replace(store="milvus", milvus_uri=uri)
            served_kb = KnowledgeBase(served, faiss_kb.encoder())
            builds["milvus-server"] = served_kb.build(articles=articles).timings.get("store", float("nan"))
            served_native = KnowledgeBase(served.replace(milvus_hybrid="milvus"), faiss_kb.encoder())
            runs += [("milvus-lite server (http)", served_kb, ("dense", "lexical", "hybrid"), False),
                     ("milvus-lite server (http)", served_native, ("hybrid",), True)]
        rows: list[Row] = []
        try:
            for store, kb, modes, native in runs:
                searcher = kb.searcher()
                for mode in modes:
                    label = "milvus hybrid_search" if native else mode
                    row = Row(store, label)
                    run_queries(searcher, row, questions, vectors, mode)
                    rows.append(row)
                    print(f"{store:26} {label:22} p50 {row.p(50):7.2f} ms  p95 {row.p(95):7.2f} ms  "
                          f"hit@5 {row.hit_at_5:.4f}", file=sys.stderr)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
        scale_rows: list[ScaleRow] = []
        skipped: list[Skipped] = []
        if args.sizes:
            corpus_base = base_from_index(base.index_dir)
            texts = [q.question for q in questions[: args.scale_queries]]
            for size in args.sizes:
                scale_rows += measure_size(corpus_base, size, base, faiss_kb.encoder(), texts,
                                           Path(tmp), args.server, previous=scale_rows, skipped=skipped)
        counts = {"articles": len(articles), "chunks": report.chunks, "questions": len(questions),
                  "faiss_embedded": report.embedded, "milvus_embedded": m_report.embedded}
    meta["load_end"] = load_average()
    scale = (render_scale(scale_rows, min(args.scale_queries, len(questions)), args.server, args.sizes, skipped)
             if args.sizes else None)
    section = render(meta, rows, builds, counts, scale)
    print(section)
    if not args.no_write:
        write_section(args.output, section)
    return 0


def _milvus_versions() -> dict[str, str]:
    import importlib.metadata

    out = {}
    for name in ("pymilvus", "milvus-lite"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


if __name__ == "__main__":
    sys.exit(main())
