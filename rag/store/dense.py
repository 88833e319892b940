"""The dense leg: a FAISS inner-product index over normalised chunk embeddings.

Up to EXACT_LIMIT vectors the index is exact (a flat scan); above it,
'ivf-fp16': IVF lists (4·√n k-means lists, IVF_PROBES of them scanned per
query) that hold each vector in 16-bit floats, half the bytes a scan reads and
half the file. At a million synthetic chunks (benchmarks/synthetic.py; `python
benchmarks/scale.py --sizes 1k,100k,1m`, BENCHMARKS.md, load 4-5 on 2 cores),
against 'ivf' (the same lists of float32 vectors, the large kind until then)
in the same run: recall@10 0.9910 for both, dense p50 4.87 -> 3.08 ms, hybrid
search p50 19.9 -> 16.6 ms. 8-bit codes (a scratch comparison on the same vectors,
not kept in the repo) found less (0.971) unless the full
vectors beside them re-scored the best 2·k (0.991, 3.5 ms, a file 2.5 times as
big). The earlier kinds, 'ivf' and 'hnsw', still load and are buildable on
request. HNSW is not the automatic choice: on a million synthetic chunks its
recall@10 stayed near 0.8 however wide the search (M 32, efConstruction 80,
efSearch up to 768), and its graph took ten times longer to build than IVF's
lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError

# Exact search over this many vectors costs about 10 ms on one shared core
# (measured: 104 ms per query at 1M); above it an approximate index is built.
EXACT_LIMIT = 100_000
IVF_LISTS_PER_SQRT = 4  # lists = 4·√n, e.g. 4000 at 1M
# Lists scanned per query. With 4·√n lists a fixed count scans a larger share
# of a smaller index, which recall needs: measured recall@10 against exact on
# synthetic CMRC vectors, 1M chunks: 200 lists 0.9905 (5.4 ms), 400 lists
# 0.9950 (9.2 ms); 100k chunks: 253 of 1264 lists 0.9940.
IVF_PROBES = 300
IVF_TRAIN_PER_LIST = 40  # k-means training sample per list
HNSW_M = 32
HNSW_EF_SEARCH = 128
# A search limited to at most this many chunks (some articles) scores them all.
FILTER_EXACT_LIMIT = 50_000
KINDS = ("flat", "ivf", "ivf-fp16", "hnsw")


def auto_kind(count: int) -> str:
    """The index kind ``DenseIndex.build(kind="auto")`` picks for ``count`` vectors.

    >>> auto_kind(1000), auto_kind(10_000_000)
    ('flat', 'ivf-fp16')
    """
    return "flat" if count <= EXACT_LIMIT else "ivf-fp16"


def ivf_lists(count: int) -> int:
    """Number of IVF lists for ``count`` vectors.

    >>> ivf_lists(1_000_000)
    4000
    """
    return max(1, int(IVF_LISTS_PER_SQRT * math.sqrt(count)))


def ivf_probes(lists: int) -> int:
    """Lists scanned per query: IVF_PROBES, or all of them when there are fewer.

    >>> ivf_probes(4000), ivf_probes(100)
    (300, 100)
    """
    return max(1, min(lists, IVF_PROBES))


@contextmanager
def _one_omp_thread(faiss: Any) -> Iterator[None]:
    """Run FAISS calls of this thread on one OpenMP thread, then restore the setting.

    One query gains nothing from OpenMP threads, and on shared cores their
    barriers cost: exact search over 1M vectors took 104 ms on one thread,
    280-750 ms on two. The setting belongs to the calling thread, so a build
    running elsewhere keeps its threads.
    """
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


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
    def lists(self) -> int:
        """IVF lists (0 for the other kinds)."""
        return int(getattr(self._index, "nlist", 0))

    @property
    def kind(self) -> str:
        """'flat' (exact), 'ivf', 'ivf-fp16' or 'hnsw' (approximate)."""
        import faiss

        if isinstance(self._index, faiss.IndexHNSWFlat):
            return "hnsw"
        if isinstance(self._index, faiss.IndexIVFScalarQuantizer):
            return "ivf-fp16"
        return "ivf" if isinstance(self._index, faiss.IndexIVFFlat) else "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto") -> DenseIndex:
        """Index vectors (float32, normalised); ``kind`` 'auto' picks by size (see ``auto_kind``)."""
        import faiss

        faiss_any: Any = faiss  # the stubs lack DirectMap
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if kind == "auto":
            kind = auto_kind(len(vectors))
        if kind not in KINDS:
            raise ValueError(f"dense index kind must be auto or one of {', '.join(KINDS)}; got {kind!r}")
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind in ("ivf", "ivf-fp16"):
            index = _trained_ivf(vectors, faiss.ScalarQuantizer.QT_fp16 if kind == "ivf-fp16" else None)
            # Lets a search limited to some articles read their vectors directly.
            index.set_direct_map_type(faiss_any.DirectMap.Array)
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
            # MMAP_IFC maps the stored vectors (flat, IVF lists and HNSW alike)
            # straight from the file; plain IO_FLAG_MMAP copies flat vectors.
            flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(
                f"{path} cannot be read by FAISS ({str(exc).splitlines()[0][:120]}); "
                "run `rag index --rebuild`"
            ) from exc
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        elif isinstance(index, faiss.IndexIVF):
            index.nprobe = ivf_probes(index.nlist)  # not kept in the file
        return cls(index)

    def search(self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None,
               ef_search: int | None = None, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` ids and inner-product scores for one query vector.

        ``allowed_ids``: optional array of chunk ids to search within.
        ``ef_search`` (HNSW) and ``nprobe`` (IVF): how wide an approximate search
        looks (defaults HNSW_EF_SEARCH and ``ivf_probes``).
        """
        import faiss

        faiss_any: Any = faiss  # the stubs lack the search-parameter classes
        if self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        kind = self.kind
        if kind != "flat" and allowed_ids is not None and len(allowed_ids) <= FILTER_EXACT_LIMIT:
            # An approximate search restricted to a few articles' chunks finds too
            # few of them (a graph walk or the probed lists may miss some
            # altogether); scoring those vectors directly is exact and, for this
            # few, fast.
            allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64))
            allowed = allowed[(allowed >= 0) & (allowed < self.size)]
            scores_all = self._index.reconstruct_batch(allowed) @ q[0]
            top = np.argsort(-scores_all, kind="stable")[:k]
            return allowed[top], scores_all[top].astype(np.float32)
        params: Any = None
        if kind == "hnsw" and (allowed_ids is not None or ef_search is not None):
            params = faiss_any.SearchParametersHNSW()
            params.efSearch = ef_search or HNSW_EF_SEARCH
        elif kind.startswith("ivf") and (allowed_ids is not None or nprobe is not None):
            params = faiss_any.SearchParametersIVF()
            params.nprobe = nprobe or self._index.nprobe
        elif allowed_ids is not None:
            params = faiss_any.SearchParameters()
        if allowed_ids is not None:
            params.sel = faiss_any.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
        with _one_omp_thread(faiss):
            scores, ids = self._index.search(q, min(k, self.size), params=params)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]


    def vectors(self) -> np.ndarray:
        """All vectors (for copying an index between stores); 'ivf-fp16' gives them rounded to 16-bit floats."""
        if self.kind.startswith("ivf"):
            return np.asarray(self._index.reconstruct_batch(np.arange(self.size, dtype=np.int64)), dtype=np.float32)
        return np.asarray(self._index.reconstruct_n(0, self.size), dtype=np.float32)


def _trained_ivf(vectors: np.ndarray, codes: Any) -> Any:
    """Empty IVF lists trained on a sample of ``vectors``; ``codes``: a scalar quantizer type, None for float32."""
    import faiss

    dim = vectors.shape[1]
    # k-means wants at least 39 training points per list.
    lists = min(ivf_lists(len(vectors)), max(1, len(vectors) // 39))
    quantizer = faiss.IndexFlatIP(dim)
    index: Any
    if codes is None:
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists, codes, faiss.METRIC_INNER_PRODUCT)
    sample = min(len(vectors), IVF_TRAIN_PER_LIST * lists)
    # A fixed seed: the same vectors always give the same lists.
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), sample, replace=False))
    index.train(vectors[rows])
    index.nprobe = ivf_probes(lists)
    return index
