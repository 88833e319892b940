"""The articles tab's handlers and table: upload, replace, delete, rebuild the index.

The checks and the writing are the library's (``rag.kb.uploads``); these handlers
ask before replacing or deleting, word the results (``texts``) and refresh the
article table. Notices are built as plain text and escaped once, by ``notice``,
where they become the Markdown of the page (titles and file names are data).
gradio is imported inside the handlers only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.uploads import (
    ArticleRow,
    UploadCheck,
    check_upload,
    corpus_changed,
    delete_article,
    list_articles,
    save_upload,
)
from rag.ui.escape import esc_markdown
from rag.ui.texts import build_report_text, error_text, stage_name, upload_check_text
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    from rag.ui.app import ChatApp

ARTICLE_COLUMNS = ["标题", "文件", "大小", "段落", "块", "索引时间", "状态"]
STATE_LABELS = {"indexed": "已索引", "changed": "已修改，待重建", "new": "新文件，待重建", "removed": "已删除，待重建"}
NOTHING_CHANGED = "已取消，语料没有改动。"
NO_FILE = "请先选择要上传的文件。"
NO_ARTICLE = "请先选择要删除的文章。"


# -- the table and the choices ----------------------------------------------------------------
def format_size(n: int) -> str:
    """Bytes for people.

    >>> format_size(5214)
    '5.1 KB'
    """
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def article_table(rows: list[ArticleRow]) -> list[list[Any]]:
    """Rows of the articles table (plain values: the table shows them as text)."""
    return [
        [r.title, r.path, format_size(r.size_bytes), "" if r.paragraphs is None else r.paragraphs,
         "" if r.chunks is None else r.chunks, (r.indexed_at or "").replace("T", " ").replace("+00:00", " UTC"),
         STATE_LABELS[r.state]]
        for r in rows
    ]


def corpus_choices(rows: list[ArticleRow]) -> list[tuple[str, str]]:
    """(label, path) of the articles in the corpus folder, for the delete list."""
    return [(f"{r.title}（{r.path}）", r.path) for r in rows if r.state != "removed"]


def article_choices(indexed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label, path) of the indexed articles given as (path, title), for the chat's article filter."""
    return [(f"{title}（{path}）", path) for path, title in indexed]


def notice(text: str) -> str:
    """A plain-text notice as the Markdown of the articles tab's status (escaped: it quotes names and titles)."""
    return esc_markdown(text)


def _corpus_updates(app: ChatApp, text: str) -> tuple[Any, ...]:
    """The notice (with a reminder to rebuild when the corpus differs from the index), the table, the delete list."""
    import gradio as gr

    try:
        rows = list_articles(app.settings)
    except RagError as exc:  # a damaged index manifest: the table cannot be told, say why
        return notice(text + "\n\n✗ " + str(exc)), gr.skip(), gr.skip()
    if corpus_changed(rows) and "重建" not in text:
        text += "\n\n语料与索引不一致：点击「重建索引」后，新的内容才能被检索到。"
    return notice(text), article_table(rows), gr.Dropdown(choices=corpus_choices(rows), value=None)


# -- handlers -----------------------------------------------------------------------------------
def add_upload(app: ChatApp, file: str | None) -> tuple[Any, ...]:
    """Check an uploaded file and add it to the corpus; a name that exists asks first."""
    import gradio as gr

    hidden = gr.update(visible=False)
    if not file:
        warning_toast(NO_FILE)
        return (*_corpus_updates(app, NO_FILE), hidden, None, gr.skip())
    source = Path(file)
    try:
        check = check_upload(source, source.name, app.settings)
        if check.status == "duplicate":
            info_toast(upload_check_text(check))
            return (*_corpus_updates(app, "提示：" + upload_check_text(check)), hidden, None, None)
        if check.status == "replace":
            return (*_corpus_updates(app, "请确认：" + upload_check_text(check)), gr.update(visible=True),
                    (file, check), gr.skip())
        save_upload(source, check, app.settings)
    except (RagError, OSError) as exc:
        message = error_text(exc)
        warning_toast(message)
        return (*_corpus_updates(app, "✗ " + message), hidden, None, None)
    return (*_corpus_updates(app, f"✓ 已添加「{check.title}」（{check.name}，{check.paragraphs} 段）。"
                                  "点击「重建索引」后即可提问。"), hidden, None, None)


def confirm_replace(app: ChatApp, pending: tuple[str, UploadCheck] | None) -> tuple[Any, ...]:
    """Replace the article of the same name with the pending upload."""
    import gradio as gr

    hidden = gr.update(visible=False)
    if not pending:
        return (*_corpus_updates(app, "没有等待确认的上传。"), hidden, None, None)
    file, check = pending
    try:
        save_upload(Path(file), check, app.settings, replace=True)
    except (RagError, OSError) as exc:
        warning_toast(error_text(exc))
        return (*_corpus_updates(app, "✗ " + error_text(exc)), hidden, None, None)
    return (*_corpus_updates(app, f"✓ 已替换 {check.name}。点击「重建索引」后生效。"), hidden, None, None)


def keep_corpus() -> tuple[Any, ...]:
    """The replacement was cancelled: hide the question, forget the pending upload."""
    import gradio as gr

    return notice(NOTHING_CHANGED), gr.update(visible=False), None


def ask_delete(path: str | None) -> tuple[Any, ...]:
    """Ask before deleting an article."""
    import gradio as gr

    if not path:
        return notice(NO_ARTICLE), gr.update(visible=False)
    return notice(f"请确认：确定从语料中删除 {path} 吗？"), gr.update(visible=True)


def cancel_delete() -> tuple[Any, ...]:
    """The deletion was cancelled: hide the question."""
    import gradio as gr

    return notice(NOTHING_CHANGED), gr.update(visible=False)


def remove_article(app: ChatApp, path: str | None) -> tuple[Any, ...]:
    """Delete an article file; it leaves the index at the next build."""
    import gradio as gr

    hidden = gr.update(visible=False)
    if not path:
        return (*_corpus_updates(app, NO_ARTICLE), hidden)
    try:
        delete_article(path, app.settings)
    except (RagError, OSError) as exc:
        warning_toast(error_text(exc))
        return (*_corpus_updates(app, "✗ " + error_text(exc)), hidden)
    return (*_corpus_updates(app, f"✓ 已删除 {path}。点击「重建索引」后，它不再出现在回答中。"), hidden)


def rebuild(app: ChatApp, full: bool, progress: Any) -> tuple[Any, ...]:
    """Build the index in a thread, showing its progress; chat keeps answering from the old index."""
    import gradio as gr

    job = app.start_build(bool(full))
    progress(0, desc="读取文章…")
    while job.running:
        if job.total:
            progress((job.done, job.total), desc=f"{stage_name(job.stage)} {job.done}/{job.total}")
        time.sleep(0.2)
    job.thread.join()
    if job.error is not None:
        warning_toast(job.error)
        text = "✗ " + job.error
    else:
        assert job.report is not None
        text = build_report_text(job.report)
    try:
        choices = article_choices(app.indexed_articles())
    except RagError as exc:  # the new index cannot be read: say why (the status line says it too)
        text += "\n\n✗ " + str(exc)
        choices = []
    return (*_corpus_updates(app, text), app.status_line(), gr.Dropdown(choices=choices, value=[], multiselect=True))
