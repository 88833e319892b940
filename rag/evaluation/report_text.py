"""The reports' words in the language asked for: metric labels, verdicts, counts and report.md, from ``rag.messages``.

report.json keeps its English keys whatever the language (keys only grow); the
people's reports (report.md, report.html) and the browser's metrics table speak
the language chosen: ``settings.lang`` for ``rag eval``, the page's for the browser.
Metric names become plain Chinese in Chinese; EM, F1 and MRR keep their names beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.evaluation.answer_match import PASS_F1
from rag.evaluation.datasets import MAX_PROBLEMS_SHOWN
from rag.messages import MESSAGES, message

if TYPE_CHECKING:
    from rag.evaluation.runner import EvalReport


def metric_label(key: str, label: str, lang: str) -> str:
    """A metric's label in ``lang``: its catalogue text (``metric_<key>``), else the report's own ``label``.

    >>> metric_label("containment", "containment", "zh"), metric_label("hit@5", "hit@5", "zh")
    ('回答含标准答案', '前 5 个片段命中率（hit@5）')
    >>> metric_label("containment", "containment", "en"), metric_label("hit@5", "hit@5", "en")
    ('containment', 'hit@5')
    """
    if key.startswith("hit@"):
        return message("metric_hit", lang, k=key[4:], key=key)
    return message(f"metric_{key}", lang) if f"metric_{key}" in MESSAGES else label


def verdict_text(verdict: str, lang: str) -> str:
    """A question's verdict (``QuestionResult.verdict``) in ``lang``.

    >>> verdict_text("false refusal", "zh"), verdict_text("false refusal", "en")
    ('误拒', 'false refusal')
    """
    return message("verdict_" + verdict.replace(" ", "_"), lang)


def notes(lang: str) -> list[str]:
    """What the reports say of EM/F1 and of the pass rule, in ``lang``."""
    return [message("rep_em_f1_note", lang), message("rep_pass_note", lang, pass_f1=PASS_F1)]


def run_line(report: EvalReport, lang: str) -> str:
    """One line about what ran: questions, mode, depth, encoder, index, start (report.html's head)."""
    qs, s, index = report.question_set, report.settings, report.index
    return message("rep_run_line", lang, selected=len(report.questions), in_file=qs.total_questions,
                   selection=selection_text(qs.selection, lang), mode=s.retrieval_mode, depth=report.options.depth,
                   top_k=s.top_k,
                   encoder=report.encoder, articles=index.articles, chunks=index.chunks,
                   mean=f"{index.mean_chunk_chars:.0f}", started=report.started_at)


def selection_text(selection: str, lang: str = "zh") -> str:
    """How the questions were chosen (report.json's ``selection``), in the page's words.

    >>> selection_text("split=all"), selection_text("split=all sample=12 seed=0")
    ('全部', '随机抽样 12 题（种子 0）')
    >>> selection_text("split=test limit=5"), selection_text("split=test limit=5", "en")
    ('test 部分；前 5 题', 'the test half; the first 5 questions')
    """
    words = dict(part.split("=", 1) for part in selection.split() if "=" in part)
    parts = [] if words.get("split", "all") == "all" else [message("sel_split", lang, split=words["split"])]
    if "sample" in words:
        parts.append(message("sel_sample", lang, n=words["sample"], seed=words.get("seed", 0)))
    if "limit" in words:
        parts.append(message("sel_limit", lang, n=words["limit"]))
    if "hold-out" in words:
        parts.append(message("sel_hold_out", lang, n=words["hold-out"]))
    return message("list_separator", lang).join(parts) or message("sel_all", lang)


def markdown_report(report: EvalReport, metric_lines: list[str], counts: dict[str, int], max_answer_chars: int,
                    lang: str) -> str:
    """report.md in ``lang``: what ran, the metrics table (``metric_lines``), counts and skipped rows."""
    qs, s, index = report.question_set, report.settings, report.index
    built = message("rep_up_to_date", lang) if index.up_to_date else message("rep_embedded", lang, n=index.embedded)
    lines = [
        message("rep_title", lang, name=qs.name), "",
        message("rep_questions", lang, selected=len(report.questions), in_file=qs.total_questions,
                selection=selection_text(qs.selection, lang), skipped=len(qs.problems)),
        message("rep_retrieval", lang, mode=s.retrieval_mode, depth=report.options.depth, top_k=s.top_k,
                size=s.chunk_size, overlap=s.chunk_overlap),
        message("rep_index", lang, articles=index.articles, chunks=index.chunks, mean=f"{index.mean_chunk_chars:.0f}",
                per_article=f"{index.chunks_per_article:.1f}", built=built, store=index.store),
        *([message("rep_held_out", lang, n=len(qs.held_out))] if qs.held_out else []),
        message("rep_encoder", lang, encoder=report.encoder, rag=report.versions.get("rag", "?"),
                python=report.versions.get("python", "?"), started=report.started_at),
        message("rep_time", lang, questions=f"{report.timings.get('questions', 0):.1f}",
                total=f"{report.timings.get('total', 0):.1f}"),
        "", message("rep_table_head", lang), "| --- | ---: |", *metric_lines, "",
        message("rep_counts", lang, max_chars=max_answer_chars, **counts), "",
        message("rep_scorer", lang), "", *"\n\n".join(notes(lang)).split("\n"),
    ]
    if qs.problems:
        lines += ["", message("rep_skipped_head", lang), "", *(f"- {p}" for p in qs.problems[:MAX_PROBLEMS_SHOWN])]
        if len(qs.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(message("rep_more_rows", lang, n=len(qs.problems) - MAX_PROBLEMS_SHOWN))
    return "\n".join(lines) + "\n"
