"""The reading model's figures for the quality section: short answers open-domain and given the gold paragraph.

Called by benchmarks/quality.py, which writes them into BENCHMARKS.md:
- open-domain (retrieval + reader, refusal on) official EM/F1 of the short answers
  (predictions.json) on the CMRC dev test half and full set, beside the sentence
  answers of the same runs (``em_sentences``/``f1_sentences``);
- the same on an OpenCC-traditional copy of CMRC dev (``opencc.OpenCC("s2t")`` on
  passages, questions and answers; the passage ids, hence the halves, unchanged);
- the reader alone given each question's gold paragraph (training/evaluate_reader.py,
  which runs the shipped files exactly as ``rag.answer.reader.Reader`` does), simplified
  and traditional: these appear in BENCHMARKS.md only, never in a report.json;
- the literature anchors (Yang et al. 2019, BERT-base on CMRC 2018 dev).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rag.evaluation.metrics import Summary
from rag.kb.knowledge_base import KnowledgeBase
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# BERT-base on CMRC 2018 dev: open-domain (retrieval + reader) and given the gold paragraph.
LITERATURE = (("literature: BERT-base, open-domain (Yang et al. 2019)", 49.2, 65.4),
              ("literature: BERT-base, gold paragraph (Yang et al. 2019)", 63.6, 84.0))


def traditional_copy(source: Path, target: Path) -> Path:
    """An OpenCC s2t copy of a SQuAD-format file (written once; the same text gives the same cached index)."""
    if target.is_file():
        return target
    import opencc

    convert = opencc.OpenCC("s2t").convert
    data = json.loads(source.read_text(encoding="utf-8"))
    for article in data["data"]:
        article["title"] = convert(article.get("title", ""))
        for paragraph in article["paragraphs"]:
            paragraph["context"] = convert(paragraph["context"])
            for qa in paragraph["qas"]:
                qa["question"] = convert(qa["question"])
                for answer in qa.get("answers", []):
                    answer["text"] = convert(answer["text"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def gold_paragraph(dataset: Path, traditional: bool) -> dict[str, Any]:
    """The reader alone on each question's gold paragraph (training/evaluate_reader.py): F1/EM x100 and more."""
    sys.path.insert(0, str(ROOT))  # training/ sits beside benchmarks/, not installed
    from rag.answer.reader import Reader
    from rag.settings import load_settings
    from training.evaluate_reader import gold_paragraph as measure

    settings = load_settings()
    reader = Reader.load(settings.models_dir, threads=settings.threads or 2)
    return {**measure(reader, dataset, traditional), "head": reader.identity}


def _cell(value: float | None, scale: float = 100.0) -> str:
    return "–" if value is None else f"{scale * value:.1f}"


def open_domain_row(label: str, s: Summary) -> str:
    """A row of the short-answer table from one run's summary (figures x100, as the literature gives them)."""
    return (f"| {label} | {_cell(s.em)} | {_cell(s.f1)} | {_cell(s.em_sentences)} / {_cell(s.f1_sentences)} | "
            f"{_cell(s.false_refusals)} | {_cell(s.short_answer_chars_median, 1)} / "
            f"{_cell(s.short_answer_chars_p95, 1)} | {_cell(s.total_ms_p50, 1)} / {_cell(s.total_ms_p95, 1)} |")


def gold_row(label: str, figures: dict[str, Any]) -> str:
    """A row of the short-answer table from the gold-paragraph figures."""
    return (f"| {label} ({figures['questions']} questions) | {figures['em']:.1f} | {figures['f1']:.1f} | – | – | "
            f"{figures['mean_answer_chars']:.1f} (mean) | – |")


def literature_rows() -> list[str]:
    """The anchors' rows."""
    return [f"| {label} | {em:.1f} | {f1:.1f} | – | – | – | – |" for label, em, f1 in LITERATURE]


TABLE_HEAD = ("| CMRC 2018 dev | EM | F1 | sentence answers EM / F1 | false refusals (%) | "
              "short answer chars median / p95 | answer ms p50 / p95 |", "|---|---|---|---|---|---|---|")
def reader_identity(settings: Settings) -> str:
    """The reading model's identity as `rag status` shows it (its head's hash)."""
    return str(KnowledgeBase(settings).answer_status()["reader"])
