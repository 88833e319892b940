"""What an index version holds of its knowledge base's curation: its words, the chunks turned off, the orphans.

A build reads the curation folder (``rag.store.curation_files``), lays each
override on the chunk of its article that has its exact text now
(``apply_overrides``), and keeps what it applied under the version's
``curation/``, so a loaded version searches as it was built, whatever the folder says now::

    vocabulary.json      the dictionary words and synonym groups the lexical leg was built with
    off.json             ids of the chunks turned off (no leg returns them)
    orphans.jsonl        overrides whose text no chunk of their article has any more (never applied)

A file is written only when it has something to say; a version without
``curation/`` is one of a knowledge base with nothing curated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class VersionCuration:
    """The curation an index version was built with (empty: nothing curated)."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    off: frozenset[int] = frozenset()  # chunk ids turned off
    orphans: tuple[Override, ...] = ()

    def counts(self) -> dict[str, int]:
        """What ``rag status`` counts: dictionary words, synonym groups, chunks turned off, orphaned overrides."""
        return {"dictionary_words": len(self.vocabulary.words), "synonym_groups": len(self.vocabulary.synonyms),
                "chunks_off": len(self.off), "orphaned_overrides": len(self.orphans)}


def apply_overrides(vocabulary: Vocabulary, chunks: Sequence[Chunk], overrides: Sequence[Override]) -> VersionCuration:
    """What a build keeps: its words, the chunks the overrides turn off (by article and exact text), the orphans.

    Two chunks of one article with the same text (rare) are both turned off.
    """
    by_text: dict[tuple[str, str], list[int]] = {}
    for c in chunks:
        by_text.setdefault((c.article, c.text), []).append(c.id)
    off: set[int] = set()
    orphans = []
    for o in overrides:
        ids = by_text.get(o.key)
        if not ids:
            orphans.append(o)
        elif o.off:
            off.update(ids)
    return VersionCuration(vocabulary, frozenset(off), tuple(orphans))


def write_curation(folder: Path, curation: VersionCuration) -> None:
    """Write a version's ``curation/`` files into ``folder`` (the version folder being written)."""
    parts = {}
    if not curation.vocabulary.empty:
        parts[VOCABULARY_FILE] = json_text(curation.vocabulary.to_json())
    if curation.off:
        parts[OFF_FILE] = json.dumps(sorted(curation.off))
    if curation.orphans:
        parts[ORPHANS_FILE] = "".join(json_text(override_to_json(o)) + "\n" for o in curation.orphans)
    for name, text in parts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


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
    return VersionCuration(vocabulary, off, orphans)


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
