"""Text out of .html, .docx and .pdf files, as Markdown-like text with paragraphs.

The extracted text is what the index stores and what offsets point into:
paragraphs are separated by blank lines, headings become ``#`` lines, and for
PDF the offset where each page starts is kept so citations can name the page.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from rag.errors import ArticleError
from rag.ingest.decode import decode_bytes
from rag.text import SENTENCE_END

_BOILERPLATE_TAGS = ("script", "style", "nav", "footer", "header", "aside", "form", "noscript")


@dataclass(frozen=True)
class ExtractedDocument:
    """Text extracted from a document, with page start offsets for paginated formats."""

    text: str
    source_format: str
    page_starts: list[int] | None = None


def extract_document(data: bytes, suffix: str, name: str) -> ExtractedDocument:
    """Extract the main text of an .html/.htm, .docx or .pdf file; raise ArticleError when it has none."""
    if suffix in (".html", ".htm"):
        doc = ExtractedDocument(_extract_html(data, name), "html")
    elif suffix == ".docx":
        doc = ExtractedDocument(_extract_docx(data, name), "docx")
    elif suffix == ".pdf":
        text, pages = _extract_pdf(data, name)
        doc = ExtractedDocument(text, "pdf", pages)
    else:
        raise ArticleError(f"{name}: no text extractor for {suffix}")
    if not doc.text.strip():
        raise ArticleError(f"{name}: no text could be extracted from this {suffix} file")
    return doc


def _extract_html(data: bytes, name: str) -> str:
    import lxml.html
    import trafilatura

    html, _ = decode_bytes(data, name)
    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise ArticleError(f"{name}: not a readable HTML document ({exc})") from exc
    headings: dict[str, int] = {}
    for level in range(1, 7):
        for el in tree.iter(f"h{level}"):
            text = " ".join(el.text_content().split())
            if text:
                headings.setdefault(text, level)
    title = next((t for t, lvl in headings.items() if lvl == 1), None)
    if title is None:
        found = tree.findtext(".//title")
        title = " ".join(found.split()) if found else None
    # trafilatura keeps the main text and drops menus, footers and the like.
    main = trafilatura.extract(html, output_format="txt", include_comments=False, include_tables=True,
                               favor_precision=True)
    if not main:
        for bad in tree.xpath("|".join(f"//{t}" for t in _BOILERPLATE_TAGS)):
            bad.drop_tree()
        main = "\n".join(" ".join(p.text_content().split()) for p in tree.iter("p", "li", "h1", "h2", "h3"))
    blocks: list[str] = []
    if title and title not in main.splitlines():
        blocks.append(f"# {title}")
    for line in main.splitlines():
        line = line.strip()
        if not line:
            continue
        heading_level = headings.get(line)
        blocks.append(f"{'#' * heading_level} {line}" if heading_level else line)
    return "\n\n".join(blocks) + "\n"


def _extract_docx(data: bytes, name: str) -> str:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ArticleError(f"{name}: not a readable .docx file ({exc}); save it again from Word") from exc
    blocks: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        match = re.match(r"Heading (\d)", style)
        if style == "Title":
            blocks.append(f"# {text}")
        elif match:
            blocks.append(f"{'#' * (int(match.group(1)) + 1)} {text}")
        else:
            blocks.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(" | ".join(cells))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _extract_pdf(data: bytes, name: str) -> tuple[str, list[int]]:
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ArticleError(f"{name}: not a readable PDF ({exc})") from exc
    text = ""
    page_starts: list[int] = []
    for page_text in pages:
        if text:
            text += "\n\n"
        page_starts.append(len(text))
        text += _pdf_paragraphs(page_text)
    if not text.strip():
        raise ArticleError(f"{name}: the PDF has no text layer (a scan?); run OCR on it first")
    return text + "\n", page_starts


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
