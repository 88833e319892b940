"""The page's knowledge bases: the chat's selector, the 文章 and 评测 tabs' selectors, create and delete.

The list is read afresh (``ChatApp.base_names``) whenever the page loads and after
a knowledge base is made or deleted here, so one made from the CLI shows without
a restart. The chat asks the knowledge bases chosen in its selector; the 文章 and
评测 tabs each manage the one chosen at their top (``ChatApp.base``: its own
corpus, index, build, ratings and evaluation runs). Names are data: escaped
wherever they are shown. gradio is imported inside the handlers only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.registry import DEFAULT
from rag.ui.articles_tab import Step, article_choices, notice, tab_outputs
from rag.ui.chat import chosen_bases, example_questions
from rag.ui.escape import esc_markdown
from rag.ui.eval_tab import question_set_choices
from rag.ui.texts import say
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    from rag.ui.app import ChatApp


def base_name(value: Any) -> str:
    """The knowledge base a tab's selector names (``default`` when it names none).

    >>> base_name("news"), base_name(None), base_name(["x"])
    ('news', 'default', 'default')
    """
    return value if isinstance(value, str) and value else DEFAULT


def status_text(app: ChatApp, names: list[str]) -> str:
    """The header's line about the chosen knowledge bases' indexes (one line each when not only ``default``)."""
    if names == [DEFAULT]:
        return app.status_line()
    lines = []
    for name in names:
        try:
            line = app.base(name).status_line()
        except RagError as exc:  # deleted since, or a kb.toml that does not read
            line = f"⚠ {esc_markdown(str(exc))}"
        lines.append(f"**{say('知识库', 'knowledge base')} {esc_markdown(name)}**{say('：', ': ')}{line}")
    return "  \n".join(lines)


def chat_view(app: ChatApp, chosen: Any) -> tuple[Any, ...]:
    """The header's status line, the article filter and the example questions for the chat's chosen bases.

    The article filter works on one knowledge base: with several chosen it is
    emptied and disabled, its note says why.
    """
    import gradio as gr

    names = [n for n in chosen_bases(chosen) if n in app.base_names()] or [DEFAULT]
    indexed: list[tuple[str, str]] = []
    for name in names:
        try:
            indexed.extend(app.base(name).indexed_articles())
        except RagError:  # the status line says why
            continue
    examples = example_questions(indexed)
    if len(names) == 1:
        article_filter = gr.Dropdown(choices=article_choices(indexed), value=[], interactive=True,
                                     info=say("不选则查找全部文章", "None chosen: all articles"))
    else:
        article_filter = gr.Dropdown(choices=[], value=[], interactive=False,
                                     info=say("选择了多个知识库：文章筛选只在选择一个知识库时可用",
                                              "Several knowledge bases chosen: the filter works on one at a time"))
    return (status_text(app, names), article_filter,
            gr.Dataset(samples=[[q] for q in examples], visible=bool(examples)))


def selectors(app: ChatApp, chat: Any, articles: Any, evaluation: Any) -> tuple[Any, ...]:
    """The chat's, the 文章 tab's and the 评测 tab's selectors with the knowledge bases there are now.

    Each keeps its choice when it is still there; otherwise ``default``.
    """
    import gradio as gr

    names = app.base_names()
    kept = [n for n in chosen_bases(chat) if n in names] or [DEFAULT]
    return (gr.Dropdown(choices=names, value=kept),
            gr.Dropdown(choices=names, value=base_name(articles) if base_name(articles) in names else DEFAULT),
            gr.Dropdown(choices=names, value=base_name(evaluation) if base_name(evaluation) in names else DEFAULT))


def create_kb(app: ChatApp, name: str, chat: Any, evaluation: Any) -> tuple[Any, ...]:
    """Make a knowledge base; the 文章 tab then manages it. Notice, name field and the three selectors."""
    import gradio as gr

    try:
        made = app.create_base(name or "")
    except RagError as exc:  # a bad or taken name: the library's one line
        message = say("无法新建知识库：", "cannot create the knowledge base: ") + str(exc)
        warning_toast(message)
        return (notice("✗ " + message), gr.skip(), gr.skip(), gr.skip(), gr.skip())
    text = say(f"✓ 已新建知识库 {made}：上传文章即添加并索引。",
               f"✓ Knowledge base {made} created: upload articles to add and index them.")
    info_toast(text)
    return (notice(text), "", *selectors(app, chat, made, evaluation))


def ask_delete_kb(name: Any) -> tuple[Any, ...]:
    """Ask before deleting the knowledge base the 文章 tab manages."""
    import gradio as gr

    base = base_name(name)
    return (notice(say(f"请确认：确定删除知识库 {base} 吗？它的文章、索引、评价和评测记录都会删除。",
                       f"Please confirm: delete the knowledge base {base} with its articles, index, ratings and "
                       "evaluation runs?")), gr.update(visible=True))


def delete_kb(app: ChatApp, name: Any, chat: Any, evaluation: Any) -> tuple[Any, ...]:
    """Delete the knowledge base the 文章 tab manages (refused, with the reason, for ``default`` and declared ones)."""
    import gradio as gr

    base = base_name(name)
    try:
        app.delete_base(base)
    except RagError as exc:
        message = say("无法删除知识库：", "cannot delete the knowledge base: ") + str(exc)
        warning_toast(message)
        return (notice("✗ " + message), gr.update(visible=False), gr.skip(), gr.skip(), gr.skip())
    text = say(f"✓ 已删除知识库 {base}。", f"✓ Knowledge base {base} deleted.")
    info_toast(text)
    return (notice(text), gr.update(visible=False), *selectors(app, chat, DEFAULT, evaluation))


def cancel_delete_kb() -> tuple[Any, ...]:
    """The deletion of a knowledge base was cancelled."""
    import gradio as gr

    text = say("已取消，知识库没有改动。", "Cancelled; the knowledge base is unchanged.")
    return notice(text), gr.update(visible=False)


def show_base(app: ChatApp, name: Any) -> tuple[Any, ...]:
    """The 文章 tab's outputs (``tab_outputs``) for the knowledge base chosen at its top."""
    try:
        return tab_outputs(app.base(base_name(name)), Step("", confirm=False, pending=[]))
    except RagError as exc:
        return tab_outputs(app, Step("✗ " + str(exc)))


def in_base(app: ChatApp, name: Any, steps: Any) -> Iterator[tuple[Any, ...]]:
    """Run an 文章 tab handler (``steps(base_app)``) on the chosen knowledge base.

    Its status line and article filter are left alone here: they follow the
    chat's own choice (``chat_view``, run when the handler ends).
    """
    import gradio as gr

    try:
        base = app.base(base_name(name))
    except RagError as exc:  # deleted meanwhile (another page, the CLI)
        warning_toast(str(exc))
        yield (notice("✗ " + str(exc)), *(gr.skip(),) * 9)
        return
    for out in steps(base):
        yield (*out[:7], gr.skip(), gr.skip(), *out[9:])


def eval_choices(app: ChatApp, name: Any) -> Any:
    """The 评测 tab's question sets for the chosen knowledge base (its own ratings among them)."""
    import gradio as gr

    try:
        settings = app.base(base_name(name)).settings
    except RagError:
        settings = app.settings
    return gr.Dropdown(choices=question_set_choices(settings), value="")
