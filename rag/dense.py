"""The dense leg: a FAISS inner-product index over normalised chunk embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError

# Exact search is fast enough below this many vectors on 2 cores; above it an
# HNSW graph keeps search latency low at a small, measured loss of recall.
EXACT_LIMIT = 200_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
# A search limited to at most this many chunks (some articles) scores them all.
FILTER_EXACT_LIMIT = 50_000


def auto_kind(count: int) -> str:
    """The index kind ``DenseIndex.build(kind="auto")`` picks for ``count`` vectors.

    >>> auto_kind(1000), auto_kind(10_000_000)
    ('flat', 'hnsw')
    """
    return "flat" if count <= EXACT_LIMIT else "hnsw"


class DenseIndex:
    """A FAISS index; ids are chunk ids (0..n-1)."""

    def __init__(self, index: Any):
        self._index = index

    @property
    def size(self) -> int:
        """Number of vectors."""
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    @property
    def kind(self) -> str:
        """'flat' (exact) or 'hnsw' (approximate)."""
        import faiss

        return "hnsw" if isinstance(self._index, faiss.IndexHNSWFlat) else "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto") -> DenseIndex:
        """Index vectors (float32, normalised); ``kind`` 'auto' picks by size."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if kind == "auto":
            kind = auto_kind(len(vectors))
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = HNSW_EF_SEARCH
        if len(vectors):
            index.add(vectors)
        return cls(index)

    def save(self, path: Path) -> None:
        """Write the FAISS file."""
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, mmap: bool = False) -> DenseIndex:
        """Read a FAISS file; a damaged file raises IndexCorruptError."""
        import faiss

        try:
            # MMAP_IFC maps the stored vectors (flat and HNSW alike) straight from
            # the file; plain IO_FLAG_MMAP still copies them into memory.
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(
                f"{path} cannot be read by FAISS ({str(exc).splitlines()[0][:120]}); "
                "run `rag index --rebuild`"
            ) from exc
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index)

    def search(self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None,
               ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` ids and inner-product scores for one query vector.

        ``allowed_ids``: optional array of chunk ids to search within.
        ``ef_search``: HNSW only, the candidate list size (default HNSW_EF_SEARCH; at least ``k`` is used).
        """
        import faiss

        faiss_any: Any = faiss  # the stubs lack the search-parameter classes
        if self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params: Any = None
        hnsw = self.kind == "hnsw"
        if hnsw and allowed_ids is not None and len(allowed_ids) <= FILTER_EXACT_LIMIT:
            # A graph walk restricted to a few articles' chunks finds too few of
            # them (it may miss some altogether); scoring those vectors directly is
            # exact and, for this few, faster.
            allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64))
            allowed = allowed[(allowed >= 0) & (allowed < self.size)]
            scores_all = self._index.reconstruct_batch(allowed) @ q[0]
            top = np.argsort(-scores_all, kind="stable")[:k]
            return allowed[top], scores_all[top].astype(np.float32)
        if hnsw and (allowed_ids is not None or ef_search is not None):
            params = faiss_any.SearchParametersHNSW()
            params.efSearch = ef_search or HNSW_EF_SEARCH
        elif allowed_ids is not None:
            params = faiss_any.SearchParameters()
        if allowed_ids is not None:
            selector = faiss_any.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
            params.sel = selector
        # One query gains nothing from OpenMP threads, and on shared cores their
        # barriers cost: exact search over 1M vectors took 104 ms on one thread,
        # 280-750 ms on two. The setting is per calling thread, so builds elsewhere
        # keep theirs; it is restored for this thread too.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, min(k, self.size), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def vectors(self) -> np.ndarray:
        """All vectors (for copying an index between stores)."""
        return np.asarray(self._index.reconstruct_n(0, self.size), dtype=np.float32)
