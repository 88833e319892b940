"""What a build embeds: every chunk, and every sentence, through the embedding cache.

With ``sentence_vectors = "pooled"`` the encoder runs once per chunk: a
sentence's vector is the mean of its tokens' states in that pass
(``Encoder.encode_passages_pooled``). Chunks overlap by whole sentences, so a
sentence may sit whole in two chunks: it takes its vector from the first chunk
the model reads it whole in; one that no chunk holds whole (a chunk cut at the
model's token limit) is encoded alone. With ``"separate"`` (the default: its
evidence scores refuse better, see ``Settings.sentence_vectors``) every
sentence is encoded again as a text of its own.

Cache keys, all under the encoder's identity: a chunk, or a sentence encoded
alone, by its text (``text_key("passage", …)``, so both modes share a chunk's
vector); a pooled sentence by its chunk's text and its span in it
(``span_key``). Only the vectors an index uses are written, so whatever the
cache holds for a chunk is what a fresh build would compute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.embed.cache import EmbeddingCache, span_key, text_key
from rag.errors import RagError
from rag.records import Article, Chunk, Sentence
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder
    from rag.embed.pooling import Span
    from rag.store.write import Progress


@dataclass
class EmbedCounts:
    """What embedding cost a build (its report shows these)."""

    embedded: int = 0  # texts run through the encoder: chunks, and sentences encoded alone
    from_cache: int = 0  # chunk and sentence vectors taken from the embedding cache
    pooled: int = 0  # sentence vectors pooled from the token states of the chunk passes run


@dataclass(frozen=True)
class IndexVectors:
    """A build's vectors, in id order, the cache keys they came from and what they cost."""

    chunks: np.ndarray  # (chunks, dimension) float32
    sentences: np.ndarray  # (sentences, dimension) float32
    keys: frozenset[str]  # every cache key used: the rows a private cache keeps
    counts: EmbedCounts


def chunk_embedding_text(chunk: Chunk, context: bool) -> str:
    """What is embedded for a chunk: its text, headed by its article title and section when ``context``.

    A chunk from the middle of an article often never names what the article is
    about ("他", "该公司"); its heading does.
    """
    if not context:
        return chunk.text
    heading = " ".join(part for part in (chunk.title, chunk.section) if part)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def embed_index(settings: Settings, load_encoder: Callable[[], Encoder], cache: EmbeddingCache,
                articles: Sequence[Article], chunks: Sequence[Chunk], sentences: Sequence[Sentence],
                progress: Progress | None) -> IndexVectors:
    """Every chunk's and sentence's vector, as ``settings.sentence_vectors`` says; only what the cache lacks is run."""
    counts = EmbedCounts()
    by_path = {a.path: a for a in articles}
    chunk_texts = [chunk_embedding_text(c, settings.chunk_context) for c in chunks]
    sentence_texts = [by_path[s.article].text[s.start : s.end] for s in sentences]
    if settings.sentence_vectors == "separate":
        keys = [text_key("passage", t) for t in chunk_texts + sentence_texts]
        vectors = embed_texts(settings, load_encoder, cache, chunk_texts + sentence_texts, counts, progress)
        return IndexVectors(vectors[: len(chunks)], vectors[len(chunks) :], frozenset(keys), counts)
    return _PooledBuild(settings, load_encoder, cache, counts, progress).run(chunks, chunk_texts, sentences,
                                                                             sentence_texts)


def load_checked(load_encoder: Callable[[], Encoder], identity: str) -> Encoder:
    """The build's encoder, checked to be the one the settings ask for."""
    encoder = load_encoder()
    if encoder.identity != identity:
        raise RagError(f"encoder identity {encoder.identity} differs from settings {identity}")
    return encoder


