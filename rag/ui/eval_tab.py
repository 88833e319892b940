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
from rag.evaluation.report_text import selection_text
from rag.kb.feedback import feedback_path
from rag.messages import MESSAGES, message
from rag.settings import Settings
from rag.ui import render as view
from rag.ui.texts import page_message, request_lang, stage_name
from rag.ui.toasts import warning_toast

if TYPE_CHECKING:
    from rag.evaluation.metrics import QuestionResult, Summary
    from rag.evaluation.runner import EvalReport
    from rag.kb.bases import KnowledgeBases

QUESTION_SET_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".json")


def question_set_choices(settings: Settings) -> list[tuple[str, str]]:
    """Question sets offered without an upload: the ratings, the shipped question sets, the CMRC 2018 dev sample.

    The shipped sets are package data (``rag.evaluation.shipped``): they are there
    in an installed package, whatever folder the server runs from.
    """
    from rag.evaluation.shipped import CMRC_SAMPLE, shipped_question_sets

    choices = [(page_message("eval_uploaded"), "")]
    ratings = feedback_path(settings)
    if ratings.is_file():
        choices.append((page_message("eval_ratings", n=_count_lines(ratings)), str(ratings)))
    choices.extend((page_message("eval_shipped", name=p.stem, n=_count_lines(p)), str(p))
                   for p in shipped_question_sets())
    choices.append((page_message("eval_cmrc", n=CMRC_SAMPLE), CMRC_CHOICE))
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


def run_eval(bases: KnowledgeBases, name: str, source: str, sample: int, small: bool,
             progress: Any) -> tuple[Any, ...]:
    """Run a question set (a file, or ``dataset:NAME``) on a knowledge base and write its reports; what the tab shows.

    ``sample`` > 0 runs a random sample (seed 0); ``small``: a SQuAD file indexes only the sampled questions' passages.
    """
    import gradio as gr
    import pandas as pd

    from rag.evaluation.datasets import bundled_dataset, load_question_set
    from rag.evaluation.runner import EvalOptions
    from rag.evaluation.session import Selection, evaluate

    nothing = (gr.skip(), gr.skip(), gr.skip(), gr.skip())
    lang = request_lang(bases.settings.lang)
    if not source:
        warning_toast(message("eval_no_set", lang))
        return (message("eval_no_set", lang), *nothing)

    def on_build(stage: str, done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=message("eval_index_progress", lang, stage=stage_name(stage), done=done,
                                                     total=total))

    def on_question(done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=message("eval_question_progress", lang, done=done, total=total))

    if not source.startswith("dataset:") and Path(source).suffix.lower() not in QUESTION_SET_SUFFIXES:
        text = message("eval_not_a_set", lang, name=Path(source).name,
                       suffix=Path(source).suffix or message("no_suffix", lang),
                       suffixes=" / ".join(QUESTION_SET_SUFFIXES))
        warning_toast(text)
        return ("✗ " + view.esc_markdown(text), *nothing)
    try:
        path = bundled_dataset(source.split(":", 1)[1]) if source.startswith("dataset:") else Path(source)
        question_set = load_question_set(path)
        options = EvalOptions(passages="questions" if small and question_set.format == "squad" else "all")
        progress(0, desc=message("eval_preparing", lang))
        base = bases.get(name)  # its encoder and reading model are shared; its runs go to its own eval_root
        run = evaluate(base.settings, question_set, Selection(sample=sample) if sample > 0 else None, options,
                       progress=on_question, build_progress=on_build, lang=lang, base=base)
    except (RagError, OSError) as exc:
        warning_toast(str(exc))
        return ("✗ " + view.esc_markdown(str(exc)), *nothing)
    report = run.report
    curve = pd.DataFrame(hit_bars(report.summary), columns=["k", HIT_RATE])
    shown = [str(run.files[kind].resolve()) for kind in ("html", "json", "markdown", "predictions")
             if kind in run.files]
    # the run folder by name: a full path would show the machine's folders (the downloads are below)
    text = eval_summary_text(report, lang) + message("eval_reports", lang, folder=view.esc_markdown(run.out_dir.name))
    table = gr.Dataframe(value=question_rows(report.questions, lang),
                         headers=[message(key, lang) for key in QUESTION_COLUMNS])
    metrics = gr.Dataframe(value=metric_rows(report.summary, lang),
                           headers=[message(key, lang) for key in METRIC_COLUMNS])
    return text, metrics, curve, table, shown


