"""The browser chat: ask, check the sources, manage the articles, run evaluations.

``serve(settings)`` starts it (``rag serve``, ``python app.py``). gradio is
imported only inside the functions here, so ``import rag.ui`` stays light.

One ``ChatApp`` holds what all browser sessions share: the knowledge base (which
follows the index's CURRENT pointer, so a finished rebuild is picked up by the
next question) and the background build. Each session keeps its own turns.
Everything shown is escaped by ``rag.ui.render``; errors become messages, never tracebacks.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexMissingError, RagError, SettingsError
from rag.kb.knowledge_base import KnowledgeBase, Retrieved
from rag.kb.uploads import (
    UploadCheck,
    check_upload,
    corpus_changed,
    delete_article,
    feedback_path,
    feedback_record,
    list_articles,
    save_feedback,
    save_upload,
)
from rag.records import Answer, Article
from rag.settings import RETRIEVAL_MODES, Settings
from rag.store.build import BuildReport
from rag.ui import render as view

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger(__name__)

STAGE_NAMES = {"embed": "嵌入", "write": "写入索引", "load": "读取文章"}


@dataclass
class Turn:
    """One question of a session and its answer (None when it failed)."""

    question: str
    answer: Answer | None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    articles: list[str] = field(default_factory=list)


@dataclass
class BuildJob:
    """An index build running in a thread; the UI polls its progress."""

    def __init__(self, kb: KnowledgeBase, rebuild: bool):
        self.stage = "load"
        self.done = 0
        self.total = 0
        self.report: BuildReport | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, args=(kb, rebuild), name="rag-build", daemon=True)

    def progress(self, stage: str, done: int, total: int) -> None:
        """Progress callback for ``KnowledgeBase.build``."""
        self.stage, self.done, self.total = stage, done, total

    def _run(self, kb: KnowledgeBase, rebuild: bool) -> None:
        try:
            self.report = kb.build(rebuild=rebuild, progress=self.progress)
        except RagError as exc:
            self.error = str(exc)
        except Exception as exc:  # a thread has no caller to raise to: keep it for the UI
            log.exception("index build failed")
            self.error = f"构建失败（{type(exc).__name__}: {exc}）"

    @property
    def running(self) -> bool:
        """True while the build thread is alive."""
        return self.thread.is_alive()


class ChatApp:
    """State shared by every browser session: settings, knowledge base, the running build."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.kb = KnowledgeBase(settings)
        self._job: BuildJob | None = None
        self._job_lock = threading.Lock()

    def warm_up(self) -> str | None:
        """Load the encoder and the index now, so the first question is fast; a note when there is no index."""
        self.kb.encoder()
        try:
            # One real question: the first one through the model and jieba is several times slower.
            self.kb.ask("深圳", k=1)
        except IndexMissingError as exc:
            return str(exc)
        return None

    # -- answering -------------------------------------------------------------------------
    def answer_steps(self, question: str, history: list[str], k: int, mode: str, articles: list[str],
                     generative: bool) -> Iterator[Retrieved | str | Answer]:
        """Yield Retrieved when retrieval ends, then (generative) text deltas, then the Answer."""
        return self.kb.answer_steps(question, history, k, mode, articles, generative)

    def article(self, path: str) -> Article | None:
        """An article of the current index version, or None when it is not there (any more)."""
        try:
            return self.kb.version().articles.get(path)
        except RagError:
            return None

    def indexed_articles(self) -> list[tuple[str, str]]:
        """(path, title) of every article in the current index."""
        try:
            return [(a.path, a.title) for a in self.kb.version().articles.values()]
        except RagError:
            return []

    def status_line(self) -> str:
        """One line about the index, for the page header."""
        try:
            s = self.kb.status()
        except RagError as exc:
            return f"⚠ {view.esc(str(exc))}"
        built = str(s["built_at"]).replace("T", " ").replace("+00:00", " UTC")
        store = "FAISS" if s.get("store") != "milvus" else f"Milvus `{str(s.get('milvus_uri')).replace('`', '')}`"
        return (f"索引 `{s['version']}` · {s['articles']} 篇文章 · {s['chunks']} 个块 · "
                f"模型 {view.esc(str(s['model']))} · 存储 {store} · 构建于 {built}")

    # -- building ---------------------------------------------------------------------------
    def start_build(self, rebuild: bool) -> BuildJob:
        """Start a build in a thread, or return the one already running."""
        with self._job_lock:
            if self._job is None or not self._job.running:
                self._job = BuildJob(self.kb, rebuild)
                self._job.thread.start()
            return self._job


