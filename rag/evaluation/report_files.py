"""A run's report files written into its folder: report.json, report.md, report.html, predictions.json, gold.json.

Its own module so that ``report`` (the data and the Markdown) and ``html_report``
(the page, which reads ``report``) do not import each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.evaluation.html_report import html_report
from rag.evaluation.report import gold_squad, markdown_report, predictions, report_to_json
from rag.evaluation.runner import EvalReport
from rag.serialize import json_text


def write_reports(report: EvalReport, out_dir: Path, lang: str = "en") -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created), the people's ones in ``lang``; returns {kind: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "json": (out_dir / "report.json", _json(report_to_json(report))),
        "markdown": (out_dir / "report.md", markdown_report(report, lang)),
        "html": (out_dir / "report.html", html_report(report, lang)),
        "predictions": (out_dir / "predictions.json", _json(predictions(report))),
    }
    if report.summary.counts.answer_graded:
        files["gold"] = (out_dir / "gold.json", _json(gold_squad(report)))
    for path, text in files.values():
        path.write_text(text, encoding="utf-8")
    return {kind: path for kind, (path, _) in files.items()}


def _json(data: Any) -> str:
    return json_text(data, indent=1) + "\n"
