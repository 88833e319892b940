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
            kind = "flat" if len(vectors) <= EXACT_LIMIT else "hnsw"
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
            flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(
                f"{path} cannot be read by FAISS ({str(exc).splitlines()[0][:120]}); "
                "run `rag index --rebuild`"
            ) from exc
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index)

    def search(self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` ids and inner-product scores for one query vector.

        ``allowed_ids``: optional array of chunk ids to search within.
        """
        import faiss

        faiss_any: Any = faiss  # the stubs lack the search-parameter classes
        if self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed_ids is not None:
            selector = faiss_any.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
            params = (faiss_any.SearchParametersHNSW(sel=selector, efSearch=HNSW_EF_SEARCH)
                      if self.kind == "hnsw" else faiss_any.SearchParameters(sel=selector))
        scores, ids = self._index.search(q, min(k, self.size), params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def vectors(self) -> np.ndarray:
        """All vectors (for copying an index between stores)."""
        return np.asarray(self._index.reconstruct_n(0, self.size), dtype=np.float32)
