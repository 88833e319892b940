"""A 👎 that teaches, on the real default article and model: the right answer typed (an FAQ entry) or chosen
among the retrieved sentences (a linked question on its chunk); the next answer and a re-run of the ratings show it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.embed.encoder import Encoder
from rag.errors import CurationError
from rag.evaluation.datasets import load_question_set
from rag.evaluation.session import evaluate
from rag.kb.chunks import article_chunks
from rag.kb.faq import entry_to_json
from rag.kb.feedback import feedback_path, feedback_record, read_feedback, save_feedback
from rag.kb.knowledge_base import KnowledgeBase
from rag.kb.teach import retrieved_sentences, teach
from rag.records import Answer
from tests.helpers import copy_index, make_settings

ARTICLE = "shenzhen-ai-industry.txt"
# Answered 「百亿级」 (the AI fund) today, while the chunk of paragraphs 1-2 holds the right answer
# (2025 年深圳人工智能核心产业营收约 2200 亿元): see tests/test_linked_questions.py.
QUESTION = "深圳AI一年能赚多少钱"
RIGHT = "约 2200 亿元"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("teach")), encoder)
    kb.build()
    return kb


@pytest.fixture
def kb(built: KnowledgeBase, tmp_path: Path) -> KnowledgeBase:
    return copy_index(built, tmp_path)


def rated_down(kb: KnowledgeBase) -> Answer:
    """The wrong answer, rated 👎 (row id ``a1``) as the page does."""
    answer = kb.ask(QUESTION)
    assert answer.short_answer is not None and "2200" not in answer.short_answer.text, answer.short_answer
    save_feedback(kb.settings, feedback_record("a1", answer, "down"), "a1")
    return answer


def rerun(kb: KnowledgeBase, out: Path) -> dict:
    """The ratings re-run as a question set: report.json's row of ``a1``."""
    evaluate(kb.settings, load_question_set(feedback_path(kb.settings)), out_dir=out, encoder=kb.encoder())
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return next(q for q in data["questions"] if q["id"] == "a1")


def test_a_typed_answer_becomes_an_faq_entry_and_the_rerun_passes(kb: KnowledgeBase, tmp_path: Path) -> None:
    rated_down(kb)
    assert rerun(kb, tmp_path / "before")["failed"]  # the same wrong answer again
    taught = teach(kb, QUESTION, RIGHT, "faq", answer_id="a1")
    assert taught.faq_id is not None and taught.rating is not None
    entry = next(e for e in kb.faq.entries() if e.id == taught.faq_id)
    assert entry_to_json(entry)["answer"] == RIGHT and "👎" in entry.source

    again = kb.ask(QUESTION)
    assert again.citations and again.citations[0].kind == "faq" and RIGHT in again.text
    row = read_feedback(feedback_path(kb.settings))[0]
    # keys only grow: the rejected answer stays, the typed one is the gold, the rating lists what was taught
    assert row["rejected_answer"] and row["answers"] == [RIGHT]
    assert row["taught"]["kind"] == "faq" and row["taught"]["id"] == taught.faq_id
    result = rerun(kb, tmp_path / "after")
    assert not result["failed"], result


def test_a_chosen_sentence_links_the_question_to_its_chunk(kb: KnowledgeBase, tmp_path: Path) -> None:
    answer = rated_down(kb)
    offered = retrieved_sentences(answer)
    right = next(s for s in offered if "2200" in s.text)  # the right sentence was retrieved, not answered from
    taught = teach(kb, QUESTION, right.text, "link", answer_id="a1", article=right.article)
    chunk = article_chunks(kb.version(), ARTICLE).chunk(taught.chunk or 0)
    assert right.text in chunk.text and QUESTION in chunk.questions

    again = kb.ask(QUESTION)
    assert again.short_answer is not None and "2200" in again.short_answer.text, again.text
    assert any(c.kind == "article" and right.text in c.paragraph_text for c in again.citations)
    row = read_feedback(feedback_path(kb.settings))[0]
    assert row["taught"] == {**row["taught"], "kind": "link", "article": ARTICLE, "chunk": taught.chunk}
    assert row["article"] == ARTICLE and row["answers"] == []
    result = rerun(kb, tmp_path / "after")
    assert not result["failed"] and not result["repeats_rejected"], result


