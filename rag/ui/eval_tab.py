"""The Evaluate tab's handler and tables: run a question set, show its metrics, rows and report files.

The run is the library's (``rag.evaluation.session.evaluate``, the same as ``rag eval``):
reports go to a new folder under ``settings.eval_root`` (``eval-runs/`` beside the
index folder unless ``eval_dir`` says), never into the folder the server was
started from. gradio and pandas are imported inside the handler only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.evaluation.answer_match import PASS_F1
from rag.kb.feedback import feedback_path
from rag.settings import Settings
from rag.ui import render as view
from rag.ui.texts import request_lang, say, stage_name
from rag.ui.toasts import warning_toast

if TYPE_CHECKING:
    from rag.ui.app import ChatApp

NO_SET = "请先上传问题集，或从列表中选择一个。"
QUESTION_SET_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".json")


def question_set_choices(settings: Settings) -> list[tuple[str, str]]:
    """Question sets offered without an upload: the ratings, the shipped question sets, the CMRC 2018 dev sample.

    The shipped sets are package data (``rag.evaluation.shipped``): they are there
    in an installed package, whatever folder the server runs from.
    """
    from rag.evaluation.shipped import CMRC_SAMPLE, shipped_question_sets

    choices = [("上传的文件", "")]
    ratings = feedback_path(settings)
    if ratings.is_file():
        choices.append((f"评价记录（{_count_lines(ratings)} 题）", str(ratings)))
    choices.extend((f"内置问题集 {p.stem}（{_count_lines(p)} 题）", str(p)) for p in shipped_question_sets())
    choices.append((f"CMRC 2018 dev（内置，抽样 {CMRC_SAMPLE} 题）", CMRC_CHOICE))
    return choices


CMRC_CHOICE = "dataset:cmrc2018-dev"


def _count_lines(path: Path) -> int:
    """Rows of a JSONL question set (0 when it cannot be read: the run says why)."""
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError):
        return 0


def suggested_sample(choice: str, current: Any) -> Any:
    """The sample size field after a choice: CMRC's suggested sample for CMRC, else left as it is.

    Any other choice returns an update that touches nothing, so a size typed while the choice's
    event is on its way is never overwritten by the value the event read.

    >>> suggested_sample(CMRC_CHOICE, 0), suggested_sample("a.jsonl", 8)
    (100, {'__type__': 'update'})
    """
    import gradio as gr

    from rag.evaluation.shipped import CMRC_SAMPLE

    return CMRC_SAMPLE if choice == CMRC_CHOICE else gr.skip()


def sample_size(value: Any) -> int:
    """The sample size field as a count: 0 (all questions) for anything that is not a positive number.

    >>> sample_size(8.0), sample_size(None), sample_size(-3), sample_size(float("inf"))
    (8, 0, 0, 0)
    """
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def run_eval(app: ChatApp, source: str, sample: int, small: bool, progress: Any) -> tuple[Any, ...]:
    """Run a question set (a file, or ``dataset:NAME``) and write its reports; return what the tab shows.

    ``sample`` > 0 runs a random sample (seed 0); ``small``: a SQuAD file indexes only the sampled questions' passages.
    """
    import gradio as gr
    import pandas as pd

    from rag.evaluation.datasets import bundled_dataset, load_question_set
    from rag.evaluation.report import report_to_json
    from rag.evaluation.runner import EvalOptions
    from rag.evaluation.session import Selection, evaluate

    nothing = (gr.skip(), gr.skip(), gr.skip(), gr.skip())
    if not source:
        warning_toast(NO_SET)
        return (NO_SET, *nothing)

    def on_build(stage: str, done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=f"评测索引：{stage_name(stage)} {done}/{total}")

    def on_question(done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=f"问题 {done}/{total}")

    if not source.startswith("dataset:") and Path(source).suffix.lower() not in QUESTION_SET_SUFFIXES:
        message = (f"{Path(source).name}: 不是问题集文件（{Path(source).suffix or '无扩展名'}）；"
                   f"请上传 {' / '.join(QUESTION_SET_SUFFIXES)} 文件")
        warning_toast(message)
        return ("✗ " + view.esc_markdown(message), *nothing)
    lang = request_lang(app.settings.lang)
    try:
        path = bundled_dataset(source.split(":", 1)[1]) if source.startswith("dataset:") else Path(source)
        question_set = load_question_set(path)
        options = EvalOptions(passages="questions" if small and question_set.format == "squad" else "all")
        progress(0, desc="准备索引…")
        run = evaluate(app.settings, question_set, Selection(sample=sample) if sample > 0 else None, options,
                       progress=on_question, build_progress=on_build, encoder=app.kb.encoder(), lang=lang)
    except (RagError, OSError) as exc:
        warning_toast(str(exc))
        return ("✗ " + view.esc_markdown(str(exc)), *nothing)
    data = report_to_json(run.report)
    summary = data["summary"]
    curve = pd.DataFrame(hit_bars(summary), columns=["k", "命中率"])
    shown = [str(run.files[kind].resolve()) for kind in ("html", "json", "markdown", "predictions")
             if kind in run.files]
    # the run folder by name: a full path would show the machine's folders (the downloads are below)
    text = eval_summary_text(data) + say(" 报告：", " Reports: ") + view.esc_markdown(run.out_dir.name)
    columns = say(",".join(QUESTION_COLUMNS), ",".join(QUESTION_COLUMNS_EN)).split(",")
    table = gr.Dataframe(value=question_rows(data["questions"]), headers=columns)
    metrics = gr.Dataframe(value=metric_rows(summary), headers=say("指标,值,含义", "metric,value,meaning").split(","))
    return text, metrics, curve, table, shown


# -- the tables ---------------------------------------------------------------------------------
METRIC_NOTES = {
    "hit@1": "第 1 个片段含答案的比例", "mrr@10": "首个命中名次的倒数均值",
    "em": "与标准答案完全一致", "f1": "字级 F1（CMRC 官方定义）", "containment": "回答包含标准答案",
    "pass_rate": "通过的题：有短答案时短答案 F1 ≥ 0.5 或完全一致，否则回答含标准答案",
    "false_refusals": "可回答却拒答的比例", "refusal_precision": "拒答中确实无答案的比例",
    "refusal_recall": "无答案问题被拒答的比例",
}
# The short answer beside the evidence it came from; containment (of the whole answer) a column of its own.
QUESTION_COLUMNS = ["结果", "编号", "问题", "标准答案", "短答案", "回答", "含标准答案", "首个命中", "F1",
                    "用时（毫秒）"]
QUESTION_COLUMNS_EN = ["result", "id", "question", "gold", "short answer", "answer", "contains gold", "first hit",
                       "F1", "time (ms)"]


def selection_text(selection: str) -> str:
    """How the questions were chosen (report.json's ``selection``), in the page's words.

    >>> selection_text("split=all"), selection_text("split=all sample=12 seed=0")
    ('全部', '随机抽样 12 题（种子 0）')
    >>> selection_text("split=test limit=5")
    'test 部分；前 5 题'
    """
    words = dict(part.split("=", 1) for part in selection.split() if "=" in part)
    parts = [] if words.get("split", "all") == "all" else [f"{words['split']} 部分"]
    if "sample" in words:
        parts.append(f"随机抽样 {words['sample']} 题（种子 {words.get('seed', 0)}）")
    if "limit" in words:
        parts.append(f"前 {words['limit']} 题")
    if "hold-out" in words:
        parts.append(f"留出 {words['hold-out']} 篇文章")
    return "；".join(parts) or "全部"


def metric_rows(summary: dict[str, Any]) -> list[list[str]]:
    """The metrics table of a report.json ``summary``: label, value, what it means."""
    from rag.evaluation.report import METRICS, format_value
    from rag.evaluation.report_zh import metric_label

    lang = request_lang()
    rows = []
    for key, label, kind in METRICS:
        if summary.get(key) is None:
            continue
        note = METRIC_NOTES.get(key, "")
        if not note and key.startswith("hit@"):
            note = f"前 {key[4:]} 个片段中含答案的比例"
        shown_note = note if lang == "zh" else ""
        rows.append([metric_label(key, label, lang), format_value(summary.get(key), kind), shown_note])
    return rows


HIT_LABELS = ("hit@1", "hit@3", "hit@5", "hit@10")


def hit_bars(summary: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, value) of hit@1, 3, 5, 10 for the chart; empty when no question was graded by retrieval."""
    return [(label, float(summary[label])) for label in HIT_LABELS if summary.get(label) is not None]


def question_rows(questions: list[dict[str, Any]]) -> list[list[Any]]:
    """Per-question rows of a report.json, failures first (then file order): ``QUESTION_COLUMNS``.

    The verdict is report.json's ``failed`` (the short answer judged where there is one); the
    short answer stands beside the whole answer, and containment has a column of its own.
    """
    ordered = sorted(enumerate(questions), key=lambda iq: (not iq[1].get("failed"), iq[0]))
    rows = []
    for _, q in ordered:
        gold = "（无答案）" if q.get("unanswerable") else " | ".join(q.get("gold_answers") or []) or "–"
        verdict = say("✗ 失败", "✗ failed") if q.get("failed") else "✓"
        f1, contained = q.get("f1"), q.get("contained")
        rows.append([verdict, q.get("id", ""), q.get("question", ""), gold, q.get("short_answer") or "–",
                     "（拒答）" if q.get("refused") else q.get("prediction", ""),
                     "–" if contained is None else "✓" if contained else "✗",
                     q.get("first_hit_rank") or "–", "–" if f1 is None else f"{f1:.2f}",
                     "–" if q.get("total_ms") is None else f"{q['total_ms']:.0f}"])
    return rows


def eval_summary_text(data: dict[str, Any]) -> str:
    """One paragraph about a run: the set, how many questions, failures, the index, time (Markdown, escaped)."""
    qs = data.get("question_set", {})
    counts = data.get("summary", {}).get("counts", {})
    failed = sum(1 for q in data.get("questions", []) if q.get("failed"))
    index = data.get("index", {})
    pass_f1 = data.get("summary", {}).get("pass_f1", PASS_F1)
    if request_lang() == "en":
        return (f"Question set {view.esc_markdown(str(qs.get('name', '')))}: {counts.get('questions', 0)} questions "
                f"({view.esc_markdown(str(qs.get('selection', 'all')))}), {failed} failed (a short answer passes "
                f"at F1 ≥ {pass_f1} or EM); index of {index.get('articles', 0)} articles; "
                f"{data.get('timings_s', {}).get('total', 0):.1f} s.")
    text = (f"问题集 {view.esc_markdown(str(qs.get('name', '')))}：{counts.get('questions', 0)} 题"
            f"（{view.esc_markdown(selection_text(str(qs.get('selection', 'all'))))}），失败 {failed} 题"
            f"（有短答案的题按短答案判定：F1 ≥ {pass_f1} 或完全一致为通过）；"
            f"索引 {index.get('articles', 0)} 篇文章，"
            f"用时 {data.get('timings_s', {}).get('total', 0):.1f} 秒。")
    if qs.get("skipped_rows"):
        text += f" 跳过 {qs['skipped_rows']} 行格式有误的题目（见 report.json）。"
    return text
