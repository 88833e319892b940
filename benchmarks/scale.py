"""Query latency, recall, memory, disk and start-up over synthetic indexes of 1k to 1M chunks.

For each size: the index is written by rag's own ``write_version`` (dense kind
chosen by ``rag.store.dense.auto_kind``); exact and IVF search are compared on the
same vectors (recall@10 against brute force, ties counted as hits); search and
answer latency are measured through ``KnowledgeBase`` with the onnx-int8 query
encoder; a fresh process measures start-up to the first answer and its memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.synthetic import BaseCorpus, synthetic_corpus, write_synthetic_index
from rag.embed.encoder import Encoder
from rag.kb.knowledge_base import KnowledgeBase
from rag.records import Hit
from rag.search.fusion import fuse_rankings
from rag.search.searcher import Searcher
from rag.settings import Settings
from rag.store.dense import DenseIndex, auto_kind, ivf_probes
from rag.text import lexical_tokens

ROOT = Path(__file__).resolve().parent.parent
PROBE_SWEEP = (75, 150, 300, 600)  # IVF lists scanned per query (capped at the number of lists)


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds at the 50th, 95th and 99th percentile."""

    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        """Percentiles of ``values`` (linear interpolation)."""
        p50, p95, p99 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95, 99])
        return cls(float(p50), float(p95), float(p99))


@dataclass(frozen=True)
class DenseComparison:
    """Exact against approximate (IVF) search on the same vectors and query vectors."""

    exact_ms: Percentiles
    exact_recall_at_10: float
    approx_kind: str
    approx_ms: Percentiles
    approx_recall_at_10: float
    approx_build_s: float
    lists: int
    probes: int  # the default, rag.store.dense.ivf_probes
    sweep: dict[int, tuple[int, float, float]]  # lists asked for: (lists scanned, recall@10, p50 ms)


@dataclass(frozen=True)
class Startup:
    """A fresh process: start to first answer, and its memory."""

    startup_s: float
    imports_s: float
    load_s: float
    first_answer_ms: float
    rss_mib: float
    peak_rss_mib: float
    anon_rss_mib: float  # of rss_mib, the part not backed by files (mapped index files are not in it)


@dataclass(frozen=True)
class ScaleResult:
    """Everything measured at one size."""

    size: int
    chunks: int
    real_chunks: int
    articles: int
    sentences: int
    dense_kind: str
    write_s: float
    disk_mib: float
    queries: int
    dense: DenseComparison
    search_ms: Percentiles
    search_sequential_ms: Percentiles
    stages_p50_ms: dict[str, float]
    answer_ms: Percentiles
    startup: Startup
    query_top1_real: float  # mean best cosine of the queries among the real chunks
    query_top1_synthetic: float  # ... and among the synthetic ones (nan when there are none)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` ids and scores per query (numpy, in blocks of rows)."""
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), 200_000):
        scores = queries @ vectors[start : start + 200_000].T
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        best_ids = np.concatenate([best_ids, part + start], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, part, axis=1)], axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_ids = np.take_along_axis(best_ids, order, axis=1)
        best_scores = np.take_along_axis(best_scores, order, axis=1)
    return best_ids, best_scores


def recall_at(found: list[np.ndarray], vectors: np.ndarray, queries: np.ndarray, exact_scores: np.ndarray,
              k: int = 10) -> float:
    """Share of the exact top ``k`` that a search found; a result tied with the k-th exact score counts."""
    hits = 0
    for q, ids, truth in zip(queries, found, exact_scores, strict=True):
        scores = vectors[ids[:k]] @ q
        hits += min(k, int(np.sum(scores >= truth[k - 1] - 1e-5)))
    return hits / (k * len(queries))


def compare_dense(vectors: np.ndarray, queries: np.ndarray, depth: int, flat: DenseIndex, approx: DenseIndex,
                  approx_build_s: float) -> DenseComparison:
    """Time and grade exact and approximate search of the same query vectors, ``depth`` results each."""
    _, exact_scores = exact_top(vectors, queries, 10)

    def run(index: DenseIndex, nprobe: int | None = None) -> tuple[Percentiles, float]:
        times, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            ids, _ = index.search(q, depth, nprobe=nprobe)
            times.append((time.perf_counter() - t0) * 1000)
            found.append(ids)
        return Percentiles.of(times), recall_at(found, vectors, queries, exact_scores)

    exact_ms, exact_recall = run(flat)
    lists = approx.lists
    sweep = {}
    for count in PROBE_SWEEP:
        probes = min(count, lists)
        ms, rec = run(approx, probes)
        sweep[count] = (probes, rec, ms.p50)
    approx_ms, approx_recall = run(approx)
    return DenseComparison(exact_ms, exact_recall, approx.kind, approx_ms, approx_recall, approx_build_s, lists,
                           ivf_probes(lists), sweep)


