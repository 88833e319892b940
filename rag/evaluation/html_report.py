"""report.html: one self-contained page (no external assets), with inline SVG charts.

Every piece of text that comes from data (questions, answers, article ids, settings)
goes through ``html.escape``: article text is data, never markup.
"""

from __future__ import annotations

import math
from html import escape

from rag.evaluation.metrics import QuestionResult
from rag.evaluation.report import METRICS, format_value, report_to_json
from rag.evaluation.report_text import metric_label, notes, run_line, verdict_text
from rag.evaluation.runner import EvalReport
from rag.messages import message

# The page's fixed words, each ``html_<key>`` in rag.messages.
HTML_WORDS = ("title", "metric", "value", "count", "n", "questions", "failures_first", "id", "question", "gold",
              "short", "answer", "contained", "verdict", "first_hit", "ms", "skipped", "settings", "versions",
              "hit_curve", "latency", "unanswerable")

_STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fff1f0}.small{color:#666;font-size:.9em}.charts{display:flex;gap:2em;flex-wrap:wrap}
svg text{font-size:11px;fill:#333}code{background:#f6f6f6;padding:0 .2em}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def svg_line_chart(values: list[float], title: str, width: int = 420, height: int = 240) -> str:
    """An SVG line chart of ``values`` (fractions 0–1) against k = 1, 2, …; empty when no values.

    >>> svg_line_chart([0.5, 0.75], "hit@k").startswith("<svg")
    True
    """
    if not values:
        return ""
    left, right, top, bottom = 40, 10, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(values)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}">', f'<text x="{left}" y="14">{_e(title)}</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#eee"/><text x="4" y="{y(tick) + 4:.1f}">{tick:.2f}</text>')
    for i in range(n):
        parts.append(f'<text x="{x(i) - 4:.1f}" y="{height - 10}">{i + 1}</text>')
    parts.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>')
    for i, v in enumerate(values):
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="#1f77b4">'
                     f'<title>hit@{i + 1} = {v:.3f}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(values: list[float], title: str, bins: int = 20, width: int = 420, height: int = 240) -> str:
    """An SVG histogram of ``values`` in ``bins`` equal bins; empty when no values.

    >>> "<rect" in svg_histogram([1.0, 2.0, 2.5], "latency (ms)")
    True
    """
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / span * bins), bins - 1)] += 1
    left, right, top, bottom = 40, 10, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    tallest = max(counts)
    bar_w = plot_w / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}">', f'<text x="{left}" y="14">{_e(title)}</text>',
             f'<text x="4" y="{top + 8}">{tallest}</text><text x="4" y="{top + plot_h}">0</text>']
    for i, c in enumerate(counts):
        h = plot_h * c / tallest
        lo = low + span * i / bins
        parts.append(f'<rect x="{left + i * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
                     f'height="{h:.1f}" fill="#ff7f0e"><title>{lo:.1f}–{lo + span / bins:.1f}: {c}</title></rect>')
    parts.append(f'<text x="{left}" y="{height - 10}">{low:.1f}</text>'
                 f'<text x="{width - right - 40}" y="{height - 10}">{high:.1f}</text></svg>')
    return "".join(parts)


# The report page's own words: (English, Chinese).
def _w(key: str, lang: str) -> str:
    return message(f"html_{key}", lang)


def _question_row(r: QuestionResult, lang: str = "en") -> str:
    answer = message("refused_cell", lang) if r.refused else r.prediction
    short = "–" if r.short_answer is None else r.short_answer
    verdict = verdict_text(r.verdict, lang)
    contained = "–" if r.contained is None else "✓" if r.contained else "✗"
    cells = [
        _e(r.id), _e(r.question), _e(" | ".join(dict.fromkeys(r.gold_answers)) or ("—" if not r.unanswerable
                                                                                    else _w("unanswerable", lang))),
        _e(short), _e(answer), _e(contained), _e(verdict),
    ]
    numbers = [r.first_hit_rank if r.first_hit_rank is not None else "–",
               format_value(r.em, "fraction"), format_value(r.f1, "fraction"), format_value(r.total_ms, "ms")]
    row = "".join(f"<td>{c}</td>" for c in cells) + "".join(f'<td class="num">{_e(n)}</td>' for n in numbers)
    return f'<tr class="{"failed" if r.failed else "ok"}">{row}</tr>'


def html_report(report: EvalReport, lang: str = "en") -> str:
    """The whole page in ``lang`` (en, zh): summary, charts (hit@k curve, latency histogram), settings, questions."""
    data = report_to_json(report)
    summary, qs = data["summary"], data["question_set"]
    metric_rows = "".join(f'<tr><th>{_e(metric_label(key, label, lang))}</th>'
                          f'<td class="num">{_e(format_value(summary.get(key), kind))}</td></tr>'
                          for key, label, kind in METRICS)
    count_rows = "".join(f'<tr><th>{_e(message("count_" + k, lang))}</th><td class="num">{_e(v)}</td></tr>'
                         for k, v in summary["counts"].items())
    setting_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in data["settings"].items())
    version_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in data["versions"].items())
    ordered = sorted(report.questions, key=lambda r: not r.failed)  # failures first, file order kept within
    question_rows = "".join(_question_row(r, lang) for r in ordered)
    charts = svg_line_chart(list(report.summary.hit_curve), _w("hit_curve", lang)) + svg_histogram(
        [r.total_ms for r in report.questions], _w("latency", lang))
    w = {key: _e(_w(key, lang)) for key in HTML_WORDS}
    summary_line = " ".join(notes(lang))
    problems = "".join(f"<li>{_e(p)}</li>" for p in qs["problems"])
    return f"""<!DOCTYPE html>
<html lang="{"zh" if lang == "zh" else "en"}"><head><meta charset="utf-8"><title>{w["title"]} {_e(qs['name'])}</title>
<style>{_STYLE}</style></head><body>
<h1>{w["title"]} {_e(qs['name'])}</h1>
<p class="small">{_e(run_line(report, lang))}</p>
<p class="small">{_e(summary_line)}</p>
<div class="charts"><table><tr><th>{w["metric"]}</th><th>{w["value"]}</th></tr>{metric_rows}</table>
<div>{charts}</div><table><tr><th>{w["count"]}</th><th>{w["n"]}</th></tr>{count_rows}</table></div>
<h2>{w["questions"]} ({_e(len(report.questions))}, {w["failures_first"]})</h2>
<table><tr><th>{w["id"]}</th><th>{w["question"]}</th><th>{w["gold"]}</th><th>{w["short"]}</th><th>{w["answer"]}</th>
<th>{w["contained"]}</th><th>{w["verdict"]}</th><th>{w["first_hit"]}</th>
<th>EM</th><th>F1</th><th>{w["ms"]}</th></tr>{question_rows}</table>
{f"<h2>{w['skipped']}</h2><ul>{problems}</ul>" if problems else ""}
<h2>{w["settings"]}</h2><table>{setting_rows}</table>
<h2>{w["versions"]}</h2><table>{version_rows}</table>
</body></html>
"""
