"""The chat tab's handlers: answer a question, rate an answer, show a turn's sources, open a citation.

Each browser session keeps its own turns (a ``gr.State`` list of ``Turn``); the
handlers return what the page shows, built by ``render``. After each answer the
conversation goes to the browser's local storage (``conversations``), from which
a reload or the list of conversations brings it back: the follow-up memory is the
conversation's own turns. gradio is imported inside the handlers only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.knowledge_base import Retrieved
from rag.kb.registry import DEFAULT
from rag.messages import message
from rag.records import Answer
from rag.serialize import json_text
from rag.settings import RETRIEVAL_MODES
from rag.ui import conversations as stored
from rag.ui import render as view
from rag.ui.texts import request_lang
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """One question of a session and its answer (None when it failed)."""

    question: str
    answer: Answer | None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    articles: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=lambda: [DEFAULT])  # the knowledge bases it was asked of


def chosen_bases(bases: Any) -> list[str]:
    """The knowledge bases chosen in the chat, each once; ``default`` when none is.

    >>> chosen_bases(["news", "default", "news"]), chosen_bases(None), chosen_bases("news")
    (['news', 'default'], ['default'], ['news'])
    """
    names = [bases] if isinstance(bases, str) else [str(b) for b in bases or []]
    return list(dict.fromkeys(n.strip() for n in names if n.strip())) or [DEFAULT]


def respond(bases: KnowledgeBases, question: str, messages: list[dict[str, Any]], turns: list[Turn], mode: str,
            k: float, answer_mode: str, articles: list[str] | None,
            chosen: list[str] | None = None) -> Iterator[tuple[Any, ...]]:
    """Answer a question of the chosen knowledge bases: sources when retrieval ends, then the answer.

    Generative answers come token by token. What one and several knowledge bases mean (the article
    filter applies to one) is the door's: the filter is passed when the scope says it applies.
    """
    import gradio as gr

    lang = request_lang(bases.settings.lang)
    question = (question or "").strip()
    if not question:
        warning_toast(message("type_a_question", lang))
        yield messages, turns, gr.skip(), "", gr.skip(), gr.skip()
        return
    sources_tab = gr.Tabs(selected="sources")  # a new question shows its sources, whatever tab was open
    # What the page offers is checked here too: a request may come from elsewhere than the page.
    if mode not in RETRIEVAL_MODES:
        mode = bases.settings.retrieval_mode
    passages = passages_asked(k, bases.settings.top_k)
    names = chosen_bases(chosen)
    filtered = [articles] if isinstance(articles, str) else [str(a) for a in articles or []]
    number = len(turns)
    # Answered turns only: a question refused (too long, say) must not refuse every later one as history.
    history = [t.question for t in turns if t.answer is not None]
    messages = [*messages, {"role": "user", "content": view.esc_markdown(question)},
                {"role": "assistant", "content": message("searching", lang)}]
    turn = Turn(question, None, bases=names)
    turns = [*turns, turn]
    yield messages, turns, view.render_searching(question, lang), "", "", sources_tab
    streamed = ""
    try:
        scope = bases.scope(names)
        turn.articles = filtered if scope.filterable else []
        generative = answer_mode == "generative"
        for step in bases.answer_steps(question, names, history, passages, mode, turn.articles, generative):
            if isinstance(step, Retrieved):
                messages[-1] = {"role": "assistant", "content": message("answering", lang)}
                yield messages, turns, view.render_retrieved(number, question, step, lang), "", "", gr.skip()
            elif isinstance(step, str):
                streamed += step
                messages[-1] = {"role": "assistant", "content": view.streaming_text(streamed)}
                yield messages, turns, gr.skip(), "", "", gr.skip()
            else:
                turn.answer = step
                messages[-1] = {"role": "assistant", "content": view.chat_text(number, step, lang)}
                yield messages, turns, view.render_sources(number, step, lang), "", \
                    view.answer_markdown(step, lang), gr.skip()
    except RagError as exc:  # a question over max_question_chars, an unknown article, an endpoint down
        yield _failed(messages, turns, str(exc))
    except Exception as exc:
        # Not an error the user caused: logged with its traceback here, a short message there.
        log.exception("answering %r failed", question)
        yield _failed(messages, turns, message("internal_error", lang, detail=f"{type(exc).__name__}: {exc}"))


def _failed(messages: list[dict[str, Any]], turns: list[Turn], text: str) -> tuple[Any, ...]:
    """What the page shows of a question that failed: a toast, the message in the chat and the sources panel."""
    import gradio as gr

    warning_toast(text)
    messages[-1] = {"role": "assistant", "content": "⚠ " + view.esc_markdown(text)}
    return messages, turns, view.render_error(text), "", "", gr.skip()


TOP_K_RANGE = (1, 20)  # the page's slider


def passages_asked(k: Any, default: int) -> int:
    """The number of passages to retrieve, as the slider allows it (1–20); ``default`` for anything unreadable.

    >>> passages_asked(5.0, 5), passages_asked(10**9, 5), passages_asked(float("nan"), 5)
    (5, 20, 5)
    """
    try:
        number = int(k)
    except (TypeError, ValueError, OverflowError):
        return default
    return min(max(number, TOP_K_RANGE[0]), TOP_K_RANGE[1])


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


def rate(bases: KnowledgeBases, turns: list[Turn], evt: gr.LikeData) -> tuple[int, str] | None:
    """Store a 👍/👎 as a question-set row beside the index (a second click replaces it).

    Returns the turn's number and the rating kept ("up" or "down"); None when nothing was kept.
    """
    found = _turn_at(turns, evt.index)
    if found is None or found[1].answer is None:
        return None
    turn = found[1]
    assert turn.answer is not None
    liked = evt.liked
    rating = "up" if liked is True or liked == "Like" else "down" if liked is False or liked == "Dislike" else None
    lang = request_lang(bases.settings.lang)
    try:
        path = bases.rate(turn.answer, turn.id, rating, turn.articles, turn.bases)
    except RagError as exc:  # the knowledge base was deleted since
        warning_toast(message("rating_not_saved", lang, detail=str(exc)))
        return None
    except OSError as exc:
        warning_toast(message("rating_not_saved", lang, detail=exc.strerror or str(exc)))
        return None
    if rating is None:
        info_toast(message("rating_withdrawn", lang))
        return None
    # The file name only: the server's folders are none of a remote user's business.
    info_toast(message("rating_saved_up" if rating == "up" else "rating_saved_down", lang, file=path.name))
    return found[0], rating


def show_turn(turns: list[Turn], evt: gr.SelectData) -> tuple[str, str]:
    """Clicking a message shows the sources of its answer."""
    import gradio as gr

    found = _turn_at(turns, evt.index)
    if found is None or found[1].answer is None:
        return gr.skip(), gr.skip()
    number, turn = found
    assert turn.answer is not None
    lang = request_lang()
    return view.render_sources(number, turn.answer, lang), view.answer_markdown(turn.answer, lang)


def open_citation(bases: KnowledgeBases, turns: list[Turn], evt: gr.EventData) -> tuple[Any, ...]:
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
    lang = request_lang(bases.settings.lang)
    html = _article_view(bases, path, focus, expected, _base_of(answer, kind, n), lang)
    return (html, gr.Tabs(selected="viewer"), view.render_sources(number, answer, lang),
            view.answer_markdown(answer, lang))


def _article_view(bases: KnowledgeBases, path: str, focus: view.Focus, expected: str, base: str = DEFAULT,
                  lang: str = "zh") -> str:
    """The article view at ``focus`` (an article of knowledge base ``base``), or a message when it is gone."""
    try:
        # Article paths are per knowledge base: the citation's own base holds its article.
        article = bases.article(base, path)
    except RagError as exc:  # a corrupt index, or one built with other settings: say so, never hide it
        return view.render_error(str(exc))
    # The index may have been rebuilt since the answer: show the article only if the text is the same.
    if article is None or article.text[focus.start : focus.end] != expected:
        return view.render_error(message("article_changed", lang, path=path))
    return view.render_article(article, focus)


def _parse_cite(key: str) -> tuple[int, str, int] | None:
    """``"3-c1"`` -> (3, "c", 1); None for anything else.

    >>> _parse_cite("3-c1"), _parse_cite("0-h12"), _parse_cite("x")
    ((3, 'c', 1), (0, 'h', 12), None)
    """
    turn, _, rest = key.partition("-")
    if not turn.isdigit() or len(rest) < 2 or rest[0] not in "ch" or not rest[1:].isdigit():
        return None
    return int(turn), rest[0], int(rest[1:])


def _base_of(answer: Answer, kind: str, n: int) -> str:
    """The knowledge base of citation ``n`` or hit rank ``n``: article paths are per knowledge base."""
    found = [c.knowledge_base for c in answer.citations if c.n == n] if kind == "c" else \
        [h.knowledge_base for h in answer.hits if h.rank == n]
    return found[0] if found else DEFAULT


def _focus_of(answer: Answer, kind: str, n: int) -> tuple[str | None, view.Focus | None, str]:
    """The article, focus and expected focus text of citation ``n`` (with the short answer in it) or hit rank ``n``."""
    if kind == "c":
        short = view.shown_short_answer(answer)
        for c in answer.citations:
            if c.n == n and c.kind == "faq":  # an FAQ entry has no article to open: its card shows it whole
                return None, None, ""
            if c.n == n:
                inner = (short.start, short.end) if short is not None and short.n == n else None
                return c.article, view.Focus(c.paragraph, c.start, c.end, inner), c.sentence_text
        return None, None, ""
    for hit in answer.hits:
        if hit.rank == n:
            ch = hit.chunk
            return ch.article, view.Focus(ch.paragraphs[0], ch.start, ch.end), ch.text
    return None, None, ""


def clear_chat() -> tuple[Any, ...]:
    """A new conversation: no messages, no turns, empty sources, question, Markdown and article view, no id yet."""
    return [], [], view.render_empty_sources(request_lang()), "", "", view.render_article_placeholder(), ""


# -- conversations kept in the browser ------------------------------------------------------------
def store_record(conversation: str, turns: list[Turn], bases: Any = None) -> tuple[str, str]:
    """The conversation's id (a new one for its first answer) and its record as JSON, for the browser to keep.

    The record keeps the knowledge bases chosen, so reopening the conversation chooses them again.
    """
    conversation = conversation or stored.new_conversation_id()
    return conversation, json_text(stored.conversation_record(conversation, turns, chosen_bases(bases)))


def store_choice(conversation: str, turns: list[Turn], bases: Any) -> tuple[Any, Any]:
    """A stored conversation's new choice of knowledge bases, kept at once (nothing before its first answer)."""
    import gradio as gr

    if not conversation or not turns:
        return gr.skip(), gr.skip()
    return store_record(conversation, turns, bases)


