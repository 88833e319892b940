"""Store: the index on disk and the two places its chunks are searched.

Owns the version format (``format``: ``FORMAT_VERSION`` and the typed
``Manifest``), loading with checks (``versions``), the dense FAISS leg
(``dense``), the BM25 leg (``lexical``), the ``ChunkStore`` protocol and its
FAISS implementation (``chunk_store``), the incremental build (``build``,
``write``), the build lock (``lock``), test-only fault points (``faults``) and
the Milvus store (``milvus``). May import embed, ingest and the bottom layer;
never search, answer or anything above.
"""
