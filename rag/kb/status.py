"""What the door tells about a knowledge base, as typed records: its index's status and its summary.

``IndexStatus`` is ``rag status`` (and ``GET /api/status``): its JSON keeps the
keys those printed before (keys only grow); the page reads its fields. A store's
own details (Milvus: address, alias, rows) ride in ``store_details``.
``BaseSummary`` is one row of ``rag kb list``, read from the manifest alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class AnswerStatus:
    """The answer settings ``rag status`` shows, with the reading model's identity (or why it cannot load)."""

    answer_mode: str
    short_answers: bool
    reader: str
    reader_chunks: int
    refusal_threshold: float
    reader_refusal_threshold: float
    reader_null_weight: float
    reader_mismatch_weight: float


@dataclass(frozen=True)
class IndexStatus:
    """The current index of one knowledge base: version, model, counts, build time, health, store, answers."""

    index_dir: str
    version: str
    built_at: str
    model: str
    encoder: str
    dimension: int
    chunking: dict[str, int]
    dense_index: str
    articles: int
    chunks: int
    sentences: int
    health: str  # "ok", or what is damaged and the fix
    store: str
    answers: AnswerStatus
    models_dir: str = ""  # where the models were found (the set-up puts them in the user's data folder)
    store_details: dict[str, Any] = field(default_factory=dict)  # Milvus: milvus_uri, milvus_collection, …
    # the curation folder (rag.store.curation.curation_status): folder, state, words and groups applied
    curation: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """True when nothing in the current version is damaged."""
        return self.health == "ok"

    @property
    def built_at_shown(self) -> str:
        """The build time for people: ``2026-01-02 03:04:05 UTC``."""
        return self.built_at.replace("T", " ").replace("+00:00", " UTC")

    def to_json(self) -> dict[str, Any]:
        """``rag status --json``: the keys it always had, in their order, then the store's and the answers'."""
        data = {key: value for key, value in asdict(self).items()
                if key not in ("answers", "store_details", "models_dir", "curation")}
        return {**data, "models_dir": self.models_dir, **self.store_details, **asdict(self.answers),
                "curation": self.curation}


@dataclass(frozen=True)
class BaseSummary:
    """One knowledge base as ``rag kb list`` shows it (``error``: why its manifest cannot be read)."""

    name: str
    corpus_dir: str
    index_dir: str
    articles: int = 0
    chunks: int = 0
    built_at: str | None = None
    store: str = "faiss"
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``rag kb list --json``'s row (``error`` only when there is one)."""
        data = asdict(self)
        if data["error"] is None:
            del data["error"]
        return data