# -- the page ---------------------------------------------------------------------------------
def build_app(app: ChatApp) -> gr.Blocks:
    """The page: a chat tab with sources and the article view, an articles tab and an evaluate tab."""
    import gradio as gr

    settings = app.settings
    indexed = app.indexed_articles()
    # delete_cache: uploads gradio keeps in its temporary folder go after a day.
    with gr.Blocks(title="文章问答", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        gr.Markdown("## 文章问答 · 回答引用原文段落")
        status_line = gr.Markdown(app.status_line(), elem_id="status-line")
        turns = gr.State([])
        with gr.Tabs(elem_id="main-tabs"):
            with gr.Tab("问答", id="chat", elem_id="tab-chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    copy_btn = gr.Button("复制为 Markdown", size="sm", elem_id="copy-answer")
                    # No per-message copy: a message's source is escaped Markdown with link targets;
                    # this button copies the shown answer with its sources instead.
                    chatbot = gr.Chatbot(
                        elem_id="chat", label="对话", height=520, latex_delimiters=[],
                        buttons=[copy_btn], feedback_options=("Like", "Dislike"), sanitize_html=True,
                        placeholder="向文章提问，回答会标出引用的段落 [1]、[2]。",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            elem_id="question", show_label=False, scale=5, lines=1, max_lines=4,
                            placeholder="输入问题，例如：2025年深圳人工智能核心产业营收约多少？", max_length=1000,
                        )
                        ask_btn = gr.Button("提问", variant="primary", elem_id="ask", scale=1, min_width=80)
                    examples = view.example_questions(indexed)
                    if examples:
                        gr.Examples(examples=[[q] for q in examples], inputs=[question], label="示例问题")
                    with gr.Row():
                        clear_btn = gr.Button("清空对话", elem_id="clear", size="sm")
                    with gr.Accordion("设置", open=False, elem_id="settings"):
                        retrieval_mode = gr.Radio(
                            [("混合（向量 + 关键词）", "hybrid"), ("向量", "dense"), ("关键词", "lexical")],
                            value=settings.retrieval_mode, label="检索方式", elem_id="retrieval-mode")
                        top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="检索段落数",
                                          elem_id="top-k")
                        answer_choices = [("抽取式（原文句子）", "extractive")]
                        if settings.generative_available:
                            answer_choices.append((f"生成式（{settings.llm_model}）", "generative"))
                        answer_mode = gr.Radio(
                            answer_choices, value=settings.answer_mode if settings.generative_available
                            else "extractive", label="回答方式", elem_id="answer-mode",
                            info=None if settings.generative_available
                            else "生成式需要 OpenAI 兼容接口（设置 llm_base_url 与 llm_model）")
                        article_filter = gr.Dropdown(
                            _article_choices(indexed), value=[], multiselect=True, label="只在这些文章中查找",
                            info="不选则查找全部文章", elem_id="article-filter")
                with gr.Column(scale=2), gr.Tabs(elem_id="side-tabs") as side_tabs:
                    with gr.Tab("来源", id="sources", elem_id="tab-sources"):
                        sources = gr.HTML(view.render_empty_sources(), elem_id="sources",
                                          js_on_load=view.SOURCES_JS)
                        with gr.Accordion("复制为 Markdown", open=False, elem_id="copy-md"):
                            markdown_box = gr.Textbox(show_label=False, lines=8, max_lines=20,
                                                      buttons=["copy"], interactive=False,
                                                      elem_id="answer-markdown")
                    with gr.Tab("原文", id="viewer", elem_id="tab-viewer"):
                        viewer = gr.HTML(view.render_article_placeholder(), elem_id="viewer",
                                         js_on_load=view.VIEWER_JS)

            with gr.Tab("文章", id="articles", elem_id="tab-articles"):
                articles_notice = gr.Markdown("", elem_id="articles-status")
                articles_table = gr.Dataframe(
                    value=view.article_table(list_articles(settings)), headers=view.ARTICLE_COLUMNS,
                    interactive=False, wrap=True, elem_id="articles-table", label="语料中的文章")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        upload = gr.File(label=f"上传文章（{', '.join(_suffixes())}，不超过 "
                                               f"{view.format_size(settings.max_upload_bytes)}）",
                                         file_types=list(_suffixes()), type="filepath", elem_id="upload")
                        upload_btn = gr.Button("添加到语料", elem_id="upload-btn")
                        with gr.Row(visible=False, elem_id="confirm-replace") as confirm_row:
                            replace_btn = gr.Button("替换", variant="stop", elem_id="replace-btn")
                            keep_btn = gr.Button("取消", elem_id="keep-btn")
                    with gr.Column():
                        delete_choice = gr.Dropdown(_corpus_choices(settings), label="删除文章",
                                                    elem_id="delete-choice")
                        delete_btn = gr.Button("删除", elem_id="delete-btn")
                        with gr.Row(visible=False, elem_id="confirm-delete") as confirm_delete_row:
                            really_delete_btn = gr.Button("确认删除", variant="stop", elem_id="really-delete")
                            cancel_delete_btn = gr.Button("取消", elem_id="cancel-delete")
                with gr.Row():
                    full_rebuild = gr.Checkbox(False, label="从头重建（嵌入缓存仍然有效）", elem_id="full-rebuild")
                    rebuild_btn = gr.Button("重建索引", variant="primary", elem_id="rebuild")
                pending_upload = gr.State(None)

            with gr.Tab("评测", id="evaluate", elem_id="tab-evaluate") as eval_tab:
                eval_choice = build_eval_tab(app)
        # Ratings made since the page loaded become a choice when the tab is opened.
        eval_tab.select(lambda: gr.Dropdown(choices=question_set_choices(settings)), outputs=[eval_choice],
                        show_progress="hidden")

        # -- chat events --------------------------------------------------------------------------
        chat_outputs = [chatbot, turns, sources, question, markdown_box]
        ask_inputs = [question, chatbot, turns, retrieval_mode, top_k, answer_mode, article_filter]
        gr.on([ask_btn.click, question.submit], lambda *a: (yield from respond(app, *a)), inputs=ask_inputs,
              outputs=chat_outputs, concurrency_limit=4, show_progress="hidden")

        def clear() -> tuple[Any, ...]:
            return [], [], view.render_empty_sources(), "", "", view.render_article_placeholder()

        clear_outputs = [chatbot, turns, sources, question, markdown_box, viewer]
        clear_btn.click(clear, outputs=clear_outputs, show_progress="hidden")
        chatbot.clear(clear, outputs=clear_outputs, show_progress="hidden")  # the chat's own bin icon
        copy_btn.click(None, inputs=[markdown_box], js=view.COPY_JS)
        chatbot.like(_with_event(lambda t, evt: rate(app, t, evt), gr.LikeData), inputs=[turns], outputs=None,
                     show_progress="hidden")
        chatbot.select(_with_event(show_turn, gr.SelectData), inputs=[turns], outputs=[sources, markdown_box],
                       show_progress="hidden")
        sources.click(_with_event(lambda t, evt: open_citation(app, t, evt), gr.EventData), inputs=[turns],
                      outputs=[viewer, side_tabs, sources, markdown_box], show_progress="hidden")

        # -- article events -----------------------------------------------------------------------
        corpus_outputs = [articles_notice, articles_table, delete_choice]
        upload_btn.click(lambda f: add_upload(app, f), inputs=[upload],
                         outputs=[*corpus_outputs, confirm_row, pending_upload, upload])
        replace_btn.click(lambda p: confirm_replace(app, p), inputs=[pending_upload],
                          outputs=[*corpus_outputs, confirm_row, pending_upload, upload])
        keep_btn.click(lambda: ("已取消，语料没有改动。", gr.update(visible=False), None),
                       outputs=[articles_notice, confirm_row, pending_upload])
        delete_btn.click(ask_delete, inputs=[delete_choice], outputs=[articles_notice, confirm_delete_row])
        really_delete_btn.click(lambda p: remove_article(app, p), inputs=[delete_choice],
                                outputs=[*corpus_outputs, confirm_delete_row])
        cancel_delete_btn.click(lambda: ("已取消，语料没有改动。", gr.update(visible=False)),
                                outputs=[articles_notice, confirm_delete_row])
        tracker = gr.Progress()  # gradio finds the progress parameter by this default value

        def on_rebuild(full: bool, progress: Any = tracker) -> tuple[Any, ...]:
            return rebuild(app, full, progress)

        rebuild_btn.click(on_rebuild, inputs=[full_rebuild], outputs=[*corpus_outputs, status_line, article_filter])
    return demo


def _with_event(fn: Callable[..., Any], event_type: type) -> Callable[..., Any]:
    """``fn(state, evt)`` as a handler that gradio passes its event data to.

    gradio finds the event parameter by its type annotation; this module's
    annotations are strings naming a lazily imported ``gr``, which gradio cannot
    resolve, so the handler carries the real type instead.
    """

    def handler(state: Any, evt: Any) -> Any:
        return fn(state, evt)

    handler.__annotations__ = {"state": object, "evt": event_type}
    return handler


def _suffixes() -> tuple[str, ...]:
    from rag.ingest.articles import SUPPORTED_SUFFIXES

    return SUPPORTED_SUFFIXES


def _article_choices(indexed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(f"{title}（{path}）", path) for path, title in indexed]


def _corpus_choices(settings: Settings) -> list[tuple[str, str]]:
    return [(f"{r.title}（{r.path}）", r.path) for r in list_articles(settings) if r.state != "removed"]


# -- chat handlers ------------------------------------------------------------------------------
def respond(app: ChatApp, question: str, messages: list[dict[str, Any]], turns: list[Turn], mode: str,
            k: float, answer_mode: str, articles: list[str] | None) -> Iterator[tuple[Any, ...]]:
    """Answer a question: sources when retrieval ends, then the answer (generative: token by token)."""
    import gradio as gr

    question = (question or "").strip()
    if not question:
        gr.Warning("请输入问题。")
        yield messages, turns, gr.skip(), "", gr.skip()
        return
    if mode not in RETRIEVAL_MODES:
        mode = app.settings.retrieval_mode
    number = len(turns)
    history = [t.question for t in turns]
    messages = [*messages, {"role": "user", "content": view.esc_markdown(question)},
                {"role": "assistant", "content": "正在检索…"}]
    turn = Turn(question, None, articles=list(articles or []))
    turns = [*turns, turn]
    yield messages, turns, view.render_searching(question), "", ""
    streamed = ""
    try:
        for step in app.answer_steps(question, history, int(k), mode, list(articles or []),
                                     generative=answer_mode == "generative"):
            if isinstance(step, Retrieved):
                messages[-1] = {"role": "assistant", "content": "正在生成回答…"}
                yield messages, turns, view.render_retrieved(number, question, step.query, step.result.hits), \
                    "", ""
            elif isinstance(step, str):
                streamed += step
                messages[-1] = {"role": "assistant", "content": view.streaming_text(streamed)}
                yield messages, turns, gr.skip(), "", ""
            else:
                turn.answer = step
                messages[-1] = {"role": "assistant", "content": view.chat_text(number, step)}
                yield messages, turns, view.render_sources(number, step), "", view.answer_markdown(step)
    except RagError as exc:
        message = str(exc)
        gr.Warning(message)
        messages[-1] = {"role": "assistant", "content": "⚠ " + view.esc_markdown(message)}
        yield messages, turns, view.render_error(message), "", ""
    except Exception as exc:
        # Not an error the user caused: logged with its traceback here, a short message there.
        log.exception("answering %r failed", question)
        message = f"内部错误：{type(exc).__name__}: {exc}"
        gr.Warning(message)
        messages[-1] = {"role": "assistant", "content": "⚠ " + view.esc_markdown(message)}
        yield messages, turns, view.render_error(message), "", ""


def _turn_at(turns: list[Turn], index: Any) -> tuple[int, Turn] | None:
    """The turn of a chat message index (messages come in user/assistant pairs)."""
    if isinstance(index, (list, tuple)):
        index = index[0]
    if not isinstance(index, int):
        return None
    number = index // 2
    if 0 <= number < len(turns):
        return number, turns[number]
    return None


def rate(app: ChatApp, turns: list[Turn], evt: gr.LikeData) -> None:
    """Store a 👍/👎 as a question-set row beside the index (a second click replaces it)."""
    import gradio as gr

    found = _turn_at(turns, evt.index)
    if found is None or found[1].answer is None:
        return
    turn = found[1]
    assert turn.answer is not None
    liked = evt.liked
    record = None
    if liked is True or liked == "Like":
        record = feedback_record(turn.id, turn.answer, "up", turn.articles)
    elif liked is False or liked == "Dislike":
        record = feedback_record(turn.id, turn.answer, "down", turn.articles)
    try:
        path = save_feedback(app.settings, record, turn.id)
    except OSError as exc:
        gr.Warning(f"评价没有保存：{exc}")
        return
    if record is None:
        gr.Info("已撤销评价。")
    else:
        # The file name only: the server's folders are none of a remote user's business.
        gr.Info(f"已记录评价「{'有用' if record['rating'] == 'up' else '没用'}」（索引文件夹中的 {path.name}，"
                "可在「评测」页重新评测）")


def show_turn(turns: list[Turn], evt: gr.SelectData) -> tuple[str, str]:
    """Clicking a message shows the sources of its answer."""
    import gradio as gr

    found = _turn_at(turns, evt.index)
    if found is None or found[1].answer is None:
        return gr.skip(), gr.skip()
    number, turn = found
    assert turn.answer is not None
    return view.render_sources(number, turn.answer), view.answer_markdown(turn.answer)


def open_citation(app: ChatApp, turns: list[Turn], evt: gr.EventData) -> tuple[Any, ...]:
    """Open the whole article at a cited paragraph (``<turn>-c<n>``) or a retrieved passage (``<turn>-h<rank>``)."""
    import gradio as gr

    data = getattr(evt, "_data", None)  # what the page's script passed to trigger('click', ...)
    key = str(data.get("cite", "")) if isinstance(data, dict) else ""
    parsed = _parse_cite(key)
    if parsed is None or parsed[0] >= len(turns) or turns[parsed[0]].answer is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    number, kind, n = parsed
    answer = turns[number].answer
    assert answer is not None
    path, focus, expected = _focus_of(answer, kind, n)
    if path is None or focus is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    article = app.article(path)
    # The index may have been rebuilt since the answer: show the article only if the text is the same.
    if article is None or article.text[focus.start : focus.end] != expected:
        html = view.render_error(f"{path} 在回答之后已被修改或删除；来源面板中的段落是回答时的原文。")
    else:
        html = view.render_article(article, focus)
    return html, gr.Tabs(selected="viewer"), view.render_sources(number, answer), view.answer_markdown(answer)


def _parse_cite(key: str) -> tuple[int, str, int] | None:
    """``"3-c1"`` -> (3, "c", 1); None for anything else.

    >>> _parse_cite("3-c1"), _parse_cite("0-h12"), _parse_cite("x")
    ((3, 'c', 1), (0, 'h', 12), None)
    """
    turn, _, rest = key.partition("-")
    if not turn.isdigit() or len(rest) < 2 or rest[0] not in "ch" or not rest[1:].isdigit():
        return None
    return int(turn), rest[0], int(rest[1:])


def _focus_of(answer: Answer, kind: str, n: int) -> tuple[str | None, view.Focus | None, str]:
    """The article, focus and expected focus text of citation ``n`` or hit rank ``n`` of an answer."""
    if kind == "c":
        for c in answer.citations:
            if c.n == n:
                return c.article, view.Focus(c.paragraph, c.start, c.end), c.sentence_text
        return None, None, ""
    for hit in answer.hits:
        if hit.rank == n:
            ch = hit.chunk
            return ch.article, view.Focus(ch.paragraphs[0], ch.start, ch.end), ch.text
    return None, None, ""


# -- article handlers ---------------------------------------------------------------------------
def _corpus_updates(app: ChatApp, notice: str) -> tuple[Any, ...]:
    import gradio as gr

    rows = list_articles(app.settings)
    if corpus_changed(rows) and "重建" not in notice:
        notice += "\n\n语料与索引不一致：点击「重建索引」后，新的内容才能被检索到。"
    choices = [(f"{r.title}（{r.path}）", r.path) for r in rows if r.state != "removed"]
    return notice, view.article_table(rows), gr.Dropdown(choices=choices, value=None)


def add_upload(app: ChatApp, file: str | None) -> tuple[Any, ...]:
    """Check an uploaded file and add it to the corpus; a name that exists asks first."""
    import gradio as gr

    hidden = gr.update(visible=False)
    if not file:
        gr.Warning("请先选择要上传的文件。")
        return (*_corpus_updates(app, "请先选择要上传的文件。"), hidden, None, gr.skip())
    source = Path(file)
    try:
        check = check_upload(source, source.name, app.settings)
        if check.status == "duplicate":
            gr.Info(check.message)
            return (*_corpus_updates(app, "提示：" + check.message), hidden, None, None)
        if check.status == "replace":
            return (*_corpus_updates(app, "请确认：" + check.message), gr.update(visible=True), (file, check),
                    gr.skip())
        save_upload(source, check, app.settings)
    except (RagError, OSError) as exc:
        message = str(exc)
        gr.Warning(message)
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
        gr.Warning(str(exc))
        return (*_corpus_updates(app, "✗ " + str(exc)), hidden, None, None)
    return (*_corpus_updates(app, f"✓ 已替换 {check.name}。点击「重建索引」后生效。"), hidden, None, None)


def ask_delete(path: str | None) -> tuple[Any, ...]:
    """Ask before deleting an article."""
    import gradio as gr

    if not path:
        return "请先选择要删除的文章。", gr.update(visible=False)
    return f"请确认：确定从语料中删除 {view.esc(path)} 吗？", gr.update(visible=True)


def remove_article(app: ChatApp, path: str | None) -> tuple[Any, ...]:
    """Delete an article file; it leaves the index at the next build."""
    import gradio as gr

    hidden = gr.update(visible=False)
    if not path:
        return (*_corpus_updates(app, "请先选择要删除的文章。"), hidden)
    try:
        delete_article(path, app.settings)
    except (RagError, OSError) as exc:
        gr.Warning(str(exc))
        return (*_corpus_updates(app, "✗ " + view.esc(str(exc))), hidden)
    return (*_corpus_updates(app, f"✓ 已删除 {view.esc(path)}。点击「重建索引」后，它不再出现在回答中。"), hidden)


def rebuild(app: ChatApp, full: bool, progress: Any) -> tuple[Any, ...]:
    """Build the index in a thread, showing its progress; chat keeps answering from the old index."""
    import gradio as gr

    job = app.start_build(bool(full))
    progress(0, desc="读取文章…")
    while job.running:
        if job.total:
            progress((job.done, job.total), desc=f"{STAGE_NAMES.get(job.stage, job.stage)} {job.done}/{job.total}")
        time.sleep(0.2)
    job.thread.join()
    if job.error is not None:
        gr.Warning(job.error)
        notice = "✗ " + view.esc(job.error)
    else:
        assert job.report is not None
        notice = _report_text(job.report)
    indexed = app.indexed_articles()
    return (*_corpus_updates(app, notice), app.status_line(),
            gr.Dropdown(choices=_article_choices(indexed), value=[]))


def _report_text(report: BuildReport) -> str:
    if report.up_to_date:
        text = f"✓ 索引已是最新（{report.articles} 篇文章，{report.chunks} 个块），没有需要嵌入的内容。"
    else:
        changes = [f"{label} {', '.join(items)}" for label, items in
                   (("新增", report.added), ("修改", report.changed), ("删除", report.removed)) if items]
        text = (f"✓ 重建完成：{report.articles} 篇文章，{report.chunks} 个块，用时 {report.seconds:.1f} 秒；"
                f"嵌入 {report.embedded} 段，缓存 {report.from_cache} 段")
        if changes:
            text += "；" + "；".join(changes)
    for line in report.errors:
        text += f"\n\n✗ 跳过：{line}"
    for line in report.warnings:
        text += f"\n\n⚠ {line}"
    return view.esc(text)


# -- start-up -----------------------------------------------------------------------------------
def serve(settings: Settings, started: float | None = None) -> None:
    """Start the browser chat on settings.host:settings.port and block; prints the URL and start-up time."""
    started = time.perf_counter() if started is None else started
    # Before gradio is imported: it reads this at import time.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if bool(settings.auth_user) != bool(settings.auth_password):
        raise SettingsError("auth_user and auth_password go together: set both (RAG_AUTH_USER, RAG_AUTH_PASSWORD) "
                            "or neither")
    import gradio as gr

    app = ChatApp(settings)
    note = app.warm_up()
    demo = build_app(app)
    demo.queue(default_concurrency_limit=2)
    auth = (settings.auth_user, settings.auth_password) if settings.auth_user and settings.auth_password else None
    font = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    # Local font names only: a Google font would be fetched from the internet the server may not have.
    theme = gr.themes.Soft(primary_hue="blue", font=font, font_mono=["Noto Sans Mono CJK SC", "monospace"])
    _, url, _ = demo.launch(
        server_name=settings.host, server_port=settings.port, auth=auth, prevent_thread_lock=True, quiet=True,
        show_error=False, max_file_size=settings.max_upload_bytes, ssr_mode=False, theme=theme, css=view.CSS,
        footer_links=[], allowed_paths=[str(Path(p).resolve()) for p in _download_dirs(settings)],
    )
    shown = url or f"http://{settings.host}:{settings.port}/"
    print(f"rag: chat at {shown} (ready in {time.perf_counter() - started:.1f} s"
          f"{', login required' if auth else ''})", flush=True)
    if note:
        print(f"rag: {note} (or use the Articles tab: 重建索引)", flush=True)
    try:
        demo.block_thread()
    finally:
        demo.close()


def _download_dirs(settings: Settings) -> list[Path]:
    """Folders whose files the page may offer for download (evaluation reports)."""
    root = reports_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    return [root]


# -- evaluate tab -------------------------------------------------------------------------------
def reports_root(settings: Settings) -> Path:
    """Where the Evaluate tab writes its reports: eval-runs/ like `rag eval` (relative to the working folder)."""
    return Path("eval-runs")


def question_set_choices(settings: Settings) -> list[tuple[str, str]]:
    """Question sets offered without an upload: the ratings, the project's own set, CMRC 2018 dev."""
    choices = [("上传的文件", "")]
    ratings = feedback_path(settings)
    if ratings.is_file():
        choices.append((f"评价记录（{ratings}）", str(ratings)))
    own = Path("questions")
    if own.is_dir():
        choices.extend((f"项目问题集（{p}）", str(p)) for p in sorted(own.glob("*.jsonl")))
    choices.append(("CMRC 2018 dev（内置）", "dataset:cmrc2018-dev"))
    return choices


def build_eval_tab(app: ChatApp) -> gr.Dropdown:
    """The Evaluate tab: choose or upload a question set, run it, see metrics and download the reports."""
    import gradio as gr

    gr.Markdown("上传问题集（JSONL、CSV，或 SQuAD 格式的 JSON，如 CMRC 2018），逐题检索、回答并打分。"
                "JSONL/CSV 问题集用当前索引；SQuAD 文件的段落建立单独的评测索引（有缓存）。")
    with gr.Row(equal_height=False):
        with gr.Column():
            eval_file = gr.File(label="问题集文件（.jsonl / .csv / .json）", file_types=[".jsonl", ".ndjson", ".csv",
                                                                                   ".json"],
                                type="filepath", elem_id="eval-file")
        with gr.Column():
            eval_choice = gr.Dropdown(question_set_choices(app.settings), value="", label="或选择",
                                      elem_id="eval-choice")
            eval_sample = gr.Number(0, precision=0, minimum=0, label="随机抽样题数（0 = 全部，种子 0）",
                                    elem_id="eval-sample")
            eval_small = gr.Checkbox(True, label="SQuAD 文件：只索引所抽问题的段落（更快）", elem_id="eval-small")
            eval_btn = gr.Button("运行评测", variant="primary", elem_id="eval-run")
    eval_status = gr.Markdown("", elem_id="eval-status")
    with gr.Row(equal_height=False):
        metrics = gr.Dataframe(headers=["指标", "值", "含义"], interactive=False, label="指标",
                               elem_id="eval-metrics", wrap=True)
        chart = gr.BarPlot(x="k", y="命中率", title="hit@k：前 k 个块含答案的比例", y_lim=[0, 1],
                           sort=list(view.HIT_LABELS), label="检索命中", elem_id="eval-chart", height=300)
    questions = gr.Dataframe(headers=view.QUESTION_COLUMNS, interactive=False, wrap=True, max_height=480,
                             column_widths=["7%", "6%", "22%", "14%", "33%", "7%", "5%", "6%"],
                             label="逐题结果（失败在前）", elem_id="eval-questions")
    downloads = gr.File(label="下载报告", file_count="multiple", interactive=False, elem_id="eval-downloads")

    tracker = gr.Progress()  # gradio finds the progress parameter by this default value

    def on_run(file: str | None, choice: str, sample: float | None, small: bool,
               progress: Any = tracker) -> tuple[Any, ...]:
        return run_eval(app, file or choice, int(sample or 0), small, progress)

    eval_btn.click(on_run, inputs=[eval_file, eval_choice, eval_sample, eval_small],
                   outputs=[eval_status, metrics, chart, questions, downloads])
    return eval_choice


def run_eval(app: ChatApp, source: str, sample: int, small: bool, progress: Any) -> tuple[Any, ...]:
    """Run a question set with the evaluation engine; write its reports; return what the tab shows."""
    import gradio as gr
    import pandas as pd

    from rag.evaluation.datasets import bundled_dataset, load_question_set, select_questions
    from rag.evaluation.report import report_to_json, write_reports
    from rag.evaluation.runner import EvalOptions, run_evaluation

    nothing = (gr.skip(), gr.skip(), gr.skip(), gr.skip())
    if not source:
        gr.Warning("请先上传问题集，或从列表中选择一个。")
        return ("请先上传问题集，或从列表中选择一个。", *nothing)
    try:
        path = bundled_dataset(source.split(":", 1)[1]) if source.startswith("dataset:") else Path(source)
        question_set = load_question_set(path)
        if sample > 0:
            question_set = select_questions(question_set, sample=sample, seed=0)
        options = EvalOptions(passages="questions" if small and question_set.format == "squad" else "all")
        progress(0, desc="准备索引…")

        def on_build(stage: str, done: int, total: int) -> None:
            progress((done, max(total, 1)), desc=f"评测索引：{STAGE_NAMES.get(stage, stage)} {done}/{total}")

        def on_question(done: int, total: int) -> None:
            progress((done, max(total, 1)), desc=f"问题 {done}/{total}")

        report = run_evaluation(app.settings, question_set, on_question, options, on_build, app.kb.encoder())
        out_dir = _new_run_folder(reports_root(app.settings), Path(question_set.name).stem,
                                  app.settings.retrieval_mode)
        files = write_reports(report, out_dir)
    except (RagError, OSError) as exc:
        gr.Warning(str(exc))
        return ("✗ " + view.esc(str(exc)), *nothing)
    data = report_to_json(report)
    summary = data["summary"]
    curve = pd.DataFrame(view.hit_bars(summary), columns=["k", "命中率"])
    shown = [str(files[kind].resolve()) for kind in ("html", "json", "markdown", "predictions") if kind in files]
    text = view.eval_summary_text(data) + f" 报告：`{view.esc(str(out_dir))}`"
    return text, view.metric_rows(summary), curve, view.question_rows(data["questions"]), shown


def _new_run_folder(root: Path, name: str, mode: str) -> Path:
    """A new folder for a run's reports, named like `rag eval` names them (time, set, mode)."""
    base = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{mode}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder
