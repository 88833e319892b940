"""What an index version holds of its knowledge base's curation: the words its lexical leg was built with.

A build reads the curation folder (``rag.store.curation_files``) and keeps what
it applied under the version's ``curation/``, so a loaded version searches with
the words it was built with, whatever the folder says now::

    vocabulary.json      the dictionary words and synonym groups the lexical leg was built with

A file is written only when it has something to say; a version without
``curation/`` is one of a knowledge base with nothing curated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import CurationError
from rag.serialize import json_text
from rag.store.curation_files import file_hashes
from rag.store.format import VERSIONS, Manifest
from rag.vocabulary import Vocabulary

CURATION_DIR = "curation"
VOCABULARY_FILE = f"{CURATION_DIR}/vocabulary.json"


@dataclass(frozen=True)
class VersionCuration:
    """The curation an index version was built with (empty: nothing curated)."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary)

    def counts(self) -> dict[str, int]:
        """What ``rag status`` counts: dictionary words and synonym groups."""
        return {"dictionary_words": len(self.vocabulary.words), "synonym_groups": len(self.vocabulary.synonyms)}


def write_curation(folder: Path, curation: VersionCuration) -> None:
    """Write a version's ``curation/`` files into ``folder`` (the version folder being written)."""
    if not curation.vocabulary.empty:
        path = folder / VOCABULARY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json_text(curation.vocabulary.to_json()), encoding="utf-8")


def load_curation(path: Path, files: Mapping[str, Any]) -> VersionCuration:
    """A version's curation from its ``curation/`` files (``files``: the manifest's list; absent ones are empty).

    The files were checked against the manifest's checksums before this runs;
    ValueError, KeyError or OSError when one still does not read.
    """
    vocabulary = Vocabulary()
    if VOCABULARY_FILE in files:
        vocabulary = Vocabulary.from_json(json.loads((path / VOCABULARY_FILE).read_text(encoding="utf-8")))
    return VersionCuration(vocabulary)


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
