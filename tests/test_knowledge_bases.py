"""Several knowledge bases: names, the CLI's create/list/delete, search across several, isolation, the API.

Three knowledge bases over the real model and indexes: ``default`` (corpus/ and
index/ with the default article), ``news`` made by `rag kb create` (one short
article about 深圳低空经济), and ``manuals`` declared in rag.toml with folders of
its own (one short article about a robot vacuum).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.cli.main import main
from rag.errors import KnowledgeBaseError, SettingsError
from rag.kb.bases import KnowledgeBases
from rag.kb.feedback import feedback_path
from rag.kb.registry import check_name, create_base, delete_base, find_base, list_bases, settings_for
from rag.settings import load_settings
from rag.store.lock import build_lock
from tests.browser_support import NEW_ARTICLE, NEW_QUESTION, QUESTION
from tests.helpers import DEFAULT_ARTICLE, MODELS_DIR

MANUAL = ("vacuum.md", "# 扫地机器人说明书\n\n## 电池\n\n扫地机器人的电池容量为 5200 毫安时，充满电约需 4 小时。\n\n"
          "## 清洁\n\n尘盒每使用 3 次应清理一次。\n")
MANUAL_QUESTION = "扫地机器人的电池容量是多少？"


@dataclass
class Install:
    root: Path  # the working folder: rag.toml, corpus/, index/, kbs/, a declared base's folders
    config: Path


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    root = tmp_path_factory.mktemp("kbs")
    (root / "corpus").mkdir()
    shutil.copy(DEFAULT_ARTICLE, root / "corpus" / DEFAULT_ARTICLE.name)
    (root / "manual-articles").mkdir()
    (root / "manual-articles" / MANUAL[0]).write_text(MANUAL[1], encoding="utf-8")
    config = root / "rag.toml"
    config.write_text(f'corpus_dir = "{root / "corpus"}"\nindex_dir = "{root / "index"}"\n'
                      f'models_dir = "{MODELS_DIR}"\nkbs_dir = "{root / "kbs"}"\n\n'
                      f'[kb.manuals]\ncorpus_dir = "{root / "manual-articles"}"\n'
                      f'index_dir = "{root / "manual-index"}"\nchunk_size = 120\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    news = create_base(settings, "news")
    (news.corpus_dir / NEW_ARTICLE[0]).write_text(NEW_ARTICLE[1], encoding="utf-8")
    for name in ("default", "news", "manuals"):
        assert main(["index", "--config", str(config), "--kb", name]) == 0
    yield Install(root, config)


def test_names_are_checked() -> None:
    assert check_name("news_2025") == "news_2025"
    for bad in ("../etc", ".hidden", "a/b", "News", "x" * 41, "", "新闻", "a-b"):
        with pytest.raises(KnowledgeBaseError):
            check_name(bad)


def test_the_list_is_default_the_created_and_the_declared(install: Install) -> None:
    settings = load_settings(install.config, environ={})
    bases = list_bases(settings)
    assert [(b.name, b.origin) for b in bases] == [("default", "default"), ("manuals", "declared"),
                                                    ("news", "created")]
    (settings.kbs_dir / "not_a_base").mkdir()  # a folder without kb.toml is not a knowledge base
    assert [b.name for b in list_bases(settings)] == ["default", "manuals", "news"]
    manuals = settings_for(settings, find_base(settings, "manuals"))
    assert manuals.chunk_size == 120 and manuals.index_dir == install.root / "manual-index"
    news = settings_for(settings, find_base(settings, "news"))
    default = settings_for(settings, find_base(settings, "default"))
    # each its own Milvus alias, eval runs, ratings; default keeps today's
    assert (default.milvus_collection, news.milvus_collection) == ("rag_chunks", "rag_chunks_news")
    roots = {s.eval_root for s in (default, news, manuals)}
    folders = {feedback_path(s) for s in (default, news, manuals)}
    assert len(roots) == 3 and len(folders) == 3
    with pytest.raises(KnowledgeBaseError, match="exists already"):
        create_base(settings, "manuals")
    with pytest.raises(KnowledgeBaseError, match="no knowledge base named 'sports'"):
        find_base(settings, "sports")


def test_a_base_answers_alone_and_together_with_citations_naming_it(install: Install) -> None:
    bases = KnowledgeBases(load_settings(install.config, environ={}))
    alone = bases.ask(NEW_QUESTION, ["news"])
    assert not alone.refused and {c.knowledge_base for c in alone.citations} == {"news"}
    elsewhere = bases.ask(NEW_QUESTION, ["default"])
    assert all(c.article != NEW_ARTICLE[0] for c in elsewhere.citations)  # isolation: news is not in default
    together = bases.ask(NEW_QUESTION, ["default", "news", "manuals"])
    assert not together.refused and together.citations[0].knowledge_base == "news"
    assert together.citations[0].article == NEW_ARTICLE[0]
    assert {h.knowledge_base for h in together.hits} == {"default", "news", "manuals"}
    assert [h.rank for h in together.hits] == list(range(1, len(together.hits) + 1))
    manual = bases.ask(MANUAL_QUESTION, ["default", "news", "manuals"])
    assert manual.short_answer is not None and "5200" in manual.short_answer.text
    assert manual.citations[0].knowledge_base == "manuals"
    default = bases.ask(QUESTION, ["news", "default"])
    assert default.citations[0].knowledge_base == "default"
    hits = bases.search(MANUAL_QUESTION, ["manuals", "news"], k=4).hits
    assert hits[0].knowledge_base == "manuals" and {h.knowledge_base for h in hits} == {"manuals", "news"}


def test_cli_search_and_ask_take_several_and_list_prints_each(install: Install,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(install.config)]
    assert main(["ask", NEW_QUESTION, "--json", *cfg, "--kb", "default", "--kb", "news"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["citations"][0]["knowledge_base"] == "news"
    assert main(["search", MANUAL_QUESTION, "--json", *cfg, "--kb", "manuals,news"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["knowledge_base"] == "manuals"
    assert main(["kb", "list", "--json", *cfg]) == 0
    listed = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(listed) == {"default", "news", "manuals"}
    assert listed["news"]["articles"] == 1 and listed["default"]["chunks"] > 1 and listed["manuals"]["built_at"]
    assert set(listed["news"]) >= {"name", "corpus_dir", "index_dir", "articles", "chunks", "built_at", "store"}
    assert main(["status", *cfg, "--kb", "default", "--kb", "news"]) == 2  # one base at a time
    assert "one knowledge base at a time" in capsys.readouterr().err
    assert main(["ask", "x", *cfg, "--kb", "sports"]) == 2
    assert "no knowledge base named 'sports'" in capsys.readouterr().err


def test_a_build_of_one_does_not_block_questions_to_another(install: Install) -> None:
    settings = load_settings(install.config, environ={})
    bases = KnowledgeBases(settings)
    news = settings_for(settings, find_base(settings, "news"))
    with build_lock(news.index_dir):  # a build of news holds its lock
        answer = bases.ask(MANUAL_QUESTION, ["manuals"])
    assert not answer.refused


def test_deleting_removes_only_a_created_base_and_its_folder(install: Install, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(install.config, environ={})
    cfg = ["--config", str(install.config)]
    create_base(settings, "scratch")
    folder = settings.kbs_dir / "scratch"
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["kb", "delete", "scratch", *cfg]) == 2 and folder.is_dir()  # not asked, not confirmed
    assert "--yes" in capsys.readouterr().err
    before = sorted(p.relative_to(install.root) for p in install.root.rglob("*") if "scratch" not in p.parts)
    assert main(["kb", "delete", "scratch", "--yes", *cfg]) == 0
    assert not folder.exists()
    assert sorted(p.relative_to(install.root) for p in install.root.rglob("*")) == before
    assert main(["kb", "delete", "default", "--yes", *cfg]) == 2
    assert "cannot be deleted" in capsys.readouterr().err
    assert main(["kb", "delete", "manuals", "--yes", *cfg]) == 2
    assert "remove the declaration" in capsys.readouterr().err and (install.root / "manual-index").is_dir()
    with pytest.raises(KnowledgeBaseError):
        delete_base(settings, "scratch")


def test_a_declaration_without_folders_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('[kb.news]\nchunk_size = 100\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="needs corpus_dir and index_dir"):
        list_bases(load_settings(config, environ={}))
    config.write_text('[kb.news]\ncorpus_dir = "a"\nindex_dir = "b"\nkbs_dir = "c"\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    with pytest.raises(SettingsError, match="unknown setting 'kbs_dir'"):
        settings_for(settings, find_base(settings, "news"))


def test_the_api_names_knowledge_bases_in_model(install: Install) -> None:
    openai = pytest.importorskip("openai")
    from fastapi.testclient import TestClient

    from rag.api.app import create_api

    settings = load_settings(install.config, environ={})
    app = create_api(KnowledgeBases(settings), settings)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        client = openai.OpenAI(base_url="http://127.0.0.1/v1", api_key="unused", http_client=http, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["default", "manuals", "news"]
        reply = client.chat.completions.create(model="default,news", messages=[{"role": "user",
                                                                                  "content": NEW_QUESTION}])
        assert reply.choices[0].message.model_extra["references"][0]["knowledge_base"] == "news"
        assert reply.model == "default,news"
        body = {"knowledge_id": "manuals", "query": MANUAL_QUESTION,
                "retrieval_setting": {"top_k": 2, "score_threshold": 0}}
        records = http.post("/retrieval", json=body).json()["records"]
        assert records and all(r["metadata"]["knowledge_base"] == "manuals" for r in records)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="default,sports", messages=[{"role": "user", "content": "x"}])


def test_two_bases_on_one_milvus_keep_their_own_alias(tmp_path: Path) -> None:
    """A shared Milvus (one Lite file here): each base has its own alias, and searches only its own chunks."""
    pytest.importorskip("pymilvus")
    from rag.store.milvus.store import connect, disconnect

    (tmp_path / "corpus").mkdir()
    shutil.copy(DEFAULT_ARTICLE, tmp_path / "corpus" / DEFAULT_ARTICLE.name)
    shared = tmp_path / "shared-milvus.db"
    config = tmp_path / "rag.toml"
    config.write_text(f'corpus_dir = "{tmp_path / "corpus"}"\nindex_dir = "{tmp_path / "index"}"\n'
                      f'models_dir = "{MODELS_DIR}"\nkbs_dir = "{tmp_path / "kbs"}"\nstore = "milvus"\n'
                      f'milvus_uri = "{shared}"\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    news = create_base(settings, "news")
    (news.corpus_dir / NEW_ARTICLE[0]).write_text(NEW_ARTICLE[1], encoding="utf-8")
    bases = KnowledgeBases(settings)
    try:
        for name in ("default", "news"):
            bases.get(name).build()
        own = {name: bases.get(name).settings.milvus_collection for name in ("default", "news")}
        assert own == {"default": "rag_chunks", "news": "rag_chunks_news"}
        client = connect(bases.get("news").settings).client
        assert set(own.values()) <= set(client.list_aliases().get("aliases", []))
        assert {h.chunk.article for h in bases.search(NEW_QUESTION, ["news"]).hits} == {NEW_ARTICLE[0]}
        assert NEW_ARTICLE[0] not in {h.chunk.article for h in bases.search(NEW_QUESTION, ["default"]).hits}
        both = bases.ask(NEW_QUESTION, ["default", "news"])
        assert both.citations[0].knowledge_base == "news"
    finally:
        for name in ("default", "news"):
            disconnect(bases.get(name).settings)
