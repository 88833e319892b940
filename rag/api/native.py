"""The CLI's own JSON over HTTP: ``POST /api/search``, ``POST /api/ask``, ``GET /api/status``.

Each answers exactly what ``rag search --json`` (one hit object per line there,
a list here), ``rag ask --json`` and ``rag status --json`` print.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.kb.knowledge_base import KnowledgeBase
from rag.serialize import answer_to_json, hit_to_json


class SearchRequest(BaseModel):
    """``rag search``'s arguments."""

    model_config = ConfigDict(extra="forbid")
    question: str
    k: int | None = Field(default=None, ge=1, le=1000)
    mode: Literal["hybrid", "dense", "lexical"] | None = Field(default=None, description="default: the setting")
    articles: list[str] | None = Field(default=None, description="limit to these articles (paths in the corpus)")
    knowledge_base: str | None = None


class AskRequest(BaseModel):
    """``rag ask``'s arguments, and the previous questions of a conversation."""

    model_config = ConfigDict(extra="forbid")
    question: str
    articles: list[str] | None = None
    history: list[str] = Field(default_factory=list, description="earlier questions, oldest first")
    knowledge_base: str | None = None


def search(kb: KnowledgeBase, request: SearchRequest) -> list[dict[str, Any]]:
    """The hits of ``rag search --json``."""
    result = kb.search(request.question, k=request.k, mode=request.mode, articles=request.articles)
    return [hit_to_json(hit) for hit in result.hits]


def ask(kb: KnowledgeBase, request: AskRequest) -> dict[str, Any]:
    """The answer of ``rag ask --json`` (extractive)."""
    return answer_to_json(kb.ask(request.question, history=request.history, articles=request.articles))
