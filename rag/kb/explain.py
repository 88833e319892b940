"""Why this answer (``rag ask --explain``, ``POST /api/explain``, the MCP tool ``explain``).

The question runs through the same ``KnowledgeBase.ask`` as any other, with an
``AnswerTrace`` the stages fill as they run (``rag.trace``): the explanation is
of the answer given, never a second computation. Settings that act on one
question alone (``TRIAL_SETTINGS``: the retrieval mode, top_k, the fusion and
re-rank weights, the refusal thresholds…) may be tried for it: checked like a
settings file's values, never saved. ``explanation_text`` tells it in Chinese
or English for the terminal and MCP; its JSON is ``rag.serialize.trace_to_json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.errors import SettingsError
from rag.kb.knowledge_base import KnowledgeBase
from rag.messages import message
from rag.records import Answer
from rag.settings import Settings, settings_with
from rag.trace import AnswerTrace, Candidate

# The settings one question may try: none of them changes what the index holds or which models run.
TRIAL_SETTINGS = (
    "retrieval_mode", "top_k", "candidates", "rrf_k", "rrf_lexical_weight", "rerank_weight", "rerank_depth",
    "answer_sentences", "answer_max_chars", "short_answers", "reader_chunks", "refusal_threshold",
    "reader_refusal_threshold", "reader_null_weight", "reader_mismatch_weight", "refuse_unsupported_terms",
)
# What one question may ask beyond: the settings' own ranges suit an installation, not a request (a million
# candidates would each be scored, and listed in the explanation).
TRIAL_LIMITS = {"top_k": 100, "candidates": 1000, "rerank_depth": 1000, "reader_chunks": 20}
SHOWN_CANDIDATES = 10  # the text shows the kept candidates and those next in line, up to this many


@dataclass(frozen=True)
class Explained:
    """An answer and the trace of how it was made."""

    answer: Answer
    trace: AnswerTrace


def trial_settings(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    """``settings`` with ``changes`` tried (``TRIAL_SETTINGS`` only), validated; SettingsError names a bad one.

    >>> trial_settings(Settings(), {"top_k": 3}).top_k
    3
    >>> trial_settings(Settings(), {"top_k": 0})
    Traceback (most recent call last):
    rag.errors.SettingsError: top_k must be a number of at least 1 and at most 10000; got 0
    >>> trial_settings(Settings(), {"candidates": "5000"})
    Traceback (most recent call last):
    rag.errors.SettingsError: candidates may be at most 1000 for one question; got 5000
    """
    unknown = sorted(set(changes) - set(TRIAL_SETTINGS))
    if unknown:
        raise SettingsError(f"setting {unknown[0]!r} cannot be tried for one question; these can: "
                            f"{', '.join(TRIAL_SETTINGS)}")
    tried = settings_with(settings, changes, "the settings tried")
    for name, limit in TRIAL_LIMITS.items():
        if name in changes and getattr(tried, name) > limit:
            raise SettingsError(f"{name} may be at most {limit} for one question; got {getattr(tried, name)}")
    return tried


def explain(kb: KnowledgeBase, question: str, history: list[str] | None = None, articles: list[str] | None = None,
            changes: Mapping[str, Any] | None = None) -> Explained:
    """Answer ``question`` as ``kb.ask`` does, under ``changes`` to its settings, recording how."""
    if changes:
        kb = kb.with_settings(trial_settings(kb.settings, changes))
    trace = AnswerTrace(settings={name: getattr(kb.settings, name) for name in TRIAL_SETTINGS})
    return Explained(kb.ask(question, history, articles=articles, trace=trace), trace)


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _rank_score(rank: int | None, score: float | None) -> str:
    return "—" if rank is None else f"{rank} {_number(score)}"


def _through(linked_question: str | None) -> str:
    """After a dense score that came from a linked question: that question."""
    return "" if linked_question is None else f" ⇐ 「{linked_question}」"


def candidate_cells(c: Candidate, lang: str = "zh") -> list[str]:
    """One candidate's cells: final rank, each ranking's rank and score, its re-rank scores, where it stands."""
    return ["—" if c.final_rank is None else str(c.final_rank), _rank_score(c.fused_rank, c.fused_score),
            _rank_score(c.dense_rank, c.dense_score) + _through(c.linked_question),
            _rank_score(c.lexical_rank, c.lexical_score),
            _number(c.sentence_score), _number(c.rerank_score), " · ".join(c.chunk.location(lang))]


def shown_candidates(trace: AnswerTrace) -> list[Candidate]:
    """The kept candidates by final rank, then the others in re-rank (else fused) order, up to SHOWN_CANDIDATES."""
    kept = trace.final_candidates()
    others = [c for c in trace.candidates if c.final_rank is None]
    others.sort(key=lambda c: (c.rerank_score is None, -(c.rerank_score or 0.0), c.fused_rank))
    return (kept + others)[: max(SHOWN_CANDIDATES, len(kept))]


def search_lines(trace: AnswerTrace, lang: str = "zh") -> list[str]:
    """The query searched (and the question it was written out from), the mode, how many were kept of how many."""
    lines = [message("explain_query", lang, query=trace.query)]
    if trace.followup:
        lines.append(message("explain_followup", lang, question=trace.question))
    search = message("explain_search", lang, mode=trace.mode, k=trace.top_k, n=len(trace.candidates))
    return [*lines, search + (message("explain_reranked", lang) if trace.reranked else "")]


def span_lines(trace: AnswerTrace, lang: str = "zh") -> list[str]:
    """The spans the reader found, each with the final ranks of the chunks it read, or why it did not read."""
    lines = [message("explain_reader", lang) if trace.spans else message("explain_no_reader", lang)]
    rank_of = {c.chunk.id: c.final_rank for c in trace.final_candidates()}
    for span in trace.spans:
        ranks = ",".join(str(rank_of[i]) for i in span.chunk_ids if i in rank_of) or "—"
        lines.append(message("explain_span", lang, ranks=ranks, text=span.text, score=span.score,
                             null=span.null_score) + (message("explain_chosen", lang) if span.chosen else ""))
    return lines


def decision_lines(trace: AnswerTrace, lang: str = "zh") -> list[str]:
    """The refusal signals and threshold, the terms missing, and the rule that decided."""
    decision = trace.decision
    lines = faq_lines(trace, lang)
    if decision is None:
        return lines
    if decision.rule not in ("overview", "faq"):
        yes_no = message("explain_yes" if decision.mismatch else "explain_no", lang)
        lines.append(message("explain_signals", lang, evidence=_number(decision.evidence),
                             null=_number(decision.null_score, 3), mismatch=yes_no,
                             support=_number(decision.support), threshold=_number(decision.threshold)))
    if decision.missing:
        lines.append(message("explain_missing", lang, terms="、".join(decision.missing)))
    if decision.unsupported:
        lines.append(message("explain_unsupported", lang, terms="、".join(decision.unsupported)))
    return [*lines, message(f"explain_rule_{decision.rule}", lang)]


def faq_lines(trace: AnswerTrace, lang: str = "zh") -> list[str]:
    """The FAQ step: the closest entry, its scores, the threshold and the verdict (none without an FAQ)."""
    faq = trace.faq
    if faq is None or faq.entry_id is None:
        return []
    verdict = message("explain_faq_matched" if faq.matched else "explain_faq_not_matched", lang)
    return [message("explain_faq", lang, id=faq.entry_id, question=faq.question, dense=_number(faq.dense),
                    lexical=_number(faq.lexical), score=_number(faq.score), threshold=_number(faq.threshold),
                    verdict=verdict)]


def explanation_text(trace: AnswerTrace, lang: str = "zh") -> str:
    """The trace told step by step: the query, the candidates, the reader's spans, the refusal decision."""
    shown = shown_candidates(trace)
    table = []
    for c in shown:
        final, fused, dense, lexical, sentence, rerank, where = candidate_cells(c, lang)
        table.append(f"{final:>4}  {fused:<11} {dense:<11} {lexical:<13} {sentence:<7} {rerank:<7} {where}")
    if len(trace.candidates) > len(shown):
        table.append(message("explain_more", lang, n=len(trace.candidates) - len(shown)))
    if trace.faq is not None and trace.faq.matched:  # answered from the FAQ: nothing was searched or read
        lines = [message("explain_title", lang), message("explain_query", lang, query=trace.query), "",
                 *decision_lines(trace, lang)]
        return "\n".join(lines)
    lines = [message("explain_title", lang), *search_lines(trace, lang), message("explain_columns", lang), *table,
             "", *span_lines(trace, lang), "", *decision_lines(trace, lang)]
    return "\n".join(lines).rstrip("\n")
