"""A fresh process that loads an index, answers questions and reports its timings and memory.

Run by ``benchmarks.scale.probe_startup``; prints one JSON line. The first answer
is the start-up figure; the memory is read after all the questions (a server's
steady state), and its peak.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.machine import rss_mib


def main() -> None:
    """Load the index named on the command line, answer the questions, print timings and memory as JSON."""
    t_start = time.time()
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--store", default="faiss", help="faiss, or milvus (benchmarks/milvus_bench.py)")
    parser.add_argument("--milvus-uri", default=None, help="with --store milvus: a Milvus Lite file or http:// URI")
    parser.add_argument("questions", nargs="+")
    args = parser.parse_args()

    from pathlib import Path

    from rag.kb.knowledge_base import KnowledgeBase
    from rag.settings import Settings

    t_imports = time.time()
    kb = KnowledgeBase(Settings(index_dir=Path(args.index_dir), models_dir=Path(args.models_dir),
                                encoder_backend=args.backend, threads=args.threads, store=args.store,
                                milvus_uri=args.milvus_uri))
    kb.version()  # the index and the encoder
    t_loaded = time.time()
    kb.ask(args.questions[0])
    t_first = time.time()
    for question in args.questions[1:]:
        kb.ask(question)
    rss, peak, anon = rss_mib()
    print(json.dumps({
        "imports_s": t_imports - t_start, "load_s": t_loaded - t_imports,
        "first_answer_ms": (t_first - t_loaded) * 1000, "first_answer_at": t_first,
        "rss_mib": rss, "peak_rss_mib": peak, "anon_rss_mib": anon,
    }))


if __name__ == "__main__":
    main()