def cached_vectors(cache: EmbeddingCache, identity: str, texts: list[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The cache key of each passage text, and the vectors the cache already holds for them."""
    keys = [text_key("passage", t) for t in texts]
    return keys, cache.get_many(identity, sorted(set(keys)))


def embed_texts(settings: Settings, load_encoder: Callable[[], Encoder], cache: EmbeddingCache, texts: list[str],
                counts: EmbedCounts, progress: Progress | None) -> np.ndarray:
    """Vectors for ``texts`` (float32, in order), each encoded alone; only texts missing from the cache are run."""
    identity = settings.encoder_identity
    keys, cached = cached_vectors(cache, identity, texts)
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in cached and key not in missing:
            missing[key] = text
    counts.from_cache += len(texts) - sum(1 for k in keys if k in missing)
    if missing:
        encoder = load_checked(load_encoder, identity)
        # Longest first, so each slice holds texts of similar length (little padding), as one
        # global sort would; embedded and stored in slices so a crash keeps the work already done.
        todo = sorted(missing.items(), key=lambda item: -len(item[1]))
        step = max(settings.batch_size * 8, 64)
        base = counts.embedded
        for i in range(0, len(todo), step):
            part = todo[i : i + step]

            def tick(n: int, done: int = base + i) -> None:
                if progress:
                    progress("embed", done + n, base + len(todo))

            vectors = encoder.encode_passages([t for _, t in part], progress=tick)
            cache.put_many(identity, [(k, v) for (k, _), v in zip(part, vectors, strict=True)])
            for (k, _), v in zip(part, vectors, strict=True):
                cached[k] = np.asarray(v, dtype=np.float32)
        counts.embedded += len(todo)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[k] for k in keys]).astype(np.float32, copy=False)


def embed_questions(settings: Settings, load_encoder: Callable[[], Encoder], cache: EmbeddingCache,
                    questions: list[str], counts: EmbedCounts) -> tuple[np.ndarray, list[str]]:
    """Vectors for linked questions, embedded as a user's question is (the query prefix), and their cache keys.

    A user's question should meet the linked question it paraphrases, so both
    sides are embedded alike (``text_key("query", …)``); only questions missing
    from the cache are run, so re-applying an unchanged file embeds nothing.
    """
    identity = settings.encoder_identity
    keys = [text_key("query", q) for q in questions]
    found = cache.get_many(identity, sorted(set(keys)))
    missing = sorted({q for k, q in zip(keys, questions, strict=True) if k not in found})
    counts.from_cache += sum(1 for k in keys if k in found)
    if missing:
        vectors = load_checked(load_encoder, identity).encode_queries(missing)
        rows = [(text_key("query", q), np.asarray(v, dtype=np.float32)) for q, v in zip(missing, vectors, strict=True)]
        cache.put_many(identity, rows)
        found.update(rows)
        counts.embedded += len(missing)
    if not questions:
        return np.zeros((0, 0), dtype=np.float32), []
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False), keys


class _PooledBuild:
    """One build's pooled vectors: which chunk's pass gives each sentence its vector, and the passes still to run."""

    def __init__(self, settings: Settings, load_encoder: Callable[[], Encoder], cache: EmbeddingCache,
                 counts: EmbedCounts, progress: Progress | None) -> None:
        self.settings = settings
        self.identity = settings.encoder_identity
        self.load_encoder = load_encoder
        self.cache = cache
        self.counts = counts
        self.progress = progress
        self._encoder: Encoder | None = None
        self._whole: dict[int, dict[int, bool]] = {}  # chunk → its sentences read whole (tokenised once)

    def encoder(self) -> Encoder:
        """The encoder, loaded on first need (an unchanged corpus needs none)."""
        if self._encoder is None:
            self._encoder = load_checked(self.load_encoder, self.identity)
        return self._encoder

    def run(self, chunks: Sequence[Chunk], chunk_texts: list[str], sentences: Sequence[Sentence],
            sentence_texts: list[str]) -> IndexVectors:
        """Resolve each sentence's chunk, run the passes the cache lacks, then the sentences no chunk holds whole."""
        if not chunks:
            empty = np.zeros((0, 0), dtype=np.float32)
            return IndexVectors(empty, empty, frozenset(), self.counts)
        places = sentence_places(chunks, chunk_texts, sentences)
        chunk_keys = [text_key("passage", t) for t in chunk_texts]
        span_keys = {(ci, sid): span_key(chunk_texts[ci], *span) for sid, cands in enumerate(places)
                     for ci, span in cands}
        found = self.cache.get_many(self.identity, sorted(set(chunk_keys) | set(span_keys.values())))
        owner = {sid: ci for sid, cands in enumerate(places)
                 if (ci := self._owner(sid, cands, span_keys, found, chunks, chunk_texts, places)) is not None}
        self.counts.from_cache += sum(1 for k in chunk_keys if k in found)
        self.counts.from_cache += sum(1 for sid, ci in owner.items() if span_keys[(ci, sid)] in found)
        # Per chunk text to run: the spans whose pooled vectors it must give (a chunk's own vector always).
        passes: dict[str, tuple[str, dict[str, Span]]] = {}
        for ci, key in enumerate(chunk_keys):
            if key not in found:
                passes.setdefault(key, (chunk_texts[ci], {}))
        for sid, ci in owner.items():
            if span_keys[(ci, sid)] not in found:
                span = next(span for c, span in places[sid] if c == ci)
                passes.setdefault(chunk_keys[ci], (chunk_texts[ci], {}))[1][span_keys[(ci, sid)]] = span
        self._run_passes(list(passes.items()), found)
        alone = [sid for sid in range(len(sentences)) if sid not in owner]
        alone_vectors = embed_texts(self.settings, self.load_encoder, self.cache,
                                    [sentence_texts[sid] for sid in alone], self.counts, self.progress)
        dimension = len(found[chunk_keys[0]])
        sentence_vectors = np.zeros((len(sentences), dimension), dtype=np.float32)
        for sid, ci in owner.items():
            sentence_vectors[sid] = found[span_keys[(ci, sid)]]
        if alone:
            sentence_vectors[alone] = alone_vectors
        keys = set(chunk_keys) | {span_keys[(ci, sid)] for sid, ci in owner.items()}
        keys |= {text_key("passage", sentence_texts[sid]) for sid in alone}
        chunk_vectors = np.stack([found[k] for k in chunk_keys]).astype(np.float32, copy=False)
        return IndexVectors(chunk_vectors, sentence_vectors, frozenset(keys), self.counts)

    def _owner(self, sid: int, candidates: list[tuple[int, Span]], span_keys: dict[tuple[int, int], str],
               found: dict[str, np.ndarray], chunks: Sequence[Chunk], chunk_texts: list[str],
               places: list[list[tuple[int, Span]]]) -> int | None:
        """The first chunk that holds sentence ``sid`` whole; None when none does.

        The candidates are taken in chunk order. A span's vector is cached only
        when its chunk's pass read the span whole, so a cached one settles the
        question for that chunk; one without is tokenised to see whether the
        model reads the sentence whole in it (only the encoder's tokenizer runs).
        """
        for ci, _ in candidates:
            if span_keys[(ci, sid)] in found:
                return ci
            if ci not in self._whole:
                own = [(s, span) for s in chunks[ci].sentence_ids for c, span in places[s] if c == ci]
                flags = self.encoder().spans_read_whole(chunk_texts[ci], [span for _, span in own])
                self._whole[ci] = {s: flag for (s, _), flag in zip(own, flags, strict=True)}
            if self._whole[ci][sid]:
                return ci
        return None

    def _run_passes(self, passes: list[tuple[str, tuple[str, dict[str, Span]]]],
                    found: dict[str, np.ndarray]) -> None:
        """Run the encoder over the chunk texts in ``passes`` and store their vectors and their spans' vectors."""
        if not passes:
            return
        encoder = self.encoder()
        # Longest first, in slices stored as they finish: a crash keeps the work already done.
        todo = sorted(passes, key=lambda item: -len(item[1][0]))
        step = max(self.settings.batch_size * 8, 64)
        for i in range(0, len(todo), step):
            part = todo[i : i + step]

            def tick(n: int, done: int = i) -> None:
                if self.progress:
                    self.progress("embed", done + n, len(todo))

            pooled = encoder.encode_passages_pooled([text for _, (text, _) in part],
                                                    [list(spans.values()) for _, (_, spans) in part], progress=tick)
            rows: list[tuple[str, np.ndarray]] = []
            for (key, (_, spans)), result in zip(part, pooled, strict=True):
                rows.append((key, result.vector))
                # Only spans read whole were asked for (_owner), so every row here is a real vector.
                rows += [(skey, vec) for skey, vec in zip(spans, result.spans, strict=True)]
            self.cache.put_many(self.identity, rows)
            found.update(rows)
        self.counts.embedded += len(todo)
        self.counts.pooled += sum(len(spans) for _, (_, spans) in todo)


def sentence_places(chunks: Sequence[Chunk], chunk_texts: list[str],
                    sentences: Sequence[Sentence]) -> list[list[tuple[int, Span]]]:
    """Per sentence, each chunk that holds it (in chunk order) with the sentence's span in that chunk's embedded text.

    The embedded text may start with the chunk's heading (``chunk_embedding_text``):
    the span is shifted past it.
    """
    places: list[list[tuple[int, Span]]] = [[] for _ in sentences]
    for ci, (chunk, text) in enumerate(zip(chunks, chunk_texts, strict=True)):
        head = len(text) - len(chunk.text)
        for sid in chunk.sentence_ids:
            s = sentences[sid]
            places[sid].append((ci, (head + s.start - chunk.start, head + s.end - chunk.start)))
    return places

