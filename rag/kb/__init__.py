"""The knowledge base: the Python API that every face sits on, and the administration of its corpus.

Owns ``KnowledgeBase`` (``knowledge_base``: build, search, ask, status over one
corpus and index folder), uploads, deletions and the article list
(``uploads``, which read the index to tell new from indexed) and ratings
(``feedback``). May import answer, search, store, embed, ingest and the bottom layer.
"""
