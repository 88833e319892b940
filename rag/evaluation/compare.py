"""Two runs side by side: ``rag eval --compare a.json b.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluation.report import METRICS, format_value
from rag.serialize import parse_json

# Settings that decide the numbers; the rest (ports, limits) would only clutter the table.
COMPARED_SETTINGS = ("retrieval_mode", "model", "encoder_backend", "chunk_size", "chunk_overlap", "top_k", "rrf_k",
                     "rrf_lexical_weight", "rerank_weight", "candidates", "answer_sentences", "answer_max_chars",
                     "refusal_threshold", "short_answers", "reader_chunks", "reader_refusal_threshold")


@dataclass(frozen=True)
class ComparisonRow:
    """One metric of two runs and their difference (b − a); None where a run lacks it."""

    key: str
    label: str
    kind: str
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        """b − a, or None."""
        return None if self.a is None or self.b is None else self.b - self.a


def load_report(path: Path) -> dict[str, Any]:
    """A report.json (or the run folder holding one), checked to have a summary."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = parse_json(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RagError(f"{file} does not exist; give a report.json or the run folder holding it") from exc
    except (OSError, ValueError) as exc:
        raise RagError(f"{file} is not a readable report.json ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise RagError(f"{file} has no summary: is it a report.json written by `rag eval`?")
    return data


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[ComparisonRow]:
    """Each summary metric of two reports."""
    return [ComparisonRow(key, label, kind, a["summary"].get(key), b["summary"].get(key))
            for key, label, kind in METRICS]


def settings_differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(setting, a, b) for the settings that differ, plus the question set and its selection."""
    out = []
    for key in ("name", "selection", "sha256"):
        va, vb = a.get("question_set", {}).get(key), b.get("question_set", {}).get(key)
        if va != vb:
            out.append((f"question set {key}", va, vb))
    for key in COMPARED_SETTINGS:
        va, vb = a.get("settings", {}).get(key), b.get("settings", {}).get(key)
        if va != vb:
            out.append((key, va, vb))
    return out


def format_comparison(a: dict[str, Any], b: dict[str, Any], label_a: str = "a", label_b: str = "b") -> str:
    """A printed table: metric, a, b, b − a; then the settings that differ."""
    rows = [("metric", label_a, label_b, "b − a")]
    for row in compare_reports(a, b):
        diff = row.difference
        sign = "" if diff is None else ("+" if diff > 0 else "")
        rows.append((row.label, format_value(row.a, row.kind), format_value(row.b, row.kind),
                     "–" if diff is None else sign + format_value(diff, row.kind)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}" for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts_a = a["summary"].get("counts", {}).get("questions")
    counts_b = b["summary"].get("counts", {}).get("questions")
    lines.append("")
    lines.append(f"questions: {counts_a} vs {counts_b}")
    differences = settings_differences(a, b)
    if differences:
        lines.append("differences:")
        lines += [f"  {key}: {va} -> {vb}" for key, va, vb in differences]
    else:
        lines.append("same question set and settings")
    return "\n".join(lines)
