"""HTML and Markdown for the browser: pure functions from records to escaped text.

Everything a user or an article wrote goes through ``escape`` (``esc`` into HTML,
``esc_markdown`` into Markdown; re-exported here for the page's modules). The only
tags and links are the ones written in this module, and the only citation links
are the answer's own markers (``marker_spans``), never a ``[1]`` that article text
happens to hold.

An answer's short answer (``shown_short_answer``) is bold in the chat and the copied
Markdown, and ``<strong class="short">`` inside the cited sentence's ``<mark>`` in the
sources and the article view.

Citation links carry ``data-cite="<turn>-c<n>"`` (a citation of answer ``turn``)
or ``"<turn>-h<rank>"`` (a retrieved passage); the chat's Markdown links use
``#cite-<turn>-c<n>``. The UI's click handler turns either into the article view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rag.records import Answer, Citation, Hit, ShortAnswer
from rag.text import CITATION_MARKER

# The article view lives in its own module; the page's modules reach it as view.render_article, view.Focus.
from rag.ui.article_view import ARTICLE_VIEW_CHARS as ARTICLE_VIEW_CHARS
from rag.ui.article_view import Focus as Focus
from rag.ui.article_view import render_article as render_article
from rag.ui.article_view import render_article_placeholder as render_article_placeholder
from rag.ui.escape import esc, esc_markdown, highlight  # also used as view.esc, view.esc_markdown


def shown_short_answer(answer: Answer) -> ShortAnswer | None:
    """The answer's short answer, when there is one to show: an extractive answer's, inside its citation.

    None for a refusal, a generative answer, no short answer, or one whose offsets do
    not reproduce its text inside the sentence of its citation ``n`` (then the page
    shows the evidence alone rather than a phrase it cannot place).
    """
    short = answer.short_answer
    if short is None or answer.refused or answer.mode != "extractive" or not short.text.strip():
        return None
    for c in answer.citations:
        if c.n == short.n:
            a = short.start - c.paragraph_start
            inside = c.start <= short.start < short.end <= c.end and short.end - short.start == len(short.text)
            return short if inside and c.paragraph_text[a : a + len(short.text)] == short.text else None
    return None


def paragraph_label(numbers: Sequence[int]) -> str:
    """「第3段」 or 「第3–4段」.

    >>> paragraph_label([3, 4])
    '第3–4段'
    """
    if not numbers:
        return ""
    if len(numbers) == 1 or numbers[0] == numbers[-1]:
        return f"第{numbers[0]}段"
    return f"第{numbers[0]}–{numbers[-1]}段"


def base_tag(name: str, several: bool) -> list[str]:
    """The knowledge base's tag of a source card: shown when it is not ``default`` or several were asked (escaped).

    >>> base_tag("default", False), base_tag("news", False)
    ([], ['<span class="src-kb">知识库 news</span>'])
    """
    return [f'<span class="src-kb">知识库 {esc(name)}</span>'] if several or name != "default" else []


def citation_location(c: Citation, several: bool = False) -> str:
    """Where a citation stands: (knowledge base ·) title · section · paragraph (· page), escaped."""
    parts = [*base_tag(c.knowledge_base, several), f'<span class="src-title">{esc(c.title)}</span>']
    if c.section:
        parts.append(esc(c.section))
    parts.append(f"第{c.paragraph}段")
    if c.page:
        parts.append(f"第{c.page}页")
    return " · ".join(parts)


def hit_location(hit: Hit, several: bool = False) -> str:
    """Where a retrieved passage stands: (knowledge base ·) title · section · paragraphs, escaped."""
    c = hit.chunk
    parts = [*base_tag(hit.knowledge_base, several), f'<span class="src-title">{esc(c.title)}</span>']
    if c.section:
        parts.append(esc(c.section))
    parts.append(paragraph_label(c.paragraphs))
    return " · ".join(parts)


def is_cited(hit: Hit, citations: Iterable[Citation]) -> bool:
    """True when a citation's span lies in (or overlaps) the hit's chunk."""
    c = hit.chunk
    return any(x.article == c.article and x.knowledge_base == hit.knowledge_base and x.start < c.end
               and x.end > c.start for x in citations)


def citation_groups(citations: Sequence[Citation]) -> list[list[Citation]]:
    """Citations grouped by the paragraph they cite, in the order of each paragraph's first citation.

    The same paragraph cited twice is one source card with both sentences highlighted.
    """
    groups: dict[tuple[str, str, int], list[Citation]] = {}
    for c in citations:  # article paths are per knowledge base
        groups.setdefault((c.knowledge_base, c.article, c.paragraph_start), []).append(c)
    return list(groups.values())


def _marked_paragraph(group: Sequence[Citation], short: ShortAnswer | None) -> str:
    """The group's paragraph escaped, each cited sentence in ``<mark data-n="n">`` (the short answer inside its)."""
    first = group[0]
    text, out, pos = first.paragraph_text, [], 0
    for c in sorted(group, key=lambda x: x.start):
        a = max(pos, c.start - first.paragraph_start)
        b = max(a, min(c.end - first.paragraph_start, len(text)))
        inner = None
        if short is not None and short.n == c.n:
            inner = (short.start - first.paragraph_start - a, short.end - first.paragraph_start - a)
        out.append(esc(text[pos:a]))
        out.append(highlight(text[a:b], 0, b - a, inner).replace("<mark>", f'<mark data-n="{c.n}">', 1))
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


