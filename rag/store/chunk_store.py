"""Where one index version's chunks are searched: the ``ChunkStore`` protocol and the FAISS files' store.

The Milvus store (``rag.store.milvus``) is the protocol's other implementation,
and the only ``FusingStore``: one that can fuse both legs itself.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from rag.records import Fused
from rag.store.versions import IndexVersion


class ChunkStore(Protocol):
    """Where one index version's chunks are searched: the FAISS files or a Milvus collection.

    Both legs return chunk ids of the loaded ``IndexVersion`` with their scores,
    best first; the records (chunks, sentences, articles) stay the version's.
    ``articles`` limits a search to those article paths.
    """

    def dense_search(self, query_vector: np.ndarray, k: int,
                     articles: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` chunk ids and inner-product scores for a query vector."""
        ...

    def lexical_search(self, query: str, k: int,
                       articles: list[str] | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The query's lexical tokens, and the top ``k`` chunk ids with BM25 scores."""
        ...


@runtime_checkable
class FusingStore(ChunkStore, Protocol):
    """A store that can also fuse both legs itself (Milvus's hybrid search), used when ``own_fusion``."""

    own_fusion: bool  # True: hybrid search is fused by the store itself; False: by the project's RRF

    def fused_search(self, query: str, query_vector: np.ndarray, k: int, depth: int, rrf_k: int,
                     articles: list[str] | None) -> list[Fused]:
        """Both legs searched and fused by the store: the top ``k`` of ``depth`` candidates per leg."""
        ...


class FaissStore:
    """The index version's own FAISS file and bm25s folder (the project's RRF fuses its legs)."""

    def __init__(self, version: IndexVersion):
        self.version = version

    def _allowed_ids(self, articles: list[str] | None) -> np.ndarray | None:
        return self.version.article_chunk_ids(articles) if articles else None

    def dense_search(self, query_vector: np.ndarray, k: int,
                     articles: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` chunk ids and inner-product scores (FAISS)."""
        return self.version.dense.search(query_vector, k, self._allowed_ids(articles))

    def lexical_search(self, query: str, k: int,
                       articles: list[str] | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Tokens (cut with the version's own words) and the top ``k`` chunk ids with BM25 scores (bm25s)."""
        allowed_ids = self._allowed_ids(articles)
        mask = None
        if allowed_ids is not None:
            mask = np.zeros(len(self.version.chunks), dtype=bool)
            mask[allowed_ids] = True
        tokens = self.version.curation.vocabulary.lexical_tokens(query)  # the knowledge base's words, if any
        ids, scores = self.version.lexical.search(tokens, k, mask)
        return tokens, ids, scores
