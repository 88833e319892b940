"""What a run's reports say: report.json, report.md, predictions.json and gold.json as data and text.

``report_files.write_reports`` writes them (with ``html_report``'s report.html) into a run folder.

``predictions.json`` ({question id: the short answer, else the whole answer's text;
"" for a refusal}) is the file the official CMRC 2018 and SQuAD scorers read;
``gold.json`` holds exactly the questions our EM and F1 are averaged over, in SQuAD
format, so that

    python cmrc2018_evaluate.py --dataset_file gold.json --prediction_file predictions.json

prints our ``em`` and ``f1`` times 100.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from rag.evaluation.answer_match import PASS_F1, PASS_RULE
from rag.evaluation.metrics import MAX_ANSWER_CHARS, STANDARD_K, QuestionResult, Summary
from rag.evaluation.report_text import markdown_report as markdown_text
from rag.evaluation.report_text import metric_label, notes
from rag.evaluation.runner import EvalReport
from rag.settings import Settings
from rag.urls import mask_url

REPORT_FORMAT = "rag-eval/1"
# (summary key, label, kind): kind decides the number format and what "better" means in comparisons.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("hit@1", "hit@1", "fraction"),
    ("hit@3", "hit@3", "fraction"),
    ("hit@5", "hit@5", "fraction"),
    ("hit@10", "hit@10", "fraction"),
    ("mrr@10", "MRR@10", "fraction"),
    ("em", "EM (CMRC, short answers)", "fraction"),
    ("f1", "F1 (CMRC, short answers)", "fraction"),
    ("em_sentences", "EM (CMRC, whole answers)", "fraction"),
    ("f1_sentences", "F1 (CMRC, whole answers)", "fraction"),
    ("containment", "containment", "fraction"),
    ("pass_rate", "pass rate", "fraction"),
    ("false_refusals", "false refusals", "fraction-lower"),
    ("refusal_precision", "refusal precision", "fraction"),
    ("refusal_recall", "refusal recall", "fraction"),
    ("search_ms_p50", "search p50 (ms)", "ms"),
    ("search_ms_p95", "search p95 (ms)", "ms"),
    ("total_ms_p50", "answer p50 (ms)", "ms"),
    ("total_ms_p95", "answer p95 (ms)", "ms"),
    ("answer_chars_median", "answer length median (chars)", "chars"),
    ("answer_chars_p95", "answer length p95 (chars)", "chars"),
    ("short_answer_chars_median", "short answer length median (chars)", "chars"),
    ("short_answer_chars_p95", "short answer length p95 (chars)", "chars"),
    ("read_ms_p50", "reader p50 (ms)", "ms"),
    ("read_ms_p95", "reader p95 (ms)", "ms"),
)
# The one key whose meaning changed (issue 16): say it wherever the figures are shown.
# What the reports say of EM/F1 (issue 16) and of the pass rule (issue 26), in English (rag.messages holds both).
EM_F1_NOTE, PASS_NOTE = notes("en")


def format_value(value: Any, kind: str) -> str:
    """A metric as printed in tables: fractions with 3 decimals, ms with 1, "–" when undefined.

    >>> format_value(0.81234, "fraction"), format_value(None, "ms"), format_value(12.345, "ms")
    ('0.812', '–', '12.3')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind.startswith("fraction"):
        return f"{value:.3f}"
    if kind == "chars":
        return f"{value:.0f}"
    return f"{value:.1f}"


def metric_value(summary: Summary, key: str) -> float | None:
    """One metric of the summary by its report.json key (``hit@5``, ``mrr@10``, ``em``, …); None when undefined."""
    if key.startswith("hit@"):
        return summary.hit_at.get(int(key[4:]))
    value = summary.mrr_at_10 if key == "mrr@10" else getattr(summary, key, None)
    return None if value is None else float(value)


def summary_to_json(summary: Summary) -> dict[str, Any]:
    """The summary with stable keys: hit@k, mrr@10, em, f1, containment, refusal rates, latency, lengths, counts.

    ``pass_rate`` is the share of questions that pass (each one's ``failed``), by the rule
    ``pass_rule`` says in words with its threshold ``pass_f1``.
    """
    out: dict[str, Any] = {f"hit@{k}": None for k in STANDARD_K}
    out.update({f"hit@{k}": _round(v) for k, v in summary.hit_at.items()})
    out.update({
        "mrr@10": _round(summary.mrr_at_10), "em": _round(summary.em), "f1": _round(summary.f1),
        "containment": _round(summary.containment), "false_refusals": _round(summary.false_refusals),
        "refusal_precision": _round(summary.refusal_precision), "refusal_recall": _round(summary.refusal_recall),
        "search_ms_p50": _round(summary.search_ms_p50, 2), "search_ms_p95": _round(summary.search_ms_p95, 2),
        "total_ms_p50": _round(summary.total_ms_p50, 2), "total_ms_p95": _round(summary.total_ms_p95, 2),
        "answer_chars_median": _round(summary.answer_chars_median, 1),
        "answer_chars_p95": _round(summary.answer_chars_p95, 1),
        "em_sentences": _round(summary.em_sentences), "f1_sentences": _round(summary.f1_sentences),
        "short_answer_chars_median": _round(summary.short_answer_chars_median, 1),
        "short_answer_chars_p95": _round(summary.short_answer_chars_p95, 1),
        "read_ms_p50": _round(summary.read_ms_p50, 2), "read_ms_p95": _round(summary.read_ms_p95, 2),
        "pass_rate": _round(summary.pass_rate), "pass_f1": PASS_F1, "pass_rule": PASS_RULE,
        "depth": summary.depth,
        "hit_curve": [_round(v) for v in summary.hit_curve],
        "counts": asdict(summary.counts),
    })
    return out


