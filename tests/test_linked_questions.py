"""Linked questions: extra questions that find a chunk, on the real default article and model.

Each test works on a copy of one built index (``copy_index``), so a build here
embeds only the linked questions the embedding cache lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.embed.encoder import Encoder
from rag.errors import CurationError
from rag.kb.chunks import article_chunks, link_chunk, turn_chunk
from rag.kb.explain import explain
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.curation_files import OVERRIDES_FILE, Override, override_from_json, override_to_json
from tests.helpers import copy_index, make_settings, on_store

ARTICLE = "shenzhen-ai-industry.txt"
# Answered by the chunk of paragraphs 1-2 (2025 年深圳人工智能核心产业营收约 2200 亿元), which is 5th for it today:
# the answer is 「百亿级」 (the AI fund). A paraphrase linked to that chunk fixes both.
QUESTION = "深圳AI一年能赚多少钱"
LINKED = "深圳的AI一年赚多少钱"
PARAGRAPHS = (1, 2)
ANSWER = "2200 亿元"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("linked")), encoder)
    kb.build()
    return kb


@pytest.fixture
def kb(built: KnowledgeBase, tmp_path: Path) -> KnowledgeBase:
    return copy_index(built, tmp_path)


def target_number(kb: KnowledgeBase) -> int:
    """The number (``rag chunks``) of the chunk of paragraphs 1-2."""
    return next(r.n for r in article_chunks(kb.version(), ARTICLE).chunks if r.paragraphs == PARAGRAPHS)


def first_hit(kb: KnowledgeBase, mode: str = "hybrid") -> tuple[int, ...]:
    return kb.search(QUESTION, k=5, mode=mode).hits[0].chunk.paragraphs


def cli(kb: KnowledgeBase, *args: str) -> int:
    """``rag ARGS`` on ``kb``'s folders (a settings file names them)."""
    config = kb.settings.index_dir.parent / "rag.toml"
    config.write_text(f"corpus_dir = {str(kb.settings.corpus_dir)!r}\nindex_dir = {str(kb.settings.index_dir)!r}\n",
                      encoding="utf-8")
    return main([*args, "--config", str(config)])


