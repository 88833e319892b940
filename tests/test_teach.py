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
