"""A knowledge base's curation folder: the plain files a user reads, edits and backs up, typed.

``curation/`` beside the index folder (``kbs/NAME/curation/`` for a created
knowledge base; the setting ``curation_dir``) holds, each optional:

- ``dictionary.txt``: jieba user-dictionary lines, ``word [frequency] [tag]``;
- ``synonyms.txt``: one group a line, the first word the one kept.

A build reads them (``read_curation``) and records their hashes in the index
version; anything malformed is one ``CurationError`` naming the file and line,
and the index is left as it was. The hashes say when the index is stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CurationError
from rag.vocabulary import Vocabulary, parse_dictionary, parse_synonyms

DICTIONARY_FILE = "dictionary.txt"
SYNONYMS_FILE = "synonyms.txt"
CURATION_FILES = (DICTIONARY_FILE, SYNONYMS_FILE)
MAX_FILE_BYTES = 20 * 1024 * 1024  # a curation file past this is refused before it is read


@dataclass(frozen=True)
class Curation:
    """Everything a knowledge base's curation folder says, parsed and checked, with each file's hash."""

    folder: Path
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    hashes: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256 of its bytes (present files)


def read_text(path: Path) -> str | None:
    """A curation file's text (None when it is not there); CurationError when it is too big or not UTF-8."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CurationError(f"{path} cannot be read ({exc.strerror or exc})") from exc
    if size > MAX_FILE_BYTES:
        raise CurationError(f"{path} has {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} for a curation file")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CurationError(f"{path} is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8") from exc
    except OSError as exc:
        raise CurationError(f"{path} cannot be read ({exc.strerror or exc})") from exc


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of each curation file there is (what an index version records, to know when it is stale)."""
    hashes = {}
    for name in CURATION_FILES:
        try:
            hashes[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CurationError(f"{folder / name} cannot be read ({exc.strerror or exc})") from exc
    return hashes


def read_curation(folder: Path) -> Curation:
    """Parse and check every curation file of ``folder`` (a missing folder or file: nothing curated)."""
    texts = {name: read_text(folder / name) for name in CURATION_FILES}
    vocabulary = Vocabulary(parse_dictionary(texts[DICTIONARY_FILE] or "", str(folder / DICTIONARY_FILE)),
                            parse_synonyms(texts[SYNONYMS_FILE] or "", str(folder / SYNONYMS_FILE)))
    return Curation(folder, vocabulary, file_hashes(folder))