# -- the tables ---------------------------------------------------------------------------------
# The short answer beside the evidence it came from; containment (of the whole answer) a column of its own.
QUESTION_COLUMNS = ("qcol_result", "qcol_id", "qcol_question", "qcol_gold", "qcol_short", "qcol_answer",
                    "qcol_contains", "qcol_first_hit", "qcol_f1", "qcol_ms")
METRIC_COLUMNS = ("mcol_metric", "mcol_value", "mcol_meaning")


def page_labels() -> tuple[Any, ...]:
    """The copy button, the chat's placeholder and the 评测 tables' headings in the language of the request."""
    import gradio as gr
    import pandas as pd

    def empty(columns: tuple[str, ...]) -> Any:  # headers alone do not replace those of an empty table
        return gr.Dataframe(value=pd.DataFrame(columns=[page_message(key) for key in columns]))

    return (gr.Button(value=page_message("copy_md")), gr.Chatbot(placeholder=page_message("chat_placeholder")),
            empty(METRIC_COLUMNS), empty(QUESTION_COLUMNS))


def metric_rows(summary: Summary, lang: str = "zh") -> list[list[str]]:
    """The metrics table of a run's summary: label, value, what it means (in ``lang``)."""
    from rag.evaluation.report import METRICS, format_value, metric_value
    from rag.evaluation.report_text import metric_label

    rows = []
    for key, label, kind in METRICS:
        value = metric_value(summary, key)
        if value is None:
            continue
        note = message(f"note_{key}", lang) if f"note_{key}" in MESSAGES else \
            message("note_hit", lang, k=key[4:]) if key.startswith("hit@") else ""
        rows.append([metric_label(key, label, lang), format_value(value, kind), note])
    return rows


HIT_LABELS = ("hit@1", "hit@3", "hit@5", "hit@10")
HIT_RATE = "hit@k"  # the chart's value column (a metric's name, the same in every language)


def hit_bars(summary: Summary) -> list[tuple[str, float]]:
    """(label, value) of hit@1, 3, 5, 10 for the chart; empty when no question was graded by retrieval."""
    from rag.evaluation.report import metric_value

    return [(label, value) for label in HIT_LABELS if (value := metric_value(summary, label)) is not None]


def question_rows(questions: list[QuestionResult], lang: str = "zh") -> list[list[Any]]:
    """Per-question rows of a run, failures first (then file order): ``QUESTION_COLUMNS``.

    The verdict is the question's ``failed`` (the short answer judged where there is one); the
    short answer stands beside the whole answer, and containment has a column of its own.
    """
    ordered = sorted(enumerate(questions), key=lambda iq: (not iq[1].failed, iq[0]))
    rows = []
    for _, q in ordered:
        gold = message("no_gold", lang) if q.unanswerable else " | ".join(q.gold_answers) or "–"
        rows.append([message("verdict_failed", lang) if q.failed else "✓", q.id, q.question, gold,
                     q.short_answer or "–", message("refused_cell", lang) if q.refused else q.prediction,
                     "–" if q.contained is None else "✓" if q.contained else "✗", q.first_hit_rank or "–",
                     "–" if q.f1 is None else f"{q.f1:.2f}", f"{q.total_ms:.0f}"])
    return rows


def eval_summary_text(report: EvalReport, lang: str = "zh") -> str:
    """One paragraph about a run: the set, how many questions, failures, the index, time (Markdown, escaped)."""
    qs = report.question_set
    failed = sum(1 for q in report.questions if q.failed)
    text = message("eval_summary", lang, name=view.esc_markdown(qs.name), n=report.summary.counts.questions,
                   selection=view.esc_markdown(selection_text(qs.selection, lang)), failed=failed, pass_f1=PASS_F1,
                   articles=report.index.articles, seconds=f"{report.timings.get('total', 0):.1f}")
    if qs.problems:
        text += message("eval_skipped_rows", lang, n=len(qs.problems))
    return text
