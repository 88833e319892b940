"""What keeps one hostile file cheap: the extraction limits, and the guard that names a file's failure.

The settings bound an article's size on disk (``max_article_bytes``) and the
characters extracted from it (``max_extracted_chars``); what a small file can
expand to inside an extractor is bounded here. Past a limit a file is refused
with a one-line ``ArticleError`` that names it, or (HTML) read in a simpler way;
the rest of the corpus is indexed either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import ArticleError
from rag.text import one_line as one_line  # (kept here for the extractors)

MB = 1024 * 1024

# A .docx is a zip. Its member list states every member's uncompressed size, so
# a bomb is refused before one byte is inflated: python-docx (a DOM over the
# whole document.xml) peaked at 628 MB for a 340 KB file and 3.1 GB for a 1.6 MB
# one. A .docx under the 20 MB article limit holds images (which barely
# compress) and XML that deflates 5-10 fold, far below these.
DOCX_MAX_EXPANDED_BYTES = 50 * MB
DOCX_MAX_MEMBERS = 10_000  # a Word file holds tens, a few hundred with many images
DOCX_MAX_RATIO = 100  # uncompressed / compressed, checked on members past DOCX_RATIO_FROM_BYTES
DOCX_RATIO_FROM_BYTES = 1 * MB

# libxml2 (lxml's HTML parser) drops everything nested deeper than 255
# elements, silently: a page of 10,000 nested <div>s lost all its text. And
# trafilatura's work on the tree costs about 1.5 KB per element (measured:
# 100k elements 194 MB, 200k 350 MB, 625k 1 GB). Past either limit the page's
# text is taken by a flat scan instead (``rag.ingest.html_text``).
HTML_MAX_DEPTH = 200
HTML_MAX_ELEMENTS = 100_000

# Paragraphs (blocks between blank lines; a .docx's paragraphs and table rows) in one article. A long
# book has some tens of thousands; a .docx of 600,000 one-word paragraphs took 9 s to read here (18.5 s
# on a slower machine) only to fail as "headings but no paragraphs". Past this the file is refused as
# soon as the count is passed.
MAX_PARAGRAPHS = 100_000


def too_many_paragraphs(name: str) -> ArticleError:
    """The error for a file with more than ``MAX_PARAGRAPHS`` paragraphs."""
    return ArticleError(f"{name}: more than {MAX_PARAGRAPHS:,} paragraphs (a limit of this project); "
                        "split the document")


def too_much_text(name: str, max_chars: int, count: int | None = None) -> ArticleError:
    """The error for a file whose text passes ``max_extracted_chars`` (``count``: how much, when known)."""
    amount = f"{count:,} characters is" if count is not None else "its text is"
    return ArticleError(f"{name}: {amount} over the limit of {max_chars:,} (setting max_extracted_chars); "
                        "split the document")


@contextmanager
def third_party(name: str, what: str, fix: str) -> Iterator[None]:
    """Turn whatever a third-party extractor raises inside the block into this file's ArticleError.

    Parsers of damaged files raise anything (KeyError, struct.error,
    AssertionError, …); each is a reason to skip this file, never a reason to
    stop the build. ``what`` says what failed (e.g. "not a readable PDF"),
    ``fix`` what to do; the message carries the exception's type.
    """
    try:
        yield
    except ArticleError:
        raise
    except Exception as exc:  # a damaged file may make a library raise anything
        raise ArticleError(one_line(f"{name}: {what} ({type(exc).__name__}: {exc}); {fix}")) from exc
