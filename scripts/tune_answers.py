"""Tune chunking and the extractive-answer heuristics on the CMRC tuning half.

Usage: python scripts/tune_answers.py [--chunk-size 200 --chunk-overlap 40] [--split tune]

Builds (or reuses) the CMRC dev index under eval-runs/.index/tune-*/ with a shared
embedding cache, retrieves for every question of the chosen half once, then
compares answer strategies offline: containment (gold inside the answer), answer
length, and the "most similar sentence" baselines, in the same run. Only the
tuning half is used to choose; the test half is reported by `rag eval`.
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from rag.answer.extractive import AnswerParams, extractive_answer
from rag.evaluation.datasets import bundled_dataset, load_question_set, passage_articles, select_questions
from rag.evaluation.metrics import chunk_holds_gold, contains_answer
from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import load_settings

MARKER = re.compile(r"\[\d+\]")


def plain(text: str) -> str:
    """Answer text without citation markers."""
    return MARKER.sub("", text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--chunk-overlap", type=int, default=40)
    parser.add_argument("--split", default="tune")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--grid", action="store_true", help="search answer weights")
    args = parser.parse_args()
    base = Path("eval-runs") / ".index"
    settings = load_settings(overrides={
        "chunk_size": args.chunk_size, "chunk_overlap": args.chunk_overlap,
        "index_dir": base / f"tune-cs{args.chunk_size}-ov{args.chunk_overlap}", "cache_dir": base / "cache",
    })
    qs = load_question_set(bundled_dataset("cmrc2018-dev"))
    kb = KnowledgeBase(settings)
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done % 512 == 0 or done == total:
            print(f"{stage} {done}/{total} {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)

    report = kb.build(articles=passage_articles(qs.passages), progress=progress)
    print(f"index: {report.chunks} chunks, embedded {report.embedded} in {time.perf_counter() - t0:.0f}s",
          file=sys.stderr)
    if args.build_only:
        return 0
    chosen = select_questions(qs, split=args.split, limit=args.limit).questions
    version = kb.version()
    print(f"chunk_size={args.chunk_size} overlap={args.chunk_overlap} "
          f"mean chunk chars {statistics.mean(len(c.text) for c in version.chunks):.0f}, "
          f"chunks/passage {len(version.chunks) / len(qs.passages):.2f}")
    retrieved = []
    ranks: dict[str, list[int | None]] = {"hybrid": [], "dense": [], "lexical": []}
    t1 = time.perf_counter()
    vectors = kb.encoder().encode_queries([q.question for q in chosen])
    print(f"encoded {len(chosen)} questions in {time.perf_counter() - t1:.0f}s", file=sys.stderr, flush=True)
    searcher = kb.searcher()
    for q, vector in zip(chosen, vectors, strict=True):
        for mode in ranks:
            result = searcher.search(q.question, k=10, mode=mode, query_vector=vector)
            ranks[mode].append(next((h.rank for h in result.hits if chunk_holds_gold(h.chunk, q)), None))
            if mode == "hybrid":
                retrieved.append((q, result))
    n = len(chosen)
    for mode, rs in ranks.items():
        hit = {k: sum(1 for r in rs if r is not None and r <= k) / n for k in (1, 3, 5, 10)}
        mrr = sum(1 / r for r in rs if r is not None) / n
        print(f"{mode:8} " + " ".join(f"hit@{k}={v:.4f}" for k, v in hit.items()) + f" mrr@10={mrr:.4f}")

    def evaluate(name: str, params: AnswerParams) -> tuple[float, float]:
        rows = []
        for q, result in retrieved:
            assert result.query_vector is not None
            answer = extractive_answer(version, q.question, q.question, result.hits[: settings.top_k],
                                       result.query_vector, params)
            text = plain(answer.text)
            rows.append((contains_answer(text, q.answer_texts), len(text)))
        lengths = sorted(length for _, length in rows)
        cont = sum(c for c, _ in rows) / n
        med = statistics.median(lengths)
        print(f"{name:40} containment={cont:.4f} median_len={med:.0f} p95_len={lengths[int(0.95 * (n - 1))]}",
              flush=True)
        return cont, med

    baseline = dict(w_lexical=0.0, w_rank=0.0, w_type=0.0, refusal_threshold=0.0)
    defaults = AnswerParams.from_settings(settings)
    evaluate("baseline most-similar 1 sentence", replace(defaults, **baseline, max_sentences=1, trim=False))
    evaluate("baseline most-similar 2 sentences",
             replace(defaults, **baseline, strategy="top2", trim=False, second_margin=float("inf")))
    evaluate("default", replace(defaults, refusal_threshold=0.0))
    if args.grid:
        grid = itertools.product((0.2, 0.3), (0.08, 0.15, 0.2, float("inf")), (True, False), (0.0, 0.05, 0.1, 0.15))
        for w_lex, margin, trim, w_rank in grid:
            evaluate(f"lex={w_lex} margin={margin} trim={trim} rank={w_rank} top2",
                     replace(defaults, w_lexical=w_lex, w_rank=w_rank, w_type=0.05, strategy="top2",
                             second_margin=margin, trim=trim, refusal_threshold=0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
