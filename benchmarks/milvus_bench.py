"""FAISS beside Milvus Lite: ``python benchmarks/milvus_bench.py [--questions N] [--server] [--sizes 10k,100k]``.

One run, the same chunks, the same query vectors: build time, search latency
p50/p95 per leg (dense, lexical, hybrid fused by the project's RRF, and Milvus's
own hybrid_search with its RRFRanker), hit@5 over the CMRC dev questions, and
the dense leg's top-10 agreement with FAISS's exact search. Writes its table
into BENCHMARKS.md between the milvus markers (other sections are kept).

The index is built in a temporary folder; its embedding cache starts as a copy
of the one `rag eval` keeps (eval-runs/.index/cache), so a run embeds only what
that cache lacks. Latency excludes query encoding (vectors are computed once).

With ``--sizes``, the same three ways are also measured on synthetic corpora of
those sizes (benchmarks/milvus_scale.py): build time, latency, recall@10 and memory.
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.data import copy_eval_cache  # noqa: E402
from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.milvus_scale import (  # noqa: E402
    ScaleRow,
    Skipped,
    measure_size,
    render_scale,
    start_server,
    time_searches,
)
from benchmarks.report import write_block  # noqa: E402
from benchmarks.run import parse_sizes  # noqa: E402
from benchmarks.scale import Percentiles  # noqa: E402
from benchmarks.synthetic import base_from_index  # noqa: E402
from rag.evaluation.datasets import bundled_dataset, load_question_set, passage_articles  # noqa: E402
from rag.evaluation.metrics import first_hit_rank, is_retrieval_graded  # noqa: E402
from rag.kb.knowledge_base import KnowledgeBase  # noqa: E402
from rag.search.searcher import Searcher  # noqa: E402
from rag.settings import Settings  # noqa: E402

START = "<!-- bench:milvus:start -->"
END = "<!-- bench:milvus:end -->"
AFTER = "<!-- bench:performance:end -->"  # the stores' rows join issue 8's performance chapter


@dataclass
class Row:
    """One store and mode: its latency (ms), hit@5 and top-10 chunk ids per question."""

    store: str
    mode: str
    latency: Percentiles
    hits_at_5: list[bool]
    top10: list[list[int]]

    @property
    def hit_at_5(self) -> float:
        """Share of graded questions with a gold chunk in the top 5."""
        return sum(self.hits_at_5) / max(len(self.hits_at_5), 1)


def run_queries(searcher: Searcher, store: str, label: str, questions: list, vectors: np.ndarray,
                mode: str) -> Row:
    """Search every question once (after one warm-up), timing the search alone; grade the top 5."""
    latency, found = time_searches(searcher, [q.question for q in questions], vectors, mode)
    chunks = searcher.version.chunks
    hits_at_5 = []
    for question, ids in zip(questions, found, strict=True):
        rank = first_hit_rank([chunks[i] for i in ids[:5]], question)
        hits_at_5.append(rank is not None and rank <= 5)
    return Row(store, label, latency, hits_at_5, found)


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
        "and is not re-ranked.",
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
        lines.append(f"| {r.store} | {r.mode} | {r.latency.p50:.2f} | {r.latency.p95:.2f} | {r.hit_at_5:.4f} | "
                     f"{delta} | {same} |")
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
        copy_eval_cache(base.embedding_cache_path)
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
                    row = run_queries(searcher, store, label, questions, vectors, mode)
                    rows.append(row)
                    print(f"{store:26} {label:22} p50 {row.latency.p50:7.2f} ms  p95 {row.latency.p95:7.2f} ms  "
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
