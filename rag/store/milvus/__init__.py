"""The Milvus store: a collection per build behind an alias, searched instead of the FAISS files.

Owns the connection (Lite or server), the search side (``store``) and the fill
from the embedding cache (``build``). Independent of the FAISS store: it needs
only the records, the version format, the text helpers and the dense leg's
exact-search limit (``rag.store.dense.EXACT_LIMIT``, shared so both stores
switch to an approximate index at the same size).
"""
