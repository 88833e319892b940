"""What an index version holds of its knowledge base's curation: its words, the chunks turned off, the orphans.

A build reads the curation folder (``rag.store.curation_files``), lays each
override on the chunk of its article that has its exact text now
(``apply_overrides``), and keeps what it applied under the version's
``curation/``, so a loaded version searches as it was built, whatever the folder says now::

    vocabulary.json      the dictionary words and synonym groups the lexical leg was built with
    off.json             ids of the chunks turned off (no leg returns them)
    linked.jsonl         linked questions applied: {"chunk": id, "question": …}, one a line
    linked.npy           their vectors (float32, one row per line above, embedded as questions are)
    orphans.jsonl        overrides whose text no chunk of their article has any more (never applied)

A file is written only when it has something to say; a version without
``curation/`` is one of a knowledge base with nothing curated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import CurationError
from rag.records import Chunk
from rag.serialize import json_text
from rag.store.curation_files import Override, file_hashes, override_from_json, override_to_json
from rag.store.format import VERSIONS, Manifest
from rag.vocabulary import Vocabulary

CURATION_DIR = "curation"
VOCABULARY_FILE = f"{CURATION_DIR}/vocabulary.json"
OFF_FILE = f"{CURATION_DIR}/off.json"
ORPHANS_FILE = f"{CURATION_DIR}/orphans.jsonl"
LINKED_FILE = f"{CURATION_DIR}/linked.jsonl"
LINKED_VECTORS_FILE = f"{CURATION_DIR}/linked.npy"


@dataclass(frozen=True)
class LinkedQuestion:
    """A linked question applied to a chunk: one more dense key that finds that chunk."""

    chunk: int
    question: str


@dataclass(frozen=True)
class VersionCuration:
    """The curation an index version was built with (empty: nothing curated)."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    off: frozenset[int] = frozenset()  # chunk ids turned off
    orphans: tuple[Override, ...] = ()
    linked: tuple[LinkedQuestion, ...] = ()  # of chunks that are on, in the overrides' order
    # One row per linked question (query-side vectors); None until the build embeds them.
    linked_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)

    def counts(self) -> dict[str, int]:
        """What ``rag status`` counts: dictionary words, synonym groups, chunks off, linked questions, orphans."""
        return {"dictionary_words": len(self.vocabulary.words), "synonym_groups": len(self.vocabulary.synonyms),
                "chunks_off": len(self.off), "linked_questions": len(self.linked),
                "orphaned_overrides": len(self.orphans)}

    def questions_of(self, chunk_id: int) -> tuple[str, ...]:
        """The linked questions applied to a chunk."""
        return tuple(q.question for q in self.linked if q.chunk == chunk_id)

    def with_vectors(self, embed: Callable[[list[str]], np.ndarray]) -> VersionCuration:
        """This curation with its linked questions' vectors (``embed``: questions -> rows, through the cache)."""
        if not self.linked:
            return self
        return replace(self, linked_vectors=embed([q.question for q in self.linked]))


def apply_overrides(vocabulary: Vocabulary, chunks: Sequence[Chunk], overrides: Sequence[Override]) -> VersionCuration:
    """What a build keeps: its words, the chunks the overrides turn off (by article and exact text),
    the questions linked to chunks that are on, the orphans.

    Two chunks of one article with the same text (rare) are both turned off, and
    both carry its questions. A chunk turned off carries none.
    """
    by_text: dict[tuple[str, str], list[int]] = {}
    for c in chunks:
        by_text.setdefault((c.article, c.text), []).append(c.id)
    off: set[int] = set()
    orphans = []
    linked: list[LinkedQuestion] = []
    for o in overrides:
        ids = by_text.get(o.key)
        if not ids:
            orphans.append(o)
        elif o.off:
            off.update(ids)
        else:
            linked += [LinkedQuestion(i, q) for i in ids for q in o.questions]
    return VersionCuration(vocabulary, frozenset(off), tuple(orphans), tuple(linked))


def write_curation(folder: Path, curation: VersionCuration) -> None:
    """Write a version's ``curation/`` files into ``folder`` (the version folder being written)."""
    parts = {}
    if not curation.vocabulary.empty:
        parts[VOCABULARY_FILE] = json_text(curation.vocabulary.to_json())
    if curation.off:
        parts[OFF_FILE] = json.dumps(sorted(curation.off))
    if curation.orphans:
        parts[ORPHANS_FILE] = "".join(json_text(override_to_json(o)) + "\n" for o in curation.orphans)
    if curation.linked:
        if curation.linked_vectors is None or len(curation.linked_vectors) != len(curation.linked):
            raise ValueError("the linked questions must be embedded before their version is written")
        parts[LINKED_FILE] = "".join(json_text({"chunk": q.chunk, "question": q.question}) + "\n"
                                     for q in curation.linked)
    for name, text in parts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if curation.linked and curation.linked_vectors is not None:
        np.save(folder / LINKED_VECTORS_FILE, np.asarray(curation.linked_vectors, dtype=np.float32),
                allow_pickle=False)


def load_curation(path: Path, files: Mapping[str, Any]) -> VersionCuration:
    """A version's curation from its ``curation/`` files (``files``: the manifest's list; absent ones are empty).

    The files were checked against the manifest's checksums before this runs;
    ValueError, KeyError or OSError when one still does not read.
    """
    vocabulary = Vocabulary()
    if VOCABULARY_FILE in files:
        vocabulary = Vocabulary.from_json(json.loads((path / VOCABULARY_FILE).read_text(encoding="utf-8")))
    off: frozenset[int] = frozenset()
    if OFF_FILE in files:
        off = frozenset(int(i) for i in json.loads((path / OFF_FILE).read_text(encoding="utf-8")))
    orphans: tuple[Override, ...] = ()
    if ORPHANS_FILE in files:
        lines = (path / ORPHANS_FILE).read_text(encoding="utf-8").splitlines()
        orphans = tuple(override_from_json(json.loads(line)) for line in lines if line.strip())
    linked: tuple[LinkedQuestion, ...] = ()
    vectors = None
    if LINKED_FILE in files:
        lines = (path / LINKED_FILE).read_text(encoding="utf-8").splitlines()
        linked = tuple(LinkedQuestion(int(row["chunk"]), str(row["question"]))
                       for row in map(json.loads, filter(str.strip, lines)))
        vectors = np.load(path / LINKED_VECTORS_FILE, allow_pickle=False)
        if vectors.shape[0] != len(linked):
            raise ValueError(f"{LINKED_VECTORS_FILE} has {vectors.shape[0]} rows for {len(linked)} linked questions")
    return VersionCuration(vocabulary, off, orphans, linked, vectors)


def curation_status(index_dir: Path, manifest: Manifest, folder: Path) -> dict[str, Any]:
    """What ``rag status`` says of the curation: the folder, whether the index is stale, what it applied.

    ``state`` is "up to date", or that the folder's files changed since the
    build and the command that applies them.
    """
    try:
        stale = file_hashes(folder) != dict(manifest.curation)
        state = "changed since the index was built: run `rag index`" if stale else "up to date"
    except CurationError as exc:
        state = str(exc)
    try:
        counts = load_curation(index_dir / VERSIONS / manifest.version, manifest.files).counts()
    except (OSError, ValueError, KeyError, TypeError):
        counts = {}  # a damaged version: its health says so
    return {"folder": str(folder), "state": state, **counts}
