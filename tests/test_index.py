"""Building, loading and searching the index on the real default article.

Retrieval and lifecycle checks run on both stores (``STORES``): FAISS, and Milvus
Lite filled from the same embedding cache. The rest is about the index folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.cli import main
from rag.embed.cache import EmbeddingCache, text_key
from rag.embed.encoder import Encoder
from rag.errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexMissingError
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.build import chunk_embedding_text
from rag.store.lock import build_lock
from rag.store.versions import current_version, load_version
from tests.helpers import STORES, copy_index, make_settings, on_store, rank_one_misses


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("idx")), encoder)
    report = kb.build()
    version = kb.version()
    texts = {chunk_embedding_text(c, kb.settings.chunk_context) for c in version.chunks}
    texts |= {version.articles[s.article].text[s.start:s.end] for s in version.sentences}
    # Each distinct text is embedded once (without context a one-sentence chunk shares its vector).
    assert report.embedded == len(texts) and report.from_cache == 0
    return kb


@pytest.fixture(scope="module", params=STORES)
def searched(request: pytest.FixtureRequest, built: KnowledgeBase) -> Iterator[KnowledgeBase]:
    """The built index, searched on one store."""
    with on_store(built, request.param) as kb:
        yield kb


def test_right_paragraph_first_for_own_questions(searched: KnowledgeBase) -> None:
    misses = rank_one_misses(searched)
    # 32 own questions (direct, paraphrased, traditional): at most 2 may miss rank 1, on either store.
    assert len(misses) <= 2, misses


def test_modes_all_return_ranked_hits(searched: KnowledgeBase) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        hits = searched.search("荣耀累计投入多少亿元用于AI研发", k=3, mode=mode).hits
        assert [h.rank for h in hits] == [1, 2, 3], mode
        assert 4 in hits[0].chunk.paragraphs, mode


def test_traditional_question_finds_simplified_text(searched: KnowledgeBase) -> None:
    for mode in ("lexical", "hybrid"):
        hits = searched.search("華為盤古大模型服務多少個國民經濟重點行業", k=3, mode=mode).hits
        assert 5 in hits[0].chunk.paragraphs, mode


def test_reindex_unchanged_corpus_embeds_nothing(searched: KnowledgeBase) -> None:
    report = searched.build()
    assert report.up_to_date and report.embedded == 0 and report.store_inserted == 0


def test_cli_search_json_right_paragraph_first(searched: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    s = searched.settings
    code = main(["search", "深圳集聚了多少家人工智能典型企业", "--json", "-k", "3",
                 "--index-dir", str(s.index_dir), "--store", s.store])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3
    assert {"rank", "score", "text", "article", "title", "section", "paragraphs", "start", "end"} <= set(rows[0])
    assert rows[0]["paragraphs"] == [2] or 2 in rows[0]["paragraphs"]
    article = (s.corpus_dir / rows[0]["article"]).read_text(encoding="utf-8")
    assert article[rows[0]["start"]:rows[0]["end"]] == rows[0]["text"]


@pytest.mark.parametrize("store", STORES)
def test_add_change_delete_article_incrementally(built: KnowledgeBase, tmp_path: Path, store: str) -> None:
    with on_store(copy_index(built, tmp_path), store) as kb:
        _article_life(kb)


def _article_life(kb: KnowledgeBase) -> None:
    new = kb.settings.corpus_dir / "新文章 一.md"
    new.write_text("# 东莞制造\n\n东莞松山湖的机器人企业在2025年突破了三百家。它们主要生产工业机器人。\n",
                   encoding="utf-8")
    report = kb.build()
    assert report.added == ["新文章 一.md"]
    # Only the new article's chunk and its two sentences were embedded.
    assert report.embedded == 3
    assert kb.search("松山湖机器人企业有多少家", k=1).hits[0].chunk.article == "新文章 一.md"
    new.write_text("# 东莞制造\n\n东莞松山湖的机器人企业在2025年突破了四百家。它们主要生产工业机器人。\n",
                   encoding="utf-8")
    report = kb.build()
    # The changed sentence and its chunk are embedded again; the unchanged sentence comes from the cache.
    assert report.changed == ["新文章 一.md"] and report.embedded == 2
    answer = kb.ask("东莞松山湖的机器人企业在2025年突破了多少家？")
    assert "四百家" in answer.text and answer.citations[0].article == "新文章 一.md"
    new.unlink()
    report = kb.build()
    assert report.removed == ["新文章 一.md"] and report.embedded == 0
    # Deleted text does not linger in the embedding cache.
    cache = EmbeddingCache(kb.settings.embedding_cache_path)
    deleted = text_key("passage", "它们主要生产工业机器人。")
    assert cache.get_many(kb.settings.encoder_identity, [deleted]) == {}
    live = {chunk_embedding_text(c, kb.settings.chunk_context) for c in kb.version().chunks}
    live |= {kb.version().articles[s.article].text[s.start:s.end] for s in kb.version().sentences}
    assert cache.count(kb.settings.encoder_identity) == len(live)
    cache.close()
    version = kb.version()
    assert all(c.article != "新文章 一.md" for c in version.chunks)
    for mode in ("dense", "lexical", "hybrid"):
        assert all(h.chunk.article != "新文章 一.md" for h in kb.search("松山湖机器人", k=10, mode=mode).hits), mode
    report = kb.build()  # unchanged: nothing embedded, nothing written to the store
    assert report.up_to_date and report.embedded == 0 and report.store_inserted == 0


def test_missing_index_says_what_to_run(tmp_path: Path, encoder: Encoder) -> None:
    with pytest.raises(IndexMissingError, match="rag index"):
        KnowledgeBase(make_settings(tmp_path), encoder).search("深圳")


def test_index_built_with_other_model_is_refused(built: KnowledgeBase, tmp_path: Path) -> None:
    kb = copy_index(built, tmp_path)
    other = KnowledgeBase(kb.settings.replace(model="BAAI/bge-small-zh-v1.5"))
    with pytest.raises(IndexMismatchError, match=r"BAAI/bge-small-zh-v1.5.*rag index --rebuild"):
        other.version()


def test_truncated_faiss_file_is_reported(built: KnowledgeBase, tmp_path: Path) -> None:
    kb = copy_index(built, tmp_path)
    faiss_file = kb.settings.index_dir / "versions" / current_version(kb.settings.index_dir) / "dense.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match=r"dense\.faiss.*truncated.*rag index --rebuild"):
        load_version(kb.settings.index_dir)
    # The build does not trust the damaged version: it writes a complete new one.
    report = kb.build(rebuild=True)
    assert report.embedded == 0
    assert kb.search("荣耀", k=1).hits


def test_hand_edited_manifest_is_reported(built: KnowledgeBase, tmp_path: Path) -> None:
    kb = copy_index(built, tmp_path)
    manifest = kb.settings.index_dir / "versions" / current_version(kb.settings.index_dir) / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["counts"]["chunks"] += 1
    manifest.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="changed after the build"):
        load_version(kb.settings.index_dir)


@pytest.mark.parametrize("damage", ["cut short", "edited by hand"])
def test_corrupt_manifest_stops_status_and_index_until_rebuild(built: KnowledgeBase, tmp_path: Path, damage: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged manifest is never taken for "no index": one line naming the file and the fix, which works."""
    from rag.kb.uploads import list_articles

    kb = copy_index(built, tmp_path)
    s = kb.settings
    manifest = s.index_dir / "versions" / current_version(s.index_dir) / "manifest.json"
    text = manifest.read_text(encoding="utf-8")
    if damage == "cut short":
        manifest.write_text(text[: len(text) // 2], encoding="utf-8")
    else:
        data = json.loads(text)
        data["articles"]["shenzhen-ai-industry.txt"]["title"] = "改过的标题"
        manifest.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    where = ["--index-dir", str(s.index_dir)]
    for command in (["status"], ["index", str(s.corpus_dir)]):
        code = main([*command, *where])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
        assert str(manifest) in err and "`rag index --rebuild`" in err
    with pytest.raises(IndexCorruptError, match=r"manifest\.json.*rag index --rebuild"):
        list_articles(s)  # the browser's Articles tab does not call every file new
    assert main(["index", str(s.corpus_dir), *where, "--rebuild", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["articles"] == 1 and report["embedded"] == 0
    assert main(["status", "--json", *where]) == 0
    assert json.loads(capsys.readouterr().out)["articles"] == 1
    assert [r.state for r in list_articles(s)] == ["indexed"]


def test_second_build_refuses_while_first_holds_lock(built: KnowledgeBase, tmp_path: Path) -> None:
    kb = copy_index(built, tmp_path)
    with build_lock(kb.settings.index_dir), pytest.raises(IndexLockedError, match="another build"):
        kb.build(rebuild=True)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "深圳", "--index-dir", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("module", ["rag.store.current", "rag.store.recovery", "rag.store.versions"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    failures, _ = doctest.testmod(importlib.import_module(module))
    assert failures == 0


def test_clean_up_keeps_current_and_previous_and_nothing_else(tmp_path: Path) -> None:
    """The switch order decides, not the names: an unswitched version is newer than the live one."""
    from rag.store.current import prune_versions, switch_current

    versions = tmp_path / "versions"
    for name in ("v1", "v2", "v3-unswitched", "v4", "v5.tmp"):
        (versions / name).mkdir(parents=True)
        (versions / name / "data").write_text(name, encoding="utf-8")
    assert prune_versions(tmp_path) == []  # no CURRENT yet: nothing is deleted
    switch_current(tmp_path, "v1")
    switch_current(tmp_path, "v2")
    switch_current(tmp_path, "v4")
    assert (tmp_path / "PREVIOUS").read_text(encoding="utf-8") == "v2\n"
    assert prune_versions(tmp_path) == ["v1", "v3-unswitched", "v5.tmp"]
    assert sorted(p.name for p in versions.iterdir()) == ["v2", "v4"]
    (tmp_path / "CURRENT").write_text("gone\n", encoding="utf-8")  # damaged: clean-up waits for the rebuild
    assert prune_versions(tmp_path) == []