def search_sequential(searcher: Searcher, query: str, k: int) -> None:
    """The hybrid search with its legs one after the other (what the Searcher's two threads avoid)."""
    version, encoder = searcher.version, searcher.encoder
    assert encoder is not None
    depth = max(searcher.candidates, k)
    vector = encoder.encode_queries([query])[0]
    dense_ids, _ = version.dense.search(vector, depth)
    tokens = lexical_tokens(query)
    lexical_ids, _ = version.lexical.search(tokens, depth)
    fused = fuse_rankings(dense_ids.tolist(), lexical_ids.tolist(), searcher.rrf_k, searcher.lexical_weight)
    hits = [Hit(chunk=version.chunks[f.id], rank=rank, score=f.score)
            for rank, f in enumerate(fused[: max(k, searcher.rerank_depth)], start=1)]
    if searcher.rerank_weight > 0:
        hits = searcher.rerank_by_sentence(hits, query, vector, tokens)
    _ = hits[:k]


def measure_size(base: BaseCorpus, size: int, encoder: Encoder, settings: Settings, questions: list[str],
                 work_dir: Path, keep: bool = False) -> ScaleResult:
    """Build the synthetic index of ``size`` chunks and measure it."""
    corpus = synthetic_corpus(base, size)
    vectors = corpus.chunk_vectors
    index_dir = work_dir / f"scale-{size}"
    shutil.rmtree(index_dir, ignore_errors=True)
    size_settings = settings.replace(index_dir=index_dir)
    query_vectors = encoder.encode_queries(questions)
    depth = max(settings.candidates, settings.top_k)

    flat = DenseIndex.build(vectors, kind="flat")
    t0 = time.perf_counter()
    approx = DenseIndex.build(vectors, kind="ivf")
    approx_build_s = time.perf_counter() - t0
    dense = compare_dense(vectors, query_vectors, depth, flat, approx, approx_build_s)
    kind = auto_kind(len(vectors))
    t0 = time.perf_counter()
    write_synthetic_index(corpus, size_settings, flat if kind == "flat" else approx)
    write_s = time.perf_counter() - t0
    del flat, approx

    real = vectors[: corpus.real_chunks]
    top1_real = float(np.mean(np.max(query_vectors @ real.T, axis=1)))
    top1_synth = float("nan")
    if len(vectors) > corpus.real_chunks:
        _, synth_scores = exact_top(vectors[corpus.real_chunks :], query_vectors, 1)
        top1_synth = float(np.mean(synth_scores[:, 0]))

    kb = KnowledgeBase(size_settings, encoder)
    searcher = kb.searcher()
    for q in questions[:5]:  # warm-up: first touches of mapped files, thread start
        kb.ask(q)
    search_times, sequential_times, answer_times = [], [], []
    stages: dict[str, list[float]] = {"encode": [], "dense": [], "lexical": [], "fusion": [], "rerank": []}
    for q in questions:
        t0 = time.perf_counter()
        result = kb.search(q)
        search_times.append((time.perf_counter() - t0) * 1000)
        for name in stages:
            stages[name].append(result.timings_ms.get(name, float("nan")))
        t0 = time.perf_counter()
        search_sequential(searcher, q, settings.top_k)
        sequential_times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        kb.ask(q)
        answer_times.append((time.perf_counter() - t0) * 1000)
    searcher.close()
    version = searcher.version
    disk = sum(p.stat().st_size for p in version.path.rglob("*") if p.is_file()) / 2**20
    del kb, searcher, version

    startup = probe_startup(size_settings, questions[:20])
    if not keep:
        shutil.rmtree(index_dir, ignore_errors=True)
    return ScaleResult(
        size=size, chunks=len(corpus.chunks), real_chunks=corpus.real_chunks, articles=len(corpus.articles),
        sentences=len(corpus.sentences), dense_kind=kind, write_s=write_s, disk_mib=disk,
        queries=len(questions), dense=dense, search_ms=Percentiles.of(search_times),
        search_sequential_ms=Percentiles.of(sequential_times),
        stages_p50_ms={k: float(np.nanpercentile(v, 50)) for k, v in stages.items()},
        answer_ms=Percentiles.of(answer_times), startup=startup,
        query_top1_real=top1_real, query_top1_synthetic=top1_synth,
    )


def probe_startup(settings: Settings, questions: list[str]) -> Startup:
    """Start ``benchmarks.probe`` in a fresh Python; time process start to first answer; read its memory."""
    command = [sys.executable, "-m", "benchmarks.probe", "--index-dir", str(settings.index_dir),
               "--models-dir", str(settings.models_dir), "--backend", settings.backend,
               "--threads", str(settings.threads), "--store", settings.store,
               *(["--milvus-uri", settings.milvus_address] if settings.store == "milvus" else []), *questions]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.time()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the start-up probe failed: {done.stderr.strip()[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Startup(
        startup_s=data["first_answer_at"] - started, imports_s=data["imports_s"], load_s=data["load_s"],
        first_answer_ms=data["first_answer_ms"], rss_mib=data["rss_mib"], peak_rss_mib=data["peak_rss_mib"],
        anon_rss_mib=data["anon_rss_mib"],
    )

