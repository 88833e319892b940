"""A knowledge base's curation folder: the plain files a user reads, edits and backs up, typed.

``curation/`` beside the index folder (``kbs/NAME/curation/`` for a created
knowledge base; the setting ``curation_dir``) holds, each optional:

- ``dictionary.txt``: jieba user-dictionary lines, ``word [frequency] [tag]``;
- ``synonyms.txt``: one group a line, the first word the one kept;
- ``overrides.jsonl``: one chunk a line, named by its article and exact text, turned off and/or
  carrying linked questions (extra questions that should find it):
  ``{"article": …, "text": …, "off": true, "questions": […], "updated_at": …}``
  (``rag chunks ARTICLE --off N``, ``--link N QUESTION``); ``questions`` may be absent (none).

A build reads them (``read_curation``) and records their hashes in the index
version; anything malformed is one ``CurationError`` naming the file and line,
and the index is left as it was. The hashes say when the index is stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import CurationError
from rag.files import write_atomically
from rag.serialize import json_text, parse_json
from rag.vocabulary import Vocabulary, parse_dictionary, parse_synonyms

DICTIONARY_FILE = "dictionary.txt"
SYNONYMS_FILE = "synonyms.txt"
OVERRIDES_FILE = "overrides.jsonl"
CURATION_FILES = (DICTIONARY_FILE, SYNONYMS_FILE, OVERRIDES_FILE)
MAX_FILE_BYTES = 20 * 1024 * 1024  # a curation file past this is refused before it is read
MAX_QUESTION_CHARS = 500  # a linked question is a question, not a passage


@dataclass(frozen=True)
class Override:
    """A chunk a user turned off or linked questions to, named by its article and its exact text, never by its id.

    When the article changes and no chunk has that text any more, the override is
    orphaned: listed (its questions too), never applied to other text.
    """

    article: str
    text: str
    off: bool = True
    updated_at: str = ""
    questions: tuple[str, ...] = ()  # linked questions: extra dense keys of the chunk (none while it is off)

    @property
    def key(self) -> tuple[str, str]:
        """(article, text): the chunk it belongs to."""
        return self.article, self.text


@dataclass(frozen=True)
class Curation:
    """Everything a knowledge base's curation folder says, parsed and checked, with each file's hash."""

    folder: Path
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    overrides: tuple[Override, ...] = ()
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
    overrides = tuple(_overrides(texts[OVERRIDES_FILE] or "", folder / OVERRIDES_FILE))
    return Curation(folder, vocabulary, overrides, file_hashes(folder))


def _overrides(text: str, path: Path) -> Iterator[Override]:
    """The overrides of ``overrides.jsonl``; CurationError naming the line of one that does not read."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield override_from_json(parse_json(line))
            except (ValueError, TypeError) as exc:
                raise CurationError(f"{path} line {number}: {exc}") from None


def override_from_json(data: Any) -> Override:
    """An override from its line; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a line must be a JSON object")
    for key in ("article", "text"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"{key} must be non-empty text")
    off = data.get("off", True)
    if not isinstance(off, bool):
        raise ValueError("off must be true or false")
    questions = data.get("questions", [])
    if not isinstance(questions, list):
        raise ValueError("questions must be a list of texts")
    for q in questions:
        check_question(q)
    return Override(data["article"], data["text"], off, str(data.get("updated_at", "")), tuple(questions))


def check_question(question: object) -> str:
    """A linked question as given, checked: non-empty text of at most MAX_QUESTION_CHARS; ValueError otherwise."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("a linked question must be non-empty text")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"a linked question has at most {MAX_QUESTION_CHARS} characters, not {len(question)}")
    return question


def override_to_json(o: Override) -> dict[str, Any]:
    """An override as its line of ``overrides.jsonl`` (``questions`` only when it has some: old readers agree)."""
    line: dict[str, Any] = {"article": o.article, "text": o.text, "off": o.off}
    if o.questions:
        line["questions"] = list(o.questions)
    line["updated_at"] = o.updated_at
    return line


def set_chunk_off(folder: Path, article: str, text: str, off: bool) -> None:
    """Turn the chunk of ``article`` with exactly ``text`` off (or back on) in ``overrides.jsonl``.

    Turning a chunk on drops its line unless it carries linked questions; the
    file is rewritten in one rename.
    """
    _change(folder, article, text, lambda o: replace(o, off=off))


def link_question(folder: Path, article: str, text: str, question: str, linked: bool = True) -> None:
    """Link ``question`` to the chunk of ``article`` with exactly ``text`` (``linked=False``: unlink it).

    ValueError when the question is not a question (empty, too long); linking
    one already linked, or unlinking one that is not, changes nothing.
    """
    question = check_question(question).strip()
    _change(folder, article, text, lambda o: replace(
        o, questions=tuple(q for q in o.questions if q != question) + ((question,) if linked else ())))


def _change(folder: Path, article: str, text: str, change: Callable[[Override], Override]) -> None:
    """Rewrite the override of (article, text) (a new one starts on, without questions), in its place in the file.

    An override that says nothing (on, no questions) is dropped.
    """
    path = folder / OVERRIDES_FILE
    overrides = list(_overrides(read_text(path) or "", path))
    place = next((i for i, o in enumerate(overrides) if o.key == (article, text)), None)
    old = overrides[place] if place is not None else Override(article, text, off=False)
    new = change(old)
    if new == old:
        return
    new = replace(new, updated_at=datetime.now(UTC).isoformat(timespec="seconds"))
    if place is None:
        overrides.append(new)
    else:
        overrides[place] = new
    kept = [o for o in overrides if o.off or o.questions]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(path, "".join(json_text(override_to_json(o)) + "\n" for o in kept))


def write_words(folder: Path, dictionary: str, synonyms: str) -> dict[str, str | None]:
    """Write ``dictionary.txt`` and ``synonyms.txt`` after checking them as a build does; return what they held.

    CurationError naming the file and line when one does not read (nothing is
    written then). An empty text removes its file. The returned texts (None: no
    file) put them back (``restore_files``) when the build that follows refuses them.
    """
    limit = MAX_FILE_BYTES
    for name, text in ((DICTIONARY_FILE, dictionary), (SYNONYMS_FILE, synonyms)):
        if len(text.encode("utf-8", "surrogatepass")) > limit:
            raise CurationError(f"{folder / name} would be over the limit of {limit:,} bytes for a curation file")
    parse_dictionary(dictionary, str(folder / DICTIONARY_FILE))
    parse_synonyms(synonyms, str(folder / SYNONYMS_FILE))
    before = {name: read_text(folder / name) for name in (DICTIONARY_FILE, SYNONYMS_FILE)}
    restore_files(folder, {DICTIONARY_FILE: dictionary or None, SYNONYMS_FILE: synonyms or None})
    return before


def restore_files(folder: Path, texts: dict[str, str | None]) -> None:
    """Write each curation file ``texts`` names (None or empty: remove it), each in one rename."""
    for name, text in texts.items():
        path = folder / name
        if text and text.strip():
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text)
        else:
            path.unlink(missing_ok=True)
