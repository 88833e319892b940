"""The whole article in the 原文 tab: every paragraph as escaped text, the cited span highlighted."""

from __future__ import annotations

from dataclasses import dataclass

from rag.records import Article
from rag.ui.escape import esc, highlight

ARTICLE_VIEW_CHARS = 300_000  # past this, the viewer shows the paragraphs around the target only


@dataclass(frozen=True)
class Focus:
    """What the article view points at: a paragraph, a span to highlight, the short answer in it (article offsets)."""

    paragraph: int
    start: int
    end: int
    short: tuple[int, int] | None = None


def render_article(article: Article, focus: Focus | None = None, max_chars: int = ARTICLE_VIEW_CHARS) -> str:
    """The whole article, paragraph by paragraph (ids ``para-N``), the focus span inside ``<mark>``.

    The focus's short answer, if any, is ``<strong class="short">`` inside the mark.

    A very long article shows the paragraphs around the focus, up to ``max_chars``.
    """
    paragraphs = list(article.paragraphs)
    first, last = 0, len(paragraphs)
    if len(article.text) > max_chars:
        first, last = _window(article, focus.paragraph if focus else 1, max_chars)
    out = [f'<div class="rag-article"><h3 class="art-title">{esc(article.title)}</h3>'
           f'<p class="art-path">{esc(article.path)} · {len(paragraphs)} 段</p>']
    if first > 0:
        out.append(f'<p class="art-gap">…… 前面还有 {first} 段 ……</p>')
    section = None
    for p in paragraphs[first:last]:
        if p.section != section and p.section:
            out.append(f'<h4 class="art-section">{esc(p.section)}</h4>')
        section = p.section
        text = article.text[p.start : p.end]
        target = focus is not None and p.number == focus.paragraph
        body = esc(text)
        if focus is not None and focus.start < p.end and focus.end > p.start:
            inner = None if focus.short is None else (focus.short[0] - p.start, focus.short[1] - p.start)
            body = highlight(text, focus.start - p.start, focus.end - p.start, inner)
        page = f' data-page="{p.page}"' if p.page else ""
        out.append(f'<p id="para-{p.number}" class="para{" target" if target else ""}"{page}>'
                   f'<span class="para-n">{p.number}</span>{body}</p>')
    if last < len(paragraphs):
        out.append(f'<p class="art-gap">…… 后面还有 {len(paragraphs) - last} 段 ……</p>')
    out.append("</div>")
    return "".join(out)


def _window(article: Article, paragraph: int, max_chars: int) -> tuple[int, int]:
    """Indices [first, last) of paragraphs around ``paragraph`` whose text fits in ``max_chars``."""
    ps = article.paragraphs
    i = max(0, min(paragraph - 1, len(ps) - 1))
    first, last = i, i + 1
    used = ps[i].end - ps[i].start
    while True:
        grew = False
        for side in (-1, 1):
            j = first - 1 if side < 0 else last
            if 0 <= j < len(ps) and used + (ps[j].end - ps[j].start) <= max_chars:
                used += ps[j].end - ps[j].start
                first, last = (j, last) if side < 0 else (first, j + 1)
                grew = True
        if not grew:
            return first, last


def render_article_placeholder() -> str:
    """The article view before a citation is clicked."""
    return ('<div class="rag-article empty"><p>点击回答或来源中的 [1]、[2] 或「查看原文」，'
            "在这里打开整篇文章。</p></div>")
