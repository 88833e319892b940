"""Synthetic indexes of any size, made honestly from real CMRC chunks.

Copy 0 is the real corpus: real passages, real chunks, their real vectors.
Every further copy repeats the real articles under new paths (so the lexical
index holds real text, tokenised once and reused) but gives each chunk a vector
of its own: a random mix of 2 to 4 random real chunk vectors (Dirichlet
weights) plus Gaussian noise shaped like the real per-dimension spread and
sized so the synthetic set has the real spread, normalised. Copies of real
vectors with small noise would form tight clusters in which approximate search
is trivially right; these do not.
Sentence vectors (used only to pick answer sentences) are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.records import Article, Chunk, Sentence
from rag.settings import Settings
from rag.store.chunk_tokens import context_tokens
from rag.store.current import switch_current
from rag.store.dense import DenseIndex
from rag.store.versions import load_version
from rag.store.write import write_version
from rag.text import lexical_tokens

DESCRIPTION = (
    "Synthetic scale: copy 0 is the real CMRC 2018 dev corpus (its passages, default chunks and their real "
    "onnx-int8 vectors); each further copy repeats the real passages under new paths, so the BM25 index holds "
    "real text, and gives every chunk a vector of its own: a normalised random mix of 2–4 random real chunk "
    "vectors (Dirichlet weights) plus Gaussian noise shaped like the real per-dimension spread and sized so the "
    "synthetic vectors lie as far from the centre as real ones do. Sentence vectors are the real ones. Queries "
    "are real CMRC questions, encoded by the same onnx-int8 encoder."
)


@dataclass(frozen=True)
class BaseCorpus:
    """The real corpus every synthetic index is made from."""

    articles: list[Article]
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray  # float32 (n_chunks, dim), normalised
    sentence_vectors: np.ndarray  # float16 (n_sentences, dim)
    chunk_tokens: list[list[str]]
    chunk_ranges: list[tuple[int, int]]  # per article, its run of chunk ids
    sentence_ranges: list[tuple[int, int]]  # per article, its run of sentence ids


@dataclass(frozen=True)
class SyntheticCorpus:
    """Everything ``write_version`` needs for one size."""

    articles: list[Article]
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    chunk_tokens: list[list[str]]
    real_chunks: int  # how many of the chunks (the first ones) are real


def base_from_index(index_dir: Path) -> BaseCorpus:
    """Read a real index (e.g. the CMRC evaluation index) and tokenise its chunks once."""
    version = load_version(index_dir)
    articles = list(version.articles.values())
    chunks = list(version.chunks)
    sentences = list(version.sentences)
    chunk_ranges, sentence_ranges = [], []
    c = s = 0
    for article in articles:
        c_end, s_end = c, s
        while c_end < len(chunks) and chunks[c_end].article == article.path:
            c_end += 1
        while s_end < len(sentences) and sentences[s_end].article == article.path:
            s_end += 1
        chunk_ranges.append((c, c_end))
        sentence_ranges.append((s, s_end))
        c, s = c_end, s_end
    if c != len(chunks) or s != len(sentences):
        raise RuntimeError(f"{index_dir}: chunks or sentences are not grouped by article in article order")
    return BaseCorpus(
        articles=articles, chunks=chunks, sentences=sentences,
        chunk_vectors=np.ascontiguousarray(version.dense.vectors(), dtype=np.float32),
        sentence_vectors=np.asarray(version.sentence_vectors, dtype=np.float16),
        chunk_tokens=[lexical_tokens(c.text) for c in chunks],
        chunk_ranges=chunk_ranges, sentence_ranges=sentence_ranges,
    )


def mix_vectors(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` synthetic vectors, each a random mix of 2–4 random real vectors plus noise, normalised.

    A mix lies closer to the centre than real vectors do; the Gaussian noise
    (shaped like the real per-dimension spread) restores exactly the real mean
    squared distance from the centre, so the synthetic set is as spread out as
    the real one, and every vector is distinct. The parts are drawn at random
    (not the chunk's own vector) so that no real vector gathers a cluster of
    look-alikes around it as the copies multiply.
    """
    parts = rng.integers(2, 5, size=count)  # 2, 3 or 4 real vectors in each mix
    picks = rng.integers(0, len(real), size=(count, 4))
    weights = rng.dirichlet(np.ones(4), size=count).astype(np.float32)
    weights[np.arange(4)[None, :] >= parts[:, None]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    out = np.zeros((count, real.shape[1]), dtype=np.float32)
    for j in range(4):
        out += weights[:, j : j + 1] * real[picks[:, j]]
    centre, spread = real.mean(axis=0), real.std(axis=0)
    real_var = float(np.sum(spread**2))  # mean squared distance of a real vector from the centre
    mix_var = float(np.mean(np.sum((out - centre) ** 2, axis=1)))
    scale = np.sqrt(max(real_var - mix_var, 0.0) / real_var)
    out += rng.standard_normal(out.shape).astype(np.float32) * (scale * spread)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def synthetic_corpus(base: BaseCorpus, size: int, seed: int = 0) -> SyntheticCorpus:
    """A corpus of exactly ``size`` chunks (the last article may keep only its first chunks)."""
    rng = np.random.default_rng(seed)
    articles: list[Article] = []
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    tokens: list[list[str]] = []
    vector_blocks: list[np.ndarray] = []
    sentence_blocks: list[np.ndarray] = []
    copy = 0
    while len(chunks) < size:
        taken: list[int] = []
        for article, (c0, c1), (s0, s1) in zip(base.articles, base.chunk_ranges, base.sentence_ranges,
                                                 strict=True):
            if len(chunks) >= size:
                break
            c1 = min(c1, c0 + size - len(chunks))
            path = article.path if copy == 0 else f"synthetic-{copy:04d}/{article.path}"
            articles.append(replace(article, path=path))
            offset = len(sentences) - s0
            sentences.extend(Sentence(path, s.start, s.end, s.paragraph) for s in base.sentences[s0:s1])
            for chunk in base.chunks[c0:c1]:
                chunks.append(replace(chunk, id=len(chunks), article=path,
                                      sentence_ids=tuple(i + offset for i in chunk.sentence_ids)))
            tokens.extend(base.chunk_tokens[c0:c1])
            taken.extend(range(c0, c1))
            sentence_blocks.append(base.sentence_vectors[s0:s1])
        source = np.asarray(taken, dtype=np.int64)
        vector_blocks.append(base.chunk_vectors[source] if copy == 0
                             else mix_vectors(base.chunk_vectors, len(source), rng))
        copy += 1
    return SyntheticCorpus(
        articles=articles, chunks=chunks, sentences=sentences,
        chunk_vectors=np.concatenate(vector_blocks), sentence_vectors=np.concatenate(sentence_blocks),
        chunk_tokens=tokens, real_chunks=min(len(base.chunks), size),
    )


def write_synthetic_index(corpus: SyntheticCorpus, settings: Settings, dense: DenseIndex) -> str:
    """Write ``corpus`` as the current version of ``settings.index_dir`` with the given dense index."""
    name = write_version(settings, corpus.articles, corpus.chunks, corpus.sentences, corpus.chunk_vectors,
                         corpus.sentence_vectors, chunk_tokens=corpus.chunk_tokens, dense=dense,
                         chunk_prefixes=context_tokens(corpus.chunks, settings))
    switch_current(settings.index_dir, name)
    return name
