"""Query latency, recall, memory, disk and start-up over synthetic indexes of 1k to 1M chunks.

For each size: the index is written by rag's own ``write_version`` (dense kind
chosen by ``rag.store.dense.auto_kind``); exact search, the earlier large kind
(BEFORE_KIND: IVF lists of full vectors) and today's approximate kind
(APPROX_KIND: the same lists holding 16-bit floats) are compared on the
same vectors, query by query in turn (recall@10 against brute force, ties
counted as hits); hybrid search is timed over the written index with each of the
two approximate kinds, again in turn per question; answer latency (search plus
the reading model's short answer, rag's defaults) through ``KnowledgeBase`` with
the onnx-int8 query encoder; a fresh process measures start-up to the first
answer and its memory.

Run alone: ``python benchmarks/scale.py --sizes 1k,1m`` writes its table into
BENCHMARKS.md between the scale markers (``benchmarks/run.py`` runs it as part
of the whole benchmark).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import BaseCorpus, synthetic_corpus, write_synthetic_index  # noqa: E402
from rag.embed.encoder import Encoder  # noqa: E402
from rag.kb.knowledge_base import KnowledgeBase  # noqa: E402
from rag.records import Hit  # noqa: E402
from rag.search.fusion import fuse_rankings  # noqa: E402
from rag.search.searcher import Searcher  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store.dense import DenseIndex, auto_kind, ivf_probes  # noqa: E402
from rag.text import lexical_tokens  # noqa: E402

PROBE_SWEEP = (75, 150, 300, 600)  # IVF lists scanned per query (capped at the number of lists)
BEFORE_KIND = "ivf"  # the large kind until this change: measured beside the new one in the same run
APPROX_KIND = "ivf-fp16"
log = logging.getLogger("benchmarks.scale")


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
    sweep: dict[int, tuple[int, float, float]]  # lists asked for: (lists scanned, recall@10, p50 ms), approx kind
    before_kind: str = BEFORE_KIND  # the earlier large kind, same lists and probes, timed in turn with the others
    before_ms: Percentiles | None = None
    before_recall_at_10: float = float("nan")
    before_build_s: float = float("nan")


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
    answer_ms: Percentiles  # search plus the answer, the reading model's short answer included (rag's defaults)
    startup: Startup
    query_top1_real: float  # mean best cosine of the queries among the real chunks
    query_top1_synthetic: float  # ... and among the synthetic ones (nan when there are none)
    # The same hybrid search over the same written index with the dense leg on BEFORE_KIND, in turn per question.
    search_before_ms: Percentiles | None = None
    stages_p99_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    stages_before_p50_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    load: tuple[float, float, float] = (float("nan"),) * 3  # load average when the size was done


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
                  approx_build_s: float, before: DenseIndex | None = None,
                  before_build_s: float = float("nan")) -> DenseComparison:
    """Time and grade exact, approximate and (given) the earlier approximate search of the same query vectors.

    Each query runs on every index in turn, so load that comes and goes falls on all of them alike.
    """
    _, exact_scores = exact_top(vectors, queries, 10)
    indexes = {"exact": flat, "approx": approx, **({"before": before} if before is not None else {})}

    def run(named: dict[str, tuple[DenseIndex, int | None]]) -> dict[str, tuple[Percentiles, float]]:
        times: dict[str, list[float]] = {name: [] for name in named}
        found: dict[str, list[np.ndarray]] = {name: [] for name in named}
        for q in queries:
            for name, (index, nprobe) in named.items():
                t0 = time.perf_counter()
                ids, _ = index.search(q, depth, nprobe=nprobe)
                times[name].append((time.perf_counter() - t0) * 1000)
                found[name].append(ids)
        return {name: (Percentiles.of(times[name]), recall_at(found[name], vectors, queries, exact_scores))
                for name in named}

    main = run({name: (index, None) for name, index in indexes.items()})
    lists = approx.lists
    sweep = {}
    for count in PROBE_SWEEP:
        probes = min(count, lists)
        ((ms, rec),) = run({"approx": (approx, probes)}).values()
        sweep[count] = (probes, rec, ms.p50)
    before_ms, before_recall = main.get("before", (None, float("nan")))
    return DenseComparison(main["exact"][0], main["exact"][1], approx.kind, main["approx"][0], main["approx"][1],
                           approx_build_s, lists, ivf_probes(lists), sweep, before.kind if before else BEFORE_KIND,
                           before_ms, before_recall, before_build_s)


def built_dense(vectors: np.ndarray, kind: str, cache_dir: Path | None) -> tuple[DenseIndex, float]:
    """``DenseIndex.build(vectors, kind)`` and its build seconds; with ``cache_dir``, kept there and reused.

    The cache is keyed by kind, count and a checksum of a sample of the vectors (the synthetic
    vectors are made with a fixed seed); a reused index reports the build time measured when it was made.
    """
    if cache_dir is None:
        t0 = time.perf_counter()
        index = DenseIndex.build(vectors, kind=kind)
        return index, time.perf_counter() - t0
    import hashlib

    sample = vectors[:: max(1, len(vectors) // 1000)]
    key = hashlib.sha256(np.ascontiguousarray(sample).tobytes()).hexdigest()[:12]
    path = cache_dir / f"dense-{kind}-{len(vectors)}-{key}.faiss"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return DenseIndex.load(path), float(json.loads(meta.read_text())["build_s"])
    t0 = time.perf_counter()
    index = DenseIndex.build(vectors, kind=kind)
    build_s = time.perf_counter() - t0
    cache_dir.mkdir(parents=True, exist_ok=True)
    index.save(path)
    meta.write_text(json.dumps({"build_s": build_s}))
    return index, build_s


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
                 work_dir: Path, keep: bool = False, cache_dir: Path | None = None) -> ScaleResult:
    """Build the synthetic index of ``size`` chunks and measure it (``cache_dir``: reuse FAISS builds there)."""
    corpus = synthetic_corpus(base, size)
    vectors = corpus.chunk_vectors
    index_dir = work_dir / f"scale-{size}"
    shutil.rmtree(index_dir, ignore_errors=True)
    size_settings = settings.replace(index_dir=index_dir)
    query_vectors = encoder.encode_queries(questions)
    depth = max(settings.candidates, settings.top_k)

    flat = DenseIndex.build(vectors, kind="flat")
    approx, approx_build_s = built_dense(vectors, APPROX_KIND, cache_dir)
    before, before_build_s = built_dense(vectors, BEFORE_KIND, cache_dir)
    log.info("%d chunks: %s built in %.1f s, %s in %.1f s", size, APPROX_KIND, approx_build_s, BEFORE_KIND,
             before_build_s)
    dense = compare_dense(vectors, query_vectors, depth, flat, approx, approx_build_s, before, before_build_s)
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
    counts = (len(corpus.chunks), corpus.real_chunks, len(corpus.articles), len(corpus.sentences))
    del corpus, vectors  # a million chunk records and vectors: not needed while timing
    gc.collect()

    kb = KnowledgeBase(size_settings, encoder)
    searcher = kb.searcher()
    version = searcher.version
    # The same written index, chunks and lexical leg, with the dense leg on the earlier kind.
    searcher_before = Searcher.from_settings(dataclasses.replace(version, dense=before), encoder, size_settings)
    for q in questions[:5]:  # warm-up: first touches of mapped files, thread start, the reading model
        kb.ask(q)
        searcher_before.search(q, settings.top_k)
    times: dict[str, list[float]] = {"search": [], "before": [], "sequential": [], "answer": []}
    stages: dict[str, list[float]] = {"encode": [], "dense": [], "lexical": [], "fusion": [], "rerank": []}
    stages_before: dict[str, list[float]] = {name: [] for name in stages}
    for i, q in enumerate(questions):
        # Alternate which goes first, so neither always follows the answer's work.
        order = ("search", "before") if i % 2 == 0 else ("before", "search")
        for name in order:
            t0 = time.perf_counter()
            result = kb.search(q) if name == "search" else searcher_before.search(q, settings.top_k)
            times[name].append((time.perf_counter() - t0) * 1000)
            for stage, values in (stages if name == "search" else stages_before).items():
                values.append(result.timings_ms.get(stage, float("nan")))
        t0 = time.perf_counter()
        search_sequential(searcher, q, settings.top_k)
        times["sequential"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        kb.ask(q)
        times["answer"].append((time.perf_counter() - t0) * 1000)
    searcher.close()
    searcher_before.close()
    disk = sum(p.stat().st_size for p in version.path.rglob("*") if p.is_file()) / 2**20
    del kb, searcher, searcher_before, version, before
    gc.collect()

    startup = probe_startup(size_settings, questions[:20])
    if not keep:
        shutil.rmtree(index_dir, ignore_errors=True)
    return ScaleResult(
        size=size, chunks=counts[0], real_chunks=counts[1], articles=counts[2],
        sentences=counts[3], dense_kind=kind, write_s=write_s, disk_mib=disk,
        queries=len(questions), dense=dense, search_ms=Percentiles.of(times["search"]),
        search_sequential_ms=Percentiles.of(times["sequential"]),
        stages_p50_ms={k: float(np.nanpercentile(v, 50)) for k, v in stages.items()},
        answer_ms=Percentiles.of(times["answer"]), startup=startup,
        query_top1_real=top1_real, query_top1_synthetic=top1_synth,
        search_before_ms=Percentiles.of(times["before"]),
        stages_p99_ms={k: float(np.nanpercentile(v, 99)) for k, v in stages.items()},
        stages_before_p50_ms={k: float(np.nanpercentile(v, 50)) for k, v in stages_before.items()},
        load=os.getloadavg(),
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



def find_base_index(eval_cache: Path) -> Path:
    """The cached CMRC 2018 dev evaluation index of all passages with the onnx-int8 encoder (``rag eval`` writes it)."""
    for key in sorted(eval_cache.glob("cmrc2018_dev-*/eval-key.json")):
        data = json.loads(key.read_text(encoding="utf-8"))
        if data.get("passages") == "all" and str(data.get("encoder", "")).endswith("|onnx-int8"):
            return key.parent
    raise SystemExit(f"no CMRC 2018 dev index of all passages with onnx-int8 under {eval_cache}: run "
                     "`python benchmarks/run.py` once (it builds it), or name one with --base-index")


def main(argv: list[str] | None = None) -> int:
    """Measure the sizes asked for and write the scale table into BENCHMARKS.md between the scale markers."""
    from datetime import UTC, datetime

    from benchmarks.data import load_cmrc
    from benchmarks.machine import git_commit, library_versions, load_average, machine_info
    from benchmarks.report import scale_lines, write_block
    from benchmarks.run import parse_sizes
    from benchmarks.synthetic import base_from_index
    from rag.settings import DEFAULT_MODEL, default_models_dir

    parser = argparse.ArgumentParser(prog="python benchmarks/scale.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1k,100k"),
                        help="index sizes in chunks (default 1k,100k; add 1m for 1M)")
    parser.add_argument("--queries", type=int, default=200, help="real CMRC questions per size (default 200)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the encoder (default: all cores)")
    parser.add_argument("--models-dir", type=Path, default=default_models_dir(ROOT), help="prepared models")
    parser.add_argument("--eval-cache", type=Path, default=ROOT / "eval-runs" / ".index",
                        help="where `rag eval` caches CMRC indexes (default eval-runs/.index)")
    parser.add_argument("--base-index", type=Path, help="the real CMRC index the synthetic ones are made from")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "benchmarks" / "results" / "work",
                        help="indexes built while measuring")
    parser.add_argument("--cache-dir", type=Path,
                        help="keep the FAISS builds here and reuse them next time (build times as first measured)")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md", help="the Markdown file to update")
    parser.add_argument("--keep-indexes", action="store_true", help="keep the indexes built while measuring")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    threads = args.threads or os.cpu_count() or 1
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    settings = Settings(models_dir=args.models_dir, threads=threads, encoder_backend="onnx-int8")
    meta = {"command": f"python benchmarks/scale.py {argv_text}".strip(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(ROOT),
            "machine": machine_info(), "versions": library_versions(), "load_start": load_average(),
            "top_k": settings.top_k, "candidates": settings.candidates}
    base = base_from_index(args.base_index or find_base_index(args.eval_cache))
    data = load_cmrc(settings, False)
    questions = (data.questions * (1 + args.queries // max(len(data.questions), 1)))[: args.queries]
    encoder = Encoder.load(DEFAULT_MODEL, "onnx-int8", args.models_dir, batch_size=settings.batch_size,
                           threads=threads)
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        log.info("size %d", size)
        results.append(measure_size(base, size, encoder, settings, questions, work, args.keep_indexes,
                                    args.cache_dir))
    meta["load_end"] = load_average()
    m = meta["machine"]
    lines = [f"Written by `{meta['command']}` on {meta['date']}, commit `{meta['commit']}`. Machine: {m['cpu']}, "
             f"{m['cores']} cores, {m['ram_gib']} GiB RAM; load average (1/5/15 min) at the start "
             f"{'/'.join(map(str, meta['load_start']))}, at the end {'/'.join(map(str, meta['load_end']))}.", "",
             *scale_lines(results, meta)]
    section = "\n".join(lines) + "\n"
    print(section)
    write_block(args.markdown, SCALE_START, SCALE_END, section)
    out = work.parent / f"scale-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps({"meta": meta, "scale": [dataclasses.asdict(r) for r in results]}, default=str,
                              indent=1))
    print(f"wrote {args.markdown} (scale section) and {out}", file=sys.stderr)
    return 0


SCALE_START = "<!-- bench:scale:start -->"
SCALE_END = "<!-- bench:scale:end -->"

if __name__ == "__main__":
    raise SystemExit(main())
