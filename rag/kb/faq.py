"""A knowledge base's FAQ: importing, listing and deleting entries, and matching a question before the articles.

The entries live in ``curation/faq.jsonl`` (``rag.store.faq_files``). Their
questions are embedded once (as queries) and kept in the embedding cache under
their own encoder label, so the article build's clean-up never drops them; the
matrix of one version of the file is kept in memory until the file changes
(its size and modification time). The match (``rag.search.faq``) is a product
with that small matrix: it works the same whichever store holds the articles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import CurationError
from rag.ingest.faq_import import FaqRows, faq_rows_from_json, read_faq_rows
from rag.records import FaqEntry
from rag.search.faq import FaqMatch, FaqMatcher
from rag.store.faq_files import FAQ_FILE, add_entries, delete_entry, entry_to_json, read_faq

__all__ = ["FaqBook", "FaqImport", "entry_to_json", "faq_decision", "faq_status"]
from rag.trace import FaqDecision

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder
    from rag.settings import Settings

FAQ_CACHE_LABEL = "#faq-questions"  # appended to the encoder identity in the embedding cache


@dataclass(frozen=True)
class FaqImport:
    """What ``rag faq import`` did: entries added, entries whose answer was replaced, rows skipped (one line each)."""

    added: tuple[FaqEntry, ...]
    updated: tuple[FaqEntry, ...]
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """``rag faq import --json`` and the API's answer."""
        return {"added": [entry_to_json(e) for e in self.added], "updated": [entry_to_json(e) for e in self.updated],
                "problems": list(self.problems)}


def faq_status(settings: Settings) -> dict[str, Any]:
    """What ``rag status`` says of the FAQ: ``faq_entries``, or ``faq_error`` when the file does not read."""
    try:
        return {"faq_entries": len(read_faq(settings.curation_root))}
    except CurationError as exc:
        return {"faq_entries": 0, "faq_error": str(exc)}


class FaqBook:
    """The FAQ of one knowledge base: its entries, imports and deletions, and its matcher.

    The matcher is rebuilt when ``faq.jsonl`` changes.
    """

    def __init__(self, settings: Settings, encoder: Callable[[], Encoder]):
        """``settings``: its curation folder, the embedding cache, the threshold and the lexical weight.

        ``encoder``: the knowledge base's encoder, loaded on first use.
        """
        self.settings = settings
        self._encoder = encoder
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._matcher: FaqMatcher | None = None

    def entries(self) -> tuple[FaqEntry, ...]:
        """The entries, in the file's order."""
        return read_faq(self.settings.curation_root)

    def import_file(self, path: Path) -> FaqImport:
        """Add the rows of a CSV, XLSX or JSONL file (a question already there gets the new answer)."""
        return self.import_rows(read_faq_rows(path))

    def import_json(self, items: Sequence[Any]) -> FaqImport:
        """Add entries given as JSON objects (question, answer, optional source), checked like a file's rows."""
        return self.import_rows(faq_rows_from_json(items))

    def import_rows(self, rows: FaqRows) -> FaqImport:
        """Add rows already read (``read_faq_rows``, or the API's JSON); the new questions are embedded here, once."""
        added, updated = add_entries(self.settings.curation_root,
                                     [(r.question, r.answer, r.source) for r in rows.rows])
        if added or updated:
            self.matcher()
        return FaqImport(tuple(added), tuple(updated), rows.problems)

    def delete(self, entry_id: str) -> FaqEntry:
        """Delete an entry by its id; CurationError naming ``rag faq list`` when there is none."""
        return delete_entry(self.settings.curation_root, entry_id)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.settings.curation_root / FAQ_FILE).stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def has_entries(self) -> bool:
        """True when there is an FAQ file with something in it (a stat, nothing read)."""
        stamp = self._file_stamp()
        return stamp is not None and stamp[1] > 0

    def matcher(self) -> FaqMatcher:
        """The matcher over the FAQ as it is now, its question vectors from the cache or embedded once."""
        with self._lock:
            stamp = self._file_stamp()
            if self._matcher is None or stamp != self._stamp:
                entries = self.entries()
                vectors = self._vectors(self._encoder(), entries)
                self._matcher = FaqMatcher(entries, vectors, self.settings.faq_threshold,
                                           self.settings.faq_lexical_weight)
                self._stamp = stamp
            return self._matcher

    def _vectors(self, encoder: Encoder, entries: tuple[FaqEntry, ...]) -> np.ndarray:
        from rag.embed.cache import EmbeddingCache, text_key

        if not entries:
            return np.zeros((0, encoder.dimension), dtype=np.float32)
        label = encoder.identity + FAQ_CACHE_LABEL
        keys = [text_key("query", e.question) for e in entries]
        cache = EmbeddingCache(self.settings.embedding_cache_path)
        try:
            found = cache.get_many(label, keys)
            missing = [i for i, k in enumerate(keys) if k not in found]
            if missing:
                fresh = encoder.encode_queries([entries[i].question for i in missing])
                cache.put_many(label, [(keys[i], v) for i, v in zip(missing, fresh, strict=True)])
                found.update({keys[i]: v for i, v in zip(missing, fresh, strict=True)})
            cache.keep_only(label, set(keys))  # a deleted entry's question does not linger
        finally:
            cache.close()
        return np.stack([found[k] for k in keys])


def faq_decision(match: FaqMatch, matcher: FaqMatcher) -> FaqDecision:
    """The FAQ step as the explanation records it."""
    e = match.entry
    return FaqDecision(len(matcher.entries), None if e is None else e.id, None if e is None else e.question,
                       match.dense, match.lexical, match.score, match.threshold, matcher.lexical_weight, match.matched)
