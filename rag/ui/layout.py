"""The page: a chat tab with sources and the article view, an articles tab and an evaluate tab.

``build_app`` lays out each tab (``_chat_tab``, ``_articles_tab``, ``_eval_tab``,
which return their components) and then connects the events to the handlers of
``chat``, ``articles_tab`` and ``eval_tab``. The page's CSS and scripts are
package files in ``static/`` (``static_text``).

Nothing about the corpus is in the page as built: the page's configuration (every
component's value and choices) is what gradio serves first, whatever a gradio
version lets through before the login. The status line, the article filter, the
example questions, the article table and the question sets are filled by
``fill_page`` when the page loads, an event that runs only for a logged-in user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.bases import SUPPORTED_SUFFIXES
from rag.kb.registry import DEFAULT
from rag.settings import Settings
from rag.ui import render as view
from rag.ui.articles_page import articles_tab, connect_articles
from rag.ui.articles_tab import article_choices, corpus_choices, format_size, table_update
from rag.ui.chat import (
    clear_chat,
    example_questions,
    list_conversations,
    open_citation,
    open_conversation,
    respond,
    show_turn,
    store_choice,
    store_record,
)
from rag.ui.eval_tab import (
    HIT_LABELS,
    HIT_RATE,
    METRIC_COLUMNS,
    QUESTION_COLUMNS,
    page_labels,
    question_set_choices,
    run_eval,
    sample_size,
    suggested_sample,
)
from rag.ui.explain_tab import connect_explain, explain_tab
from rag.ui.kb_page import chat_view, create_kb, delete_kb, eval_choices, selectors, status_text
from rag.ui.page_guard import guard_page, is_uploaded
from rag.ui.teach_box import TeachBox, connect_teach, teach_box
from rag.ui.texts import page_message, page_text, page_translations

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases


def static_text(name: str) -> str:
    """A file of ``rag/ui/static/`` (the page's CSS and scripts), as text."""
    return resources.files("rag.ui").joinpath("static", name).read_text(encoding="utf-8")


@dataclass
class ChatTab:
    """The chat tab's components that events read or write."""

    chatbot: gr.Chatbot
    question: gr.Textbox
    examples: gr.Dataset
    ask_btn: gr.Button
    clear_btn: gr.Button
    copy_btn: gr.Button
    retrieval_mode: gr.Radio
    top_k: gr.Slider
    answer_mode: gr.Radio
    article_filter: gr.Dropdown
    side_tabs: gr.Tabs
    sources: gr.HTML
    markdown_box: gr.Textbox
    viewer: gr.HTML
    history: gr.Dropdown  # this browser's conversations
    store_box: gr.Textbox  # hidden: a conversation on its way to or from the browser's storage
    conversation: gr.State  # the id of the conversation on the page ("" before its first answer)
    kb_choice: gr.Dropdown  # the knowledge bases asked
    teach: TeachBox  # after a 👎: the right answer


@dataclass
class EvalTab:
    """The evaluate tab's components that events read or write."""

    file: gr.File
    kb_choice: gr.Dropdown  # the knowledge base evaluated
    choice: gr.Dropdown
    sample: gr.Number
    small: gr.Checkbox
    run_btn: gr.Button
    status: gr.Markdown
    metrics: gr.Dataframe
    chart: gr.BarPlot
    questions: gr.Dataframe
    downloads: gr.File


def page_i18n(settings: Settings) -> gr.I18n:
    """The fixed labels of the page in Chinese and English; gradio shows the browser's (``launch(i18n=…)``)."""
    import gradio as gr

    values = {"size": format_size(settings.max_upload_bytes), "types": ", ".join(SUPPORTED_SUFFIXES),
              "model": settings.llm_model or ""}
    return gr.I18n(**page_translations(values))


def build_app(bases: KnowledgeBases, i18n: gr.I18n | None = None) -> gr.Blocks:
    """The page: a chat tab with sources and the article view, an articles tab and an evaluate tab.

    ``i18n`` (``page_i18n``) translates the fixed labels; the server passes the same one to ``launch``.
    """
    import gradio as gr

    settings = bases.settings
    tr = i18n or page_i18n(settings)
    # delete_cache: uploads gradio keeps in its temporary folder go after a day.
    with gr.Blocks(title="文章问答", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(tr("page_title"))
        status_line = gr.Markdown("", elem_id="status-line")
        turns = gr.State([])
        with gr.Tabs(elem_id="main-tabs"):
            with gr.Tab(tr("tab_chat"), id="chat", elem_id="tab-chat"), gr.Row(equal_height=False):
                chat = _chat_tab(settings, tr)
            with gr.Tab(tr("tab_articles"), id="articles", elem_id="tab-articles"):
                articles = articles_tab(tr)
            with gr.Tab(tr("tab_evaluate"), id="evaluate", elem_id="tab-evaluate") as eval_tab:
                evaluation = _eval_tab(tr)
                _connect_eval(bases, evaluation)
            with gr.Tab(tr("tab_explain"), id="explain", elem_id="tab-explain") as explain_page:
                connect_explain(bases, explain_tab(settings, tr), explain_page)
        # Ratings made since the page loaded become a choice when the tab is opened.
        eval_tab.select(lambda kb: eval_choices(bases, kb), inputs=[evaluation.kb_choice], outputs=[evaluation.choice],
                        show_progress="hidden")
        # The chat's line, filter and examples follow its chosen knowledge bases (chat_view), set by the
        # conversation brought back on load; the tabs' selectors list the knowledge bases there are now.
        demo.load(lambda: fill_page(bases)[3:], outputs=[articles.table, articles.delete_choice, evaluation.choice],
                  show_progress="hidden")
        # What gradio does not translate itself, in the language of the browser that loads the page.
        demo.load(page_labels, outputs=[chat.copy_btn, chat.chatbot, evaluation.metrics, evaluation.questions],
                  show_progress="hidden")
        selector_outputs = [chat.kb_choice, articles.kb_choice, evaluation.kb_choice]
        # (the chat's own selector is the conversation's: open_conversation sets it)
        demo.load(lambda c, a, e: selectors(bases, c, a, e)[1:], inputs=selector_outputs, outputs=selector_outputs[1:],
                  show_progress="hidden")
        view_outputs = [status_line, chat.article_filter, chat.examples]

        def follow(event: Any) -> Any:
            return event.then(lambda kb: chat_view(bases, kb), inputs=[chat.kb_choice], outputs=view_outputs,
                              show_progress="hidden")

        follow(_connect_chat(bases, demo, chat, turns))
        chat.kb_choice.change(lambda kb: chat_view(bases, kb), inputs=[chat.kb_choice], outputs=view_outputs,
                              show_progress="hidden")
        connect_articles(bases, articles, status_line, chat.article_filter, follow)
        _connect_bases(bases, chat, articles, evaluation, follow)
    guard_page(demo)  # only uploaded files, one-line refusals, no endpoint names for strangers
    return demo


def fill_page(bases: KnowledgeBases) -> tuple[Any, ...]:
    """What the page shows of the corpus, sent when it loads (after the login, when there is one).

    The status line, the article filter's choices, the example questions, the
    article table, the delete list and the question sets, of ``default``. An index that
    cannot be read leaves the filter and the examples empty; the status line says why.
    """
    import gradio as gr

    scope = bases.scope([DEFAULT])
    try:
        rows = bases.articles_table(DEFAULT)
    except RagError:  # a damaged manifest: the status line names it
        rows = []
    examples = example_questions(scope.articles)
    return (status_text(bases, scope), gr.Dropdown(choices=article_choices(scope.articles), value=[],
                                                   multiselect=True),
            gr.Dataset(samples=[[q] for q in examples], visible=bool(examples)), table_update(bases, DEFAULT, rows),
            gr.Dropdown(choices=corpus_choices(rows), value=None),
            gr.Dropdown(choices=question_set_choices(bases.settings), value=""))


# -- the tabs -----------------------------------------------------------------------------------
def _chat_tab(settings: Settings, tr: gr.I18n) -> ChatTab:
    """The chat with its question box, examples and settings; beside it the sources and the article view."""
    import gradio as gr

    with gr.Column(scale=3):
        # in the chatbot's own button row, which shows a plain label only (no gr.I18n there)
        copy_btn = gr.Button(page_text("copy_md", settings.lang), size="sm", elem_id="copy-answer")
        # No per-message copy: a message's source is escaped Markdown with link targets;
        # this button copies the shown answer with its sources instead.
        chatbot = gr.Chatbot(
            elem_id="chat", label=tr("chat_label"), height=520, latex_delimiters=[],
            buttons=[copy_btn], feedback_options=("Like", "Dislike"), sanitize_html=True,
            placeholder=page_text("chat_placeholder", settings.lang),  # gradio translates no placeholder here
        )
        with gr.Row():
            # The same limit as the knowledge base's, which refuses longer questions from anywhere.
            question = gr.Textbox(
                elem_id="question", show_label=False, scale=5, lines=1, max_lines=4,
                placeholder=tr("question_placeholder"),
                max_length=settings.max_question_chars,
            )
            ask_btn = gr.Button(tr("ask"), variant="primary", elem_id="ask", scale=1, min_width=80)
        teach = teach_box(tr)
        # Filled when the page loads (the conversation's own choice, or default; kb_page.selectors).
        kb_choice = gr.Dropdown(["default"], value=["default"], multiselect=True, label=tr("kb_choice"),
                                elem_id="kb-choice")
        # Filled when the page loads (chat_view): example questions name the articles.
        examples = gr.Dataset(components=[question], samples=[], label=tr("examples"), elem_id="examples",
                              visible=False)
        with gr.Row():
            # A new conversation; the one on the page stays in the list of conversations.
            clear_btn = gr.Button(tr("new_chat"), elem_id="clear", size="sm", scale=0, min_width=90)
            history = gr.Dropdown([], value=None, label=tr("history"), show_label=False,
                                  elem_id="history", scale=3, container=False, interactive=True)
        store_box = gr.Textbox(visible=False, elem_id="chat-store")
        with gr.Accordion(tr("chat_settings"), open=False, elem_id="settings"):
            retrieval_mode, top_k, answer_mode, article_filter = _chat_settings(settings, tr)
    with gr.Column(scale=2), gr.Tabs(elem_id="side-tabs") as side_tabs:
        with gr.Tab(tr("side_sources"), id="sources", elem_id="tab-sources"):
            # sources.js: clicks on citation links (here, or [n] links in the chat) open the article.
            sources = gr.HTML(view.render_empty_sources(), elem_id="sources", js_on_load=static_text("sources.js"))
            # What the chat's one 复制为 Markdown button copies (copy.js); not shown.
            markdown_box = gr.Textbox(visible=False, elem_id="answer-markdown")
        with gr.Tab(tr("side_viewer"), id="viewer", elem_id="tab-viewer"):
            # viewer.js: scroll the article view to the target paragraph after each update.
            viewer = gr.HTML(view.render_article_placeholder(), elem_id="viewer", js_on_load=static_text("viewer.js"))
    return ChatTab(chatbot, question, examples, ask_btn, clear_btn, copy_btn, retrieval_mode, top_k, answer_mode,
                   article_filter, side_tabs, sources, markdown_box, viewer, history, store_box, gr.State(""),
                   kb_choice, teach)


def _chat_settings(settings: Settings, tr: gr.I18n) -> tuple[Any, Any, Any, Any]:
    """The chat's settings: retrieval mode, passages retrieved, answer mode, article filter."""
    import gradio as gr

    retrieval_mode = gr.Radio(
        [(tr("retrieval_hybrid"), "hybrid"), (tr("retrieval_dense"), "dense"), (tr("retrieval_lexical"), "lexical")],
        value=settings.retrieval_mode, label=tr("retrieval_label"), elem_id="retrieval-mode")
    top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label=tr("top_k"), elem_id="top-k")
    answer_choices: list[tuple[Any, str]] = [(tr("answer_extractive"), "extractive")]
    if settings.generative_available:
        answer_choices.append((tr("answer_generative"), "generative"))
    answer_mode = gr.Radio(
        answer_choices, value=settings.answer_mode if settings.generative_available else "extractive",
        label=tr("answer_label"), elem_id="answer-mode",
        info=None if settings.generative_available else tr("answer_info"))
    article_filter = gr.Dropdown(
        [], value=[], multiselect=True, label=tr("filter_label"),
        info=tr("filter_info"), elem_id="article-filter")
    return retrieval_mode, top_k, answer_mode, article_filter


def _eval_tab(tr: gr.I18n) -> EvalTab:
    """Choose or upload a question set, run it, see metrics and download the reports."""
    import gradio as gr

    gr.Markdown(tr("eval_intro"))
    with gr.Row(equal_height=False):
        with gr.Column():
            # No file_types: gradio refuses other files with an English line; run_eval says it in the page's words.
            file = gr.File(label=tr("eval_file"), type="filepath", elem_id="eval-file")
        with gr.Column():
            kb_choice = gr.Dropdown(["default"], value="default", label=tr("eval_kb"), elem_id="eval-kb")
            choice = gr.Dropdown([(page_message("eval_uploaded"), "")], value="", label=tr("eval_choice"),
                                 elem_id="eval-choice")
            sample = gr.Number(0, precision=0, minimum=0, label=tr("eval_sample"), elem_id="eval-sample")
            small = gr.Checkbox(True, label=tr("eval_small"), elem_id="eval-small")
            run_btn = gr.Button(tr("eval_run"), variant="primary", elem_id="eval-run")
    status = gr.Markdown("", elem_id="eval-status")
    with gr.Row(equal_height=False):
        metrics = gr.Dataframe(headers=[page_message(key) for key in METRIC_COLUMNS], interactive=False,
                               label=tr("eval_metrics"), elem_id="eval-metrics", wrap=True)
        # the bars' own words are the data's (hit@k, a share); the label above says what they are in the page's language
        chart = gr.BarPlot(x="k", y=HIT_RATE, y_lim=[0, 1], sort=list(HIT_LABELS), label=tr("eval_chart"),
                           elem_id="eval-chart", height=300)
    questions = gr.Dataframe(headers=[page_message(key) for key in QUESTION_COLUMNS], interactive=False, wrap=True,
                             max_height=480,
                             column_widths=["6%", "5%", "17%", "11%", "10%", "28%", "6%", "6%", "5%", "6%"],
                             label=tr("eval_questions"), elem_id="eval-questions")
    downloads = gr.File(label=tr("eval_downloads"), file_count="multiple", interactive=False,
                        elem_id="eval-downloads")
    return EvalTab(file, kb_choice, choice, sample, small, run_btn, status, metrics, chart, questions, downloads)


# -- the events ---------------------------------------------------------------------------------
def _connect_chat(bases: KnowledgeBases, demo: gr.Blocks, c: ChatTab, turns: gr.State) -> Any:
    """Ask, start a new conversation or open a stored one, copy, rate, show a turn's sources, open a citation.

    Returns the page load's event (the conversation brought back), for what follows its choice of bases.
    """
    import gradio as gr

    chat_outputs = [c.chatbot, turns, c.sources, c.question, c.markdown_box, c.side_tabs]
    ask_inputs = [c.question, c.chatbot, turns, c.retrieval_mode, c.top_k, c.answer_mode, c.article_filter,
                  c.kb_choice]
    asked = [c.ask_btn.click, c.question.submit]
    gr.on(asked, None, js="() => { window.__ragChatBottom && window.__ragChatBottom(); }")
    answered = gr.on(asked, lambda *a: (yield from respond(bases, *a)), inputs=ask_inputs, outputs=chat_outputs,
                     concurrency_limit=4, show_progress="hidden")
    # The chat follows the new answer; then the conversation goes to this browser's storage (store.js).
    answered.then(None, js="() => { setTimeout(() => window.__ragChatBottom && window.__ragChatBottom(), 100); }")
    answered.then(store_record, inputs=[c.conversation, turns, c.kb_choice], outputs=[c.conversation, c.store_box],
                  show_progress="hidden").then(
        list_conversations, inputs=[c.store_box, c.conversation], outputs=[c.history], js=static_text("store.js"),
        show_progress="hidden")
    # A new choice of knowledge bases is kept with the conversation at once, not only with its next answer.
    c.kb_choice.input(store_choice, inputs=[c.conversation, turns, c.kb_choice], outputs=[c.conversation, c.store_box],
                      show_progress="hidden").then(
        list_conversations, inputs=[c.store_box, c.conversation], outputs=[c.history], js=static_text("store.js"),
        show_progress="hidden")
    c.examples.click(lambda sample: sample[0] if sample else "", inputs=[c.examples], outputs=[c.question],
                     show_progress="hidden")
    page_outputs = [c.chatbot, turns, c.conversation, c.sources, c.markdown_box, c.viewer, c.history, c.kb_choice]
    # A store written before its 600 KB cap (store.js) could pass the page's 1 MB request limit: not sent then.
    stored = ("() => { const t = localStorage.getItem('rag-chat') || '';"
              " return [new Blob([t]).size <= 614400 ? t : '']; }")
    gr.on([c.clear_btn.click, c.chatbot.clear], clear_chat,  # the button and the chat's own bin icon
          outputs=[c.chatbot, turns, c.sources, c.question, c.markdown_box, c.viewer, c.conversation],
          show_progress="hidden").then(
        None, js="() => { try { const s = JSON.parse(localStorage.getItem('rag-chat') || '{}');"
                 " s.current = ''; localStorage.setItem('rag-chat', JSON.stringify(s)); } catch (e) {} }")
    c.history.input(lambda chosen, text: open_conversation(text, chosen or "", bases.names()),
                    inputs=[c.history, c.store_box],
                    outputs=page_outputs, js=static_text("choose.js"),
                    show_progress="hidden")
    c.chatbot.change(None, js="() => { window.__ragChatBottom && window.__ragChatBottom(); }")
    # copy.js: the clipboard API needs a secure context (localhost or https); elsewhere a textarea and execCommand.
    c.copy_btn.click(None, inputs=[c.markdown_box], js=static_text("copy.js"))
    connect_teach(bases, c, turns, _with_event)  # 👍/👎, and after a 👎 the right answer
    c.chatbot.select(_with_event(show_turn, gr.SelectData), inputs=[turns], outputs=[c.sources, c.markdown_box],
                     show_progress="hidden")
    c.sources.click(_with_event(lambda t, evt: open_citation(bases, t, evt), gr.EventData), inputs=[turns],
                    outputs=[c.viewer, c.side_tabs, c.sources, c.markdown_box], show_progress="hidden")
    # A reload brings back the conversation that was on the page, from this browser's storage.
    return demo.load(lambda text: open_conversation(text, None, bases.names()), inputs=[c.store_box],
                     outputs=page_outputs, js=stored, show_progress="hidden")


def _connect_bases(bases: KnowledgeBases, c: ChatTab, a: Any, e: EvalTab, follow: Callable[[Any], Any]) -> None:
    """Create and delete a knowledge base in the 文章 tab; every selector of the page follows."""
    hidden: dict[str, Any] = {"show_progress": "hidden"}
    follow(a.kb_create_btn.click(lambda name, chat, ev: create_kb(bases, name, chat, ev),
                                 inputs=[a.kb_name, c.kb_choice, e.kb_choice],
                                 outputs=[a.notice, a.kb_name, c.kb_choice, a.kb_choice, e.kb_choice], **hidden))
    follow(a.kb_really_delete_btn.click(lambda kb, chat, ev: delete_kb(bases, kb, chat, ev),
                                        inputs=[a.kb_choice, c.kb_choice, e.kb_choice],
                                        outputs=[a.notice, a.kb_confirm_row, c.kb_choice, a.kb_choice, e.kb_choice],
                                        **hidden))
    e.kb_choice.change(lambda kb: eval_choices(bases, kb), inputs=[e.kb_choice], outputs=[e.choice], **hidden)


def _connect_eval(bases: KnowledgeBases, e: EvalTab) -> None:
    """Run the chosen or uploaded question set."""
    import gradio as gr

    tracker = gr.Progress()  # gradio finds the progress parameter by this default value

    def on_run(kb: Any, file: str | None, choice: str, sample: float | None, small: bool,
               progress: Any = tracker) -> tuple[Any, ...]:
        try:
            name = bases.pick(kb if isinstance(kb, str) and kb else None)[0]
        except RagError as exc:  # deleted meanwhile
            return (f"✗ {view.esc_markdown(str(exc))}", gr.skip(), gr.skip(), gr.skip(), gr.skip())
        if file and not is_uploaded(file):  # gradio's cache is the one place an uploaded set can be
            return (f"✗ {page_message('not_uploaded')}", gr.skip(), gr.skip(), gr.skip(), gr.skip())
        # Each knowledge base's runs go to its own eval_root (registry.settings_for).
        return run_eval(bases, name, file or choice, sample_size(sample), small, progress)

    e.choice.change(suggested_sample, inputs=[e.choice, e.sample], outputs=[e.sample], show_progress="hidden")
    e.run_btn.click(on_run, inputs=[e.kb_choice, e.file, e.choice, e.sample, e.small],
                    outputs=[e.status, e.metrics, e.chart, e.questions, e.downloads])


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
