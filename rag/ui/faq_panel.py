"""The 文章 tab's FAQ panel: the knowledge base's FAQ pairs listed, imported from a file, deleted by id.

The library does the work (``KnowledgeBases.faq``: ``rag.kb.faq.FaqBook``); an
imported file must have come through the page's upload (``page_guard.is_uploaded``).
Every row that could not be imported is one line of the notice, the others are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.ui.articles_tab import notice, said, uploaded
from rag.ui.kb_page import base_name
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases

FAQ_COLUMNS = ("faq_col_id", "faq_col_question", "faq_col_answer", "faq_col_source")


@dataclass
class FaqPanel:
    """The FAQ panel's components that events read or write."""

    box: gr.Accordion
    notice: gr.Markdown
    table: gr.Dataframe
    upload: gr.File
    delete_id: gr.Textbox
    delete_btn: gr.Button
    refresh_btn: gr.Button


def faq_panel(tr: gr.I18n) -> FaqPanel:
    """The panel, closed at first: its table fills when it is opened."""
    import gradio as gr

    from rag.ui.texts import page_message

    with gr.Accordion(tr("faq_box"), open=False, elem_id="faq-box") as box:
        gr.Markdown(tr("faq_intro"))
        status = gr.Markdown("", elem_id="faq-status")
        table = gr.Dataframe(value=[], headers=[page_message(key) for key in FAQ_COLUMNS], interactive=False,
                             wrap=True, elem_id="faq-table")
        upload = gr.File(label=tr("faq_upload"), file_count="single", type="filepath", elem_id="faq-upload")
        with gr.Row(equal_height=True):
            delete_id = gr.Textbox(label=tr("faq_delete_id"), elem_id="faq-delete-id", max_length=20, scale=2)
            delete_btn = gr.Button(tr("faq_delete"), elem_id="faq-delete", scale=1)
            refresh_btn = gr.Button(tr("faq_refresh"), elem_id="faq-refresh", scale=1)
    return FaqPanel(box, status, table, upload, delete_id, delete_btn, refresh_btn)


def faq_rows(bases: KnowledgeBases, name: str) -> list[list[str]]:
    """The table's rows: id, question, answer, source."""
    return [[e.id, e.question, e.answer, e.source] for e in bases.faq(name).entries()]


def show_faq(bases: KnowledgeBases, kb: Any, said_first: str = "") -> tuple[str, Any]:
    """(notice, table) of the chosen knowledge base's FAQ; an FAQ file that does not read is the notice."""
    try:
        rows = faq_rows(bases, base_name(kb))
    except RagError as exc:
        return notice("✗ " + str(exc)), []
    text = "\n\n".join(part for part in (said_first, said("faq_count", n=len(rows))) if part)
    return notice(text), rows


def import_faq_file(bases: KnowledgeBases, kb: Any, file: Any) -> tuple[str, Any, Any]:
    """Import an uploaded file: a line per row skipped, the counts; (notice, table, the upload cleared)."""
    if not file:
        warning_toast(said("no_file"))
        return (*show_faq(bases, kb), None)
    try:
        path = Path(str(file))
        uploaded(path)
        done = bases.faq(base_name(kb)).import_file(path)
    except RagError as exc:
        warning_toast(str(exc))
        return (*show_faq(bases, kb, "✗ " + str(exc)), None)
    summary = said("faq_imported", added=len(done.added), updated=len(done.updated), skipped=len(done.problems))
    info_toast(summary)
    return (*show_faq(bases, kb, "\n\n".join([*done.problems, summary])), None)


def delete_faq_entry(bases: KnowledgeBases, kb: Any, entry_id: Any) -> tuple[str, Any, Any]:
    """Delete the entry whose id is typed; (notice, table, the id field cleared)."""
    entry_id = str(entry_id or "").strip()
    if not entry_id:
        warning_toast(said("faq_no_id"))
        return (*show_faq(bases, kb), "")
    try:
        entry = bases.faq(base_name(kb)).delete(entry_id)
    except RagError as exc:
        warning_toast(str(exc))
        return (*show_faq(bases, kb, "✗ " + str(exc)), entry_id)
    return (*show_faq(bases, kb, said("faq_deleted", id=entry.id, question=entry.question)), "")


def connect_faq(bases: KnowledgeBases, p: FaqPanel, kb_choice: gr.Dropdown) -> None:
    """Open, refresh, another knowledge base chosen: the list; an upload imports; the button deletes."""
    hidden: dict[str, Any] = {"show_progress": "hidden"}
    listing = [p.notice, p.table]
    p.box.expand(lambda kb: show_faq(bases, kb), inputs=[kb_choice], outputs=listing, **hidden)
    p.refresh_btn.click(lambda kb: show_faq(bases, kb), inputs=[kb_choice], outputs=listing, **hidden)
    kb_choice.change(lambda kb: show_faq(bases, kb), inputs=[kb_choice], outputs=listing, **hidden)
    p.upload.upload(lambda kb, f: import_faq_file(bases, kb, f), inputs=[kb_choice, p.upload],
                    outputs=[*listing, p.upload])
    p.delete_btn.click(lambda kb, i: delete_faq_entry(bases, kb, i), inputs=[kb_choice, p.delete_id],
                       outputs=[*listing, p.delete_id])
