"""The knowledge bases the API serves, by name: every one of the installation (``rag.kb.registry``).

``model`` (OpenAI), ``knowledge_id`` (Dify) and ``knowledge_base`` (MCP, the
native routes) name them; OpenAI's ``model`` and the MCP tools take several,
comma-separated, searched together (``rag.kb.several``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.errors import KnowledgeBaseError
from rag.kb.knowledge_base import KnowledgeBase
from rag.kb.registry import DEFAULT, settings_for, summary
from rag.kb.several import KnowledgeBases

DEFAULT_NAME = DEFAULT
PUBLIC_SUMMARY_KEYS = ("name", "articles", "chunks", "built_at", "store")


@dataclass(frozen=True)
class Catalog:
    """The installation's knowledge bases, opened on first use."""

    bases: KnowledgeBases

    def names(self) -> list[str]:
        """The names, as ``GET /v1/models`` and ``list_knowledge_bases`` list them."""
        return self.bases.names()

    def get(self, name: str | None) -> tuple[str, KnowledgeBase]:
        """One knowledge base by name (None or "": ``default``); KnowledgeBaseError when there is none."""
        wanted = (name or "").strip() or DEFAULT
        if "," in wanted:
            raise KnowledgeBaseError(f"{wanted!r} names several knowledge bases; this takes one")
        return wanted, self.bases.get(wanted)

    def summaries(self) -> list[dict[str, object]]:
        """Each knowledge base as a client of the API may see it: name, counts, build time, store.

        ``rag kb list --json`` shows the server's folders too; a client has no use for them
        (and should not learn the server's layout), nor for the paths an unreadable index's error names.
        """
        rows = []
        for spec in self.bases.specs():
            row = summary(settings_for(self.bases.settings, spec), spec.name)
            public: dict[str, object] = {key: row[key] for key in PUBLIC_SUMMARY_KEYS}
            if "error" in row:
                public["error"] = f"the index cannot be read; on the server, `rag status --kb {spec.name}` says why"
            rows.append(public)
        return rows

    def pick(self, names: str | None) -> list[str]:
        """The names of a comma-separated value (``model``), each checked to exist; ``default`` when empty."""
        given = list(dict.fromkeys(n.strip() for n in (names or "").split(",") if n.strip())) or [DEFAULT]
        for name in given:
            self.bases.get(name)
        return given
