"""Text out of .html, .docx and .pdf files, as Markdown-like text with paragraphs.

The extracted text is what the index stores and what offsets point into:
paragraphs are separated by blank lines, headings become ``#`` lines, and for
PDF the offset where each page starts is kept so citations can name the page.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rag.errors import ArticleError
from rag.ingest.decode import decode_bytes
from rag.ingest.garble import language_problem
from rag.ingest.limits import one_line, third_party, too_much_text
from rag.text import SENTENCE_END

log = logging.getLogger(__name__)

_BOILERPLATE_TAGS = ("script", "style", "nav", "footer", "header", "aside", "form", "noscript")
# lxml refuses a str that declares its encoding; the bytes were decoded already.
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*>")
# A PDF's text layer can map glyphs to lone surrogates; they cannot be encoded, stored or tokenised.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
READ_AGAIN_PDF = "save it again or print it to a new PDF"


@dataclass(frozen=True)
class ExtractedDocument:
    """Text extracted from a document, with page start offsets for paginated formats."""

    text: str
    source_format: str
    page_starts: list[int] | None = None


def extract_document(data: bytes, suffix: str, name: str, max_chars: int = 10_000_000,
                     max_pdf_pages: int = 2000) -> ExtractedDocument:
    """Extract the main text of an .html/.htm, .docx or .pdf file; raise ArticleError when it has none.

    ``max_chars`` (the setting ``max_extracted_chars``) stops a .docx or .pdf
    as soon as its text passes it; a PDF of more than ``max_pdf_pages`` pages
    (the setting) is refused before a page is read. Text that does not read as
    language (a broken font map, ``rag.ingest.garble``) is refused too.
    Whatever an extraction library raises on a damaged file is this file's ArticleError.
    """
    if suffix in (".html", ".htm"):
        doc = ExtractedDocument(_extract_html(data, name), "html")
    elif suffix == ".docx":
        from rag.ingest.docx_text import docx_text

        doc = ExtractedDocument(docx_text(data, name, max_chars), "docx")
    elif suffix == ".pdf":
        text, pages = _extract_pdf(data, name, max_chars, max_pdf_pages)
        doc = ExtractedDocument(text, "pdf", pages)
    else:
        raise ArticleError(f"{name}: no text extractor for {suffix}")
    if not doc.text.strip():
        raise ArticleError(f"{name}: no text could be extracted from this {suffix} file")
    if _LONE_SURROGATE.search(doc.text):
        doc = ExtractedDocument(_LONE_SURROGATE.sub("\ufffd", doc.text), doc.source_format, doc.page_starts)
    problem = language_problem(doc.text)
    if problem is not None:
        fix = ("its fonts' ToUnicode maps are broken: run OCR on it, or export it again" if suffix == ".pdf"
               else "its characters are not what its fonts show: save it again from the program that made it")
        raise ArticleError(one_line(f"{name}: the text does not read as language: {problem}; {fix}"))
    return doc


def _extract_html(data: bytes, name: str) -> str:
    from rag.ingest.html_text import flat_html, html_shape_problem

    html, _ = decode_bytes(data, name)
    problem = html_shape_problem(html)
    if problem is None:
        page_title, headings, lines = _html_main_text(_XML_DECLARATION.sub("", html, count=1), name)
    else:
        log.info("%s: %s; its text is read without lxml (menus and footers are kept)", name, problem)
        flat = flat_html(html)
        page_title, headings, lines = flat.title, flat.headings, flat.lines
    title = next((t for t, lvl in headings.items() if lvl == 1), None) or page_title
    blocks: list[str] = []
    if title and title not in lines:
        blocks.append(f"# {title}")
    for line in lines:
        line = line.strip()
        if not line:
            continue
        heading_level = headings.get(line)
        blocks.append(f"{'#' * heading_level} {line}" if heading_level else line)
    return "\n\n".join(blocks) + "\n"


def _html_main_text(html: str, name: str) -> tuple[str | None, dict[str, int], list[str]]:
    """The page's <title>, its headings by text (level), and the lines of its main text (trafilatura)."""
    import lxml.html
    import trafilatura

    with third_party(name, "not a readable HTML document", "save it again as UTF-8 HTML"):
        tree = lxml.html.fromstring(html)
    with third_party(name, "its HTML could not be read", "save it again as UTF-8 HTML"):
        headings: dict[str, int] = {}
        for level in range(1, 7):
            for el in tree.iter(f"h{level}"):
                text = " ".join(el.text_content().split())
                if text:
                    headings.setdefault(text, level)
        found = tree.findtext(".//title")
        page_title = " ".join(found.split()) if found else None
        # trafilatura keeps the main text and drops menus, footers and the like.
        main = trafilatura.extract(html, output_format="txt", include_comments=False, include_tables=True,
                                   favor_precision=True)
        if not main:
            for bad in tree.xpath("|".join(f"//{t}" for t in _BOILERPLATE_TAGS)):
                bad.drop_tree()
            main = "\n".join(" ".join(p.text_content().split()) for p in tree.iter("p", "li", "h1", "h2", "h3"))
    return page_title, headings, main.splitlines()


