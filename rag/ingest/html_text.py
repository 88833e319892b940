"""Text out of .html: the main text (trafilatura over lxml), or for a page too deep or too big, a flat scan.

A page is measured first by a linear scan that builds no tree
(``html_shape_problem``): nested past ``HTML_MAX_DEPTH`` elements (libxml2
silently drops what lies deeper than 255) or holding more than
``HTML_MAX_ELEMENTS`` (trafilatura's memory grows with them), its text is
taken by the same scan (``flat_html``): every text outside script and style,
block elements as paragraphs, ``<h1>``-``<h6>`` as headings, without
trafilatura's removal of menus and footers.

The scan is a tokeniser, not a parser: it finds ``<tag``, ``</tag``,
comments, declarations and the end of script and style with ``str.find`` and
regular expressions that never backtrack, so every step moves past what it
read. A ``>`` inside a quoted attribute ends a tag early, which costs at most a
few characters of attribute text in the flat output.
"""

from __future__ import annotations

import html as html_entities
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.ingest.limits import HTML_MAX_DEPTH, HTML_MAX_ELEMENTS

TEXT, START, END = 0, 1, 2
# "<name" or "</name", a comment, a declaration or processing instruction ("<!", "<?"), a bogus "</…".
_MARKUP = re.compile(r"<(?:(/?)([a-zA-Z][^\s/>]*)|!--|[!?/])")
_RAW_TEXT = {"script": re.compile(r"</script", re.I), "style": re.compile(r"</style", re.I)}
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
# A start tag that closes an open element of these names first (<p>a<p>b, <li>a<li>b).
_CLOSES = {"p": {"p"}, "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr", "td", "th"},
           "td": {"td", "th"}, "th": {"td", "th"}, "option": {"option"}}
# Elements whose start or end breaks the text into paragraphs.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "body", "br", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header",
    "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
    "th", "thead", "title", "tr", "ul",
})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def html_tokens(html: str) -> Iterator[tuple[int, str]]:
    """(TEXT, raw text) | (START, name) | (END, name) for ``html``, in one linear pass.

    Names are lower case; a void or self-closed element gives START only.
    Comments, declarations and the content of script and style are skipped;
    entities in text are left for the caller.

    >>> list(html_tokens("<p class=x>a<br/>b</P><!-- c --><script>d</script>"))
    [(1, 'p'), (0, 'a'), (1, 'br'), (0, 'b'), (2, 'p'), (1, 'script'), (2, 'script')]
    """
    pos, size = 0, len(html)
    while pos < size:
        match = _MARKUP.search(html, pos)
        if match is None:
            yield TEXT, html[pos:]
            return
        if match.start() > pos:
            yield TEXT, html[pos : match.start()]
        name = match.group(2)
        if name is None:  # a comment, a declaration, a processing instruction: skipped to its end
            close = "-->" if match.group() == "<!--" else ">"
            end = html.find(close, match.end())
            pos = size if end < 0 else end + len(close)
            continue
        end = html.find(">", match.end())
        if end < 0:
            return  # a tag cut off at the end of the file
        pos = end + 1
        name = name.lower()
        if match.group(1):
            yield END, name
            continue
        yield START, name
        if name in _RAW_TEXT:
            close_match = _RAW_TEXT[name].search(html, pos)
            close_end = -1 if close_match is None else html.find(">", close_match.end())
            pos = size if close_end < 0 else close_end + 1
            yield END, name
        elif html[end - 1] == "/" and name not in _VOID:
            yield END, name


def html_shape_problem(html: str, max_depth: int = HTML_MAX_DEPTH, max_elements: int = HTML_MAX_ELEMENTS) -> str | None:
    """Why ``html`` is too deep or too big to give to lxml (a phrase), or None; stops at the first limit passed.

    >>> html_shape_problem("<div>" * 300)
    'nested more than 200 elements deep'
    >>> html_shape_problem("<p>a<p>b<ul><li>c<li>d</ul>") is None
    True
    """
    stack: list[str] = []
    elements = 0
    for kind, name in html_tokens(html):
        if kind == START:
            elements += 1
            if elements > max_elements:
                return f"more than {max_elements:,} elements"
            if name in _VOID:
                continue
            if stack and stack[-1] in _CLOSES.get(name, ()):
                stack.pop()
            stack.append(name)
            if len(stack) > max_depth:
                return f"nested more than {max_depth} elements deep"
        elif kind == END and name in stack:  # an end tag with no open element of its name is ignored
            while stack.pop() != name:
                pass
    return None


@dataclass
class FlatText:
    """A page's text from the flat scan: its title, its lines, and the level of the lines that are headings."""

    title: str | None = None
    lines: list[str] = field(default_factory=list)
    headings: dict[str, int] = field(default_factory=dict)


def flat_html(html: str) -> FlatText:
    """Every text of the page outside script and style, a line per block, headings marked; never recursing.

    The text of ``<title>`` is the title, not a line.

    >>> flat = flat_html("<title>T</title><div><h2>节</h2><p>一 &amp; 二<br>三</p></div>")
    >>> flat.title, flat.lines, flat.headings
    ('T', ['节', '一 & 二', '三'], {'节': 2})
    """
    flat = FlatText()
    pieces: list[str] = []
    heading = 0
    in_title = False

    def flush() -> None:
        line = " ".join(html_entities.unescape("".join(pieces)).split())
        pieces.clear()
        if not line:
            return
        if in_title:
            flat.title = flat.title or line
            return
        flat.lines.append(line)
        if heading:
            flat.headings.setdefault(line, heading)

    for kind, value in html_tokens(html):
        if kind == TEXT:
            pieces.append(value)
            continue
        if value in _BLOCKS:
            flush()
        if value in _HEADINGS:
            heading = _HEADINGS[value] if kind == START else 0
        elif value == "title":
            in_title = kind == START
    flush()
    return flat
