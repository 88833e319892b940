"""The ``rag`` command line: a face over the library, with no pipeline logic of its own.

``main`` parses arguments and calls ``commands`` (index, search, ask, status, serve,
eval), which hands ``rag eval`` to ``eval``; the progress bars (``progress``) and
the printing live here, never in the library. What comes from articles and file
names is printed through ``terminal`` (control characters shown as ``\\xNN``).
Every command calls the door (``rag.kb.bases.KnowledgeBases``), never a pipeline stage
(an import-linter contract); ``rag serve`` starts ``rag.server``. Nothing in the library imports it.
"""

from __future__ import annotations

from rag.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
