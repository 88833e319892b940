"""The 文章 tab's chunk view: an article's chunks in order, searchable, each turned off or on and given questions.

What ``rag chunks`` shows and does (``rag.kb.chunks``), in the page: pick an
article of the knowledge base chosen at the tab's top, see its chunks (number,
paragraphs, sentences, length, on or off, linked questions, text), filter them
by a word, and act on chunk N: turn it off or back on, link a question to it or
unlink one. Each action writes the curation folder and builds at once (no chunk
is embedded; a new linked question is, once). Article text, names and questions
are data: escaped where they become HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.chunks import ArticleChunks, ChunkRow, article_chunks, link_chunk, turn_chunk
from rag.ui.escape import esc, esc_markdown
from rag.ui.kb_page import base_name
from rag.ui.texts import page_message

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases

ACTIONS = ("off", "on", "link", "unlink")


@dataclass
class ChunksView:
    """The chunk view's components that events read or write."""

    box: gr.Accordion
    article: gr.Dropdown
    query: gr.Textbox
    table: gr.HTML
    number: gr.Number
    question: gr.Textbox
    buttons: dict[str, gr.Button]  # by action (ACTIONS)
    notice: gr.Markdown


def chunks_view(tr: gr.I18n) -> ChunksView:
    """The article chooser and filter, the chunks' table, and the actions on chunk N."""
    import gradio as gr

    with gr.Accordion(tr("chunks_box"), open=False, elem_id="chunks-box") as box:
        with gr.Row(equal_height=False):
            article = gr.Dropdown([], label=tr("chunks_article"), elem_id="chunks-article", scale=3)
            query = gr.Textbox(label=tr("chunks_filter"), elem_id="chunks-filter", scale=2)
        notice = gr.Markdown("", elem_id="chunks-status")
        table = gr.HTML("", elem_id="chunks-table")
        with gr.Row(equal_height=False):
            number = gr.Number(None, label=tr("chunks_number"), precision=0, elem_id="chunks-number",
                               scale=1)
            question = gr.Textbox(label=tr("chunks_question"), elem_id="chunks-question", scale=3)
        with gr.Row():
            buttons = {action: gr.Button(tr(f"chunks_{action}"), size="sm", elem_id=f"chunks-{action}")
                       for action in ACTIONS}
    return ChunksView(box, article, query, table, number, question, buttons, notice)


def connect_chunks(bases: KnowledgeBases, v: ChunksView, kb_choice: gr.Dropdown) -> None:
    """Fill the article list from the chosen knowledge base; show, filter and change chunks."""
    hidden: dict[str, Any] = {"show_progress": "hidden"}
    kb_choice.change(lambda kb: article_list(bases, kb), inputs=[kb_choice], outputs=[v.article, v.table], **hidden)
    # Opened: the articles indexed now (an upload or a deletion since changed them).
    v.box.expand(lambda kb, a: article_list(bases, kb, a), inputs=[kb_choice, v.article],
                 outputs=[v.article, v.table], **hidden)
    shown = [kb_choice, v.article, v.query]
    v.article.change(lambda *values: show_chunks(bases, *values), inputs=shown, outputs=[v.table, v.notice], **hidden)
    v.query.change(lambda *values: show_chunks(bases, *values), inputs=shown, outputs=[v.table, v.notice], **hidden)
    for action, button in v.buttons.items():
        button.click(lambda *values, act=action: change_chunk(bases, act, *values),
                     inputs=[*shown, v.number, v.question], outputs=[v.table, v.notice], **hidden)


def article_list(bases: KnowledgeBases, kb: Any, current: Any = None) -> tuple[Any, Any]:
    """The chooser's articles: those of the chosen knowledge base's index (the one chosen stays chosen)."""
    import gradio as gr

    try:
        choices = [(f"{title}（{path}）", path) for path, title in bases.indexed_articles(base_name(kb))]
    except RagError:
        choices = []
    paths = [path for _, path in choices]
    keep = current if current in paths else None
    return gr.Dropdown(choices=choices, value=keep), (gr.skip() if keep else "")


