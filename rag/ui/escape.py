"""The one rule for text from users and articles: into HTML through ``esc``, into Markdown through ``esc_markdown``.

Article text is data, never markup. Every string that comes from a user or an
article (titles, file names, article text, questions, error messages quoting
them) goes into HTML (``gr.HTML``, and gradio's toasts, which render HTML)
through ``esc``, into Markdown (the chat, ``gr.Markdown`` notices, the copied
answer) through ``esc_markdown``; nothing else. So an article holding
``<script>``, ``<img src=…>`` or ``[x](http://…)`` shows those characters and
loads or runs nothing. ``highlight`` marks spans of such text, escaping the rest.
"""

from __future__ import annotations

import html
import re

# ASCII punctuation that Markdown may read as syntax; a backslash makes each literal (CommonMark).
# ":" and "." too: a bare http://… or www.… would otherwise become a link (GFM autolinks).
_MARKDOWN_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:=])")


def esc(text: str) -> str:
    """Text as HTML text (quotes too, so it is safe inside attributes).

    >>> esc('<img src=x onerror="a()">')
    '&lt;img src=x onerror=&quot;a()&quot;&gt;'
    """
    return html.escape(text, quote=True)


def esc_markdown(text: str) -> str:
    """Text for a Markdown message: Markdown punctuation backslashed, then HTML-escaped.

    No link, image, tag or autolink survives: ``[``, ``]``, ``<``, ``:`` are all escaped.

    >>> esc_markdown("*注意* <b>")
    '\\\\*注意\\\\* &lt;b&gt;'
    >>> esc_markdown("![x](http://h/p.png)")
    '\\\\!\\\\[x\\\\]\\\\(http\\\\://h/p\\\\.png\\\\)'
    """
    return esc(_MARKDOWN_PUNCT.sub(r"\\\1", text))


def highlight(text: str, start: int, end: int, inner: tuple[int, int] | None = None) -> str:
    """``text`` escaped, with ``text[start:end]`` inside ``<mark>`` (offsets clipped to the text).

    ``inner`` (offsets into ``text`` too, clipped to the mark) goes inside
    ``<strong class="short">`` within the mark: the short answer in its sentence.

    >>> highlight("a<b>c", 1, 4)
    'a<mark>&lt;b&gt;</mark>c'
    >>> highlight("营收约2200亿元。", 2, 10, (3, 9))
    '营收<mark>约<strong class="short">2200亿元</strong>。</mark>'
    """
    a = max(0, min(start, len(text)))
    b = max(a, min(end, len(text)))
    if a == b:
        return esc(text)
    marked = esc(text[a:b])
    if inner is not None:
        i = max(a, min(inner[0], b))
        j = max(i, min(inner[1], b))
        if i < j:
            marked = f'{esc(text[a:i])}<strong class="short">{esc(text[i:j])}</strong>{esc(text[j:b])}'
    return f"{esc(text[:a])}<mark>{marked}</mark>{esc(text[b:])}"
