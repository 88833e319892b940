"""Conversations kept in the browser: a chat's turns as JSON for local storage, and back.

The server keeps no conversation: after each answer the page stores the
conversation (its id, title and turns, each answer as ``rag ask --json`` gives it)
in the browser's local storage, and sends it back when the page loads or another
conversation is chosen. What comes back is data from outside: read field by
field, and a conversation that does not read is left out, never half shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from rag.messages import message
from rag.records import Answer
from rag.serialize import answer_from_json, answer_to_json, parse_json

MAX_TITLE_CHARS = 40


def new_conversation_id() -> str:
    """A fresh conversation id."""
    return uuid.uuid4().hex[:12]


def conversation_record(conversation: str, turns: list[Any], bases: list[str] | None = None) -> dict[str, Any]:
    """What the browser stores of a conversation: id, title (its first question), knowledge bases chosen, turns.

    ``turns`` are ``chat.Turn``: a question, its answer (None when it failed), its id, article filter
    and knowledge bases.
    """
    title = next((t.question for t in turns), "")
    return {"id": conversation, "title": title[:MAX_TITLE_CHARS], "knowledge_bases": list(bases or ["default"]),
            "turns": [{"question": t.question, "id": t.id, "articles": list(t.articles),
                       "knowledge_bases": list(t.bases),
                       "answer": None if t.answer is None else answer_to_json(t.answer)} for t in turns]}


def read_store(text: str | None) -> dict[str, Any]:
    """The browser's stored conversations (``{"current": id, "conversations": [...]}``); empty when unreadable."""
    try:
        data = parse_json(text or "")
    except ValueError:
        return {"current": "", "conversations": []}
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
        return {"current": "", "conversations": []}
    kept = [c for c in data["conversations"] if isinstance(c, dict) and isinstance(c.get("id"), str)
            and isinstance(c.get("turns"), list)]
    current = data.get("current")
    return {"current": current if isinstance(current, str) else "", "conversations": kept}


def conversation_choices(store: dict[str, Any], lang: str = "zh") -> list[tuple[str, str]]:
    """(title, id) of each stored conversation, newest first, for the list of past conversations."""
    untitled = message("empty_conversation", lang)
    return [(str(c.get("title") or untitled)[:MAX_TITLE_CHARS], c["id"]) for c in store["conversations"]]


def bases_of(record: dict[str, Any]) -> list[str]:
    """The knowledge bases a stored conversation had chosen (``default`` for one stored before there were several).

    >>> bases_of({"knowledge_bases": ["news", 3]}), bases_of({})
    (['news'], ['default'])
    """
    names = record.get("knowledge_bases")
    kept = [n for n in names if isinstance(n, str) and n] if isinstance(names, list) else []
    return kept or ["default"]


@dataclass(frozen=True)
class StoredTurn:
    """One turn of a stored conversation, as read back: the question, its id, filter, bases and answer."""

    question: str
    id: str
    articles: list[str]
    bases: list[str]
    answer: Answer | None  # None when it failed


def turns_of(record: dict[str, Any]) -> list[StoredTurn]:
    """Each stored turn of a conversation; ValueError when one does not read."""
    out = []
    for t in record.get("turns", []):
        try:
            answer = None if t.get("answer") is None else answer_from_json(t["answer"])
            out.append(StoredTurn(str(t["question"]), str(t.get("id") or new_conversation_id()),
                                  [str(a) for a in t.get("articles") or []], bases_of(t), answer))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"a stored turn does not read: {exc}") from exc
    return out