def _citation_card(turn: int, group: Sequence[Citation], short: ShortAnswer | None, several: bool = False) -> str:
    keys = [f"{turn}-c{c.n}" for c in group]
    links = "".join(f'<a href="#" class="cite-n" data-cite="{key}" title="在原文中查看">[{c.n}]</a>'
                    for key, c in zip(keys, group, strict=True))
    return (
        f'<div class="cite-card" id="src-{keys[0]}" data-keys="{" ".join(keys)}">'
        f'<div class="cite-meta">{links} {citation_location(group[0], several)} '
        f'<a href="#" class="open-article" data-cite="{keys[0]}">查看原文 ›</a></div>'
        f'<p class="cite-para">{_marked_paragraph(group, short)}</p>'
        f"</div>"
    )


def _hit_card(turn: int, hit: Hit, several: bool = False) -> str:
    key = f"{turn}-h{hit.rank}"
    return (
        f'<div class="hit-card">'
        f'<div class="cite-meta"><span class="hit-rank">#{hit.rank}</span> {hit_location(hit, several)} '
        f'<a href="#" class="open-article" data-cite="{key}">查看原文 ›</a></div>'
        f'<p class="hit-text">{esc(hit.chunk.text)}</p>'
        f"</div>"
    )


def _details(query: str, question: str, hits: Sequence[Hit], timings_ms: dict[str, float] | None = None) -> str:
    """What only a curious user wants, behind a 详情 toggle: the query searched, each passage's ranks, timings."""
    rows = []
    if query != question:
        rows.append(f'<p class="src-query">实际检索：{esc(query)}</p>')
    for h in hits:
        legs = [f"向量第{h.dense_rank}" if h.dense_rank is not None else "",
                f"关键词第{h.lexical_rank}" if h.lexical_rank is not None else ""]
        rows.append(f'<p class="src-rank">#{h.rank} {paragraph_label(h.chunk.paragraphs)}：'
                    f'{esc(" · ".join(x for x in legs if x))}</p>')
    if timings_ms:
        names = {"search": "检索", "answer": "回答", "generate": "生成", "total": "共"}
        shown = [f"{names[k]} {v:.0f} ms" for k, v in timings_ms.items() if k in names]
        rows.append('<p class="timings">' + " · ".join(shown) + "</p>")
    if not rows:
        return ""
    return '<details class="src-details"><summary>详情</summary>' + "".join(rows) + "</details>"


def render_empty_sources() -> str:
    """The sources panel before any question."""
    return ('<div class="rag-sources empty"><p>提问后，这里列出回答引用的段落（引用的句子会高亮），'
            "点击 [1]、[2] 可打开原文。</p></div>")


def render_searching(question: str) -> str:
    """The sources panel while retrieval runs."""
    return f'<div class="rag-sources"><p class="src-q">问：{esc(question)}</p><p>正在检索…</p></div>'


def render_retrieved(turn: int, question: str, query: str, hits: list[Hit], several: bool = False,
                     lang: str = "zh") -> str:
    """The sources panel when retrieval has ended and the answer is being made (``several``: name each base)."""
    head = _sources_head(question, query, lang)
    if not hits:
        return f'<div class="rag-sources">{head}<p>没有检索到段落。</p>{_details(query, question, hits)}</div>'
    cards = "".join(_hit_card(turn, h, several) for h in hits)
    return (f'<div class="rag-sources" data-turn="{turn}">{head}'
            f'<p class="src-note">检索到 {len(hits)} 段，正在生成回答…</p>{cards}'
            f"{_details(query, question, hits)}</div>")


