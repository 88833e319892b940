"""One evaluation from a loaded question set to the report files: what ``rag eval`` and the Evaluate tab share.

``evaluate`` chooses the questions (split, sample, limit, held-out articles),
runs them (``runner.run_evaluation``) and writes the reports into a run folder,
by default a new one under ``settings.eval_root`` (``eval-runs/`` beside the index
folder). A folder the reports cannot go to is refused before the run, not after
it. The faces only read their arguments, load the set, and show progress and results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.evaluation.datasets import QuestionSet, hold_out_articles, select_questions
from rag.evaluation.report_files import write_reports
from rag.evaluation.runner import EvalOptions, EvalReport, run_evaluation
from rag.settings import Settings
from rag.store.build import Progress

if TYPE_CHECKING:
    from rag.embed.encoder import Encoder
    from rag.kb.knowledge_base import KnowledgeBase


@dataclass(frozen=True)
class Selection:
    """Which questions of a set run: one split, then a seeded sample, then the first ``limit``; then hold-out."""

    split: str = "all"
    sample: int | None = None
    seed: int = 0  # seeds both the sample and the held-out articles
    limit: int | None = None
    hold_out: int | None = None  # keep the articles of this many random questions out of every search


@dataclass(frozen=True)
class EvalRun:
    """A finished evaluation: its report, the folder it was written to and {kind: path} of the files."""

    report: EvalReport
    out_dir: Path
    files: dict[str, Path]


def choose_questions(question_set: QuestionSet, selection: Selection | None) -> QuestionSet:
    """The questions a run asks; ``selection`` None keeps the set as it is (its selection stays "all")."""
    if selection is None:
        return question_set
    chosen = select_questions(question_set, selection.split, selection.sample, selection.seed, selection.limit)
    if selection.hold_out:
        chosen = hold_out_articles(chosen, selection.hold_out, selection.seed)
    return chosen


def new_run_folder(root: Path, name: str, mode: str) -> Path:
    """A folder under ``root`` that does not exist yet, named by time, set and mode (``-2``, ``-3`` … on a clash).

    >>> new_run_folder(Path("eval-runs"), "questions", "hybrid").name[15:]
    '-questions-hybrid'
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{stamp}-{name}-{mode}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def check_output_folder(folder: Path) -> None:
    """Refuse a reports folder that is a file, or lies under one, before anything runs."""
    for place in (folder, *folder.parents):
        if place.exists():
            if not place.is_dir():
                what = "is a file" if place == folder else f"lies under {place}, which is a file"
                raise RagError(f"--output {folder} {what}: give a folder for the reports (it is created "
                               "if missing), or leave --output out for a new one under eval-runs/")
            return


def evaluate(
    settings: Settings,
    question_set: QuestionSet,
    selection: Selection | None = None,
    options: EvalOptions | None = None,
    out_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    build_progress: Progress | None = None,
    encoder: Encoder | None = None,
    lang: str | None = None,
    base: KnowledgeBase | None = None,
) -> EvalRun:
    """Choose the questions, run them and write the reports into ``out_dir`` (default: a new run folder).

    ``progress(done, total)`` follows the questions and ``build_progress(stage, done, total)``
    the evaluation index build; ``encoder`` is an already loaded one to share (``base``: an open knowledge
    base, the door's, to share and answer with; ``settings`` are then its own); ``lang`` the language
    of report.md and report.html (default ``settings.lang``; the browser passes its page's).
    """
    if out_dir is not None:
        check_output_folder(out_dir)
    chosen = choose_questions(question_set, selection)
    report = run_evaluation(settings, chosen, progress=progress, options=options, build_progress=build_progress,
                            encoder=encoder, base=base)
    folder = out_dir or new_run_folder(settings.eval_root, Path(chosen.name).stem, settings.retrieval_mode)
    try:
        files = write_reports(report, folder, lang or settings.lang)
    except OSError as exc:  # a full disk, a read-only folder
        raise RagError(f"the reports could not be written to {folder} ({exc.strerror or exc}); "
                       "give another folder with --output") from exc
    return EvalRun(report, folder, files)
