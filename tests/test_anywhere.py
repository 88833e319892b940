"""`rag` from any folder (issue 24, item 9): an empty folder outside the checkout, no variable set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import DEFAULT_ARTICLE, MODELS_DIR, ROOT


def test_rag_indexes_and_answers_from_an_empty_folder_with_the_models_in_the_user_folder(tmp_path: Path) -> None:
    """The models are found in the user's data folder (here a link to the prepared ones), not in the working folder."""
    data_home = tmp_path / "data"
    (data_home / "rag-zh").mkdir(parents=True)
    (data_home / "rag-zh" / "models").symlink_to(MODELS_DIR.resolve(), target_is_directory=True)
    notes = tmp_path / "notes"
    notes.mkdir()
    shutil.copy(DEFAULT_ARTICLE, notes / DEFAULT_ARTICLE.name)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(XDG_DATA_HOME=str(data_home), XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600, check=False)

    built = rag("index", str(notes))
    assert built.returncode == 0, built.stderr
    assert (work / "index").is_dir() and not (work / "models").exists()
    status = rag("status")
    assert str(data_home / "rag-zh" / "models") in status.stdout
    asked = rag("ask", "2025年深圳人工智能核心产业营收约多少？", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "2200" in answer["short_answer"]["text"]