def _sources_head(question: str, query: str, lang: str) -> str:
    out = f'<p class="src-q">问：{esc(question)}</p>'
    if note := asked_as_note(question, query, lang):
        out += f'<p class="src-asked-as">{esc(note)}</p>'
    return out


def asked_as_note(question: str, query: str, lang: str = "zh") -> str:
    """The question a follow-up was asked as, in words (plain text, ``lang`` zh or en); "" when asked as written.

    >>> asked_as_note("那华为呢？", "华为累计投入了多少资金用于AI研发？")
    '按“华为累计投入了多少资金用于AI研发？”回答'
    >>> asked_as_note("What about Huawei?", "How much did Huawei invest?", "en"), asked_as_note("深圳", "深圳")
    ('Answered as “How much did Huawei invest?”', '')
    """
    if query.strip() == question.strip():
        return ""
    return f"Answered as “{query}”" if lang == "en" else f"按“{query}”回答"


def render_sources(turn: int, answer: Answer, several: bool = False, lang: str = "zh") -> str:
    """The sources panel for an answer: cited paragraphs, then the other passages behind a fold.

    A refusal shows the nearest passages openly as 「可能相关」. Each card names its
    knowledge base when it is not ``default`` or when ``several`` were asked; ``lang``: the
    page's language, for the note of the question a follow-up was asked as.
    """
    head = _sources_head(answer.question, answer.query, lang)
    # data-state="answered" marks the final panel (tests and scripts wait for it).
    parts = [f'<div class="rag-sources" data-turn="{turn}" data-state="answered">', head]
    if answer.refused:
        parts.append('<p class="src-note refused">文章中没有找到相关信息。可能相关的段落：</p>')
        parts.append('<div class="maybe">' + "".join(_hit_card(turn, h, several) for h in answer.hits[:3]) + "</div>")
        rest = answer.hits[3:]
    else:
        if answer.citations:
            groups = citation_groups(answer.citations)
            parts.append(f'<p class="src-note">引用 {len(groups)} 段：</p>')
            short = shown_short_answer(answer)
            parts.extend(_citation_card(turn, group, short, several) for group in groups)
        else:
            parts.append('<p class="src-note warn">回答没有引用任何检索到的段落，请核实。</p>')
        rest = [h for h in answer.hits if not is_cited(h, answer.citations)]
    if rest:
        label = "其他检索到的段落" if not answer.refused else "更多检索到的段落"
        parts.append(f'<details class="uncited"><summary>{label}（{len(rest)}）</summary>'
                     + "".join(_hit_card(turn, h, several) for h in rest) + "</details>")
    parts.append(_details(answer.query, answer.question, answer.hits, answer.timings_ms))
    parts.append("</div>")
    return "".join(parts)


def render_error(message: str) -> str:
    """A message box for the sources panel (escaped)."""
    return f'<div class="rag-sources"><p class="src-note error">{esc(message)}</p></div>'


# -- chat messages ----------------------------------------------------------------------------
def marker_spans(answer: Answer) -> list[tuple[int, int, int]]:
    """(start, end, n) of the answer's own citation markers in ``answer.text``.

    An extractive answer is its cited sentences, each followed by its marker
    (``sentence[1]sentence[2]``): the markers are found by walking the citations, so
    a ``[1]`` that a cited sentence holds (article text) is never one, and past a
    piece that does not fit nothing more is. A generative answer's markers are the
    model's, already checked against the passages as they streamed: each ``[n]``
    whose ``n`` is a citation.
    """
    if answer.mode == "overview":  # the frame and the lead, one marker at the very end
        return [(len(answer.text) - 3, len(answer.text), 1)] if answer.citations and answer.text.endswith("[1]") \
            else []
    if answer.mode != "extractive":
        numbers = {c.n for c in answer.citations}
        return [(m.start(), m.end(), int(m.group(1))) for m in CITATION_MARKER.finditer(answer.text)
                if int(m.group(1)) in numbers]
    spans: list[tuple[int, int, int]] = []
    pos = 0
    for c in answer.citations:
        marker = f"[{c.n}]"
        at = pos + len(c.sentence_text)
        if not (answer.text.startswith(c.sentence_text, pos) and answer.text.startswith(marker, at)):
            break
        spans.append((at, at + len(marker), c.n))
        pos = at + len(marker)
    return spans


