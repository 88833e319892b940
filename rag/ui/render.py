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

from rag.kb.knowledge_base import Retrieved
from rag.messages import message
from rag.records import Answer, Citation, Hit, ShortAnswer, paragraph_label
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


def base_tag(name: str, named: bool, lang: str = "zh") -> list[str]:
    """The knowledge base's tag of a source card: when it is not ``default`` or the answer names its bases (escaped).

    >>> base_tag("default", False), base_tag("news", False), base_tag("default", True, "en")
    ([], ['<span class="src-kb">知识库 news</span>'], ['<span class="src-kb">knowledge base default</span>'])
    """
    shown = named or name != "default"
    return [f'<span class="src-kb">{esc(message("knowledge_base", lang, name=name))}</span>'] if shown else []


def _location_html(parts: list[str], section: str, base: list[str]) -> str:
    """A location's parts (the record's own label: title, section when there is one, …) escaped and joined by ` · `.

    The title and the section are the article's words: each in a span of its own.
    """
    title, *rest = parts
    marked = [f'<span class="src-section">{esc(rest[0])}</span>', *map(esc, rest[1:])] if section else \
        list(map(esc, rest))
    return " · ".join([*base, f'<span class="src-title">{esc(title)}</span>', *marked])


def citation_location(c: Citation, named: bool = False, lang: str = "zh") -> str:
    """Where a citation stands: (knowledge base ·) title · section · paragraph (· page), escaped."""
    return _location_html(c.location(lang), c.section, base_tag(c.knowledge_base, named, lang))


def hit_location(hit: Hit, named: bool = False, lang: str = "zh") -> str:
    """Where a retrieved passage stands: (knowledge base ·) title · section · paragraphs, escaped."""
    return _location_html(hit.chunk.location(lang), hit.chunk.section, base_tag(hit.knowledge_base, named, lang))


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


def _citation_card(turn: int, group: Sequence[Citation], short: ShortAnswer | None, named: bool,
                   lang: str) -> str:
    keys = [f"{turn}-c{c.n}" for c in group]
    shown = esc(message("open_in_article", lang))
    links = "".join(f'<a href="#" class="cite-n" data-cite="{key}" title="{shown}">[{c.n}]</a>'
                    for key, c in zip(keys, group, strict=True))
    return (
        f'<div class="cite-card" id="src-{keys[0]}" data-keys="{" ".join(keys)}">'
        f'<div class="cite-meta">{links} {citation_location(group[0], named, lang)} '
        f'<a href="#" class="open-article" data-cite="{keys[0]}">{esc(message("open_article", lang))}</a></div>'
        f'<p class="cite-para">{_marked_paragraph(group, short)}</p>'
        f"</div>"
    )


def _hit_card(turn: int, hit: Hit, named: bool, lang: str) -> str:
    key = f"{turn}-h{hit.rank}"
    return (
        f'<div class="hit-card">'
        f'<div class="cite-meta"><span class="hit-rank">#{hit.rank}</span> {hit_location(hit, named, lang)} '
        f'<a href="#" class="open-article" data-cite="{key}">{esc(message("open_article", lang))}</a></div>'
        f'<p class="hit-text">{esc(hit.chunk.text)}</p>'
        f"</div>"
    )


TIMINGS_SHOWN = ("search", "answer", "generate", "total")


def _details(query: str, question: str, hits: Sequence[Hit], timings_ms: dict[str, float] | None = None,
             lang: str = "zh") -> str:
    """What only a curious user wants, behind a 详情 toggle: the query searched, each passage's ranks, timings."""
    rows = []
    if query != question:
        rows.append(f'<p class="src-query">{esc(message("searched_as", lang, query=query))}</p>')
    for h in hits:
        legs = [message("rank_dense", lang, n=h.dense_rank) if h.dense_rank is not None else "",
                message("rank_lexical", lang, n=h.lexical_rank) if h.lexical_rank is not None else ""]
        rows.append(f'<p class="src-rank">#{h.rank} {esc(paragraph_label(h.chunk.paragraphs, lang))}'
                    f'{esc(message("separator", lang))}{esc(" · ".join(x for x in legs if x))}</p>')
    if timings_ms:
        shown = [f"{message('timing_' + k, lang)} {v:.0f} ms" for k, v in timings_ms.items() if k in TIMINGS_SHOWN]
        rows.append('<p class="timings">' + esc(" · ".join(shown)) + "</p>")
    if not rows:
        return ""
    return (f'<details class="src-details"><summary>{esc(message("details", lang))}</summary>'
            + "".join(rows) + "</details>")


def render_empty_sources(lang: str = "zh") -> str:
    """The sources panel before any question."""
    return f'<div class="rag-sources empty"><p>{esc(message("sources_empty", lang))}</p></div>'


def render_searching(question: str, lang: str = "zh") -> str:
    """The sources panel while retrieval runs."""
    return (f'<div class="rag-sources"><p class="src-q">{esc(message("asked", lang, question=question))}</p>'
            f'<p>{esc(message("searching", lang))}</p></div>')


