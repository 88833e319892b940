"""A knowledge base's own words (dictionary.txt, synonyms.txt) on the real default article and model.

Each test works on a copy of one built index (``copy_index``), so a build here
embeds nothing unless the test says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.embed.cache import EmbeddingCache
from rag.embed.encoder import Encoder
from rag.errors import CurationError
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.format import DENSE_FILE, LEXICAL_DIR, VERSIONS
from rag.store.lexical import saved_tokens
from rag.store.versions import current_version
from tests.helpers import copy_index, make_settings, on_store

# 「盘古」 is in one paragraph of the default article (华为盘古大模型已服务超 20 个国民经济重点行业);
# 「pangu」 is in none, and the question has no other word the lexical leg keeps.
QUESTION = "Pangu是什么"
PANGU_PARAGRAPH = 5


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("curated")), encoder)
    kb.build()
    return kb


@pytest.fixture
def kb(built: KnowledgeBase, tmp_path: Path) -> KnowledgeBase:
    return copy_index(built, tmp_path)


def chunk_tokens(kb: KnowledgeBase) -> list[list[str]]:
    folder = kb.settings.index_dir / VERSIONS / str(current_version(kb.settings.index_dir)) / LEXICAL_DIR
    tokens = saved_tokens(folder)
    assert tokens is not None
    return tokens


def cli(kb: KnowledgeBase, *args: str) -> int:
    """``rag ARGS`` on ``kb``'s folders (a settings file names them)."""
    config = kb.settings.index_dir.parent / "rag.toml"
    config.write_text(f"corpus_dir = {str(kb.settings.corpus_dir)!r}\nindex_dir = {str(kb.settings.index_dir)!r}\n",
                      encoding="utf-8")
    return main([*args, "--config", str(config)])


def write(kb: KnowledgeBase, name: str, text: str) -> None:
    folder = kb.settings.curation_root
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_the_curation_folder_is_beside_the_index_folder(kb: KnowledgeBase) -> None:
    assert kb.settings.curation_root == kb.settings.index_dir.parent / "curation"


def test_a_synonym_finds_the_chunk_by_the_lexical_leg(kb: KnowledgeBase) -> None:
    assert kb.search(QUESTION, k=5, mode="lexical").hits == []
    write(kb, "synonyms.txt", "# 华为的大模型\n盘古 Pangu\n")
    report = kb.build()
    assert not report.up_to_date and report.embedded == 0 and report.from_cache == 0
    hits = kb.search(QUESTION, k=5, mode="lexical").hits
    assert PANGU_PARAGRAPH in hits[0].chunk.paragraphs and hits[0].lexical_rank == 1
    assert "盘古" in kb.search(QUESTION, k=5, mode="lexical").query_tokens
    hybrid = kb.search(QUESTION, k=5, mode="hybrid").hits
    assert PANGU_PARAGRAPH in hybrid[0].chunk.paragraphs
    # the answer rules take the synonym as the term: 「Pangu」 is not a name missing from the chunks
    answer = kb.ask("Pangu服务了多少个国民经济重点行业")
    assert not answer.refused and answer.citations[0].paragraph == PANGU_PARAGRAPH, answer.text


def test_a_dictionary_word_is_kept_whole_and_only_the_lexical_leg_changes(kb: KnowledgeBase) -> None:
    old = kb.version()
    old_chunks = [(c.start, c.end, c.text) for c in old.chunks]
    old_tokens = chunk_tokens(kb)
    assert not any("盘古大模型" in t for t in old_tokens)
    cache = EmbeddingCache(kb.settings.embedding_cache_path)
    cached = cache.count()
    write(kb, "dictionary.txt", "盘古大模型 30000 nz\n")
    report = kb.build()
    assert report.embedded == 0 and report.from_cache == 0 and cache.count() == cached, report
    cache.close()
    new = kb.version()
    assert new.manifest.files[DENSE_FILE] == old.manifest.files[DENSE_FILE]  # the dense leg is the one it had
    assert [(c.start, c.end, c.text) for c in new.chunks] == old_chunks  # chunking keeps the built-in words
    assert (new.sentence_vectors == old.sentence_vectors).all()
    tokens = chunk_tokens(kb)
    assert sum("盘古大模型" in t for t in tokens) >= 1 and tokens != old_tokens
    assert new.manifest.tokenizer != old.manifest.tokenizer
    assert "盘古大模型" in new.curation.vocabulary.lexical_tokens("盘古大模型服务哪些行业")
    assert kb.build().up_to_date  # nothing changed since


