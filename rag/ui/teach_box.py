"""The chat's 👎 that teaches: after a 👎, a box for the right answer, typed or chosen among the retrieved sentences.

A typed answer becomes an FAQ entry, a chosen sentence a linked question on the
chunk that holds it (the library's ``rag.kb.teach``); the 👎 row of the ratings
file records it. The box shows one line of confirmation; the sentences are data
(a dropdown's plain-text labels), the confirmation escaped Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.feedback import rating_base
from rag.kb.teach import MAX_TAUGHT_CHARS, retrieved_sentences, shown_sentence, teach
from rag.messages import message
from rag.ui.chat import Turn, rate
from rag.ui.escape import esc_markdown
from rag.ui.texts import request_lang
from rag.ui.toasts import info_toast, warning_toast

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases


@dataclass
class TeachBox:
    """The box's components that events read or write."""

    box: gr.Column
    typed: gr.Textbox
    sentence: gr.Dropdown
    save_btn: gr.Button
    status: gr.Markdown
    number: gr.State  # the turn the box teaches (-1: none)


def teach_box(tr: gr.I18n) -> TeachBox:
    """The box, hidden until a 👎."""
    import gradio as gr

    with gr.Column(visible=False, elem_id="teach-box") as box:
        gr.Markdown(tr("teach_box"))
        gr.Markdown(tr("teach_intro"), elem_id="teach-intro")
        typed = gr.Textbox(label=tr("teach_typed"), lines=1, max_lines=4, max_length=MAX_TAUGHT_CHARS,
                           elem_id="teach-typed")
        sentence = gr.Dropdown([], value=None, label=tr("teach_sentence"), elem_id="teach-sentence")
        save_btn = gr.Button(tr("teach_save"), variant="primary", size="sm", elem_id="teach-save")
        status = gr.Markdown("", elem_id="teach-status")
    return TeachBox(box, typed, sentence, save_btn, status, gr.State(-1))


def sentence_choices(turn: Turn) -> list[tuple[str, str]]:
    """The dropdown's choices: each retrieved sentence (cut for the line) and its place in the list."""
    if turn.answer is None:
        return []
    return [(shown_sentence(s.text), str(i)) for i, s in enumerate(retrieved_sentences(turn.answer))]


def rated(bases: KnowledgeBases, turns: list[Turn], evt: Any) -> tuple[Any, ...]:
    """Keep the rating (``chat.rate``); after a 👎 open the box for that turn, otherwise close it."""
    import gradio as gr

    kept = rate(bases, turns, evt)
    if kept is None or kept[1] != "down":
        return gr.Column(visible=False), -1, gr.skip(), gr.skip(), ""
    number = kept[0]
    return (gr.Column(visible=True), number, "", gr.Dropdown(choices=sentence_choices(turns[number]), value=None),
            "")


def teach_turn(bases: KnowledgeBases, turns: list[Turn], number: Any, typed: Any, chosen: Any) -> tuple[Any, ...]:
    """Teach the turn's question the typed answer (an FAQ entry) or the chosen sentence (a linked question).

    Returns the status line, and the textbox and dropdown (cleared once taught).
    """
    import gradio as gr

    lang = request_lang(bases.settings.lang)
    typed = str(typed or "").strip()
    turn = turns[number] if isinstance(number, int) and 0 <= number < len(turns) else None
    if turn is None or turn.answer is None or not (typed or chosen not in (None, "")):
        warning_toast(message("teach_nothing", lang))
        return "", gr.skip(), gr.skip()
    answer = turn.answer
    try:
        rated_in = bases.get(rating_base(answer, turn.bases))  # the base whose ratings hold the 👎
        if typed:
            done = teach(rated_in, turn.question, typed, "faq", answer_id=turn.id)
            line = message("teach_faq_done", lang, question=turn.question, id=done.faq_id)
        else:
            s = retrieved_sentences(answer)[int(chosen)]
            done = teach(bases.get(s.knowledge_base), turn.question, s.text, "link", answer_id=turn.id,
                         article=s.article, ratings=rated_in.settings)
            line = message("teach_link_done", lang, question=turn.question, article=s.article, chunk=done.chunk)
    except (RagError, ValueError, IndexError) as exc:  # an entry too long, a sentence no chunk holds any more
        text = message("teach_not_saved", lang, detail=str(exc))
        warning_toast(text)
        return "✗ " + esc_markdown(text), gr.skip(), gr.skip()
    if done.rating is not None:
        line += message("teach_on_rating", lang)
    info_toast(line)
    return "✓ " + esc_markdown(line), "", gr.Dropdown(value=None)


def connect_teach(bases: KnowledgeBases, chat: Any, turns: gr.State, with_event: Any) -> None:
    """A rating opens or closes the box; its button teaches; a new question or conversation closes it.

    ``chat``: the chat tab's components (``layout.ChatTab``: its chatbot, question, buttons and this box).
    """
    import gradio as gr

    t: TeachBox = chat.teach
    chat.chatbot.like(with_event(lambda ts, evt: rated(bases, ts, evt), gr.LikeData), inputs=[turns],
                      outputs=[t.box, t.number, t.typed, t.sentence, t.status], show_progress="hidden")
    t.save_btn.click(lambda ts, n, typed, chosen: teach_turn(bases, ts, n, typed, chosen),
                     inputs=[turns, t.number, t.typed, t.sentence], outputs=[t.status, t.typed, t.sentence],
                     concurrency_limit=1)  # a link builds the index: one at a time
    gr.on([chat.ask_btn.click, chat.question.submit, chat.clear_btn.click, chat.chatbot.clear],
          lambda: (gr.Column(visible=False), -1), outputs=[t.box, t.number], show_progress="hidden")
