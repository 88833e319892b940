"""Dify's External Knowledge API: ``POST /retrieval`` records from the knowledge base's search.

Contract (Dify's documentation): body ``knowledge_id``, ``query``,
``retrieval_setting {top_k, score_threshold}`` and an optional
``metadata_condition {logical_operator, conditions[{name, comparison_operator,
value}]}``; answer ``{"records": [{"content", "score", "title", "metadata"}]}``;
errors ``{"error_code", "error_msg"}``. Condition names here: ``article`` (the
path in the corpus), ``title``, ``section``.

``score`` is the fused score's share of the top hit's (the top hit scores 1.0,
the others their fraction of it), so ``score_threshold`` keeps the hits within
that share of the best one. Fields are typed strictly: ``"top_k": "5"`` is refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.errors import RagError
from rag.records import Hit

CONDITION_NAMES = ("article", "title", "section")
OPERATORS = ("is", "is not", "contains", "not contains", "start with", "end with", "in", "not in", "empty",
             "not empty")
INVALID_AUTH_HEADER, INVALID_KEY, UNKNOWN_KNOWLEDGE = 1001, 1002, 2001


class DifyRequestError(RagError):
    """A condition this API cannot apply (an unknown field or operator)."""


class RetrievalSetting(BaseModel):
    """How many records and the lowest score kept."""

    model_config = ConfigDict(extra="allow", strict=True)
    top_k: int = Field(default=5, ge=1, le=100)
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


class Condition(BaseModel):
    """One metadata condition; ``name`` as Dify sends it (a list of one name) or a string."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: list[str] | str
    comparison_operator: str
    value: str | list[str] | None = None


class MetadataCondition(BaseModel):
    """Conditions joined by ``and`` or ``or``."""

    model_config = ConfigDict(extra="allow", strict=True)
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[Condition] = Field(default_factory=list)


class RetrievalRequest(BaseModel):
    """``POST /retrieval``'s body."""

    model_config = ConfigDict(extra="allow", strict=True)
    knowledge_id: str
    query: str
    retrieval_setting: RetrievalSetting = Field(default_factory=RetrievalSetting)
    metadata_condition: MetadataCondition | None = None


def field_of(hit: Hit, name: str) -> str:
    """The value a condition on ``name`` compares."""
    c = hit.chunk
    return {"article": c.article, "title": c.title, "section": c.section}[name]


def holds(value: str, operator: str, wanted: str | list[str] | None) -> bool:
    """One comparison, as Dify names them.

    >>> holds("政策解读", "contains", "政策"), holds("a.md", "in", ["a.md", "b.md"]), holds("", "empty", None)
    (True, True, True)
    """
    items = wanted if isinstance(wanted, list) else [] if wanted is None else [wanted]
    one = items[0] if items else ""
    tests = {
        "is": lambda: value == one, "is not": lambda: value != one, "contains": lambda: one in value,
        "not contains": lambda: one not in value, "start with": lambda: value.startswith(one),
        "end with": lambda: value.endswith(one), "in": lambda: value in items, "not in": lambda: value not in items,
        "empty": lambda: not value, "not empty": lambda: bool(value),
    }
    return tests[operator]()


def check_condition(condition: MetadataCondition | None) -> None:
    """Refuse, in one line, a condition on an unknown field or with an unknown operator."""
    for c in condition.conditions if condition else []:
        names = c.name if isinstance(c.name, list) else [c.name]
        for name in names:
            if name not in CONDITION_NAMES:
                raise DifyRequestError(f"unknown metadata field {name!r}; use one of {', '.join(CONDITION_NAMES)}")
        if c.comparison_operator not in OPERATORS:
            raise DifyRequestError(f"unknown comparison_operator {c.comparison_operator!r}; use one of "
                                   f"{', '.join(OPERATORS)}")


def matches(hit: Hit, condition: MetadataCondition | None) -> bool:
    """True when the hit satisfies the condition (no condition: always)."""
    if condition is None or not condition.conditions:
        return True
    results = []
    for c in condition.conditions:
        names = c.name if isinstance(c.name, list) else [c.name]
        results.append(all(holds(field_of(hit, n), c.comparison_operator, c.value) for n in names))
    return all(results) if condition.logical_operator == "and" else any(results)


def records(hits: list[Hit], setting: RetrievalSetting, condition: MetadataCondition | None,
            knowledge_id: str) -> list[dict[str, Any]]:
    """Dify records of the hits that match, scored as the top hit's share, above the threshold, at most top_k."""
    kept = [h for h in hits if matches(h, condition)]
    top = max((h.score for h in hits), default=0.0)
    out = []
    for hit in kept:
        score = round(hit.score / top, 6) if top > 0 else 0.0
        if score < setting.score_threshold:
            continue
        c = hit.chunk
        out.append({"content": c.text, "score": score, "title": c.title, "metadata": {
            "article": c.article, "title": c.title, "section": c.section, "paragraph": c.paragraphs[0],
            "paragraphs": list(c.paragraphs), "start": c.start, "end": c.end, "rank": hit.rank,
            "knowledge_base": knowledge_id}})
        if len(out) == setting.top_k:
            break
    return out


def error_body(code: int, message: str) -> dict[str, Any]:
    """Dify's error shape."""
    return {"error_code": code, "error_msg": message}
