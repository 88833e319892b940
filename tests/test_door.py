"""One door into the library: the faces show, the knowledge bases decide (issue 24).

The faces (``rag.cli``, ``rag.server``, ``rag.ui``, ``rag.api``) call ``rag.kb.bases.KnowledgeBases`` for one
knowledge base or several; what one and several mean is decided there. The import rule is an import-linter
contract (pyproject.toml); these tests hold what a contract cannot see.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import KnowledgeBaseError
from rag.kb.bases import KnowledgeBases
from rag.kb.knowledge_base import KnowledgeBase
from tests.helpers import ROOT, make_settings

FACES = [p for face in ("cli", "ui", "api") for p in sorted((ROOT / "rag" / face).rglob("*.py"))] + \
    [ROOT / "rag" / "server.py"]
# A face choosing its code path by how many knowledge bases were asked: the review's finding.
ONE_OR_SEVERAL = re.compile(r"len\((names|bases|settings\.kb|chosen|picked|turn\.bases)\)\s*(==|!=|>|<)|several\(")


@pytest.mark.parametrize("path", FACES, ids=lambda p: p.relative_to(ROOT / "rag").as_posix())
def test_no_face_branches_on_one_or_several_nor_reads_a_report_by_key_chains(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not ONE_OR_SEVERAL.search(text), f"{path.name} decides what one or several knowledge bases mean"
    chains = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Attribute)
              and node.func.value.func.attr == "get"]
    assert chains == [], f"{path.name}:{chains[0].lineno if chains else 0} reads a record through .get(...).get(...)"


def test_the_faces_hold_no_registry_of_their_own() -> None:
    """No ChatApp, no Catalog: the page and the API keep the door, not knowledge bases of their own."""
    for path in FACES:
        text = path.read_text(encoding="utf-8")
        assert "KnowledgeBase(" not in text and "class ChatApp" not in text and "class Catalog" not in text, path


def test_api_only_builds_no_page_and_imports_no_gradio(tmp_path: Path) -> None:
    code = ("import sys\nfrom pathlib import Path\nfrom rag.kb.bases import KnowledgeBases\n"
            "from rag.server import root_app\nfrom rag.settings import Settings\n"
            f"s = Settings(corpus_dir=Path({str(tmp_path / 'c')!r}), index_dir=Path({str(tmp_path / 'i')!r}))\n"
            "app = root_app(KnowledgeBases(s), None, with_api=True, api_only=True)\n"
            "paths = {getattr(r, 'path', '') for r in app.routes}\n"
            "print('gradio' in sys.modules, '/v1/chat/completions' in paths, '/' in paths)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "False"]


def test_one_door_for_one_base_or_several(tmp_path: Path, encoder: object) -> None:
    """The same calls for one base and for several; the door says what a choice offers and stamps the bases asked."""
    settings = make_settings(tmp_path, kbs_dir=tmp_path / "kbs", short_answers=False)
    KnowledgeBase(settings, encoder).build()  # type: ignore[arg-type]
    bases = KnowledgeBases(settings, opened={"default": KnowledgeBase(settings, encoder)})  # type: ignore[arg-type]
    bases.create("news")
    (tmp_path / "kbs" / "news" / "corpus" / "a.md").write_text("# 新闻\n\n深圳低空经济产业规模突破 960 亿元。\n",
                                                                encoding="utf-8")
    report = bases.build("news")
    assert report.articles == 1 and bases.status("news").articles == 1 and bases.status().articles == 1
    one, both = bases.scope(["default"]), bases.scope(["default", "news", "gone"])
    assert one.filterable and not one.names_bases and one.names == ("default",)
    assert not both.filterable and both.names_bases and both.names == ("default", "news")
    assert {path for path, _ in both.articles} == {"shenzhen-ai-industry.txt", "a.md"}
    alone = bases.ask("深圳低空经济产业规模突破了多少亿元？", ["news"])
    together = bases.ask("深圳低空经济产业规模突破了多少亿元？", ["default", "news"])
    assert alone.knowledge_bases == ("news",) and together.knowledge_bases == ("default", "news")
    assert not alone.refused and all(c.knowledge_base == "news" for c in alone.citations)
    assert together.names_bases and not bases.ask("深圳", ["default"]).names_bases
    with pytest.raises(KnowledgeBaseError, match="one knowledge base at a time"):
        bases.ask("深圳", ["default", "news"], articles=["a.md"])
    with pytest.raises(KnowledgeBaseError, match="one knowledge base at a time"):
        bases.single(["default", "news"], "`rag index`")
    assert bases.single(None, "`rag index`") == "default"
    # status: typed for the faces, the same keys as before for `rag status --json` and /api/status
    data = bases.status().to_json()
    assert list(data)[:13] == ["index_dir", "version", "built_at", "model", "encoder", "dimension", "chunking",
                               "dense_index", "articles", "chunks", "sentences", "health", "store"]
    assert data["models_dir"] == str(settings.models_dir) and data["health"] == "ok"
    assert [s.name for s in bases.summaries()] == ["default", "news"]


def test_a_build_job_is_the_door_s_and_a_base_being_built_is_not_deleted(tmp_path: Path, encoder: object) -> None:
    settings = make_settings(tmp_path, kbs_dir=tmp_path / "kbs", short_answers=False)
    bases = KnowledgeBases(settings, opened={"default": KnowledgeBase(settings, encoder)})  # type: ignore[arg-type]
    job = bases.start_build("default")
    assert bases.start_build("default") is job or not job.running  # one build at a time per base
    job.thread.join(300)
    assert job.report is not None and job.error is None and not bases.building("default")
    assert bases.last_failed("default") == {} and bases.last_built("default")
