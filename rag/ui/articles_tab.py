"""The articles tab's handlers and table: upload-and-index, replace, delete-and-reindex, rebuild.

One action changes the corpus and the index: uploading files checks and saves
each one (a status per file: 解析中 → 已完成, or 失败 with the reason) and then
builds the index in the background; deleting an article builds it again, so a
deleted article is no longer answered. The chat answers from the old index until
the build switches to the new one (``ChatApp.start_build``). The checks and the
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
from rag.kb.uploads import ArticleRow, UploadCheck, check_upload, delete_article, list_articles, save_upload
from rag.ui.escape import esc, esc_markdown
from rag.ui.page_guard import NOT_UPLOADED, is_uploaded
from rag.ui.texts import build_report_text, error_text, say, stage_name, upload_check_text
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    from rag.ui.app import ChatApp

ARTICLE_COLUMNS = ["标题", "文件", "大小", "段落", "片段", "索引时间", "状态"]
ARTICLE_COLUMNS_EN = ["title", "file", "size", "paragraphs", "passages", "indexed at", "status"]
STATE_LABELS = {"indexed": "已完成", "changed": "已修改，待索引", "new": "新文件，待索引", "removed": "已删除，待索引"}
STATE_LABELS_EN = {"indexed": "done", "changed": "changed, to be indexed", "new": "new, to be indexed",
                   "removed": "deleted, to be indexed"}
NOTHING_CHANGED = "已取消，语料没有改动。"
NO_FILE = "请先选择要上传的文件。"
NO_ARTICLE = "请先选择要删除的文章。"
ENGLISH = {NOTHING_CHANGED: "Cancelled; the corpus is unchanged.", NO_FILE: "Choose a file to upload first.",
           NO_ARTICLE: "Choose the article to delete first."}


def said(text: str) -> str:
    """One of the tab's fixed notices in the page's language."""
    return say(text, ENGLISH.get(text, text))
POLL_SECONDS = 0.3


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
        return say("失败：", "failed: ") + failed[row.path]
    if building and row.state != "indexed":
        return say("索引中…", "indexing…")
    return say(STATE_LABELS[row.state], STATE_LABELS_EN[row.state])


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
    head = f'<tr><th>{say("文件", "file")}</th><th>{say("状态", "status")}</th></tr>'
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
        return f"{self.name}{say('：', ': ')}{self.text}"


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
def table_update(app: ChatApp, rows: list[ArticleRow], building: bool = False) -> Any:
    """The article table with each article's status and, in its label, when the index was last built."""
    import gradio as gr

    built = app.last_built() or say("尚未构建", "not yet")
    return gr.Dataframe(value=article_table(rows, app.last_failed(), building or app.building),
                        headers=say(",".join(ARTICLE_COLUMNS), ",".join(ARTICLE_COLUMNS_EN)).split(","),
                        label=say(f"语料中的文章 · 上次构建：{built}", f"Articles in the corpus · last built: {built}"))


def tab_outputs(app: ChatApp, step: Step, building: bool = False) -> tuple[Any, ...]:
    """notice, table, delete list, file statuses, progress, replace question, pending, status line, filter, chooser."""
    import gradio as gr

    text = step.notice
    table: Any
    choices: Any
    try:
        rows = list_articles(app.settings)
        table = table_update(app, rows, building)
        choices = gr.Dropdown(choices=corpus_choices(rows), value=None)
    except RagError as exc:  # a damaged index manifest: the table cannot be told, say why
        text += "\n\n✗ " + str(exc)
        table, choices = gr.skip(), gr.skip()
    confirm = gr.skip() if step.confirm is None else gr.update(visible=step.confirm)
    pending = gr.skip() if step.pending is None else (step.pending or None)
    status_line, article_filter = gr.skip(), gr.skip()
    if step.refresh_index:
        status_line = app.status_line()
        try:
            indexed = article_choices(app.indexed_articles())
        except RagError as exc:  # the new index cannot be read: say why (the status line says it too)
            text += "\n\n✗ " + str(exc)
            indexed = []
        article_filter = gr.Dropdown(choices=indexed, value=[], multiselect=True)
    return (notice(text), table, choices, file_status_html(step.files), step.progress, confirm, pending,
            status_line, article_filter, None if step.clear_upload else gr.skip())


