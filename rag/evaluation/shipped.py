"""What the package ships to evaluate with: the CMRC 2018 dev set and the project's own question sets.

Both live in ``rag/data/`` (package data), so ``rag eval --dataset`` and the
browser's Evaluate tab find them in an installed package, whatever folder the
server runs from. ``questions/`` at the repository root points at the same files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rag.errors import QuestionSetError

# --dataset NAME -> file shipped in rag/data/ (licence and attribution in rag/data/README.md)
BUNDLED_DATASETS = {"cmrc2018-dev": "cmrc2018_dev.json"}
# The sample the Evaluate tab suggests for CMRC 2018 dev (3,219 questions): about a minute on a laptop.
CMRC_SAMPLE = 100


def _data_dir() -> Path:
    return Path(str(resources.files("rag").joinpath("data")))


def bundled_dataset(name: str) -> Path:
    """The path of a dataset shipped with the package (``--dataset NAME``)."""
    if name not in BUNDLED_DATASETS:
        raise QuestionSetError(f"unknown dataset {name!r}; choose one of {', '.join(BUNDLED_DATASETS)}")
    path = _data_dir() / BUNDLED_DATASETS[name]
    if not path.is_file():
        raise QuestionSetError(f"dataset {name} is missing from the installed package ({path}); reinstall rag")
    return path


def shipped_question_sets() -> list[Path]:
    """The project's own question sets (``rag/data/questions/*.jsonl``), by name."""
    folder = _data_dir() / "questions"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
