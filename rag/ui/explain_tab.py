"""The 检索测试 tab: one question's way through search and answer, step by step (``KnowledgeBases.explain``).

The question runs as the chat runs it, with the retrieval mode, top_k, the two
weights and the refusal threshold chosen here tried for it alone (never saved):
the answer, the query searched, every candidate with its scores and ranks, the
spans the reader found and the refusal decision, the same explanation as
``rag ask --explain`` (``rag.kb.explain`` tells it; this module only lays it out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.kb.bases import KnowledgeBases
from rag.kb.explain import Explained, candidate_cells, decision_lines, search_lines, shown_candidates, span_lines
from rag.messages import message
from rag.settings import RETRIEVAL_MODES, Settings
from rag.ui.escape import esc
from rag.ui.texts import request_lang

if TYPE_CHECKING:
    import gradio as gr

PASSAGE_CHARS = 60  # of each candidate's text in the table


@dataclass
class ExplainTab:
    """The tab's parts."""

    kb_choice: gr.Dropdown
    question: gr.Textbox
    mode: gr.Radio
    top_k: gr.Slider
    lexical_weight: gr.Number
    rerank_weight: gr.Number
    threshold: gr.Number
    run_btn: gr.Button
    output: gr.HTML


def explain_tab(settings: Settings, tr: gr.I18n) -> ExplainTab:
    """A question box with the settings to try beside it, and the explanation below."""
    import gradio as gr

    gr.Markdown(tr("explain_intro"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            question = gr.Textbox(label=tr("explain_question"), lines=2, elem_id="explain-question")
            run_btn = gr.Button(tr("explain_run"), variant="primary", elem_id="explain-run")
        with gr.Column(scale=2):
            kb_choice = gr.Dropdown(["default"], value="default", label=tr("explain_kb"), elem_id="explain-kb")
            mode = gr.Radio(list(RETRIEVAL_MODES), value=settings.retrieval_mode, label=tr("explain_mode"),
                            elem_id="explain-mode")
            top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label=tr("explain_top_k"), elem_id="explain-top-k")
            lexical_weight = gr.Number(settings.rrf_lexical_weight, label=tr("explain_lexical_weight"),
                                       elem_id="explain-lexical-weight")
            rerank_weight = gr.Number(settings.rerank_weight, label=tr("explain_rerank_weight"),
                                      elem_id="explain-rerank-weight")
            threshold = gr.Number(settings.reader_refusal_threshold, label=tr("explain_threshold"),
                                  elem_id="explain-threshold")
    output = gr.HTML("", elem_id="explain-output")
    return ExplainTab(kb_choice, question, mode, top_k, lexical_weight, rerank_weight, threshold, run_btn, output)


def connect_explain(bases: KnowledgeBases, t: ExplainTab, tab: gr.Tab) -> None:
    """Run a test; the knowledge base selector lists the bases there are when the tab is opened."""
    import gradio as gr

    def choices(kb: Any) -> Any:
        names = bases.names()
        return gr.Dropdown(choices=names, value=kb if kb in names else names[0])

    tab.select(choices, inputs=[t.kb_choice], outputs=[t.kb_choice], show_progress="hidden")
    inputs = [t.kb_choice, t.question, t.mode, t.top_k, t.lexical_weight, t.rerank_weight, t.threshold]
    t.run_btn.click(lambda *values: run_explain(bases, *values), inputs=inputs, outputs=[t.output])
    t.question.submit(lambda *values: run_explain(bases, *values), inputs=inputs, outputs=[t.output])


def run_explain(bases: KnowledgeBases, kb: Any, question: Any, mode: Any, top_k: Any, lexical_weight: Any,
                rerank_weight: Any, threshold: Any) -> str:
    """The explanation of one question as HTML, with the values that differ from the base's settings tried."""
    lang = request_lang()
    if not isinstance(question, str) or not question.strip():
        return f'<p class="explain-note">{esc(message("explain_empty", lang))}</p>'
    try:
        name = bases.pick(kb if isinstance(kb, str) and kb else None)[0]
        own = bases.settings_of(name)
        wanted = {"retrieval_mode": mode, "top_k": top_k if top_k is None else int(top_k),
                  "rrf_lexical_weight": lexical_weight, "rerank_weight": rerank_weight,
                  "reader_refusal_threshold": threshold}
        changes = {k: v for k, v in wanted.items() if v is not None and v != getattr(own, k)}
        explained = bases.explain(question, [name], changes=changes)
    except RagError as exc:
        return f'<p class="explain-note error">✗ {esc(str(exc))}</p>'
    return explanation_html(explained, lang)


def explanation_html(explained: Explained, lang: str = "zh") -> str:
    """The answer, then the explanation: the query, the candidates' table, the reader's spans, the decision."""
    answer, trace = explained.answer, explained.trace
    short = "" if answer.short_answer is None else f"<strong>{esc(answer.short_answer.text)}</strong> "
    refused = trace.decision is not None and trace.decision.refused
    parts = [f'<div class="rag-explain"><p class="explain-answer">{short}{esc(answer.text)}</p>',
             *(f"<p>{esc(line)}</p>" for line in search_lines(trace, lang)),
             '<table class="explain-table"><thead><tr>',
             *(f"<th>{esc(h)}</th>" for h in message("explain_headers", lang).split("|")),
             "</tr></thead><tbody>"]
    shown = shown_candidates(trace)
    for c in shown:
        cells = [*candidate_cells(c, lang), c.chunk.text[:PASSAGE_CHARS] + ("…" if len(c.chunk.text) > PASSAGE_CHARS
                                                                             else "")]
        kept = ' class="kept"' if c.final_rank is not None else ""
        parts.append(f"<tr{kept}>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells) + "</tr>")
    parts.append("</tbody></table>")
    if len(trace.candidates) > len(shown):
        more = message("explain_more_page", lang, n=len(trace.candidates) - len(shown))
        parts.append(f'<p class="explain-note">{esc(more)}</p>')
    spans, *found = span_lines(trace, lang)
    parts.append(f"<p>{esc(spans)}</p><ul>" + "".join(f"<li>{esc(line.strip())}</li>" for line in found) + "</ul>")
    decision = decision_lines(trace, lang)
    parts.extend(f"<p>{esc(line)}</p>" for line in decision[:-1])
    if decision:
        parts.append(f'<p class="explain-decision{" refused" if refused else ""}">{esc(decision[-1])}</p>')
    return "".join(parts) + "</div>"