def _with_markers(answer: Answer, marker: Callable[[int], str]) -> str:
    """The answer text escaped for Markdown, each of its own markers written by ``marker(n)``."""
    out, pos = [], 0
    for start, end, n in marker_spans(answer):
        out.append(esc_markdown(answer.text[pos:start]))
        out.append(marker(n))
        pos = end
    out.append(esc_markdown(answer.text[pos:]))
    return "".join(out)


def _short_line(answer: Answer, marker: Callable[[int], str]) -> str:
    """The short answer in bold with its citation's marker (``**约 2200 亿元** [1]``), or "" when none is shown.

    Runs of white space become one space: a line break in the phrase would end the bold.
    """
    short = shown_short_answer(answer)
    if short is None:
        return ""
    return f"**{esc_markdown(' '.join(short.text.split()))}** {marker(short.n)}"


def chat_text(turn: int, answer: Answer, lang: str = "zh") -> str:
    """An answer as a chat message (Markdown): escaped text, its own markers as links ``#cite-<turn>-c<n>``.

    An answer with a short answer leads with it in bold, the evidence below it; a follow-up
    first says the question it was asked as (``asked_as_note``, in ``lang``).

    >>> a = Answer("q", "q", "见[9]条[1]", False, [Citation(1, "a.txt", "T", "", 1, None, "见[9]条", 0, 0, 5)])
    >>> chat_text(0, a)
    '见\\\\[9\\\\]条[\\\\[1\\\\]](#cite-0-c1)'
    """
    lines = []
    if note := asked_as_note(answer.question, answer.query, lang):
        lines.append(esc_markdown(note) + "\n\n")
    def link(n: int) -> str:
        return f"[\\[{n}\\]](#cite-{turn}-c{n})"

    if short := _short_line(answer, link):
        lines.append(short + "\n\n")
    lines.append(_with_markers(answer, link))
    if answer.refused and answer.hits:
        lines.append("\n\n（右侧列出可能相关的段落）")
    elif answer.uncited:
        lines.append("\n\n⚠ 回答没有引用任何检索到的段落，请核实。")
    return "".join(lines)


def streaming_text(text: str) -> str:
    """A generative answer while it streams: escaped, markers left as text."""
    return esc_markdown(text) + " ▍"


def _plain_marker(n: int) -> str:
    return f"[{n}]"


def answer_markdown(answer: Answer) -> str:
    """An answer with its sources as Markdown, for copying (shown in a text box, pasted anywhere).

    Like every Markdown here, what comes from articles and users is escaped, so
    pasting it into a Markdown page cannot add a link or an image; the ``[n]``
    markers and the bold short answer and cited span are this function's own.
    """
    short = _short_line(answer, _plain_marker)
    evidence = _with_markers(answer, _plain_marker)
    lines = [f"**问：** {esc_markdown(answer.question)}", "",
             *([f"**答：** {short}", "", evidence] if short else [f"**答：** {evidence}"])]
    if answer.citations:
        lines += ["", "**来源：**", ""]
        for c in answer.citations:
            where = " · ".join(esc_markdown(x) for x in (c.title, c.section, f"第{c.paragraph}段",
                                                         f"第{c.page}页" if c.page else "") if x)
            a = c.start - c.paragraph_start
            b = a + (c.end - c.start)
            text = c.paragraph_text
            quoted = f"{esc_markdown(text[:a])}**{esc_markdown(text[a:b])}**{esc_markdown(text[b:])}"
            lines.append(f"[{c.n}] {where}（{esc_markdown(c.article)}）")
            lines.extend("> " + line if line.strip() else ">" for line in quoted.splitlines())
            lines.append("")
    elif answer.refused and answer.hits:
        lines += ["", "**可能相关：**", ""]
        for h in answer.hits[:3]:
            ch = h.chunk
            lines.append(f"- {esc_markdown(ch.title)} · {esc_markdown(ch.section)} · "
                         f"{paragraph_label(ch.paragraphs)}（{esc_markdown(ch.article)}）")
    return "\n".join(lines).rstrip() + "\n"
