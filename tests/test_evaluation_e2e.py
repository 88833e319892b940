"""``rag eval`` end to end with the real encoder, FAISS and BM25, in temporary folders.

Kept small: 20 CMRC questions over their own passages (``--passages questions``),
and the hand-made JSONL set over a copy of the default article.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
REPORT_FILES = {"report.json", "report.md", "report.html", "predictions.json"}


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a temporary folder, so a default path could never land in the repo's index/ or eval-runs/."""
    monkeypatch.setenv("RAG_MODELS_DIR", str(ROOT / "models"))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.delenv("RAG_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def test_cmrc_sample_writes_reports_and_reuses_its_index(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = isolated / "cache"
    argv = ["eval", "--dataset", "cmrc2018-dev", "--sample", "20", "--seed", "0", "--passages", "questions",
            "--hold-out", "2", "--index-cache", str(cache)]
    assert main([*argv, "--output", str(isolated / "run1")]) == 0
    out = capsys.readouterr()
    assert "hit@5" in out.out and "questions" in out.err  # summary on stdout, progress bar on stderr

    first = _report(isolated / "run1")
    assert {p.name for p in (isolated / "run1").iterdir()} >= REPORT_FILES
    summary = first["summary"]
    assert summary["counts"]["questions"] == 20
    # two passages were kept out of the search: their questions are unanswerable, refusals are scored
    assert len(first["question_set"]["held_out"]) == 2 and summary["counts"]["unanswerable"] >= 2
    assert summary["refusal_recall"] is not None
    for key in ("hit@1", "hit@5", "hit@10", "mrr@10", "em", "f1", "containment", "false_refusals", "refusal_recall"):
        assert 0.0 <= summary[key] <= 1.0
    assert summary["hit@1"] <= summary["hit@5"] <= summary["hit@10"]
    assert summary["hit@5"] >= 0.6  # the real encoder finds most answers among 20 passages
    assert first["index"]["embedded"] > 0 and not first["index"]["up_to_date"]
    assert Path(first["index"]["index_dir"]).parent == cache
    predictions = json.loads((isolated / "run1" / "predictions.json").read_text(encoding="utf-8"))
    assert set(predictions) == {q["id"] for q in first["questions"]}
    assert "<!DOCTYPE html>" in (isolated / "run1" / "report.html").read_text(encoding="utf-8")

    # Second run, same file, encoder and chunking: the cached index is up to date, nothing is embedded.
    assert main([*argv, "--output", str(isolated / "run2")]) == 0
    second = _report(isolated / "run2")
    assert second["index"]["up_to_date"] and second["index"]["embedded"] == 0
    assert json.loads((isolated / "run2" / "predictions.json").read_text(encoding="utf-8")) == predictions

    # Another chunk size is another index, but its sentences come from the first one's embedding cache.
    assert main([*argv, "--chunk-size", "120", "--chunk-overlap", "20", "--output", str(isolated / "run3")]) == 0
    third = _report(isolated / "run3")
    assert third["index"]["index_dir"] != first["index"]["index_dir"]
    assert 0 < third["index"]["embedded"] < first["index"]["embedded"] / 2
    assert third["settings"]["chunk_size"] == 120

    assert main(["eval", "--compare", str(isolated / "run1"), str(isolated / "run3" / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert "containment" in printed and "chunk_size: 200 -> 120" in printed
    assert not (isolated / "index").exists()  # the user's index folder was never needed
    assert not (isolated / "eval-runs").exists()  # every path was given: no default folder was made


def test_jsonl_set_over_a_corpus_folder_scores_refusals_and_reports_bad_lines(
        isolated: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = isolated / "articles"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "shenzhen-ai-industry.txt", corpus)
    # The index folder lives elsewhere than the working folder: the runs go beside it, nothing lands here.
    monkeypatch.setenv("RAG_INDEX_DIR", str(isolated / "kb" / "index"))
    cwd = isolated / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    code = main(["eval", str(DATA / "eval_questions_broken.jsonl"), "--corpus", str(corpus), "--json"])
    captured = capsys.readouterr()
    assert code == 0  # two rows were skipped, but the reports cover the rest: a warning, not a failure
    assert "eval_questions_broken.jsonl:3:" in captured.err and "eval_questions_broken.jsonl:6:" in captured.err
    assert "warning: 2 malformed rows of eval_questions_broken.jsonl skipped" in captured.err
    printed = json.loads(captured.out)
    assert set(printed["reports"]) >= {"json", "markdown", "html", "predictions"}
    run = Path(printed["reports"]["json"]).parent
    assert run.parent == isolated / "kb" / "eval-runs" and (run.parent / ".index").is_dir()
    assert list(cwd.iterdir()) == []
    report = _report(run)
    counts = report["summary"]["counts"]
    assert (counts["questions"], counts["unanswerable"]) == (4, 1)
    assert report["summary"]["refusal_recall"] in (0.0, 1.0)  # one unanswerable question: refused or not
    assert report["question_set"]["skipped_rows"] == 2
    assert report["run"]["corpus_dir"] == str(corpus)

    # --strict: skipped rows fail the run (the cached evaluation index is reused)
    assert main(["eval", str(DATA / "eval_questions_broken.jsonl"), "--corpus", str(corpus), "--strict",
                 "--output", str(isolated / "strict")]) == 1
    assert (isolated / "strict" / "report.json").is_file()


def test_eval_without_a_question_set_is_a_clean_error(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval"]) == 2
    assert "error: give a question-set file or --dataset" in capsys.readouterr().err
    assert main(["eval", str(isolated / "missing.jsonl")]) == 2
    assert "cannot be read" in capsys.readouterr().err
