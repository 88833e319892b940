"""rag: question answering over Chinese articles, with answers that cite their paragraphs.

The public API, importable from ``rag`` directly::

    from rag import KnowledgeBase, load_settings
    kb = KnowledgeBase(load_settings())
    kb.build()
    print(kb.ask("2025年深圳人工智能核心产业营收约多少？").text)

Importing the package is cheap: ``KnowledgeBase`` (and with it numpy, FAISS and
the encoder) loads on first use; torch and gradio load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import (
    ArticleError,
    EndpointError,
    IndexCorruptError,
    IndexFolderError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexReadOnlyError,
    KnowledgeBaseError,
    ModelError,
    QuestionError,
    QuestionSetError,
    RagError,
    SettingsError,
    StoreError,
)
from rag.settings import Settings, load_settings

if TYPE_CHECKING:
    from rag.kb.knowledge_base import KnowledgeBase

__version__ = "0.1.0"
__all__ = [
    "ArticleError", "EndpointError", "IndexCorruptError", "IndexFolderError", "IndexLockedError", "IndexMismatchError",
    "IndexMissingError", "IndexReadOnlyError", "KnowledgeBase", "KnowledgeBaseError", "ModelError", "QuestionError",
    "QuestionSetError", "RagError", "Settings", "SettingsError", "StoreError", "load_settings",
]


def __getattr__(name: str) -> Any:
    # subtle: a lazy attribute, so `import rag` (and `rag --help`) does not load numpy and FAISS.
    if name == "KnowledgeBase":
        from rag.kb.knowledge_base import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
