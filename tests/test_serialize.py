"""One JSON round trip of an answer: ``answer_to_json`` then ``answer_from_json`` gives the same answer back.

The JSON is what ``rag ask --json``, the API and the browser's stored conversations carry. Before, the reader
sat in the page's module and dropped the hits' scores and the short answer's score.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rag.records import Answer, Article, Chunk, Citation, Hit, Paragraph, ShortAnswer
from rag.serialize import answer_from_json, answer_to_json, json_text

TEXT = "# 深圳\n\n## 一、规模\n\n营收约 2200 亿元。企业超 2600 家。\n\n第二段。\n"


def _answer() -> Answer:
    start = TEXT.index("营收")
    article = Article("城市/深圳.txt", "深圳", TEXT, (Paragraph(1, start, start + 18, "一、规模", page=3),),
                      "0" * 64, "utf-8", len(TEXT.encode()))
    citation = Citation.of(article, article.paragraph(1), 1, start, start + 9, knowledge_base="news")
    chunk = Chunk(7, article.path, article.title, "一、规模", (1, 2), start, start + 18, TEXT[start : start + 18],
                  sentence_ids=(3, 4))
    hit = Hit(chunk, 1, 0.1234567891234, dense_rank=2, dense_score=0.87654321012, lexical_rank=None,
              lexical_score=None, knowledge_base="news")
    return Answer("营收多少？", "深圳营收多少？", f"{citation.sentence_text}[1]", False, [citation], [hit],
                  {"search": 12.3456789, "total": 20.000001}, short_answer=ShortAnswer("约 2200 亿元", 1,
                                                                                      start + 2, start + 8, 3.25),
                  knowledge_bases=("news", "default"))


def test_an_answer_comes_back_from_its_json_unchanged() -> None:
    answer = _answer()
    back = answer_from_json(json.loads(json_text(answer_to_json(answer))))
    assert back == answer
    assert back.hits[0].dense_score == 0.87654321012 and back.short_answer is not None
    assert back.short_answer.score == 3.25 and back.knowledge_bases == ("news", "default")


def test_a_refusal_and_an_answer_stored_before_the_later_keys_read() -> None:
    refusal = Answer("外星人？", "外星人？", "文章中没有找到相关信息。", True, mode="generative", uncited=False)
    assert answer_from_json(answer_to_json(refusal)) == refusal
    old = answer_to_json(_answer())
    del old["knowledge_bases"], old["short_answer"]["score"]
    for hit in old["hits"]:
        del hit["sentence_ids"]
    back = answer_from_json(old)
    assert back.knowledge_bases == ("default",) and back.short_answer is not None and back.short_answer.score == 0.0


def test_the_json_keys_only_grow() -> None:
    data = answer_to_json(_answer())
    assert {"answer", "refused", "citations", "hits", "timings_ms", "short_answer", "question", "query", "mode",
            "uncited"} <= set(data)
    assert {"n", "article", "title", "section", "paragraph", "page", "paragraph_text", "paragraph_start", "start",
            "end", "text", "knowledge_base"} <= set(data["citations"][0])
    assert {"rank", "score", "text", "article", "title", "section", "paragraphs", "start", "end", "chunk_id",
            "dense_rank", "dense_score", "lexical_rank", "lexical_score", "knowledge_base"} <= set(data["hits"][0])
    assert set(data["short_answer"]) >= {"text", "n", "start", "end"}


def test_one_place_builds_a_citation_and_its_label() -> None:
    """Every module that cites builds through Citation.of; no face writes a paragraph label of its own."""
    root = Path(__file__).resolve().parent.parent / "rag"
    builders = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
                if "Citation(" in p.read_text(encoding="utf-8") and p.name not in ("records.py", "serialize.py")]
    assert builders == [] or all("render.py" in b for b in builders), builders  # render.py: a doctest's record
    written = re.compile(r"第\{[^}]*\}段|¶\{")  # a paragraph label written by hand: 第{n}段, ¶{n}
    labels = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
              if written.search(p.read_text(encoding="utf-8")) and p.name != "messages.py"]
    assert labels == [], labels
    c = _answer().citations[0]
    assert " · ".join(c.location()) == "深圳 · 一、规模 · 第1段 · 第3页"
    assert " · ".join(c.location("en")) == "深圳 · 一、规模 · ¶1 · p. 3"
