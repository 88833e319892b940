"""What the API shows of the installation's knowledge bases: names and counts, never the server's folders.

``model`` (OpenAI), ``knowledge_id`` (Dify) and ``knowledge_base`` (MCP, the
native routes) name them; OpenAI's ``model`` and the MCP tools take several,
comma-separated, searched together by the door (``rag.kb.bases.KnowledgeBases``).
"""

from __future__ import annotations

from rag.errors import KnowledgeBaseError
from rag.kb.bases import KnowledgeBases

PUBLIC_SUMMARY_KEYS = ("name", "articles", "chunks", "built_at", "store")


def one_name(bases: KnowledgeBases, name: str | None) -> str:
    """One knowledge base's name (None or "": ``default``), checked to exist; KnowledgeBaseError otherwise."""
    wanted = (name or "").strip()
    if "," in wanted:
        raise KnowledgeBaseError(f"{wanted!r} names several knowledge bases; this takes one")
    return bases.pick(wanted)[0]


def public_summaries(bases: KnowledgeBases) -> list[dict[str, object]]:
    """Each knowledge base as a client of the API may see it: name, counts, build time, store.

    ``rag kb list --json`` shows the server's folders too; a client has no use for them
    (and should not learn the server's layout), nor for the paths an unreadable index's error names.
    """
    rows = []
    for row in bases.summaries():
        data = row.to_json()
        public: dict[str, object] = {key: data[key] for key in PUBLIC_SUMMARY_KEYS}
        if row.error is not None:
            public["error"] = f"the index cannot be read; on the server, `rag status --kb {row.name}` says why"
        rows.append(public)
    return rows
