"""Questions about an article as a whole (「这篇文章主要讲了什么？」): answered by extraction, not refused.

With one article in scope (the article filter, or a one-article corpus) the answer
is its title, its section headings and the lead of its first paragraph, cited with
the exact span; with several, it lists their titles to choose from. Nothing is
generated: every word shown is the article's own or this module's frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from rag.ingest.chunking import split_sentences
from rag.records import Answer, Article, Citation, Hit

_OVERVIEW = re.compile(
    r"^(?:这篇|這篇|本|该|該|此)?(?:文章|文|篇)?(?:主要)?(?:讲|講|说|說|写|寫|介绍|介紹)了?(?:些)?(?:什么|什麼|啥)"
    r"|^(?:这篇|這篇|本)(?:文章|文)(?:的)?(?:主要内容|主要內容|大意|要点|要點|主旨)"
    r"|^(?:概括|总结|總結|概述)(?:一下)?(?:这篇|這篇|本)(?:文章|文)"
    r"|^what(?:'s| is) (?:this|the) article about", re.IGNORECASE)
LEAD_CHARS = 200  # the lead: the first paragraph's sentences up to about this many characters
MAX_SECTIONS = 12


def is_overview_question(question: str) -> bool:
    """True for a question about the article as a whole.

    >>> [is_overview_question(q) for q in ("这篇文章主要讲了什么？", "本文讲了什么", "這篇文章主要講了什麼？",
    ...                                    "深圳的营收是多少？")]
    [True, True, True, False]
    """
    return bool(_OVERVIEW.search(question.strip().rstrip("？?。.！! ")))


def overview_answer(question: str, articles: Sequence[Article], hits: list[Hit],
                    citable: Callable[[str, int, int], bool] | None = None) -> Answer:
    """Title, sections and cited lead of the one article in scope; the titles to choose from when several are.

    ``citable(article, start, end)``: False for a span no chunk that is on holds (all of them turned
    off, ``rag chunks --off``); the lead is then the next paragraph's.
    """
    if len(articles) != 1:
        titles = "；".join(f"《{a.title}》" for a in articles)
        text = (f"范围内有 {len(articles)} 篇文章，请先在「只在这些文章中查找」中选定一篇再问：{titles}"
                if articles else "还没有索引任何文章。")
        return Answer(question, question, text, refused=False, hits=hits, mode="overview")
    article = articles[0]
    lead = _lead_citation(article, citable)
    sections = list(dict.fromkeys(p.section for p in article.paragraphs if p.section))[:MAX_SECTIONS]
    parts = [f"《{article.title}》"]
    if sections:
        parts.append("分为：" + "；".join(sections) + "。")
    if lead is None:
        return Answer(question, question, "".join(parts), refused=False, hits=hits, mode="overview")
    text = "".join(parts) + "开篇写道：" + lead.sentence_text + "[1]"
    return Answer(question, question, text, refused=False, citations=[lead], hits=hits, mode="overview")


def _lead_citation(article: Article, citable: Callable[[str, int, int], bool] | None = None) -> Citation | None:
    """Citation [1]: the first (citable) paragraph's first sentences (up to ``LEAD_CHARS``), as an exact span."""
    for p in article.paragraphs:
        sentences = split_sentences(article.text, p.start, p.end)
        if not sentences:
            continue
        end = sentences[0][1]
        for _, b in sentences[1:]:
            if b - sentences[0][0] > LEAD_CHARS:
                break
            end = b
        if citable is None or citable(article.path, sentences[0][0], end):
            return Citation.of(article, p, 1, sentences[0][0], end)
    return None


def articles_in_scope(all_articles: Mapping[str, Article], chosen: Sequence[str] | None) -> list[Article]:
    """The articles a question is about: the filter's, or every indexed one."""
    paths = list(chosen) if chosen else list(all_articles)
    return [all_articles[p] for p in paths]
