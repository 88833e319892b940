"""The articles tab's handlers and table: upload-and-index, replace, delete-and-reindex, rebuild.

One action changes the corpus and the index: uploading files checks and saves
each one (a status per file: 解析中 → 已完成, or 失败 with the reason) and then
builds the index in the background; deleting an article builds it again, so a
deleted article is no longer answered. The chat answers from the old index until
the build switches to the new one (``KnowledgeBases.start_build``). The checks and the
writing are the library's (``rag.kb.uploads``); a name that exists still asks
before replacing, a deletion asks first. Handlers are generators: each step is
shown as it happens, and the build's progress is drawn once, in its own place.

Notices are built as plain text and escaped once, where they become Markdown or
HTML (titles and file names are data). gradio is imported inside the handlers only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.uploads import ArticleRow, UploadCheck
from rag.messages import message
from rag.ui.escape import esc, esc_markdown
from rag.ui.page_guard import is_uploaded
from rag.ui.texts import (
    build_failed_text,
    build_report_text,
    error_text,
    request_lang,
    shown_status_line,
    stage_name,
    upload_check_text,
)
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    from rag.kb.bases import KnowledgeBases

ARTICLE_COLUMNS = ("col_title", "col_file", "col_size", "col_paragraphs", "col_passages", "col_indexed_at",
                   "col_status")
POLL_SECONDS = 0.3


def said(key: str, **values: object) -> str:
    """A text of the catalogue in the page's language."""
    return message(key, request_lang(), **values)


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


def shown_time(stamp: str | None) -> str:
    """An ISO time for the page.

    >>> shown_time("2026-01-02T03:04:05+00:00"), shown_time(None)
    ('2026-01-02 03:04:05 UTC', '')
    """
    return (stamp or "").replace("T", " ").replace("+00:00", " UTC")


def row_state(row: ArticleRow, failed: dict[str, str], building: bool) -> str:
    """An article's status for the table: indexed, waiting, being indexed, or failed with its reason."""
    if row.path in failed and row.state != "indexed":
        return said("state_failed", reason=failed[row.path])
    if building and row.state != "indexed":
        return said("indexing")
    return said(f"state_{row.state}")