def render_retrieved(turn: int, question: str, retrieved: Retrieved, lang: str = "zh") -> str:
    """The sources panel when retrieval has ended and the answer is being made (each base named when it should)."""
    query, hits = retrieved.query, retrieved.result.hits
    head = _sources_head(question, query, lang)
    details = _details(query, question, hits, lang=lang)
    if not hits:
        return f'<div class="rag-sources">{head}<p>{esc(message("nothing_retrieved", lang))}</p>{details}</div>'
    cards = "".join(_hit_card(turn, h, retrieved.names_bases, lang) for h in hits)
    return (f'<div class="rag-sources" data-turn="{turn}">{head}'
            f'<p class="src-note">{esc(message("retrieved_note", lang, n=len(hits)))}</p>{cards}{details}</div>')


def _sources_head(question: str, query: str, lang: str) -> str:
    out = f'<p class="src-q">{esc(message("asked", lang, question=question))}</p>'
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
    return message("asked_as", lang, query=query)


def render_sources(turn: int, answer: Answer, lang: str = "zh") -> str:
    """The sources panel for an answer: cited paragraphs, then the other passages behind a fold.

    A refusal shows the nearest passages openly as 「可能相关」. Each card names its
    knowledge base when the answer says so (``Answer.names_bases``); ``lang``: the page's language.
    """
    named = answer.names_bases
    head = _sources_head(answer.question, answer.query, lang)
    # data-state="answered" marks the final panel (tests and scripts wait for it).
    parts = [f'<div class="rag-sources" data-turn="{turn}" data-state="answered">', head]
    if answer.refused:
        parts.append(f'<p class="src-note refused">{esc(message("refused_note", lang))}</p>')
        parts.append('<div class="maybe">' + "".join(_hit_card(turn, h, named, lang) for h in answer.hits[:3])
                     + "</div>")
        rest = answer.hits[3:]
    else:
        if answer.citations:
            groups = citation_groups(answer.citations)
            parts.append(f'<p class="src-note">{esc(message("cited_note", lang, n=len(groups)))}</p>')
            short = shown_short_answer(answer)
            parts.extend(_citation_card(turn, group, short, named, lang) for group in groups)
        else:
            parts.append(f'<p class="src-note warn">{esc(message("uncited_note", lang))}</p>')
        rest = [h for h in answer.hits if not is_cited(h, answer.citations)]
    if rest:
        label = message("more_passages" if answer.refused else "other_passages", lang, n=len(rest))
        parts.append(f'<details class="uncited"><summary>{esc(label)}</summary>'
                     + "".join(_hit_card(turn, h, named, lang) for h in rest) + "</details>")
    parts.append(_details(answer.query, answer.question, answer.hits, answer.timings_ms, lang))
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
        lines.append("\n\n" + message("maybe_related_chat", lang))
    elif answer.uncited:
        lines.append("\n\n⚠ " + message("uncited_note", lang))
    return "".join(lines)


def streaming_text(text: str) -> str:
    """A generative answer while it streams: escaped, markers left as text."""
    return esc_markdown(text) + " ▍"


def _plain_marker(n: int) -> str:
    return f"[{n}]"


def answer_markdown(answer: Answer, lang: str = "zh") -> str:
    """An answer with its sources as Markdown, for copying (shown in a text box, pasted anywhere).

    Like every Markdown here, what comes from articles and users is escaped, so
    pasting it into a Markdown page cannot add a link or an image; the ``[n]``
    markers and the bold short answer and cited span are this function's own.
    """
    short = _short_line(answer, _plain_marker)
    evidence = _with_markers(answer, _plain_marker)
    answered = message("md_answer", lang)
    lines = [f"{message('md_question', lang)} {esc_markdown(answer.question)}", "",
             *([f"{answered} {short}", "", evidence] if short else [f"{answered} {evidence}"])]
    if answer.citations:
        lines += ["", message("md_sources", lang), ""]
        for c in answer.citations:
            where = " · ".join(esc_markdown(x) for x in c.location(lang))
            a = c.start - c.paragraph_start
            b = a + (c.end - c.start)
            text = c.paragraph_text
            quoted = f"{esc_markdown(text[:a])}**{esc_markdown(text[a:b])}**{esc_markdown(text[b:])}"
            lines.append(f"[{c.n}] {where}（{esc_markdown(c.article)}）")
            lines.extend("> " + line if line.strip() else ">" for line in quoted.splitlines())
            lines.append("")
    elif answer.refused and answer.hits:
        lines += ["", message("md_maybe", lang), ""]
        for h in answer.hits[:3]:
            where = " · ".join(esc_markdown(x) for x in h.chunk.location(lang))
            lines.append(f"- {where}（{esc_markdown(h.chunk.article)}）")
    return "\n".join(lines).rstrip() + "\n"