def build_steps(app: ChatApp, step: Step, full: bool = False) -> Iterator[tuple[Any, ...]]:
    """Build the index in the background and show its progress; the chat answers from the old index until the switch."""
    indexing = [f for f in step.files if f.state == "indexing"]
    changed = time.monotonic()  # the corpus changed before this: a build started earlier may not see it
    while True:
        job = app.start_build(full)
        while job.running:
            label = say("正在更新索引", "Updating the index") + (
                f"{say('：', ': ')}{stage_name(job.stage)} {job.done}/{job.total}" if job.total else "…")
            shown = "\n\n".join(part for part in [*(f.line for f in step.files), step.notice] if part)
            yield tab_outputs(app, Step(shown, step.files, progress_html(label, job.done, job.total)), True)
            time.sleep(POLL_SECONDS)
        job.thread.join()
        if job.created >= changed:
            break
    if job.error is not None:
        warning_toast(job.error)
        for f in indexing:
            f.state, f.text = "failed", say("✗ 失败：", "✗ failed: ") + job.error
        text = "✗ " + job.error
    else:
        assert job.report is not None
        failed = job.report.failed
        for f in indexing:
            reason = failed.get(f.path or "")
            f.state, f.text = (("failed", say("✗ 失败：", "✗ failed: ") + reason) if reason else
                               ("done", say(f"已完成（{f.added}）", f"done ({f.added})")))
        text = build_report_text(job.report)
    shown = "\n\n".join(part for part in [*(f.line for f in step.files), step.notice, text] if part)
    yield tab_outputs(app, Step(shown, step.files, "", refresh_index=True))


# -- handlers -----------------------------------------------------------------------------------
def uploaded(path: Path) -> None:
    """Refuse a file that did not arrive through the page's upload (gradio's cache holds every one that did)."""
    if not is_uploaded(path):
        raise RagError(say(*NOT_UPLOADED))


def upload_and_index(app: ChatApp, files: list[str] | str | None) -> Iterator[tuple[Any, ...]]:
    """Check and save each uploaded file, then index them: one action, a status per file.

    A duplicate is not added again; a name that exists waits for 替换/取消; a bad
    file fails with its reason and does not stop the others.
    """
    paths = [files] if isinstance(files, str) else list(files or [])
    if not paths:
        warning_toast(said(NO_FILE))
        yield tab_outputs(app, Step(said(NO_FILE), confirm=False, pending=[]))
        return
    statuses = [FileStatus(Path(p).name, text=say("解析中…", "reading…")) for p in paths]
    # Emptied at once (not after the build): a file chosen meanwhile is a new upload, not lost to a late clear.
    yield tab_outputs(app, Step(say("解析中…", "reading…"), statuses, clear_upload=True))
    pending: list[tuple[str, UploadCheck]] = []
    for path, status in zip(paths, statuses, strict=True):
        source = Path(path)
        try:
            uploaded(source)
            check = check_upload(source, source.name, app.settings)
            if check.status == "duplicate":
                status.state, status.text = "skipped", say("提示：", "note: ") + upload_check_text(check)
                info_toast(upload_check_text(check))
            elif check.status == "replace":
                status.state, status.text = "pending", say("请确认：", "please confirm: ") + upload_check_text(check)
                pending.append((path, check))
            else:
                status.path = save_upload(source, check, app.settings).relative_to(app.settings.corpus_dir).as_posix()
                status.added = say(f"已添加「{check.title}」，{check.paragraphs} 段",
                                   f"added “{check.title}”, {check.paragraphs} paragraphs")
                status.state, status.text = "indexing", status.added + say("，索引中…", ", indexing…")
        except (RagError, OSError) as exc:
            status.state, status.text = "failed", say("✗ 失败：", "✗ failed: ") + error_text(exc)
            warning_toast(error_text(exc))
    text = "\n\n".join(s.line for s in statuses)
    if any(s.state == "indexing" for s in statuses):
        yield tab_outputs(app, Step(text, statuses, progress_html(say("正在更新索引…", "Updating the index…")),
                                    bool(pending), pending))
        yield from build_steps(app, Step("", statuses))
    else:
        yield tab_outputs(app, Step(text, statuses, "", bool(pending), pending))


