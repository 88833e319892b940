"""A knowledge base's own words as the page edits them: its dictionary and synonym groups, saved and applied.

The texts are those of ``dictionary.txt`` and ``synonyms.txt`` in its curation
folder (``rag.store.curation_files``). Saving checks them with the code a build
uses (a line jieba cannot read, a group of one word: one CurationError naming
the line, nothing written), writes them, then builds: the lexical leg is cut
again with the new words and nothing is embedded, as ``rag index`` does after
the files are edited by hand. A build that refuses them (a Milvus store cuts
words with its own analyzer) puts the old files back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.store.build import BuildReport
from rag.store.curation_files import DICTIONARY_FILE, SYNONYMS_FILE, read_text, restore_files, write_words

if TYPE_CHECKING:
    from rag.kb.knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class Words:
    """A knowledge base's dictionary and synonyms files as text (empty: no file)."""

    dictionary: str
    synonyms: str


def knowledge_base_words(kb: KnowledgeBase) -> Words:
    """The dictionary and synonyms of ``kb`` as their files say now."""
    folder = kb.settings.curation_root
    return Words(read_text(folder / DICTIONARY_FILE) or "", read_text(folder / SYNONYMS_FILE) or "")


def save_words(kb: KnowledgeBase, dictionary: str, synonyms: str) -> BuildReport:
    """Check and write ``kb``'s dictionary and synonyms, then build (the lexical leg only); all or nothing."""
    folder = kb.settings.curation_root
    before = write_words(folder, dictionary, synonyms)
    try:
        return kb.build()
    except RagError:
        restore_files(folder, before)
        raise
