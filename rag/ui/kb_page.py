"""The page's knowledge bases: the chat's selector, the 文章 and 评测 tabs' selectors, create and delete.

The list is read afresh (``KnowledgeBases.names``) whenever the page loads and
after a knowledge base is made or deleted here, so one made from the CLI shows
without a restart. The chat asks the knowledge bases chosen in its selector; what
that choice offers (articles to suggest, whether the article filter applies) is
the door's ``scope``. The 文章 and 评测 tabs each manage the one chosen at their
top. Names are data: escaped wherever they are shown. gradio is imported inside
the handlers only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.registry import DEFAULT
from rag.messages import message
from rag.ui.articles_tab import Step, article_choices, notice, tab_outputs
from rag.ui.chat import chosen_bases, example_questions
from rag.ui.escape import esc_markdown
from rag.ui.eval_tab import question_set_choices
from rag.ui.texts import request_lang, status_line
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    from rag.kb.bases import KnowledgeBases, Scope


def base_name(value: Any) -> str:
    """The knowledge base a tab's selector names (``default`` when it names none).

    >>> base_name("news"), base_name(None), base_name(["x"])
    ('news', 'default', 'default')
    """
    return value if isinstance(value, str) and value else DEFAULT


def status_text(bases: KnowledgeBases, scope: Scope) -> str:
    """The header's line about the chosen knowledge bases' indexes: one line each, named when the scope says."""
    lang = request_lang(bases.settings.lang)
    lines = []
    for name in scope.names:
        try:
            line = status_line(bases, name, lang)
        except RagError as exc:  # deleted since, or a kb.toml that does not read
            line = f"⚠ {esc_markdown(str(exc))}"
        named = f"**{esc_markdown(message('knowledge_base', lang, name=name))}**{message('separator', lang)}"
        lines.append(named + line if scope.names_bases else line)
    return "  \n".join(lines)


def chat_view(bases: KnowledgeBases, chosen: Any) -> tuple[Any, ...]:
    """The header's status line, the article filter and the example questions for the chat's chosen bases.

    The article filter works where the door's scope says it applies (one knowledge base);
    elsewhere it is emptied and disabled, and its note says why.
    """
    import gradio as gr

    lang = request_lang(bases.settings.lang)
    scope = bases.scope(chosen_bases(chosen))
    examples = example_questions(scope.articles)
    article_filter = gr.Dropdown(choices=article_choices(scope.articles) if scope.filterable else [], value=[],
                                 interactive=scope.filterable,
                                 info=message("filter_info" if scope.filterable else "filter_several", lang))
    return (status_text(bases, scope), article_filter,
            gr.Dataset(samples=[[q] for q in examples], visible=bool(examples)))


def selectors(bases: KnowledgeBases, chat: Any, articles: Any, evaluation: Any) -> tuple[Any, ...]:
    """The chat's, the 文章 tab's and the 评测 tab's selectors with the knowledge bases there are now.

    Each keeps its choice when it is still there; otherwise ``default``.
    """
    import gradio as gr

    names = bases.names()
    kept = [n for n in chosen_bases(chat) if n in names] or [DEFAULT]
    return (gr.Dropdown(choices=names, value=kept),
            gr.Dropdown(choices=names, value=base_name(articles) if base_name(articles) in names else DEFAULT),
            gr.Dropdown(choices=names, value=base_name(evaluation) if base_name(evaluation) in names else DEFAULT))


def create_kb(bases: KnowledgeBases, name: str, chat: Any, evaluation: Any) -> tuple[Any, ...]:
    """Make a knowledge base; the 文章 tab then manages it. Notice, name field and the three selectors."""
    import gradio as gr

    lang = request_lang(bases.settings.lang)
    try:
        made = bases.create(name or "").name
    except RagError as exc:  # a bad or taken name: the library's one line
        text = message("kb_not_created", lang, detail=str(exc))
        warning_toast(text)
        return (notice("✗ " + text), gr.skip(), gr.skip(), gr.skip(), gr.skip())
    text = message("kb_created", lang, name=made)
    info_toast(text)
    return (notice(text), "", *selectors(bases, chat, made, evaluation))


def ask_delete_kb(name: Any) -> tuple[Any, ...]:
    """Ask before deleting the knowledge base the 文章 tab manages."""
    import gradio as gr

    return notice(message("kb_confirm_delete", request_lang(), name=base_name(name))), gr.update(visible=True)


def delete_kb(bases: KnowledgeBases, name: Any, chat: Any, evaluation: Any) -> tuple[Any, ...]:
    """Delete the knowledge base the 文章 tab manages (refused, with the reason, for ``default`` and declared ones)."""
    import gradio as gr

    lang = request_lang(bases.settings.lang)
    base = base_name(name)
    try:
        bases.delete(base)
    except RagError as exc:
        text = message("kb_not_deleted", lang, detail=str(exc))
        warning_toast(text)
        return (notice("✗ " + text), gr.update(visible=False), gr.skip(), gr.skip(), gr.skip())
    text = message("kb_deleted", lang, name=base)
    info_toast(text)
    return (notice(text), gr.update(visible=False), *selectors(bases, chat, DEFAULT, evaluation))


def cancel_delete_kb() -> tuple[Any, ...]:
    """The deletion of a knowledge base was cancelled."""
    import gradio as gr

    return notice(message("kb_unchanged", request_lang())), gr.update(visible=False)


def show_base(bases: KnowledgeBases, name: Any) -> tuple[Any, ...]:
    """The 文章 tab's outputs (``tab_outputs``) for the knowledge base chosen at its top."""
    try:
        return tab_outputs(bases, bases.pick(base_name(name))[0], Step("", confirm=False, pending=[]))
    except RagError as exc:
        return tab_outputs(bases, DEFAULT, Step("✗ " + str(exc)))


def in_base(bases: KnowledgeBases, name: Any, steps: Callable[[str], Iterator[tuple[Any, ...]]]
            ) -> Iterator[tuple[Any, ...]]:
    """Run an 文章 tab handler (``steps(name)``) on the chosen knowledge base.

    Its status line and article filter are left alone here: they follow the
    chat's own choice (``chat_view``, run when the handler ends).
    """
    import gradio as gr

    try:
        chosen = bases.pick(base_name(name))[0]
    except RagError as exc:  # deleted meanwhile (another page, the CLI)
        warning_toast(str(exc))
        yield (notice("✗ " + str(exc)), *(gr.skip(),) * 9)
        return
    for out in steps(chosen):
        yield (*out[:7], gr.skip(), gr.skip(), *out[9:])


def eval_choices(bases: KnowledgeBases, name: Any) -> Any:
    """The 评测 tab's question sets for the chosen knowledge base (its own ratings among them)."""
    import gradio as gr

    try:
        settings = bases.settings_of(base_name(name))
    except RagError:
        settings = bases.settings
    return gr.Dropdown(choices=question_set_choices(settings), value="")