def list_conversations(store_text: str, conversation: str) -> Any:
    """The list of this browser's conversations, the current one chosen."""
    import gradio as gr

    choices = stored.conversation_choices(stored.read_store(store_text), request_lang())
    return gr.Dropdown(choices=choices, value=conversation or None)


def open_conversation(store_text: str, chosen: str | None = None, names: list[str] | None = None) -> tuple[Any, ...]:
    """A stored conversation back on the page (the current one when ``chosen`` is None; a new one when none is).

    Returns messages, turns, conversation id, sources, Markdown, article view, the list of
    conversations and the knowledge-base selector (``names``: those there are; the
    conversation's own choice, less any deleted since; ``default`` when none is left).
    """
    import gradio as gr

    store = stored.read_store(store_text)
    wanted = store["current"] if chosen is None else chosen
    record = next((c for c in store["conversations"] if c["id"] == wanted), None)
    turns: list[Turn] = []
    if record is not None:
        try:
            turns = [Turn(t.question, t.answer, id=t.id, articles=t.articles, bases=t.bases)
                     for t in stored.turns_of(record)]
        except ValueError as exc:  # a stored conversation this version cannot read: said, not half shown
            warning_toast(message("conversation_unreadable", request_lang(), detail=str(exc)))
            record = None
    messages: list[dict[str, Any]] = []
    lang = request_lang()
    for number, t in enumerate(turns):
        messages.append({"role": "user", "content": view.esc_markdown(t.question)})
        messages.append({"role": "assistant", "content": message("no_answer", lang) if t.answer is None
                         else view.chat_text(number, t.answer, lang)})
    last = next(((n, t.answer) for n, t in reversed(list(enumerate(turns))) if t.answer is not None), None)
    sources = view.render_empty_sources(lang) if last is None else view.render_sources(*last, lang)
    markdown = "" if last is None else view.answer_markdown(last[1], lang)
    conversation = record["id"] if record is not None else ""
    choices = stored.conversation_choices(store, lang)
    names = names or [DEFAULT]
    kept = [n for n in stored.bases_of(record) if n in names] if record is not None else []
    selector = gr.Dropdown(choices=names, value=kept or [DEFAULT]) if record is not None else gr.Dropdown(choices=names)
    return (messages, turns, conversation, sources, markdown, view.render_article_placeholder(),
            gr.Dropdown(choices=choices, value=conversation or None), selector)


# -- example questions ------------------------------------------------------------------------
# Good questions about the default article (each answered by one of its sentences).
DEFAULT_ARTICLE_QUESTIONS = {
    "shenzhen-ai-industry.txt": [
        "2025年深圳人工智能核心产业营收约多少？",
        "荣耀累计投入了多少资金用于AI研发？",
        "比亚迪的AI视觉检测系统电池缺陷识别准确率是多少？",
        "到2027年深圳将开放多少个应用场景？",
    ],
}


def example_questions(articles: Sequence[tuple[str, str]], limit: int = 5) -> list[str]:
    """Example questions for the indexed articles, given as (path, title) pairs.

    Known articles have hand-picked questions; others get one about their title.

    >>> example_questions([("x/a.txt", "深圳低空经济")])
    ['《深圳低空经济》主要讲了什么？']
    """
    picked: list[str] = []
    derived: list[str] = []
    for path, title in articles:
        known = DEFAULT_ARTICLE_QUESTIONS.get(path.rsplit("/", 1)[-1])
        if known:
            picked.extend(known)
        else:
            derived.append(f"《{title}》主要讲了什么？")
    # Hand-picked questions first: they show what a good question looks like.
    return list(dict.fromkeys(picked + derived))[:limit]