def question_to_json(r: QuestionResult) -> dict[str, Any]:
    """One per-question row of report.json."""
    return {
        "id": r.id, "question": r.question, "gold_answers": list(r.gold_answers), "gold_article": r.gold_article,
        "unanswerable": r.unanswerable, "first_hit_rank": r.first_hit_rank, "prediction": r.prediction,
        "refused": r.refused, "false_refusal": r.false_refusal, "em": r.em, "f1": _round(r.f1),
        "contained": r.contained, "too_long": r.too_long, "answer_chars": r.answer_chars,
        "search_ms": _round(r.search_ms, 2), "total_ms": _round(r.total_ms, 2), "failed": r.failed,
        "repeats_rejected": r.repeats_rejected, "judged_by": r.judged_by,
        "answers_relocated": r.answers_relocated, "answers_unlocatable": r.answers_unlocatable,
        "timings_ms": {k: round(v, 2) for k, v in r.timings_ms.items()},
        "short_answer": r.short_answer, "em_sentences": r.em_sentences, "f1_sentences": _round(r.f1_sentences),
        "retrieved": [{"rank": c.rank, "article": c.article, "start": c.start, "end": c.end, "hit": c.holds_gold}
                      for c in r.retrieved],
    }


def report_to_json(report: EvalReport) -> dict[str, Any]:
    """Everything in report.json: summary, per-question rows, settings, model, versions, timings."""
    qs, s = report.question_set, report.settings
    return {
        "format": REPORT_FORMAT,
        "started_at": report.started_at,
        "question_set": {
            "name": qs.name, "path": str(qs.path) if qs.path else None, "format": qs.format, "sha256": qs.sha256,
            "questions_in_file": qs.total_questions, "passages_in_file": len(qs.passages),
            "selected": len(qs.questions), "selection": qs.selection,
            "skipped_rows": len(qs.problems), "problems": qs.problems, "held_out": sorted(qs.held_out),
        },
        "run": {"depth": report.options.depth, "retrieval_mode": s.retrieval_mode, "top_k": s.top_k,
                "passages": report.options.passages,
                "corpus_dir": str(report.options.corpus_dir) if report.options.corpus_dir else None},
        "summary": summary_to_json(report.summary),
        "model": {"name": s.model, "encoder": report.encoder, "backend": s.backend,
                  "dimension": report.index.dimension},
        "index": asdict(report.index),
        "settings": public_settings(s),
        "versions": report.versions,
        "timings_s": {k: round(v, 3) for k, v in report.timings.items()},
        "questions": [question_to_json(r) for r in report.questions],
    }


def public_settings(settings: Settings) -> dict[str, Any]:
    """The settings as reports show them: secrets left out, every URL without user-info or keys (``mask_url``).

    >>> public_settings(Settings(llm_base_url="http://u:pw@h/v1?api_key=k"))["llm_base_url"]
    'http://h/v1?api_key=***'
    """
    return {k: mask_url(v) if isinstance(v, str) else v for k, v in settings.public_dict().items()}


def predictions(report: EvalReport) -> dict[str, str]:
    """{question id: the short answer, else the whole answer's text}, "" for a refusal: what the scorers read."""
    return {r.id: r.official_prediction for r in report.questions}


def gold_squad(report: EvalReport) -> dict[str, Any]:
    """The questions EM/F1 are averaged over (answerable, with gold answers), in SQuAD format."""
    qs = report.question_set
    texts = qs.passage_texts()
    titles = {p.id: p.title for p in qs.passages}
    by_id = {q.id: q for q in qs.questions}
    documents: dict[str, dict[str, Any]] = {}
    for r in report.questions:
        if r.em is None:
            continue
        q = by_id.get(r.id)
        key = r.gold_article if r.gold_article in texts else ""
        doc = documents.get(key)
        if doc is None:
            doc = documents[key] = {"id": key or qs.name, "title": titles.get(key, qs.name),
                                    "paragraphs": [{"id": key or qs.name, "context": texts.get(key, ""), "qas": []}]}
        if q is not None and q.answer_texts == r.gold_answers:
            answers = [{"text": a.text, "answer_start": -1 if a.answer_start is None else a.answer_start}
                       for a in q.answers]
        else:
            answers = [{"text": text, "answer_start": -1} for text in r.gold_answers]
        doc["paragraphs"][0]["qas"].append({"id": r.id, "question": r.question, "answers": answers})
    return {"version": f"{REPORT_FORMAT} gold of {qs.name}", "data": list(documents.values())}


def markdown_report(report: EvalReport, lang: str = "en") -> str:
    """report.md in ``lang`` (en, zh): what ran, the summary table, counts and skipped rows (``report_text``)."""
    rows = [f"| {metric_label(key, label, lang)} | {format_value(metric_value(report.summary, key), kind)} |"
            for key, label, kind in METRICS]
    counts = asdict(report.summary.counts)
    return markdown_text(report, rows, counts, MAX_ANSWER_CHARS, lang)


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits)
