"""The dense index kinds: recall against exact search, save and load, old files, filtered search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.store.dense import DenseIndex, auto_kind


def _vectors(count: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Normalised vectors in loose clusters (mixes of a few random centres plus noise), like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    picks = rng.integers(0, len(centres), size=(count, 2))
    out = centres[picks[:, 0]] + 0.5 * centres[picks[:, 1]] + rng.standard_normal((count, dim)).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _recall_at_10(index: DenseIndex, vectors: np.ndarray, queries: np.ndarray, **search: int) -> float:
    """Share of the exact top 10 that ``index`` finds (a tie with the 10th exact score counts)."""
    hits = 0
    for q in queries:
        tenth = np.sort(vectors @ q)[-10]
        ids, _ = index.search(q, 10, **search)
        hits += min(10, int(np.sum(vectors[ids] @ q >= tenth - 1e-5)))
    return hits / (10 * len(queries))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """4,000 vectors and 50 queries drawn the same way."""
    return _vectors(4000), _vectors(50, seed=1)


def test_large_indexes_are_ivf_sq8_small_ones_exact() -> None:
    assert auto_kind(100_000) == "flat" and auto_kind(100_001) == "ivf-fp16"


def test_ivf_sq8_finds_what_exact_search_finds(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    vectors, queries = data
    index = DenseIndex.build(vectors, kind="ivf-fp16")
    assert index.kind == "ivf-fp16" and index.size == 4000 and index.lists == 102
    recall = _recall_at_10(index, vectors, queries)
    assert recall >= 0.99
    # Scores from 16-bit floats: within a rounding of the exact ones.
    ids, scores = index.search(queries[0], 5)
    np.testing.assert_allclose(scores, vectors[ids] @ queries[0], atol=2e-3)
    # Fewer lists scanned: less found.
    assert 0.5 < _recall_at_10(index, vectors, queries, nprobe=10) < recall
    np.testing.assert_allclose(index.vectors(), vectors, atol=2e-3)
    for mmap in (False, True):
        index.save(tmp_path / "dense.faiss")
        loaded = DenseIndex.load(tmp_path / "dense.faiss", mmap=mmap)
        assert loaded.kind == "ivf-fp16" and loaded.lists == 102
        np.testing.assert_array_equal(loaded.search(queries[0], 5)[0], ids)


def test_an_index_written_before_ivf_sq8_still_loads(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    """Indexes built with the earlier large kind ('ivf', full vectors in the lists) load and search as before."""
    vectors, queries = data
    DenseIndex.build(vectors, kind="ivf").save(tmp_path / "dense.faiss")
    old = DenseIndex.load(tmp_path / "dense.faiss", mmap=True)
    assert old.kind == "ivf" and _recall_at_10(old, vectors, queries) >= 0.99


@pytest.mark.parametrize("kind", ["ivf", "ivf-fp16"])
def test_a_search_limited_to_some_chunks_returns_only_those(kind: str, data: tuple[np.ndarray, np.ndarray],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, queries = data
    index = DenseIndex.build(vectors, kind=kind)
    allowed = np.arange(0, 4000, 7)
    exact = allowed[np.argsort(-(vectors[allowed] @ queries[0]), kind="stable")[:5]]
    np.testing.assert_array_equal(index.search(queries[0], 5, allowed_ids=allowed)[0], exact)
    # Past FILTER_EXACT_LIMIT the filter runs inside FAISS (a selector on the lists).
    monkeypatch.setattr("rag.store.dense.FILTER_EXACT_LIMIT", 10)
    ids, _ = index.search(queries[0], 5, allowed_ids=allowed)
    assert set(ids.tolist()) <= set(allowed.tolist()) and len(ids) == 5


def test_manifest_records_still_refuse_wrong_types() -> None:
    """The manifest's per-article records (read fast, a million-chunk index holds 290k) keep their type checks."""
    from rag.store.format import ArticleInfo, _record_from_json, _record_to_json

    info = ArticleInfo(sha256="ab", title="t", size_bytes=3, paragraphs=1, chunks=2, indexed_at="2026")
    good = _record_to_json(info)
    assert _record_from_json(ArticleInfo, good, "articles['a'].") == info
    for key, bad in (("chunks", True), ("chunks", "2"), ("sha256", 5)):
        with pytest.raises(ValueError, match=f"articles\\['a'\\].{key} is"):
            _record_from_json(ArticleInfo, {**good, key: bad}, "articles['a'].")
    with pytest.raises(ValueError, match="chunks is missing"):
        _record_from_json(ArticleInfo, {k: v for k, v in good.items() if k != "chunks"}, "articles['a'].")


def test_lexical_search_ranks_only_the_chunks_holding_a_query_word() -> None:
    from rag.store.lexical import LexicalIndex

    texts = [["北京", "首都"], ["上海"], ["北京"], ["广州", "首都"], ["深圳"]]
    index = LexicalIndex.build(texts)
    ids, scores = index.search(["北京", "首都"], 10)
    assert ids[0] == 0 and set(ids.tolist()) == {0, 2, 3} and np.all(np.diff(scores) <= 0) and np.all(scores > 0)
    assert index.search(["北京", "首都"], 1)[0].tolist() == [0]
    allowed = np.array([False, False, True, True, True])
    assert set(index.search(["北京", "首都"], 10, allowed)[0].tolist()) == {2, 3}
