"""An article's chunks as ``rag chunks`` shows them, turning one off or back on, linking questions to one.

A chunk is turned off by an override in the knowledge base's curation folder,
named by its article and exact text (``rag.store.curation_files``); the build
that follows applies it (``rag.store.curation``), so no leg returns that chunk,
the reader never reads it and no answer cites it. When the article changes and
no chunk has that text any more, the override is orphaned: listed here and
counted by ``rag status``, never applied to other text.

A linked question is one more question that should find its chunk: the build
embeds it and the dense leg takes the best of the chunk's own vector and its
linked questions (``rag.search.linked``). A chunk turned off keeps its links in
the file, but they apply only while it is on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import CurationError, RagError
from rag.store.build import BuildReport
from rag.store.curation_files import OVERRIDES_FILE, Override, link_question, read_text, restore_files, set_chunk_off
from rag.store.versions import IndexVersion

if TYPE_CHECKING:
    from rag.kb.knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class ChunkRow:
    """One chunk of an article: its number in the article (what ``--off N`` takes), id, place, size, state."""

    n: int
    id: int
    paragraphs: tuple[int, ...]
    sentences: int
    chars: int
    off: bool
    text: str
    questions: tuple[str, ...] = ()  # the linked questions applied to it

    @property
    def paragraph_range(self) -> str:
        """Its paragraphs for people: ``4`` or ``4-5``."""
        first, last = self.paragraphs[0], self.paragraphs[-1]
        return str(first) if first == last else f"{first}-{last}"

    def to_json(self) -> dict[str, Any]:
        """Its row of ``rag chunks --json``."""
        return {**asdict(self), "paragraphs": list(self.paragraphs), "questions": list(self.questions)}


@dataclass(frozen=True)
class ArticleChunks:
    """An article's chunks in order, and the overrides of it that no chunk has the text of any more."""

    article: str
    title: str
    chunks: tuple[ChunkRow, ...]
    orphans: tuple[str, ...]  # the texts of its orphaned overrides
    orphaned: tuple[Override, ...] = ()  # those overrides whole (their linked questions, never applied)

    def chunk(self, n: int) -> ChunkRow:
        """Chunk ``n`` (from 1); CurationError naming the numbers there are."""
        if not 1 <= n <= len(self.chunks):
            raise CurationError(f"{self.article} has chunks 1-{len(self.chunks)}, not {n}: "
                                f"`rag chunks {self.article}` lists them")
        return self.chunks[n - 1]

    def to_json(self) -> dict[str, Any]:
        """``rag chunks --json``."""
        return {"article": self.article, "title": self.title, "chunks": [c.to_json() for c in self.chunks],
                "orphaned_overrides": list(self.orphans),
                "orphaned_questions": [{"text": o.text, "questions": list(o.questions)}
                                       for o in self.orphaned if o.questions]}


def article_chunks(version: IndexVersion, article: str) -> ArticleChunks:
    """The chunks of ``article`` (its path in the corpus) in an index version; CurationError when it holds none."""
    span = version.chunk_range(article)
    if span is None:
        known = ", ".join(list(version.articles)[:5])
        raise CurationError(f"{article!r} is not in the index (its articles include: {known}); give an article's "
                            "path inside the corpus folder")
    curation = version.curation
    rows = tuple(ChunkRow(n, c.id, c.paragraphs, len(c.sentence_ids), len(c.text), c.id in curation.off, c.text,
                          curation.questions_of(c.id))
                 for n, c in enumerate((version.chunks[i] for i in range(*span)), start=1))
    orphaned = tuple(o for o in curation.orphans if o.article == article)
    return ArticleChunks(article, version.articles[article].title, rows, tuple(o.text for o in orphaned), orphaned)


def turn_chunk(kb: KnowledgeBase, article: str, n: int, off: bool) -> tuple[ChunkRow, BuildReport]:
    """Turn chunk ``n`` of ``article`` off (or back on) in the curation folder, then build to apply it."""
    row = article_chunks(kb.version(), article).chunk(n)
    before = read_text(kb.settings.curation_root / OVERRIDES_FILE)
    set_chunk_off(kb.settings.curation_root, article, row.text, off)
    return row, _build_or_restore(kb, before)



def link_chunk(kb: KnowledgeBase, article: str, n: int, question: str,
               linked: bool = True) -> tuple[ChunkRow, BuildReport]:
    """Link ``question`` to chunk ``n`` of ``article`` (``linked=False``: unlink it), then build to apply it.

    CurationError when the question is empty or too long; the build embeds only
    questions the embedding cache lacks.
    """
    row = article_chunks(kb.version(), article).chunk(n)
    before = read_text(kb.settings.curation_root / OVERRIDES_FILE)
    try:
        link_question(kb.settings.curation_root, article, row.text, question, linked)
    except ValueError as exc:
        raise CurationError(f"{exc}: give the question in quotes, e.g. "
                            f"`rag chunks {article} --link {n} \"…？\"`") from None
    return row, _build_or_restore(kb, before)


def _build_or_restore(kb: KnowledgeBase, overrides: str | None) -> BuildReport:
    """Build to apply a change of ``overrides.jsonl``; when the build refuses it, put back the file's ``overrides``.

    So a refused change (a link on Milvus's own hybrid search, a build already
    running) leaves the folder as it was, not a file the index does not match.
    """
    try:
        return kb.build()
    except RagError:
        restore_files(kb.settings.curation_root, {OVERRIDES_FILE: overrides})
        raise
