"""Folders that are not `rag`'s: `rag index`, `rag kb` and the page never delete or write what they did not make.

An index folder of the user's is refused, and clean-up removes only the versions
a build made; knowledge bases cannot share folders or take the system's; deleting
a base waits for no build and follows no link; an upload the index cannot take
is not written; jieba's cache is the user's own; a question set's oversized row
is skipped with its number. Each case ends in one line and nothing lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from rag.cli.main import main
from rag.errors import KnowledgeBaseError, SettingsError
from rag.kb.knowledge_base import KnowledgeBase
from rag.kb.registry import create_base, list_bases
from rag.settings import load_settings
from rag.store.lock import build_lock
from tests.helpers import DEFAULT_ARTICLE, MODELS_DIR, ROOT, make_settings
from tests.hostile.test_index_damage import bound_by_permissions, permissions_bind, set_writable

__all__ = ["permissions_bind"]  # a module fixture of test_index_damage, used here too

ARTICLE = "# 东莞\n\n东莞市的机器人企业超过三百家。\n"


def _user_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- 4. an index folder of the user's -----------------------------------------------------------------------------
def test_rag_index_refuses_a_folder_that_is_not_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_MODELS_DIR", str(MODELS_DIR))
    settings = make_settings(tmp_path)
    project = tmp_path / "proj"
    (project / "versions" / "v1-final").mkdir(parents=True)
    (project / "versions" / "v1-final" / "thesis.docx").write_bytes(b"the user's work")
    before = _user_files(project)
    code, err = _run(capsys, "index", str(settings.corpus_dir), "--index-dir", str(project))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {project} is not an index folder and not empty (it holds versions)")
    assert _user_files(project) == before and sorted(p.name for p in project.iterdir()) == ["versions"]
    # through a [kb.x] declaration just the same
    config = tmp_path / "rag.toml"
    config.write_text(f'[kb.x]\ncorpus_dir = "{settings.corpus_dir}"\nindex_dir = "{project}"\n', encoding="utf-8")
    code, err = _run(capsys, "index", "--config", str(config), "--kb", "x")
    assert code == 2 and "is not an index folder and not empty" in err
    assert _user_files(project) == before


def test_clean_up_removes_only_the_versions_a_build_made(tmp_path: Path, encoder: Any) -> None:
    from rag.store.format import MARKER

    settings = make_settings(tmp_path)
    kb = KnowledgeBase(settings, encoder)
    first = kb.build()
    assert (settings.index_dir / MARKER).is_file()  # the first build marks its folder
    mine = settings.index_dir / "versions" / "v1-final"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    (settings.corpus_dir / "东莞.md").write_text(ARTICLE, encoding="utf-8")
    second = kb.build()
    (settings.corpus_dir / "东莞.md").unlink()
    third = kb.build()
    names = {p.name for p in (settings.index_dir / "versions").iterdir()}
    assert names == {second.version, third.version, "v1-final"} and first.version not in names
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_an_index_built_before_the_marker_is_still_an_index(tmp_path: Path, encoder: Any) -> None:
    from rag.store.format import MARKER

    settings = make_settings(tmp_path)
    KnowledgeBase(settings, encoder).build()
    (settings.index_dir / MARKER).unlink()  # as every index written before this change
    (settings.corpus_dir / "东莞.md").write_text(ARTICLE, encoding="utf-8")
    assert KnowledgeBase(settings, encoder).build().added == ["东莞.md"]
    assert (settings.index_dir / MARKER).is_file()


# -- 5. knowledge bases that share folders, or take the system's ---------------------------------------------------
def _settings_with(tmp_path: Path, tables: str) -> Any:
    config = tmp_path / "rag.toml"
    config.write_text(f'corpus_dir = "{tmp_path / "corpus"}"\nindex_dir = "{tmp_path / "index"}"\n'
                      f'kbs_dir = "{tmp_path / "kbs"}"\nmodels_dir = "{MODELS_DIR}"\n\n{tables}', encoding="utf-8")
    return config


@pytest.mark.parametrize(("tables", "expected"), [
    ('[kb.aaa]\ncorpus_dir = "{t}/a"\nindex_dir = "{t}/shared"\n[kb.bbb]\ncorpus_dir = "{t}/b"\n'
     'index_dir = "{t}/shared"\n', "aaa's index_dir {t}/shared is the same folder as bbb's index_dir {t}/shared"),
    ('[kb.ccc]\ncorpus_dir = "{t}/c"\nindex_dir = "{t}/index"\n',
     "default's index_dir {t}/index is the same folder as ccc's index_dir {t}/index"),
    ('[kb.ddd]\ncorpus_dir = "{t}/d"\nindex_dir = "{t}/d/index"\n',
     "ddd's index_dir {t}/d/index is inside ddd's corpus_dir {t}/d"),
    ('[kb.eee]\ncorpus_dir = "{t}/e"\nindex_dir = "/"\n', "eee's index_dir / is a folder the system shares"),
    ('[kb.fff]\ncorpus_dir = "/"\nindex_dir = "{t}/f"\n', "fff's corpus_dir / is a folder the system shares"),
    ('[kb.ggg]\ncorpus_dir = "/etc"\nindex_dir = "{t}/g"\n', "ggg's corpus_dir /etc is /etc, a system folder"),
    ('[kb.hhh]\ncorpus_dir = "/usr/share/doc"\nindex_dir = "{t}/h"\n', "is inside /usr, a system folder"),
    ('[kb.iii]\ncorpus_dir = "~"\nindex_dir = "{t}/i"\n', "iii's corpus_dir {home} is a home folder itself"),
])
def test_knowledge_base_folders_apart_and_out_of_the_system(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            tables: str, expected: str) -> None:
    t = str(tmp_path.resolve())
    config = _settings_with(tmp_path, tables.replace("{t}", t))
    message = expected.replace("{t}", t).replace("{home}", str(Path.home().resolve()))
    with pytest.raises(SettingsError) as info:
        list_bases(load_settings(config, environ={}))
    assert message in str(info.value) and len(str(info.value).splitlines()) == 1
    for argv in (["kb", "list"], ["index", "--kb", "default"]):
        code, err = _run(capsys, *argv, "--config", str(config))
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)


def test_folders_under_tmp_and_inside_a_home_stay_allowed(tmp_path: Path) -> None:
    home_child = Path.home() / "rag-zh-test-folder-never-created"
    config = _settings_with(tmp_path, f'[kb.mine]\ncorpus_dir = "{home_child}"\n'
                                      f'index_dir = "{tmp_path / "mine-index"}"\n')
    assert [b.name for b in list_bases(load_settings(config, environ={}))] == ["default", "mine"]
    assert not home_child.exists()


# -- 6 and 8. deleting a knowledge base -------------------------------------------------------------------------
def test_deleting_a_base_whose_folder_is_a_link_removes_only_the_link(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = _settings_with(tmp_path, "")
    settings = load_settings(config, environ={})
    made = create_base(settings, "linked")
    elsewhere = tmp_path / "elsewhere"
    made.folder.rename(elsewhere)  # type: ignore[union-attr]
    made.folder.symlink_to(elsewhere)  # type: ignore[union-attr]
    code, err = _run(capsys, "kb", "delete", "linked", "--yes", "--config", str(config))
    assert code == 0 and "Traceback" not in err, err
    assert not made.folder.exists() and not made.folder.is_symlink()  # type: ignore[union-attr]
    assert (elsewhere / "kb.toml").is_file() and (elsewhere / "corpus").is_dir()  # what it pointed to stays


def test_a_base_being_indexed_is_not_deleted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _settings_with(tmp_path, "")
    settings = load_settings(config, environ={})
    big = create_base(settings, "big")
    with build_lock(big.index_dir):  # what `rag index --kb big` holds while it runs
        code, err = _run(capsys, "kb", "delete", "big", "--yes", "--config", str(config))
        assert code == 2 and err == f"error: knowledge base 'big' is being indexed (pid {os.getpid()}); delete " \
                                    "it when the build ends\n", err
        assert (big.folder / "kb.toml").is_file()  # type: ignore[operator]
    code, _ = _run(capsys, "kb", "delete", "big", "--yes", "--config", str(config))
    assert code == 0 and not big.folder.exists()  # type: ignore[union-attr]
    assert main(["kb", "create", "big", "--config", str(config)]) == 0  # the name is free again
    with pytest.raises(KnowledgeBaseError):
        create_base(settings, "big")


# -- 8. an upload the index cannot take ------------------------------------------------------------------------
_UPLOAD = """
import json, sys
from pathlib import Path
from rag.settings import Settings
from rag.kb.bases import KnowledgeBases
from rag.ui import articles_tab
corpus, index, upload = (Path(p) for p in sys.argv[1:4])
bases = KnowledgeBases(Settings(corpus_dir=corpus, index_dir=index, models_dir=Path(sys.argv[4])))
steps = list(articles_tab.upload_and_index(bases, "default", [str(upload)]))
print(json.dumps({"notice": steps[-1][0], "corpus": sorted(p.name for p in corpus.iterdir())}, ensure_ascii=False))
"""


@pytest.mark.usefixtures("permissions_bind")
def test_an_upload_the_read_only_index_cannot_take_is_not_written(tmp_path: Path, encoder: Any) -> None:
    settings = make_settings(tmp_path)
    KnowledgeBase(settings, encoder).build()
    uploads = tmp_path / "gradio"
    (uploads / "0a").mkdir(parents=True)
    upload = uploads / "0a" / "东莞.md"
    upload.write_text(ARTICLE, encoding="utf-8")
    set_writable(settings.index_dir, False)
    try:
        run = subprocess.run(bound_by_permissions([sys.executable, "-c", _UPLOAD, str(settings.corpus_dir),
                                                   str(settings.index_dir), str(upload), str(MODELS_DIR)]),
                             capture_output=True, text=True, timeout=300, cwd=ROOT,
                             env={**os.environ, "GRADIO_TEMP_DIR": str(uploads),
                                  "PYTHONPATH": str(ROOT)})
    finally:
        set_writable(settings.index_dir, True)
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout.splitlines()[-1])
    assert shown["corpus"] == [DEFAULT_ARTICLE.name]  # nothing written
    assert "is read-only" in shown["notice"].replace("\\", "") and "Traceback" not in run.stderr


# -- 6. jieba's cache is this user's --------------------------------------------------------------------------
def test_jieba_keeps_its_cache_in_the_user_s_own_folder(tmp_path: Path) -> None:
    from rag.text import jieba_tokenizer, lexical_tokens

    assert lexical_tokens("深圳人工智能")
    folder = Path(jieba_tokenizer().tmp_dir or tempfile.gettempdir())
    assert folder.stat().st_uid == os.getuid()
    assert not folder.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()) or "rag-zh-jieba-" in str(folder)
    assert (folder / "jieba.cache").is_file()
    code = ("from rag.text import jieba_tokenizer, lexical_tokens; lexical_tokens('深圳'); "
            "print(jieba_tokenizer().tmp_dir)")
    not_a_folder = tmp_path / "home-is-a-file"
    not_a_folder.write_text("", encoding="utf-8")
    for env, where in (({"XDG_CACHE_HOME": str(tmp_path / "cache")}, tmp_path / "cache" / "rag-zh" / "jieba"),
                       ({"XDG_CACHE_HOME": "", "HOME": str(not_a_folder)}, None)):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                             env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
        used = Path(run.stdout.strip())
        if where is not None:
            assert used == where and (used / "jieba.cache").is_file()
        else:  # no home: a private folder of this process, not jieba's shared /tmp/jieba.cache
            assert used.name.startswith("rag-zh-jieba-") and (used.stat().st_mode & 0o077) == 0


# -- 9. a question set with a row past the question limit ---------------------------------------------------------
def test_rag_eval_skips_a_huge_row_with_its_number(tmp_path: Path, encoder: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    KnowledgeBase(settings, encoder).build()
    rows = [{"question": "2025年深圳人工智能核心产业营收约多少？", "answers": ["2200 亿元"]},
            {"question": "深" * 10_000_000, "answers": ["x"]},
            {"question": "深圳市的人口总数是多少？", "unanswerable": True}]
    question_set = tmp_path / "set.jsonl"
    question_set.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "reports"
    code = main(["eval", str(question_set), "--index-dir", str(settings.index_dir), "--output", str(out),
                 "--config", str(_settings_with(tmp_path, ""))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert ("skipped: set.jsonl:2: the question has 10,000,000 characters, over the limit of 2,000 (setting "
            "max_question_chars)") in captured.err
    assert "1 malformed row of set.jsonl skipped" in captured.err and "Traceback" not in captured.err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert len(report["questions"]) == 2