def _extract_pdf(data: bytes, name: str, max_chars: int, max_pages: int) -> tuple[str, list[int]]:
    """The text of each page, rejoined into paragraphs, and the offset where each page starts.

    pypdf's own limits (e.g. 75 MB out of one FlateDecode stream, 2 million
    tokens in one content stream) raise LimitReachedError; that, and whatever a
    damaged file makes pypdf raise, is this file's error. Pages stop being read
    once the text passes ``max_chars``; past ``max_pages`` pages none is read (a
    20,000-page PDF took 218 s).
    """
    import pypdf

    with _pdf_errors(name, "the PDF"):
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ArticleError(f"{name}: the PDF is password-protected; save a copy without a password")
        count = len(reader.pages)
    if count > max_pages:
        raise ArticleError(f"{name}: {count:,} pages is over the limit of {max_pages:,} (setting max_pdf_pages); "
                           "split the PDF or raise the limit")
    text = ""
    page_starts: list[int] = []
    for number in range(count):
        with _pdf_errors(name, f"page {number + 1} of the PDF"):
            page_text = reader.pages[number].extract_text() or ""
        if text:
            text += "\n\n"
        page_starts.append(len(text))
        text += _pdf_paragraphs(page_text)
        if len(text) > max_chars:
            raise too_much_text(name, max_chars)
    if not text.strip():
        raise ArticleError(f"{name}: the PDF has no text layer (a scan?); run OCR on it first")
    return text + "\n", page_starts


@contextmanager
def _pdf_errors(name: str, where: str) -> Iterator[None]:
    """Whatever pypdf raises in the block as this file's ArticleError; its safety limits said as such."""
    from pypdf.errors import LimitReachedError

    try:
        with third_party(name, f"{where} is not readable", READ_AGAIN_PDF):
            yield
    except ArticleError as exc:
        if isinstance(exc.__cause__, LimitReachedError):
            raise ArticleError(one_line(
                f"{name}: {where} passes pypdf's safety limits ({exc.__cause__}): a decompression bomb or a "
                f"damaged file; {READ_AGAIN_PDF}")) from exc.__cause__
        raise


def _pdf_paragraphs(page_text: str) -> str:
    """Rejoin a PDF page's lines into paragraphs: a line ending a sentence ends its paragraph."""
    paragraphs: list[str] = []
    current = ""
    for raw in page_text.splitlines():
        line = raw.strip()
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        # CJK lines join without a space; Latin words need one.
        joiner = " " if current and current[-1].isascii() and line[0].isascii() else ""
        current += joiner + line
        if line[-1] in SENTENCE_END:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)