def article_table(rows: list[ArticleRow], failed: dict[str, str] | None = None,
                  building: bool = False) -> list[list[Any]]:
    """Rows of the articles table (plain values: the table shows them as text)."""
    return [
        [r.title, r.path, format_size(r.size_bytes), "" if r.paragraphs is None else r.paragraphs,
         "" if r.chunks is None else r.chunks, shown_time(r.indexed_at), row_state(r, failed or {}, building)]
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


def progress_html(label: str, done: int = 0, total: int = 0) -> str:
    """The build's progress bar with its label (one element, drawn in one place); empty label: nothing."""
    if not label:
        return ""
    top = max(total, 1)
    bar = f'<progress max="{top}" value="{min(done, top)}"></progress>' if total else "<progress></progress>"
    return f'<div class="build-progress" role="status">{bar} <span>{esc(label)}</span></div>'


def file_status_html(files: list[FileStatus]) -> str:
    """The uploaded files with the status of each (escaped: names and reasons are data)."""
    if not files:
        return ""
    rows = "".join(f'<tr data-state="{f.state}"><td>{esc(f.name)}</td><td>{esc(f.text)}</td></tr>' for f in files)
    head = f'<tr><th>{esc(said("col_file"))}</th><th>{esc(said("col_status"))}</th></tr>'
    return f'<table class="upload-files">{head}{rows}</table>'


@dataclass
class FileStatus:
    """One uploaded file's way: parsing, waiting for a confirmation, indexing, done or failed."""

    name: str
    state: str = "parsing"  # parsing, pending, indexing, done, skipped, failed
    text: str = ""
    path: str | None = None  # in the corpus, once saved
    added: str = ""  # what was added, e.g. 已添加「标题」（3 段）

    @property
    def line(self) -> str:
        """The file's line in the notice."""
        return f"{self.name}{said('separator')}{self.text}"


@dataclass
class Step:
    """What the articles tab shows after one step of an action (gradio skips what is None)."""

    notice: str
    files: list[FileStatus] = field(default_factory=list)
    progress: str = ""
    confirm: bool | None = None  # show or hide the replace question; None: leave it
    pending: list[tuple[str, UploadCheck]] | None = None
    refresh_index: bool = False  # re-read the status line and the chat's article filter (after a build)
    clear_upload: bool = False  # empty the file chooser: its files are taken, the next choice starts afresh


# -- the outputs --------------------------------------------------------------------------------
def table_update(bases: KnowledgeBases, name: str, rows: list[ArticleRow], building: bool = False) -> Any:
    """The article table with each article's status and, in its label, when the index was last built."""
    import gradio as gr

    built = bases.last_built(name) or said("not_built")
    return gr.Dataframe(value=article_table(rows, bases.last_failed(name), building or bases.building(name)),
                        headers=[said(key) for key in ARTICLE_COLUMNS],
                        label=said("articles_table_built", built=built))


def tab_outputs(bases: KnowledgeBases, name: str, step: Step, building: bool = False) -> tuple[Any, ...]:
    """notice, table, delete list, file statuses, progress, replace question, pending, status line, filter, chooser."""
    import gradio as gr

    text = step.notice
    table: Any
    choices: Any
    try:
        rows = bases.articles_table(name)
        table = table_update(bases, name, rows, building)
        choices = gr.Dropdown(choices=corpus_choices(rows), value=None)
    except RagError as exc:  # a damaged index manifest: the table cannot be told, say why
        text += "\n\n✗ " + str(exc)
        table, choices = gr.skip(), gr.skip()
    confirm = gr.skip() if step.confirm is None else gr.update(visible=step.confirm)
    pending = gr.skip() if step.pending is None else (step.pending or None)
    status_line, article_filter = gr.skip(), gr.skip()
    if step.refresh_index:
        status_line = shown_status_line(bases, name)
        try:
            indexed = article_choices(bases.indexed_articles(name))
        except RagError as exc:  # the new index cannot be read: say why (the status line says it too)
            text += "\n\n✗ " + str(exc)
            indexed = []
        article_filter = gr.Dropdown(choices=indexed, value=[], multiselect=True)
    return (notice(text), table, choices, file_status_html(step.files), step.progress, confirm, pending,
            status_line, article_filter, None if step.clear_upload else gr.skip())


def build_steps(bases: KnowledgeBases, name: str, step: Step, full: bool = False) -> Iterator[tuple[Any, ...]]:
    """Build the index in the background and show its progress; the chat answers from the old index until the switch."""
    indexing = [f for f in step.files if f.state == "indexing"]
    changed = time.monotonic()  # the corpus changed before this: a build started earlier may not see it
    while True:
        job = bases.start_build(name, full)
        while job.running:
            label = said("updating_stage", stage=stage_name(job.stage), done=job.done, total=job.total) \
                if job.total else said("updating")
            shown = "\n\n".join(part for part in [*(f.line for f in step.files), step.notice] if part)
            yield tab_outputs(bases, name, Step(shown, step.files, progress_html(label, job.done, job.total)), True)
            time.sleep(POLL_SECONDS)
        job.thread.join()
        if job.created >= changed:
            break
    if job.error is not None:
        error = build_failed_text(job.error) if job.unexpected else job.error
        warning_toast(error)
        for f in indexing:
            f.state, f.text = "failed", said("file_failed", reason=error)
        text = "✗ " + error
    else:
        assert job.report is not None
        failed = job.report.failed
        for f in indexing:
            reason = failed.get(f.path or "")
            f.state, f.text = (("failed", said("file_failed", reason=reason)) if reason else
                               ("done", said("file_done", added=f.added)))
        text = build_report_text(job.report)
    shown = "\n\n".join(part for part in [*(f.line for f in step.files), step.notice, text] if part)
    yield tab_outputs(bases, name, Step(shown, step.files, "", refresh_index=True))


# -- handlers -----------------------------------------------------------------------------------
def uploaded(path: Path) -> None:
    """Refuse a file that did not arrive through the page's upload (gradio's cache holds every one that did)."""
    if not is_uploaded(path):
        raise RagError(said("not_uploaded"))


def upload_and_index(bases: KnowledgeBases, name: str, files: list[str] | str | None) -> Iterator[tuple[Any, ...]]:
    """Check and save each uploaded file, then index them: one action, a status per file.

    A duplicate is not added again; a name that exists waits for 替换/取消; a bad
    file fails with its reason and does not stop the others.
    """
    paths = [files] if isinstance(files, str) else list(files or [])
    if not paths:
        warning_toast(said("no_file"))
        yield tab_outputs(bases, name, Step(said("no_file"), confirm=False, pending=[]))
        return
    statuses = [FileStatus(Path(p).name, text=said("reading")) for p in paths]
    # Emptied at once (not after the build): a file chosen meanwhile is a new upload, not lost to a late clear.
    yield tab_outputs(bases, name, Step(said("reading"), statuses, clear_upload=True))
    pending: list[tuple[str, UploadCheck]] = []
    for path, status in zip(paths, statuses, strict=True):
        source = Path(path)
        try:
            uploaded(source)
            check = bases.check_upload(name, source, source.name)
            if check.status == "duplicate":
                status.state, status.text = "skipped", said("note", text=upload_check_text(check))
                info_toast(upload_check_text(check))
            elif check.status == "replace":
                status.state, status.text = "pending", said("please_confirm", text=upload_check_text(check))
                pending.append((path, check))
            else:
                status.path = bases.save_upload(name, source, check)
                status.added = said("added", title=check.title, paragraphs=check.paragraphs)
                status.state, status.text = "indexing", said("then_indexing", done=status.added)
        except (RagError, OSError) as exc:
            status.state, status.text = "failed", said("file_failed", reason=error_text(exc))
            warning_toast(error_text(exc))
    text = "\n\n".join(s.line for s in statuses)
    if any(s.state == "indexing" for s in statuses):
        yield tab_outputs(bases, name, Step(text, statuses, progress_html(said("updating")), bool(pending), pending))
        yield from build_steps(bases, name, Step("", statuses))
    else:
        yield tab_outputs(bases, name, Step(text, statuses, "", bool(pending), pending))


def confirm_replace(bases: KnowledgeBases, name: str,
                    pending: list[tuple[str, UploadCheck]] | None) -> Iterator[tuple[Any, ...]]:
    """Replace the articles of the same names with the pending uploads, then index them."""
    if not pending:
        yield tab_outputs(bases, name, Step(said("nothing_pending"), confirm=False, pending=[]))
        return
    statuses = []
    for file, check in pending:
        status = FileStatus(check.name)
        try:
            uploaded(Path(file))
            bases.save_upload(name, Path(file), check, replace_file=True)
            status.path, status.state = check.name, "indexing"
            status.added = said("replaced", title=check.title)
            status.text = said("then_indexing", done=status.added)
        except (RagError, OSError) as exc:
            warning_toast(error_text(exc))
            status.state, status.text = "failed", said("file_failed", reason=error_text(exc))
        statuses.append(status)
    yield tab_outputs(bases, name, Step("\n\n".join(s.line for s in statuses), statuses,
                                        progress_html(said("updating")), False, []))
    if any(s.state == "indexing" for s in statuses):
        yield from build_steps(bases, name, Step("", statuses))


def keep_corpus() -> tuple[Any, ...]:
    """The replacement was cancelled: hide the question, forget the pending upload."""
    import gradio as gr

    return notice(said("nothing_changed")), gr.update(visible=False), None


def ask_delete(path: str | None) -> tuple[Any, ...]:
    """Ask before deleting an article."""
    import gradio as gr

    if not path:
        return notice(said("no_article")), gr.update(visible=False)
    return notice(said("confirm_delete_article", path=path)), gr.update(visible=True)


def cancel_delete() -> tuple[Any, ...]:
    """The deletion was cancelled: hide the question."""
    import gradio as gr

    return notice(said("nothing_changed")), gr.update(visible=False)


def remove_article(bases: KnowledgeBases, name: str, path: str | None) -> Iterator[tuple[Any, ...]]:
    """Delete an article file and index again, so it is no longer answered."""
    if not path:
        yield tab_outputs(bases, name, Step(said("no_article")))
        return
    try:
        bases.delete_article(name, path)
    except (RagError, OSError) as exc:
        warning_toast(error_text(exc))
        yield tab_outputs(bases, name, Step("✗ " + error_text(exc)))
        return
    yield tab_outputs(bases, name, Step(said("deleted_updating", path=path), progress=progress_html(said("updating"))))
    yield from build_steps(bases, name, Step(said("deleted", path=path)))


def rebuild(bases: KnowledgeBases, name: str, full: bool) -> Iterator[tuple[Any, ...]]:
    """Build the index again (from the start with ``full``); chat keeps answering from the old index."""
    yield tab_outputs(bases, name, Step("", progress=progress_html(said("updating"))))
    yield from build_steps(bases, name, Step(""), bool(full))
