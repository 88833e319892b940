"""Store: the index on disk and the two places its chunks are searched.

Owns the version format (``format``: ``FORMAT_VERSION`` and the typed
``Manifest``), the CURRENT and PREVIOUS pointers, the switch and clean-up
(``current``), loading and verifying with checks (``versions``), the dense
FAISS leg (``dense``), the BM25 leg (``lexical``), the ``ChunkStore`` protocol
and its FAISS implementation (``chunk_store``), the incremental build
(``build``; what it embeds through the cache, ``embedding``; each chunk's lexical
tokens, ``chunk_tokens``; ``write``), the knowledge base's curation files and what a
version applied of them (``curation_files``, ``curation``) and
what it does about damage (``recovery``), the build lock and the read-only
check (``lock``), test-only fault points (``faults``) and the Milvus store
(``milvus``). May import embed, ingest and the bottom layer; never search,
answer or anything above.
"""
