"""The CLI's own JSON over HTTP: ``POST /api/search``, ``POST /api/ask``, ``POST /api/explain``, ``GET /api/status``,
and the FAQ: ``GET /api/faq`` (``rag faq list --json``), ``POST /api/faq`` (``rag faq import``, entries as
JSON), ``DELETE /api/faq/{id}`` (``rag faq delete``), and ``POST /api/teach`` (``rag faq teach``: after a 👎,
the right answer as an FAQ entry or a linked question).

Each answers exactly what ``rag search --json`` (one hit object per line there,
a list here), ``rag ask --json``, ``rag ask --explain --json`` and ``rag status --json`` print. The fields of
each request are typed strictly (a string is no number, ``"5"`` is no ``5``) and
an unknown field is refused; how many hits is ``top_k``, as in MCP and Dify
(``k``, the name it shipped with, still works).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.kb.bases import KnowledgeBases
from rag.kb.explain import TRIAL_SETTINGS
from rag.kb.faq import entry_to_json
from rag.kb.teach import teach as teach_answer
from rag.serialize import answer_to_json, hit_to_json, trace_to_json


class SearchRequest(BaseModel):
    """``rag search``'s arguments."""

    model_config = ConfigDict(extra="forbid", strict=True)
    question: str = Field(description="the question or search words")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="how many hits (default: the top_k setting)")
    k: int | None = Field(default=None, ge=1, le=1000, description="the same as top_k (its first name)")
    mode: Literal["hybrid", "dense", "lexical"] | None = Field(default=None, description="default: the setting")
    articles: list[str] | None = Field(default=None, description="limit to these articles (paths in the corpus)")
    knowledge_base: str | None = Field(default=None, description="its name (default: default)")

    @model_validator(mode="after")
    def _one_count(self) -> SearchRequest:
        if self.top_k is not None and self.k is not None and self.top_k != self.k:
            raise ValueError(f"top_k ({self.top_k}) and k ({self.k}) name the same count; give one")
        return self

    @property
    def count(self) -> int | None:
        """How many hits were asked for (None: the setting)."""
        return self.top_k if self.top_k is not None else self.k


class AskRequest(BaseModel):
    """``rag ask``'s arguments, and the previous questions of a conversation."""

    model_config = ConfigDict(extra="forbid", strict=True)
    question: str = Field(description="the question")
    articles: list[str] | None = Field(default=None, description="limit to these articles (paths in the corpus)")
    history: list[str] = Field(default_factory=list, description="earlier questions, oldest first")
    knowledge_base: str | None = Field(default=None, description="its name (default: default)")


def search(bases: KnowledgeBases, name: str, request: SearchRequest) -> list[dict[str, Any]]:
    """The hits of ``rag search --json`` from knowledge base ``name``."""
    result = bases.search(request.question, [name], k=request.count, mode=request.mode, articles=request.articles)
    return [hit_to_json(hit) for hit in result.hits]


def ask(bases: KnowledgeBases, name: str, request: AskRequest) -> dict[str, Any]:
    """The answer of ``rag ask --json`` (extractive) from knowledge base ``name``."""
    return answer_to_json(bases.ask(request.question, [name], history=request.history, articles=request.articles))


class ExplainRequest(AskRequest):
    """``rag ask --explain``'s arguments: a question's, and settings to try for it alone (never saved)."""

    settings: dict[str, bool | int | float | str] | None = Field(
        default=None, description="settings tried for this question only, never saved: " + ", ".join(TRIAL_SETTINGS))


def explain(bases: KnowledgeBases, name: str, request: ExplainRequest) -> dict[str, Any]:
    """The answer of ``rag ask --explain --json`` from knowledge base ``name``: the answer's keys and ``explain``."""
    explained = bases.explain(request.question, [name], history=request.history, articles=request.articles,
                              changes=request.settings)
    return {**answer_to_json(explained.answer), "explain": trace_to_json(explained.trace)}


class FaqEntryIn(BaseModel):
    """One FAQ entry to import: question, answer, optional source."""

    model_config = ConfigDict(extra="forbid", strict=True)
    question: str
    answer: str
    source: str = ""


class FaqImportRequest(BaseModel):
    """``rag faq import``'s rows, as JSON."""

    model_config = ConfigDict(extra="forbid", strict=True)
    entries: list[FaqEntryIn] = Field(description="the entries to add; a question already there takes the new answer")
    knowledge_base: str | None = Field(default=None, description="its name (default: default)")


class TeachRequest(BaseModel):
    """``rag faq teach``'s arguments: the right answer to a question rated 👎."""

    model_config = ConfigDict(extra="forbid", strict=True)
    question: str = Field(description="the question rated 👎")
    answer: str = Field(description="the right answer: typed (how = faq), or a sentence of article (how = link)")
    how: Literal["faq", "link"] = Field(default="faq", description="faq: an FAQ entry; link: a linked question")
    article: str | None = Field(default=None, description="how = link: the article holding the sentence")
    rating_id: str | None = Field(default=None, description="the 👎 row's id (default: the question's latest 👎)")
    knowledge_base: str | None = Field(default=None, description="its name (default: default)")


def teach(bases: KnowledgeBases, name: str, request: TeachRequest) -> dict[str, Any]:
    """What ``rag faq teach --json`` prints: what was taught, and the 👎 row that records it."""
    return teach_answer(bases.get(name), request.question, request.answer, request.how,
                        answer_id=request.rating_id, article=request.article).to_json()


def faq_list(bases: KnowledgeBases, name: str) -> list[dict[str, Any]]:
    """The entries of ``rag faq list --json`` (one object each) of knowledge base ``name``."""
    return [entry_to_json(e) for e in bases.faq(name).entries()]


def faq_import(bases: KnowledgeBases, name: str, request: FaqImportRequest) -> dict[str, Any]:
    """``rag faq import --json``: the entries added, those whose answer was replaced, the rows skipped."""
    return bases.faq(name).import_json([e.model_dump() for e in request.entries]).to_json()


def faq_delete(bases: KnowledgeBases, name: str, entry_id: str) -> dict[str, Any]:
    """The entry deleted, as ``rag faq list --json`` showed it."""
    return entry_to_json(bases.faq(name).delete(entry_id))
