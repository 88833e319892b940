"""The articles tab laid out and wired: the table, upload-and-index, replace, delete, rebuild.

The handlers are ``articles_tab``'s; every one that changes the corpus updates the
same outputs (``articles_tab.tab_outputs``), the header's status line and the
chat's article filter included, and draws its progress in one place of its own
(``#build-progress``), never over other components (``show_progress="hidden"``).
The tab manages the knowledge base chosen at its top (``kb_page``): its table,
uploads, deletions and builds; there too a knowledge base is made or deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.ui.articles_tab import (
    ARTICLE_COLUMNS,
    ask_delete,
    cancel_delete,
    confirm_replace,
    keep_corpus,
    rebuild,
    remove_article,
    upload_and_index,
)
from rag.ui.chunks_view import ChunksView, chunks_view, connect_chunks
from rag.ui.faq_panel import FaqPanel, connect_faq, faq_panel
from rag.ui.kb_page import ask_delete_kb, cancel_delete_kb, in_base, show_base
from rag.ui.texts import page_message
from rag.ui.words_view import WordsView, connect_words, words_view

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases


@dataclass
class ArticlesTab:
    """The articles tab's components that events read or write."""

    notice: gr.Markdown
    table: gr.Dataframe
    upload: gr.File
    file_status: gr.HTML
    progress: gr.HTML
    confirm_row: gr.Row
    replace_btn: gr.Button
    keep_btn: gr.Button
    delete_choice: gr.Dropdown
    delete_btn: gr.Button
    confirm_delete_row: gr.Row
    really_delete_btn: gr.Button
    cancel_delete_btn: gr.Button
    full_rebuild: gr.Checkbox
    rebuild_btn: gr.Button
    pending_upload: gr.State
    kb_choice: gr.Dropdown  # the knowledge base this tab manages
    kb_name: gr.Textbox
    kb_create_btn: gr.Button
    kb_delete_btn: gr.Button
    kb_confirm_row: gr.Row
    kb_really_delete_btn: gr.Button
    kb_cancel_btn: gr.Button
    faq: FaqPanel  # its FAQ pairs (rag.ui.faq_panel)
    chunks: ChunksView  # the chosen article's chunks, turned off or given linked questions
    words: WordsView  # the knowledge base's dictionary and synonyms


def articles_tab(tr: gr.I18n) -> ArticlesTab:
    """The corpus table, upload-and-index (asking before a replacement), delete (asking first), rebuild."""
    import gradio as gr

    with gr.Row(equal_height=False, elem_id="kb-row"):
        # Filled when the page loads (kb_page.selectors): the knowledge bases there are then.
        kb_choice = gr.Dropdown(["default"], value="default", label=tr("kb_manage"), elem_id="articles-kb", scale=2)
        kb_name = gr.Textbox(label=tr("kb_name"), elem_id="kb-name", max_length=40, scale=2)
        with gr.Column(scale=1, min_width=120):
            kb_create_btn = gr.Button(tr("kb_create"), elem_id="kb-create", size="sm")
            kb_delete_btn = gr.Button(tr("kb_delete"), elem_id="kb-delete", size="sm")
    with gr.Row(visible=False, elem_id="kb-confirm-delete") as kb_confirm_row:
        kb_really_delete_btn = gr.Button(tr("kb_really_delete"), variant="stop", elem_id="kb-really-delete")
        kb_cancel_btn = gr.Button(tr("cancel"), elem_id="kb-cancel-delete")
    notice = gr.Markdown("", elem_id="articles-status")
    progress = gr.HTML("", elem_id="build-progress")
    table = gr.Dataframe(value=[], headers=[page_message(key) for key in ARTICLE_COLUMNS], interactive=False, wrap=True,
                         elem_id="articles-table", label=tr("articles_table"))
    with gr.Row(equal_height=False):
        with gr.Column():
            # No file_types: gradio refuses other files with an English line, beside our 请先选择要上传的文件;
            # the library's check refuses them, one line per file in the page's words.
            upload = gr.File(label=tr("upload"), file_count="multiple", type="filepath", elem_id="upload")
            file_status = gr.HTML("", elem_id="upload-files")
            with gr.Row(visible=False, elem_id="confirm-replace") as confirm_row:
                replace_btn = gr.Button(tr("replace"), variant="stop", elem_id="replace-btn")
                keep_btn = gr.Button(tr("cancel"), elem_id="keep-btn")
        with gr.Column():
            delete_choice = gr.Dropdown([], label=tr("delete_choice"), elem_id="delete-choice")
            delete_btn = gr.Button(tr("delete"), elem_id="delete-btn")
            with gr.Row(visible=False, elem_id="confirm-delete") as confirm_delete_row:
                really_delete_btn = gr.Button(tr("really_delete"), variant="stop", elem_id="really-delete")
                cancel_delete_btn = gr.Button(tr("cancel"), elem_id="cancel-delete")
    with gr.Accordion(tr("rebuild_box"), open=False, elem_id="rebuild-box"):
        full_rebuild = gr.Checkbox(False, label=tr("full_rebuild"), elem_id="full-rebuild")
        rebuild_btn = gr.Button(tr("rebuild_box"), elem_id="rebuild")
    faq = faq_panel(tr)
    pending_upload = gr.State(None)
    chunks = chunks_view(tr)
    words = words_view(tr)
    return ArticlesTab(notice, table, upload, file_status, progress, confirm_row, replace_btn, keep_btn,
                       delete_choice, delete_btn, confirm_delete_row, really_delete_btn, cancel_delete_btn,
                       full_rebuild, rebuild_btn, pending_upload, kb_choice, kb_name, kb_create_btn, kb_delete_btn,
                       kb_confirm_row, kb_really_delete_btn, kb_cancel_btn, faq, chunks, words)


