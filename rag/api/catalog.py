"""The knowledge bases the API serves, by name (``default`` until there are several)."""

from __future__ import annotations

from dataclasses import dataclass

from rag.errors import RagError
from rag.kb.knowledge_base import KnowledgeBase

DEFAULT_NAME = "default"


class UnknownKnowledgeBaseError(RagError):
    """A request named a knowledge base this server does not serve."""


@dataclass(frozen=True)
class Catalog:
    """Knowledge bases by name, in the order they are listed."""

    bases: dict[str, KnowledgeBase]

    def names(self) -> list[str]:
        """The names, as ``GET /v1/models`` and ``list_knowledge_bases`` list them."""
        return list(self.bases)

    def get(self, name: str | None) -> tuple[str, KnowledgeBase]:
        """One knowledge base by name (None or "": the first); UnknownKnowledgeBaseError otherwise."""
        wanted = (name or "").strip() or next(iter(self.bases))
        if wanted not in self.bases:
            raise UnknownKnowledgeBaseError(f"no knowledge base named {wanted!r}; this server has: "
                                            f"{', '.join(self.bases)}")
        return wanted, self.bases[wanted]

    def pick(self, names: str | None) -> tuple[str, KnowledgeBase]:
        """The knowledge base of a comma-separated ``model`` value; each name must exist.

        Until several knowledge bases exist, every name given must be the one served.
        """
        given = [n.strip() for n in (names or "").split(",") if n.strip()] or [next(iter(self.bases))]
        picked = [self.get(n) for n in dict.fromkeys(given)]
        if len(picked) > 1:
            raise UnknownKnowledgeBaseError("searching several knowledge bases at once is not supported yet; "
                                            "name one")
        return picked[0]
