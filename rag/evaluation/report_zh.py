"""The reports in Chinese: metric labels and report.md's text (``lang = "zh"``, the default).

report.json keeps its English keys whatever the language (keys only grow); the
people's reports (report.md, report.html) and the browser's metrics table speak
the language chosen: ``settings.lang`` for ``rag eval``, the page's for the browser.
Metric names become plain Chinese; EM, F1 and MRR keep their names beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.evaluation.datasets import MAX_PROBLEMS_SHOWN

if TYPE_CHECKING:
    from rag.evaluation.runner import EvalReport

METRIC_LABELS_ZH = {
    "mrr@10": "平均倒数排名（MRR@10）",
    "em": "完全一致（EM，短答案）",
    "f1": "字级 F1（短答案）",
    "em_sentences": "完全一致（EM，整段回答）",
    "f1_sentences": "字级 F1（整段回答）",
    "containment": "回答含标准答案",
    "pass_rate": "通过率",
    "false_refusals": "误拒率（可回答却拒答）",
    "refusal_precision": "拒答中确实无答案的比例",
    "refusal_recall": "无答案问题被拒答的比例",
    "search_ms_p50": "检索用时中位数（毫秒）",
    "search_ms_p95": "检索用时 P95（毫秒）",
    "total_ms_p50": "回答用时中位数（毫秒）",
    "total_ms_p95": "回答用时 P95（毫秒）",
    "answer_chars_median": "回答长度中位数（字）",
    "answer_chars_p95": "回答长度 P95（字）",
    "short_answer_chars_median": "短答案长度中位数（字）",
    "short_answer_chars_p95": "短答案长度 P95（字）",
    "read_ms_p50": "阅读模型用时中位数（毫秒）",
    "read_ms_p95": "阅读模型用时 P95（毫秒）",
}
EM_F1_NOTE_ZH = ("EM 与 F1 评的是短答案（predictions.json；没有短答案时为整段回答），"
                 "em_sentences/f1_sentences 评整段回答；“回答含标准答案”按整段回答计算。")
PASS_NOTE_ZH = ("是否通过（每题的 failed、summary.pass_rate、--fail-under pass_rate=…）在有短答案时按短答案判定："
                "与标准答案的官方 F1 ≥ 0.5 或完全一致为通过，可回答的问题被拒答为失败；没有短答案时（未开阅读模型、"
                "生成式）整段回答须含标准答案。此前一律按“回答含标准答案”判定，该项仍单独列出。")
VERDICTS_ZH = {"answered unanswerable": "回答了无答案的问题", "false refusal": "误拒",
               "repeats the rejected answer": "重复了被否定的回答", "wrong short answer": "短答案不对",
               "miss": "未答中", "no hit": "未检索到", "ok": "通过"}


def metric_label(key: str, label: str, lang: str) -> str:
    """A metric's label in ``lang``: the English ``label``, or its plain Chinese.

    >>> metric_label("containment", "containment", "zh"), metric_label("hit@5", "hit@5", "zh")
    ('回答含标准答案', '前 5 个片段命中率（hit@5）')
    >>> metric_label("containment", "containment", "en")
    'containment'
    """
    if lang != "zh":
        return label
    if key.startswith("hit@"):
        return f"前 {key[4:]} 个片段命中率（{key}）"
    return METRIC_LABELS_ZH.get(key, label)


def markdown_report_zh(report: EvalReport, data: dict[str, Any], metric_lines: list[str],
                       max_answer_chars: int) -> str:
    """report.md in Chinese: what ran, the metrics table (``metric_lines``), counts and skipped rows."""
    counts, qs = data["summary"]["counts"], data["question_set"]
    s, index = report.settings, report.index
    built = "已是最新，未嵌入" if index.up_to_date else f"嵌入 {index.embedded} 段"
    lines = [
        f"# 评测：{qs['name']}",
        "",
        f"- 问题：{qs['selected']} / {qs['questions_in_file']}（{qs['selection']}）；"
        f"跳过格式有误的 {qs['skipped_rows']} 行",
        f"- 检索：{s.retrieval_mode}，深度 {report.options.depth}，回答取前 {s.top_k} 个片段；"
        f"片段 {s.chunk_size} 字，重叠 {s.chunk_overlap} 字",
        f"- 索引：{index.articles} 篇文章，{index.chunks} 个片段（平均 {index.mean_chunk_chars:.0f} 字）；{built}；"
        f"存储 {index.store}",
        *([f"- 留出：{len(qs['held_out'])} 篇文章不参与检索，其问题按无答案计"] if qs["held_out"] else []),
        f"- 编码器：{report.encoder}；rag {report.versions.get('rag', '?')}，"
        f"python {report.versions.get('python', '?')}；开始于 {report.started_at}",
        f"- 用时：问题 {report.timings.get('questions', 0):.1f} 秒，共 {report.timings.get('total', 0):.1f} 秒",
        "",
        "| 指标 | 值 |",
        "| --- | ---: |",
        *metric_lines,
        "",
        f"计数：{counts['questions']} 题（可回答 {counts['answerable']}，无答案 {counts['unanswerable']}）；"
        f"命中率按 {counts['retrieval_graded']} 题，EM/F1/回答含标准答案按 {counts['answer_graded']} 题；"
        f"拒答 {counts['refused']} 次（误拒 {counts['false_refusals']}）；超过 {max_answer_chars} 字的回答 "
        f"{counts['too_long']} 个（按未答中计）；{counts['answers_relocated']} 个标准答案按最近的出现位置匹配，"
        f"{counts['answers_unlocatable']} 个在段落中找不到。",
        "",
        "EM 与 F1 按 CMRC 2018 官方评分脚本计算，可用 "
        "`python cmrc2018_evaluate.py --dataset_file gold.json --prediction_file predictions.json` "
        "核对（结果乘以 100）。",
        "",
        EM_F1_NOTE_ZH,
        "",
        PASS_NOTE_ZH,
    ]
    if qs["problems"]:
        lines += ["", "## 跳过的行", "", *(f"- {p}" for p in qs["problems"][:MAX_PROBLEMS_SHOWN])]
        if len(qs["problems"]) > MAX_PROBLEMS_SHOWN:
            lines.append(f"- … 另有 {len(qs['problems']) - MAX_PROBLEMS_SHOWN} 行（见 report.json）")
    return "\n".join(lines) + "\n"