def connect_articles(bases: KnowledgeBases, a: ArticlesTab, status_line: gr.Markdown, article_filter: gr.Dropdown,
                     follow: Callable[[Any], Any] | None = None) -> None:
    """Upload-and-index, replace or keep, delete-and-reindex after asking, rebuild: in the chosen knowledge base.

    ``follow(event)`` chains what the chat shows of the index (its status line, filter) after each change.
    """
    import gradio as gr

    outputs = [a.notice, a.table, a.delete_choice, a.file_status, a.progress, a.confirm_row, a.pending_upload,
               status_line, article_filter, a.upload]
    hidden: dict[str, Any] = {"show_progress": "hidden"}  # the progress is drawn once, in #build-progress

    def on_upload(files: Any, kb: Any) -> Any:
        yield from in_base(bases, kb, lambda name: upload_and_index(bases, name, files))

    def on_replace(pending: Any, kb: Any) -> Any:
        yield from in_base(bases, kb, lambda name: confirm_replace(bases, name, pending))

    def on_delete(path: str | None, kb: Any) -> Any:
        yield from in_base(bases, kb, lambda name: remove_article(bases, name, path))

    def on_rebuild(full: bool, kb: Any) -> Any:
        yield from in_base(bases, kb, lambda name: rebuild(bases, name, full))

    changes = [
        a.upload.upload(on_upload, inputs=[a.upload, a.kb_choice], outputs=outputs, **hidden),
        a.replace_btn.click(on_replace, inputs=[a.pending_upload, a.kb_choice], outputs=outputs, **hidden),
        a.really_delete_btn.click(on_delete, inputs=[a.delete_choice, a.kb_choice], outputs=outputs, **hidden),
        a.rebuild_btn.click(on_rebuild, inputs=[a.full_rebuild, a.kb_choice], outputs=outputs, **hidden),
    ]
    for event in changes:
        if follow is not None:
            follow(event)
    a.keep_btn.click(keep_corpus, outputs=[a.notice, a.confirm_row, a.pending_upload], **hidden)
    a.delete_btn.click(ask_delete, inputs=[a.delete_choice], outputs=[a.notice, a.confirm_delete_row], **hidden)
    a.really_delete_btn.click(lambda: gr.update(visible=False), outputs=[a.confirm_delete_row], **hidden)
    a.cancel_delete_btn.click(cancel_delete, outputs=[a.notice, a.confirm_delete_row], **hidden)
    # Another knowledge base chosen: its table and delete list (a pending replacement is forgotten).
    a.kb_choice.change(lambda kb: show_base(bases, kb), inputs=[a.kb_choice], outputs=outputs, **hidden)
    a.kb_delete_btn.click(ask_delete_kb, inputs=[a.kb_choice], outputs=[a.notice, a.kb_confirm_row], **hidden)
    a.kb_cancel_btn.click(cancel_delete_kb, outputs=[a.notice, a.kb_confirm_row], **hidden)
    connect_faq(bases, a.faq, a.kb_choice)
    connect_chunks(bases, a.chunks, a.kb_choice)
    connect_words(bases, a.words, a.kb_choice)