def confirm_replace(app: ChatApp, pending: list[tuple[str, UploadCheck]] | None) -> Iterator[tuple[Any, ...]]:
    """Replace the articles of the same names with the pending uploads, then index them."""
    if not pending:
        yield tab_outputs(app, Step(say("没有等待确认的上传。", "No upload waits for a confirmation."), confirm=False,
                                    pending=[]))
        return
    statuses = []
    for file, check in pending:
        status = FileStatus(check.name)
        try:
            uploaded(Path(file))
            save_upload(Path(file), check, app.settings, replace=True)
            status.path, status.state = check.name, "indexing"
            status.added = say(f"已替换「{check.title}」", f"replaced “{check.title}”")
            status.text = status.added + say("，索引中…", ", indexing…")
        except (RagError, OSError) as exc:
            warning_toast(error_text(exc))
            status.state, status.text = "failed", say("✗ 失败：", "✗ failed: ") + error_text(exc)
        statuses.append(status)
    yield tab_outputs(app, Step("\n\n".join(s.line for s in statuses), statuses,
                                progress_html(say("正在更新索引…", "Updating the index…")), False, []))
    if any(s.state == "indexing" for s in statuses):
        yield from build_steps(app, Step("", statuses))


def keep_corpus() -> tuple[Any, ...]:
    """The replacement was cancelled: hide the question, forget the pending upload."""
    import gradio as gr

    return notice(said(NOTHING_CHANGED)), gr.update(visible=False), None


def ask_delete(path: str | None) -> tuple[Any, ...]:
    """Ask before deleting an article."""
    import gradio as gr

    if not path:
        return notice(said(NO_ARTICLE)), gr.update(visible=False)
    return notice(say(f"请确认：确定从语料中删除 {path} 吗？删除后索引会随之更新。",
                      f"Please confirm: delete {path} from the corpus? The index follows.")), gr.update(visible=True)


def cancel_delete() -> tuple[Any, ...]:
    """The deletion was cancelled: hide the question."""
    import gradio as gr

    return notice(said(NOTHING_CHANGED)), gr.update(visible=False)


def remove_article(app: ChatApp, path: str | None) -> Iterator[tuple[Any, ...]]:
    """Delete an article file and index again, so it is no longer answered."""
    if not path:
        yield tab_outputs(app, Step(said(NO_ARTICLE)))
        return
    try:
        delete_article(path, app.settings)
    except (RagError, OSError) as exc:
        warning_toast(error_text(exc))
        yield tab_outputs(app, Step("✗ " + error_text(exc)))
        return
    text = say(f"✓ 已删除 {path}，正在更新索引；完成后它不再出现在回答中。",
               f"✓ Deleted {path}; updating the index, after which it is no longer answered.")
    yield tab_outputs(app, Step(text, progress=progress_html(say("正在更新索引…", "Updating the index…"))))
    yield from build_steps(app, Step(say(f"✓ 已删除 {path}。", f"✓ Deleted {path}.")))


def rebuild(app: ChatApp, full: bool) -> Iterator[tuple[Any, ...]]:
    """Build the index again (from the start with ``full``); chat keeps answering from the old index."""
    yield tab_outputs(app, Step("", progress=progress_html(say("正在更新索引…", "Updating the index…"))))
    yield from build_steps(app, Step(""), bool(full))
