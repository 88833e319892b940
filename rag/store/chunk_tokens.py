"""Each chunk's lexical tokens at a build: cut anew, or reused from the current version, and linked questions'.

Tokenising every chunk again is most of a build that only applies curation
(jieba cutting), so a chunk whose text the current version already cut with the
same words takes its tokens from there. A chunk with linked questions has their
words in its lexical document too (``with_linked_tokens``); those chunks are
never reused, so unlinking a question takes its words out again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from rag.files import file_sha256
from rag.records import Chunk
from rag.settings import Settings
from rag.store.curation import LINKED_FILE, LinkedQuestion
from rag.store.current import current_version
from rag.store.format import CHUNKS_FILE, LEXICAL_DIR, VERSIONS, Manifest
from rag.store.lexical import TOKENS_FILE, saved_tokens
from rag.vocabulary import Vocabulary

log = logging.getLogger(__name__)


def context_tokens(chunks: Sequence[Chunk], settings: Settings,
                   vocabulary: Vocabulary | None = None) -> list[list[str]] | None:
    """Per chunk, the lexical tokens of its title and section (None when context is off)."""
    vocabulary = vocabulary or Vocabulary()
    if not settings.chunk_context:
        return None
    cache: dict[tuple[str, str], list[str]] = {}
    out = []
    for c in chunks:
        key = (c.title, c.section)
        if key not in cache:
            cache[key] = vocabulary.lexical_tokens(f"{c.title} {c.section}")
        out.append(cache[key])
    return out


def chunk_lexical_tokens(chunks: Sequence[Chunk], index_dir: Path | None = None, manifest: Manifest | None = None,
                         vocabulary: Vocabulary | None = None) -> list[list[str]]:
    """Each chunk's lexical tokens, reusing those of the current version in ``index_dir`` for known text.

    ``manifest``: the current version's. The reused tokens are read only when
    the version's files match its checksums and it was cut with the same words
    (``vocabulary``: the knowledge base's; none: the built-in ones); anything else is tokenised afresh.
    """
    vocabulary = vocabulary or Vocabulary()
    known = {}
    if index_dir is not None and manifest is not None and manifest.tokenizer == vocabulary.identity:
        known = _indexed_tokens(index_dir, manifest)
    return [known[c.text] if c.text in known else vocabulary.lexical_tokens(c.text) for c in chunks]


def _indexed_tokens(index_dir: Path, manifest: Manifest) -> dict[str, list[str]]:
    """Chunk text → tokens of the current version (empty when it has none or they cannot be trusted)."""
    name = current_version(index_dir)
    if name is None:
        return {}
    folder = index_dir / VERSIONS / name
    try:
        for fname in (CHUNKS_FILE, f"{LEXICAL_DIR}/{TOKENS_FILE}"):
            info = manifest.files.get(fname)
            if info is None or file_sha256(folder / fname) != info.sha256:
                return {}  # an older index without tokens, or a damaged one: tokenise again
        tokens = saved_tokens(folder / LEXICAL_DIR)
        with (folder / CHUNKS_FILE).open(encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh if line.strip()]
        linked = _linked_chunks(folder, manifest)  # their tokens hold their questions' words too
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot reuse the lexical tokens of %s (%s): tokenising every chunk", folder, exc)
        return {}
    if tokens is None or len(tokens) != len(texts):
        return {}
    return {text: t for i, (text, t) in enumerate(zip(texts, tokens, strict=True)) if i not in linked}


def _linked_chunks(folder: Path, manifest: Manifest) -> set[int]:
    """Ids of the chunks that carried linked questions in the version at ``folder``."""
    if LINKED_FILE not in manifest.files:
        return set()
    lines = (folder / LINKED_FILE).read_text(encoding="utf-8").splitlines()
    return {int(json.loads(line)["chunk"]) for line in lines if line.strip()}


def with_linked_tokens(tokens: list[list[str]], linked: Sequence[LinkedQuestion],
                       vocabulary: Vocabulary) -> list[list[str]]:
    """Each chunk's tokens followed by those of its linked questions (the lexical leg finds it by them too).

    >>> from rag.store.curation import LinkedQuestion
    >>> with_linked_tokens([["深圳"], ["算力"]], [LinkedQuestion(1, "算力有多大")], Vocabulary())
    [['深圳'], ['算力', '算力', '大']]
    """
    if not linked:
        return tokens
    out = list(tokens)
    for q in linked:
        out[q.chunk] = out[q.chunk] + vocabulary.lexical_tokens(q.question)
    return out