def test_status_says_when_the_words_changed_since_the_build(kb: KnowledgeBase,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert kb.index_status().curation["state"] == "up to date"
    write(kb, "synonyms.txt", "盘古 Pangu\n")
    assert "run `rag index`" in kb.index_status().curation["state"]
    kb.build()
    assert cli(kb, "status", "--json") == 0
    curation = json.loads(capsys.readouterr().out)["curation"]
    assert curation["state"] == "up to date" and curation["synonym_groups"] == 1
    assert curation["folder"] == str(kb.settings.curation_root)


@pytest.mark.parametrize(("name", "text", "says"), [
    ("dictionary.txt", "盘古大模型\n交大 abc 12\n",
     "dictionary.txt line 2: 「交大 abc 12」 is not `word [frequency] [tag]`"),
    ("dictionary.txt", "威廉·莎士比亚\n", "dictionary.txt line 1: 「威廉·莎士比亚」 holds 「·」"),
    ("synonyms.txt", "盘古 Pangu\n交大\n", "synonyms.txt line 2: a group of synonyms needs two words or more"),
    ("synonyms.txt", "盘古 Pangu\n盘古 PG\n", "synonyms.txt line 2: 「盘古」 is already in the group of line 1"),
    ("overrides.jsonl", '{"article": "a.txt", "text": "x"}\n{"article": "a.txt"}\n',
     "overrides.jsonl line 2: text must be non-empty text"),
])
def test_a_bad_line_is_one_clear_error_and_the_index_stays(kb: KnowledgeBase, name: str, text: str, says: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    version = current_version(kb.settings.index_dir)
    write(kb, name, text)
    with pytest.raises(CurationError, match="line"):
        kb.build()
    code = cli(kb, "index")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and says in err, err
    assert current_version(kb.settings.index_dir) == version


def test_milvus_refuses_a_knowledge_base_s_words(kb: KnowledgeBase) -> None:
    write(kb, "synonyms.txt", "盘古 Pangu\n")
    milvus = KnowledgeBase(kb.settings.replace(store="milvus"), kb.encoder())
    with pytest.raises(CurationError, match="faiss store only"):
        milvus.build()


def test_each_knowledge_base_has_its_own_curation_folder(tmp_path: Path) -> None:
    from rag.kb.registry import create_base, find_base, settings_for

    settings = make_settings(tmp_path, kbs_dir=tmp_path / "kbs",
                             kb_tables={"manuals": {"corpus_dir": str(tmp_path / "m"),
                                                    "index_dir": str(tmp_path / "mi")}})
    create_base(settings, "news")
    assert settings_for(settings, find_base(settings, "news")).curation_root == tmp_path / "kbs" / "news" / "curation"
    declared = settings_for(settings, find_base(settings, "manuals")).curation_root
    assert declared == tmp_path / "curation" / "manuals"
    assert settings_for(settings, find_base(settings, "default")).curation_root == tmp_path / "curation"


# -- chunks turned off (rag chunks ARTICLE --off N) -------------------------------------------------------------
ARTICLE = "shenzhen-ai-industry.txt"
HONOR = "荣耀累计投入多少亿元用于AI研发"  # answered by the chunk of paragraphs 3-4 (荣耀已累计投入超 100 亿元)


def listed(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert cli(kb, "chunks", ARTICLE, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_rag_chunks_lists_an_article_s_chunks_in_order(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    rows = listed(kb, capsys)["chunks"]
    version = kb.version()
    assert [r["id"] for r in rows] == [c.id for c in version.chunks if c.article == ARTICLE]
    assert [r["n"] for r in rows] == list(range(1, len(rows) + 1))
    first = version.chunks[rows[0]["id"]]
    assert rows[0]["paragraphs"] == list(first.paragraphs) and rows[0]["chars"] == len(first.text)
    assert rows[0]["sentences"] == len(first.sentence_ids) and not any(r["off"] for r in rows)
    assert cli(kb, "chunks", ARTICLE) == 0
    out = capsys.readouterr().out
    assert f"{len(rows)} chunks, 0 off" in out and out.count("\n") == len(rows) + 2


def test_a_chunk_turned_off_is_returned_by_no_leg_and_cited_by_no_answer(
        kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    top = kb.search(HONOR, k=1).hits[0].chunk
    n = next(r["n"] for r in listed(kb, capsys)["chunks"] if r["id"] == top.id)
    assert cli(kb, "chunks", ARTICLE, "--off", str(n)) == 0
    assert "embedded 0 texts" in capsys.readouterr().out
    line = json.loads((kb.settings.curation_root / "overrides.jsonl").read_text(encoding="utf-8"))
    assert line["article"] == ARTICLE and line["text"] == top.text and line["off"] is True
    total = len(kb.version().chunks)
    for mode in ("dense", "lexical", "hybrid"):
        hits = kb.search(HONOR, k=total, mode=mode).hits
        assert hits and top.id not in [h.chunk.id for h in hits], mode
    answer = kb.ask(HONOR)
    assert top.id not in [h.chunk.id for h in answer.hits]
    on = [h.chunk for h in answer.hits]
    for c in answer.citations:  # each cited sentence stands in a chunk that is on (chunks overlap by sentences)
        assert any(ch.article == c.article and ch.start <= c.start and c.end <= ch.end for ch in on)
    assert [r["off"] for r in listed(kb, capsys)["chunks"]].count(True) == 1
    assert kb.index_status().curation["chunks_off"] == 1
    assert cli(kb, "chunks", ARTICLE, "--on", str(n)) == 0
    assert kb.search(HONOR, k=1).hits[0].chunk.id == top.id
    assert kb.index_status().curation["chunks_off"] == 0
    assert (kb.settings.curation_root / "overrides.jsonl").read_text(encoding="utf-8") == ""


def test_an_override_whose_text_is_gone_is_orphaned_never_applied(kb: KnowledgeBase,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    top = kb.search(HONOR, k=1).hits[0].chunk
    n = next(r["n"] for r in listed(kb, capsys)["chunks"] if r["id"] == top.id)
    assert cli(kb, "chunks", ARTICLE, "--off", str(n)) == 0
    path = kb.settings.corpus_dir / ARTICLE
    text = path.read_text(encoding="utf-8")
    assert "超 100 亿元" in top.text
    path.write_text(text.replace("超 100 亿元", "超 120 亿元"), encoding="utf-8")
    report = kb.build()
    assert report.changed == [ARTICLE]
    version = kb.version()
    assert version.curation.off == frozenset() and [o.text for o in version.curation.orphans] == [top.text]
    assert kb.search(HONOR, k=1).hits[0].chunk.text == top.text.replace("超 100 亿元", "超 120 亿元")
    assert listed(kb, capsys)["orphaned_overrides"] == [top.text]
    assert kb.index_status().curation["orphaned_overrides"] == 1
    assert cli(kb, "chunks", ARTICLE) == 0 and "orphaned override" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "says"), [
    (["nope.txt"], "'nope.txt' is not in the index"),
    ([ARTICLE, "--off", "99"], f"{ARTICLE} has chunks 1-"),
])
def test_rag_chunks_errors_are_one_line(kb: KnowledgeBase, args: list[str], says: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(kb, "chunks", *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


@pytest.mark.parametrize("fusion", ["project", "milvus"])
def test_a_chunk_turned_off_is_returned_by_no_leg_on_milvus(kb: KnowledgeBase, fusion: str) -> None:
    from rag.kb.chunks import article_chunks, turn_chunk

    top = kb.search(HONOR, k=1).hits[0].chunk
    n = next(r.n for r in article_chunks(kb.version(), ARTICLE).chunks if r.id == top.id)
    turn_chunk(kb, ARTICLE, n, off=True)
    milvus = KnowledgeBase(kb.settings.replace(milvus_hybrid=fusion), kb.encoder())
    with on_store(milvus, "milvus") as twin:
        total = len(twin.version().chunks)
        for mode in ("dense", "lexical", "hybrid"):
            hits = twin.search(HONOR, k=total, mode=mode).hits
            assert hits and top.id not in [h.chunk.id for h in hits], (fusion, mode)


def test_the_overview_does_not_cite_a_lead_turned_off(kb: KnowledgeBase) -> None:
    from rag.kb.chunks import article_chunks, turn_chunk

    question = "这篇文章讲了什么？"
    before = kb.ask(question, articles=[ARTICLE]).citations[0]
    first = article_chunks(kb.version(), ARTICLE).chunk(1)
    assert first.paragraphs[0] == before.paragraph
    turn_chunk(kb, ARTICLE, 1, off=True)
    after = kb.ask(question, articles=[ARTICLE]).citations[0]
    version = kb.version()
    assert after.paragraph != before.paragraph
    on = [c for c in version.chunks if c.id not in version.curation.off]
    assert any(c.start <= after.start and after.end <= c.end for c in on)


def test_a_curation_change_fills_a_milvus_store_never_filled(kb: KnowledgeBase) -> None:
    from rag.kb.chunks import article_chunks

    write(kb, "overrides.jsonl", json.dumps({"article": ARTICLE, "text": article_chunks(kb.version(), ARTICLE)
                                             .chunk(1).text, "off": True}, ensure_ascii=False) + "\n")
    twin = KnowledgeBase(kb.settings.replace(store="milvus"), kb.encoder())
    with on_store(twin, "milvus"):
        report = twin.build()  # the curation's build: a new version, and the collection filled from the cache
        assert report.embedded == 0 and report.store_inserted == len(twin.version().chunks)
        assert twin.index_status().curation["chunks_off"] == 1
        assert twin.search(HONOR, k=1).hits


def test_the_page_s_words_are_checked_written_and_applied_all_or_nothing(kb: KnowledgeBase) -> None:
    from rag.kb.words import knowledge_base_words, save_words

    assert knowledge_base_words(kb).synonyms == ""
    report = save_words(kb, "上海交通大学 30000 nt\n", "# 华为的大模型\n盘古 Pangu\n")
    assert report.embedded == 0 and not report.up_to_date
    assert PANGU_PARAGRAPH in kb.search(QUESTION, k=5, mode="lexical").hits[0].chunk.paragraphs
    assert knowledge_base_words(kb).synonyms == "# 华为的大模型\n盘古 Pangu\n"
    assert kb.index_status().curation["synonym_groups"] == 1
    with pytest.raises(CurationError, match=r"synonyms\.txt line 1: a group of synonyms needs two words"):
        save_words(kb, "", "交大\n")
    assert knowledge_base_words(kb).dictionary == "上海交通大学 30000 nt\n"  # nothing written
    milvus = KnowledgeBase(kb.settings.replace(store="milvus"), kb.encoder())
    with pytest.raises(CurationError, match="Milvus cuts words with its own analyzer"):
        save_words(milvus, "", "盘古 Pangu 盘古大模型\n")
    assert knowledge_base_words(kb).synonyms == "# 华为的大模型\n盘古 Pangu\n"  # put back
    save_words(kb, "", "")
    assert not (kb.settings.curation_root / "synonyms.txt").exists()
    assert kb.search(QUESTION, k=5, mode="lexical").hits == []
