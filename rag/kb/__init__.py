"""The knowledge base: the Python API that every face sits on, and the administration of its corpus.

Owns ``KnowledgeBase`` (``knowledge_base``: build, search, ask, status over one
corpus and index folder), uploads, deletions and the article list
(``uploads``, which read the index to tell new from indexed), ratings
(``feedback``) and what a 👎 teaches (``teach``: an FAQ entry or a linked
question), an article's chunks turned off or given linked questions
(``chunks``) and the dictionary and synonyms as the page edits them (``words``).
``bases.KnowledgeBases`` is the door: the one object the CLI, the web server,
the API and the page call (an import-linter contract keeps them from importing
the pipeline stages themselves). May import answer, search, store, embed,
ingest and the bottom layer.
"""

from rag.store.faults import arm_from_environment as arm_fault_points  # the crash tests' hook, armed by the CLI

__all__ = ["arm_fault_points"]
