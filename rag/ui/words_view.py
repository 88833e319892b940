"""The 文章 tab's words editor: the chosen knowledge base's dictionary and synonym groups, edited and saved.

The two texts are its ``dictionary.txt`` (``word [frequency] [tag]`` a line,
jieba's format) and ``synonyms.txt`` (a group a line, the first word kept).
Saving goes through ``rag.kb.words``: checked by the code a build uses, written,
then the lexical leg is cut again (nothing embedded); a bad line is one message
naming it, and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.words import knowledge_base_words, save_words
from rag.ui.escape import esc_markdown
from rag.ui.kb_page import base_name
from rag.ui.texts import page_message

if TYPE_CHECKING:
    import gradio as gr

    from rag.kb.bases import KnowledgeBases


@dataclass
class WordsView:
    """The words editor's components that events read or write."""

    box: gr.Accordion
    dictionary: gr.Textbox
    synonyms: gr.Textbox
    save: gr.Button
    notice: gr.Markdown


def words_view(tr: gr.I18n) -> WordsView:
    """Two texts side by side, a save button and its notice."""
    import gradio as gr

    with gr.Accordion(tr("words_box"), open=False, elem_id="words-box") as box:
        gr.Markdown(tr("words_intro"))
        with gr.Row(equal_height=False):
            dictionary = gr.Textbox(label=tr("words_dictionary"), lines=6, max_lines=20, elem_id="words-dictionary")
            synonyms = gr.Textbox(label=tr("words_synonyms"), lines=6, max_lines=20, elem_id="words-synonyms")
        save = gr.Button(tr("words_save"), elem_id="words-save")
        notice = gr.Markdown("", elem_id="words-status")
    return WordsView(box, dictionary, synonyms, save, notice)


def connect_words(bases: KnowledgeBases, v: WordsView, kb_choice: gr.Dropdown) -> None:
    """Show the chosen knowledge base's words when the box opens or another base is chosen; save them."""
    hidden: dict[str, Any] = {"show_progress": "hidden"}
    outputs = [v.dictionary, v.synonyms, v.notice]
    v.box.expand(lambda kb: show_words(bases, kb), inputs=[kb_choice], outputs=outputs, **hidden)
    kb_choice.change(lambda kb: show_words(bases, kb), inputs=[kb_choice], outputs=outputs, **hidden)
    v.save.click(lambda kb, d, s: save_page_words(bases, kb, d, s), inputs=[kb_choice, v.dictionary, v.synonyms],
                 outputs=[v.notice], **hidden)


def show_words(bases: KnowledgeBases, kb: Any) -> tuple[str, str, str]:
    """The dictionary and synonyms texts of the chosen knowledge base, and an empty notice (or why not)."""
    try:
        words = knowledge_base_words(bases.get(base_name(kb)))
    except RagError as exc:
        return "", "", "✗ " + esc_markdown(str(exc))
    return words.dictionary, words.synonyms, ""


def save_page_words(bases: KnowledgeBases, kb: Any, dictionary: Any, synonyms: Any) -> str:
    """Save the two texts and rebuild the lexical leg; the notice says what the index holds now, or the bad line."""
    texts = [t.replace("\r\n", "\n") if isinstance(t, str) else "" for t in (dictionary, synonyms)]
    try:
        base = bases.get(base_name(kb))
        report = save_words(base, *texts)
        counts = base.version().curation.counts()
    except RagError as exc:
        return "✗ " + esc_markdown(page_message("words_refused", reason=str(exc)))
    return esc_markdown(page_message("words_saved", words=counts["dictionary_words"],
                                     groups=counts["synonym_groups"], embedded=report.embedded,
                                     seconds=f"{report.seconds:.1f}"))