def test_bad_teaching_is_one_line_and_changes_nothing(kb: KnowledgeBase) -> None:
    rated_down(kb)
    before = feedback_path(kb.settings).read_text(encoding="utf-8")
    for how, text, article in (("faq", "", None), ("faq", "答" * 20_000, None), ("guess", RIGHT, None),
                               ("link", "这句话不在文章里。", ARTICLE), ("link", RIGHT, None)):
        with pytest.raises(CurationError) as err:
            teach(kb, QUESTION, text, how, answer_id="a1", article=article)
        assert "\n" not in str(err.value)
    assert kb.faq.entries() == () and feedback_path(kb.settings).read_text(encoding="utf-8") == before


def cli(kb: KnowledgeBase, *args: str) -> int:
    """``rag ARGS`` on ``kb``'s folders (a settings file names them)."""
    from rag.cli import main

    config = kb.settings.index_dir.parent / "rag.toml"
    config.write_text(f"corpus_dir = {str(kb.settings.corpus_dir)!r}\nindex_dir = {str(kb.settings.index_dir)!r}\n",
                      encoding="utf-8")
    return main([*args, "--config", str(config)])


def test_the_cli_teaches_a_typed_answer_and_a_sentence(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> None:
    answer = rated_down(kb)
    assert cli(kb, "faq", "teach", QUESTION, RIGHT, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"kind": "faq", "question": QUESTION, "answer": RIGHT, "faq_id": "1", "rating_id": "a1"}
    right = next(s for s in retrieved_sentences(answer) if "2200" in s.text)
    assert cli(kb, "faq", "teach", QUESTION, right.text, "--link", ARTICLE, "--rating", "a1") == 0
    assert capsys.readouterr().out.startswith("taught: a linked question on chunk ")
    assert cli(kb, "faq", "teach", QUESTION, "这句话不在文章里。", "--link", ARTICLE) == 2
    assert "rag chunks" in capsys.readouterr().err


def test_the_api_teaches_with_the_one_line_error_shape(kb: KnowledgeBase) -> None:
    from fastapi.testclient import TestClient

    from rag.api.app import create_api
    from rag.kb.bases import KnowledgeBases

    rated_down(kb)
    bases = KnowledgeBases(kb.settings, opened={"default": kb})
    with TestClient(create_api(bases, kb.settings)) as http:
        done = http.post("/api/teach", json={"question": QUESTION, "answer": RIGHT, "rating_id": "a1"}).json()
        assert done["kind"] == "faq" and done["rating_id"] == "a1"
        answer = http.post("/api/ask", json={"question": QUESTION}).json()
        assert answer["citations"][0]["kind"] == "faq"
        bad = http.post("/api/teach", json={"question": QUESTION, "answer": "不在文章里。", "how": "link",
                                            "article": ARTICLE})
        assert bad.status_code == 400 and "\n" not in bad.json()["error"]
        assert http.post("/api/teach", json={"question": QUESTION, "answer": RIGHT, "how": "guess"}).status_code \
            == 400


def test_the_page_box_offers_the_retrieved_sentences_and_its_line_is_escaped(kb: KnowledgeBase) -> None:
    from rag.kb.bases import KnowledgeBases
    from rag.ui.chat import Turn
    from rag.ui.teach_box import sentence_choices, teach_turn

    question = "<img src=x onerror=alert(1)>深圳AI一年能赚多少钱"
    answer = kb.ask(question)
    save_feedback(kb.settings, feedback_record("t1", answer, "down"), "t1")
    turn = Turn(question, answer, id="t1")
    choices = sentence_choices(turn)
    assert choices and [v for _, v in choices] == [str(i) for i in range(len(choices))]
    bases = KnowledgeBases(kb.settings, opened={"default": kb})
    status, typed, _ = teach_turn(bases, [turn], 0, "<b>约 2200 亿元</b>", None)
    assert status.startswith("✓ ") and "<img" not in status and "&lt;img" in status and typed == ""
    assert read_feedback(feedback_path(kb.settings))[0]["taught"]["kind"] == "faq"
    with pytest.warns(UserWarning, match="请先输入正确答案"):  # the toast, outside a request
        nothing, _, _ = teach_turn(bases, [turn], 0, "  ", None)
    assert nothing == ""