def show_chunks(bases: KnowledgeBases, kb: Any, article: Any, query: Any) -> tuple[str, str]:
    """The chosen article's chunks that hold ``query`` (all when it is empty) as HTML, and a notice."""
    if not isinstance(article, str) or not article:
        return "", page_message("chunks_pick")
    try:
        listing = article_chunks(bases.get(base_name(kb)).version(), article)
    except RagError as exc:
        return "", "✗ " + esc_markdown(str(exc))
    return chunks_html(listing, query if isinstance(query, str) else ""), ""


def change_chunk(bases: KnowledgeBases, action: str, kb: Any, article: Any, query: Any, number: Any,
                 question: Any) -> tuple[str, str]:
    """Turn chunk ``number`` off or on, or link or unlink ``question``; then show the chunks again and say so."""
    if not isinstance(article, str) or not article:
        return "", page_message("chunks_pick")
    if not isinstance(number, int | float) or number < 1:
        table, _ = show_chunks(bases, kb, article, query)
        return table, page_message("chunks_no_number")
    n = int(number)
    linking = action in ("link", "unlink")
    if linking and (not isinstance(question, str) or not question.strip()):
        table, _ = show_chunks(bases, kb, article, query)
        return table, page_message("chunks_no_question")
    kb_ = bases.get(base_name(kb))
    try:
        if linking:
            _, report = link_chunk(kb_, article, n, question, linked=action == "link")
        else:
            _, report = turn_chunk(kb_, article, n, off=action == "off")
    except RagError as exc:
        table, _ = show_chunks(bases, kb, article, query)
        return table, "✗ " + esc_markdown(str(exc))
    table, _ = show_chunks(bases, kb, article, query)
    said = page_message(f"chunks_done_{action}", n=n, question=question if linking else "",
                        embedded=report.embedded)
    return table, esc_markdown(said)


def matches(row: ChunkRow, query: str) -> bool:
    """Whether a chunk holds ``query`` in its text or its linked questions (case-insensitive; empty: all).

    >>> row = ChunkRow(1, 0, (1,), 2, 10, False, "深圳的AI产业", ("产业多大？",))
    >>> matches(row, "ai"), matches(row, "多大"), matches(row, "上海"), matches(row, " ")
    (True, True, False, True)
    """
    query = query.strip().lower()
    return not query or any(query in text.lower() for text in (row.text, *row.questions))


def chunks_html(listing: ArticleChunks, query: str = "") -> str:
    """The chunks' table (those matching ``query``), then the orphaned overrides; every text escaped."""
    rows = [c for c in listing.chunks if matches(c, query)]
    head = "".join(f"<th>{esc(h)}</th>" for h in page_message("chunks_headers").split("|"))
    body = "".join(_row_html(c) for c in rows)
    count = page_message("chunks_count", shown=len(rows), total=len(listing.chunks),
                         off=sum(c.off for c in listing.chunks))
    parts = [f'<p class="chunks-count">{esc(count)}</p>',
             f'<table class="chunks-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>']
    for o in listing.orphaned:
        questions = "".join(f"<li>{esc(q)}</li>" for q in o.questions)
        parts.append(f'<div class="chunks-orphan"><p>{esc(page_message("chunks_orphan"))}</p>'
                     f"<blockquote>{esc(o.text)}</blockquote><ul>{questions}</ul></div>")
    return "".join(parts)


def _row_html(c: ChunkRow) -> str:
    state = page_message("chunks_state_off" if c.off else "chunks_state_on")
    questions = "".join(f"<li>{esc(q)}</li>" for q in c.questions)
    cells = [str(c.n), c.paragraph_range, str(c.sentences), str(c.chars)]
    return (f'<tr data-n="{c.n}" class="{"off" if c.off else "on"}">'
            + "".join(f"<td>{esc(cell)}</td>" for cell in cells)
            + f'<td class="chunk-state">{esc(state)}</td><td><ul class="chunk-questions">{questions}</ul></td>'
            + f'<td class="chunk-text">{esc(c.text)}</td></tr>')
