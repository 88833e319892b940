"""CI guard: CMRC 2018 retrieval on a fixed sample must not fall below the benchmarked figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.cli import main
from tests.helpers import ROOT

GUARD = re.compile(r"ci-guard hybrid hit@5 = ([0-9.]+)")
TOLERANCE = 0.03


def benchmarked_hit_at_5() -> float:
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    match = GUARD.search(text)
    assert match, "BENCHMARKS.md has no ci-guard figure: run `python benchmarks/quality.py`"
    return float(match.group(1))


def test_cmrc_sample_hit_at_5_holds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    figure = benchmarked_hit_at_5()
    code = main(["eval", "--dataset", "cmrc2018-dev", "--sample", "100", "--seed", "0", "--passages", "questions",
                 "--json", "--output", str(tmp_path / "run"), "--index-cache", str(tmp_path / "cache")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["hit@5"] >= figure - TOLERANCE, (summary["hit@5"], figure)
    assert (tmp_path / "run" / "report.html").is_file()