def test_a_linked_question_finds_its_chunk_first_and_unlinking_restores(
        kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    assert first_hit(kb) != PARAGRAPHS
    assert ANSWER not in kb.ask(QUESTION).text
    n = target_number(kb)
    assert cli(kb, "chunks", ARTICLE, "--link", str(n), LINKED) == 0
    assert "embedded 1 texts" in capsys.readouterr().out  # the question, once; no chunk
    assert first_hit(kb) == PARAGRAPHS and first_hit(kb, "dense") == PARAGRAPHS
    answer = kb.ask(QUESTION)
    assert answer.short_answer is not None and ANSWER in answer.short_answer.text, answer.text
    hits = kb.search(QUESTION, k=14, mode="dense").hits
    assert len({h.chunk.id for h in hits}) == len(hits)  # a chunk never twice
    line = json.loads((kb.settings.curation_root / OVERRIDES_FILE).read_text(encoding="utf-8"))
    assert line["questions"] == [LINKED] and line["off"] is False
    assert kb.index_status().curation["linked_questions"] == 1
    capsys.readouterr()
    assert cli(kb, "chunks", ARTICLE, "--json") == 0
    rows = json.loads(capsys.readouterr().out)["chunks"]
    assert rows[n - 1]["questions"] == [LINKED]
    # The explanation says the chunk was found through the linked question.
    candidate = explain(kb, QUESTION).trace.candidates
    found = next(c for c in candidate if c.chunk.paragraphs == PARAGRAPHS)
    assert found.linked_question == LINKED and found.dense_rank == 1
    assert cli(kb, "chunks", ARTICLE, "--unlink", str(n), LINKED) == 0
    assert first_hit(kb) != PARAGRAPHS
    assert kb.index_status().curation["linked_questions"] == 0
    assert (kb.settings.curation_root / OVERRIDES_FILE).read_text(encoding="utf-8") == ""


def test_re_applying_and_re_indexing_embed_nothing_new(kb: KnowledgeBase) -> None:
    n = target_number(kb)
    _, report = link_chunk(kb, ARTICLE, n, LINKED)
    assert report.embedded == 1
    link_chunk(kb, ARTICLE, n, LINKED, linked=False)
    _, report = link_chunk(kb, ARTICLE, n, LINKED)  # its vector is in the cache
    assert report.embedded == 0 and report.from_cache == 1
    assert kb.build().up_to_date
    report = kb.build(rebuild=True)
    assert report.embedded == 0 and first_hit(kb) == PARAGRAPHS


def test_a_chunk_turned_off_keeps_its_links_unapplied(kb: KnowledgeBase) -> None:
    n = target_number(kb)
    link_chunk(kb, ARTICLE, n, LINKED)
    turn_chunk(kb, ARTICLE, n, off=True)
    assert kb.version().curation.linked == () and kb.index_status().curation["linked_questions"] == 0
    hits = kb.search(QUESTION, k=14, mode="dense").hits
    assert all(h.chunk.paragraphs != PARAGRAPHS for h in hits)
    turn_chunk(kb, ARTICLE, n, off=False)  # on again: the link is kept in the file and applies again
    assert first_hit(kb) == PARAGRAPHS


def test_a_link_whose_chunk_text_is_gone_is_orphaned_never_applied(
        kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    n = target_number(kb)
    link_chunk(kb, ARTICLE, n, LINKED)
    path = kb.settings.corpus_dir / ARTICLE
    text = path.read_text(encoding="utf-8")
    old = article_chunks(kb.version(), ARTICLE).chunk(n).text
    assert "约 2200 亿元" in old
    path.write_text(text.replace("约 2200 亿元", "约 2300 亿元"), encoding="utf-8")
    assert kb.build().changed == [ARTICLE]
    version = kb.version()
    assert version.curation.linked == ()
    assert [(o.text, o.questions) for o in version.curation.orphans] == [(old, (LINKED,))]
    assert first_hit(kb) != PARAGRAPHS
    capsys.readouterr()
    assert cli(kb, "chunks", ARTICLE, "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["orphaned_questions"] == [{"text": old, "questions": [LINKED]}]
    assert cli(kb, "chunks", ARTICLE) == 0 and f"its linked question, not applied: {LINKED}" in capsys.readouterr().out


def test_link_errors_are_one_line_and_change_nothing(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    for args, says in ((["--link", "x", LINKED], "--link and --unlink take the chunk's number first"),
                       (["--link", "1", "  "], "a linked question must be non-empty text"),
                       (["--link", "1", "问" * 501], "at most 500 characters"),
                       (["--link", "99", LINKED], f"{ARTICLE} has chunks 1-")):
        assert cli(kb, "chunks", ARTICLE, *args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err
    assert not (kb.settings.curation_root / OVERRIDES_FILE).exists()
    with pytest.raises(CurationError, match="line 1: questions must be a list"):
        (kb.settings.curation_root).mkdir(parents=True, exist_ok=True)
        (kb.settings.curation_root / OVERRIDES_FILE).write_text(
            json.dumps({"article": ARTICLE, "text": "x", "questions": "q"}) + "\n", encoding="utf-8")
        kb.build()


def test_an_old_overrides_line_still_reads_and_questions_round_trip() -> None:
    old = override_from_json({"article": "a.txt", "text": "t", "off": True, "updated_at": ""})
    assert old == Override("a.txt", "t", True, "", ())
    assert "questions" not in override_to_json(old)
    new = Override("a.txt", "t", False, "", ("问一", "问二"))
    assert override_from_json(override_to_json(new)) == new


def hybrid_rank(kb: KnowledgeBase) -> int:
    return [h.chunk.paragraphs for h in kb.search(QUESTION, k=14).hits].index(PARAGRAPHS) + 1


@pytest.mark.parametrize("fusion", ["project", "milvus"])
def test_a_linked_question_works_on_milvus(kb: KnowledgeBase, fusion: str) -> None:
    twin = KnowledgeBase(kb.settings.replace(milvus_hybrid=fusion), kb.encoder())
    with on_store(twin, "milvus") as milvus:
        before = hybrid_rank(milvus)
        if fusion == "milvus":  # refused in one line, and the curation folder is left as it was
            with pytest.raises(CurationError, match="milvus_hybrid"):
                link_chunk(milvus, ARTICLE, target_number(kb), LINKED)
            assert not (kb.settings.curation_root / OVERRIDES_FILE).exists()
    link_chunk(kb, ARTICLE, target_number(kb), LINKED)
    if fusion == "milvus":  # Milvus fuses the legs itself: no linked key can join its dense leg
        with (pytest.raises(CurationError, match="linked questions, which Milvus's own hybrid search cannot use"),
              on_store(twin, "milvus")):
            pass
        return
    with on_store(twin, "milvus") as milvus:
        # the dense leg as on FAISS; Milvus's lexical leg reads the chunk's own text only
        assert milvus.search(QUESTION, k=5, mode="dense").hits[0].chunk.paragraphs == PARAGRAPHS
        assert hybrid_rank(milvus) < before


def test_the_lexical_leg_finds_a_chunk_by_its_linked_question_s_words(kb: KnowledgeBase) -> None:
    assert kb.search("Spot", k=3, mode="lexical").hits == []  # in no chunk
    n = target_number(kb)
    link_chunk(kb, ARTICLE, n, "Spot是谁的产品")
    hits = kb.search("Spot", k=3, mode="lexical").hits
    assert [h.chunk.paragraphs for h in hits] == [PARAGRAPHS]
    link_chunk(kb, ARTICLE, n, "机器狗Spot是谁的产品")  # a second link: the chunk's tokens are cut anew, not reused
    link_chunk(kb, ARTICLE, n, "Spot是谁的产品", linked=False)
    assert [h.chunk.paragraphs for h in kb.search("Spot", k=3, mode="lexical").hits] == [PARAGRAPHS]
    link_chunk(kb, ARTICLE, n, "机器狗Spot是谁的产品", linked=False)
    assert kb.search("Spot", k=3, mode="lexical").hits == []  # unlinked: its words are gone
