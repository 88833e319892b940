"""Index build overhead and re-indexing, measured with ``build_index`` as ``rag index`` runs it.

The overhead ratio divides the wall time of a full build (fresh index folder,
empty embedding cache) by the time the same encoder, at the same batch size,
takes to embed exactly what that build embedded (``embedding_work``: each
distinct chunk text once, pooling its sentences from the same pass; with
``sentence_vectors = "separate"`` the chunks and then each distinct sentence
text alone). The encode-only time is the mean of one run before and one after
the build, so a change in machine load between them is shared out.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.data import write_passage_files
from rag.embed.encoder import Encoder
from rag.embed.pooling import Span
from rag.evaluation.questions import Passage
from rag.settings import Settings
from rag.store.build import BuildReport, build_index, chunk_articles, chunk_embedding_text, load_corpus
from rag.store.embedding import sentence_places
from rag.store.lexical import LexicalIndex
from rag.text import lexical_tokens


@dataclass(frozen=True)
class PipelineRun:
    """One backend: full build, encode-only baseline, unchanged re-index, re-index with one more article."""

    backend: str
    batch_size: int
    articles: int
    chunks: int
    sentences: int
    embedded: int
    build_s: float
    encode_s: float
    overhead_ratio: float
    stages_s: dict[str, float]
    unchanged_s: float
    unchanged_embedded: int
    unchanged_up_to_date: bool
    plus_one_s: float
    plus_one_embedded: int
    plus_one_encode_s: float
    encode_runs_s: list[float] = field(default_factory=list)

    @property
    def unchanged_fraction(self) -> float:
        """Unchanged re-index time as a fraction of the full build."""
        return self.unchanged_s / self.build_s

    @property
    def plus_one_ratio(self) -> float:
        """Re-index with one new article, over embedding that article's texts alone."""
        return self.plus_one_s / self.plus_one_encode_s


@dataclass(frozen=True)
class EmbeddingWork:
    """What a build runs through the encoder: distinct texts, and per text the spans pooled from its pass."""

    texts: list[str]
    spans: list[list[Span]] | None  # None: each text encoded alone (``encode_passages``)

    def run(self, encoder: Encoder) -> None:
        """Encode it all, as the build does."""
        if self.spans is None:
            encoder.encode_passages(self.texts)
        else:
            encoder.encode_passages_pooled(self.texts, self.spans)


def embedding_work(settings: Settings, article: str | None = None) -> EmbeddingWork:
    """What a build of ``settings.corpus_dir`` embeds, read and chunked by the build's own functions.

    Pooled: each distinct chunk text, with the sentences it is the first chunk to
    hold (a 200-character chunk is never cut at the model's limit); separate: the
    distinct chunk texts, then the distinct sentence texts. ``article``: only that article's.
    """
    articles = [a for a in load_corpus(settings, BuildReport(None)) if article is None or a.path == article]
    chunks, sentences = chunk_articles(articles, settings)
    chunk_texts = [chunk_embedding_text(c, settings.chunk_context) for c in chunks]
    if settings.sentence_vectors == "separate":
        by_path = {a.path: a for a in articles}
        texts = chunk_texts + [by_path[s.article].text[s.start : s.end] for s in sentences]
        return EmbeddingWork(list(dict.fromkeys(texts)), None)
    spans: dict[str, dict[Span, None]] = {text: {} for text in chunk_texts}
    for places in sentence_places(chunks, chunk_texts, sentences):
        first, span = places[0]
        spans[chunk_texts[first]][span] = None
    return EmbeddingWork(list(spans), [list(s) for s in spans.values()])


def warm_up_pipeline() -> None:
    """Load jieba's dictionary, OpenCC and bm25s once: one-off process costs, like loading the model."""
    LexicalIndex.build([lexical_tokens("深圳的人工智能產業")])


def measure_pipeline(encoder: Encoder, passages: list[Passage], extra: Passage, work_dir: Path,
                     models_dir: Path, batch_size: int, keep: bool = False) -> PipelineRun:
    """Build ``passages`` as a corpus folder from scratch, then again unchanged, then with ``extra`` added."""
    backend = encoder.backend
    folder = work_dir / f"pipeline-{backend}"
    shutil.rmtree(folder, ignore_errors=True)
    corpus = folder / "corpus"
    write_passage_files(passages, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index", models_dir=models_dir,
                        encoder_backend=backend, model=encoder.model, batch_size=batch_size)
    encoder.batch_size = batch_size
    warm_up_pipeline()

    work = embedding_work(settings)
    runs = [_time_encode(encoder, work)]
    t0 = time.perf_counter()
    full = build_index(settings, lambda: encoder)
    build_s = time.perf_counter() - t0
    runs.append(_time_encode(encoder, work))
    if full.embedded != len(work.texts):
        raise RuntimeError(f"the build embedded {full.embedded} texts, the baseline {len(work.texts)}")
    encode_s = sum(runs) / len(runs)

    t0 = time.perf_counter()
    unchanged = build_index(settings, lambda: encoder)
    unchanged_s = time.perf_counter() - t0

    write_passage_files([extra], corpus)
    t0 = time.perf_counter()
    plus_one = build_index(settings, lambda: encoder)
    plus_one_s = time.perf_counter() - t0
    plus_one_encode_s = _time_encode(encoder, embedding_work(settings, f"{extra.id}.txt"))
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return PipelineRun(
        backend=backend, batch_size=batch_size, articles=full.articles, chunks=full.chunks,
        sentences=full.sentences, embedded=full.embedded, build_s=build_s, encode_s=encode_s,
        overhead_ratio=build_s / encode_s, stages_s=_stages(full), unchanged_s=unchanged_s,
        unchanged_embedded=unchanged.embedded, unchanged_up_to_date=unchanged.up_to_date,
        plus_one_s=plus_one_s, plus_one_embedded=plus_one.embedded, plus_one_encode_s=plus_one_encode_s,
        encode_runs_s=runs,
    )


def _time_encode(encoder: Encoder, work: EmbeddingWork) -> float:
    t0 = time.perf_counter()
    work.run(encoder)
    return time.perf_counter() - t0


def _stages(report: BuildReport) -> dict[str, float]:
    return {k: round(v, 3) for k, v in report.timings.items()}
