"""Named errors: each one is something a user can act on.

The CLI turns every ``RagError`` into a one-line message (no traceback); the
browser shows it as a notice. Messages say what was wrong, with the value, and
what to do next.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class for errors a user can act on."""


class SettingsError(RagError):
    """A setting has an invalid value or the settings file cannot be read."""


class ArticleError(RagError):
    """An article cannot be used: empty, binary, undecodable, too large, unsupported."""


class IndexMissingError(RagError):
    """No index has been built in the index folder yet."""


class IndexCorruptError(RagError):
    """The index on disk is incomplete, damaged or edited by hand."""


class IndexMismatchError(RagError):
    """The index was built with other settings (model, format, chunking) than asked for."""


class IndexLockedError(RagError):
    """Another build holds the index lock."""


class IndexReadOnlyError(RagError):
    """The index folder cannot be written (questions still work; building does not)."""


class IndexFolderError(RagError):
    """The folder given as the index folder holds files and is not an index: a build would write among them."""


class ModelError(RagError):
    """The embedding model cannot be prepared or loaded."""


class KnowledgeBaseError(RagError):
    """A knowledge base that does not exist, a name that cannot be one, or one that cannot be deleted."""


class QuestionError(RagError):
    """A question cannot be asked: too long, or limited to articles that are not indexed."""


class QuestionSetError(RagError):
    """A question set cannot be read or holds no valid question."""


class EndpointError(RagError):
    """The OpenAI-compatible chat endpoint failed, timed out or answered badly."""


class StoreError(RagError):
    """The vector store (FAISS files or Milvus) cannot be reached or used."""


class CurationError(RagError):
    """A curation file (dictionary, synonyms, chunk overrides) or an edit of one cannot be used."""
