"""Records as JSON with stable keys (``--json`` output, reports, the browser)."""

from __future__ import annotations

from typing import Any

from rag.records import Answer, Citation, Hit


def hit_to_json(hit: Hit) -> dict[str, Any]:
    """A search hit: rank, score, text, article, title, section, paragraphs, start, end, per-leg ranks."""
    c = hit.chunk
    return {
        "rank": hit.rank, "score": round(hit.score, 6), "text": c.text, "article": c.article,
        "title": c.title, "section": c.section, "paragraphs": list(c.paragraphs), "start": c.start,
        "end": c.end, "chunk_id": c.id, "dense_rank": hit.dense_rank,
        "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
        "lexical_rank": hit.lexical_rank,
        "lexical_score": None if hit.lexical_score is None else round(hit.lexical_score, 6),
    }


def citation_to_json(c: Citation) -> dict[str, Any]:
    """A citation with the paragraph text and the cited span."""
    return {
        "n": c.n, "article": c.article, "title": c.title, "section": c.section, "paragraph": c.paragraph,
        "page": c.page, "paragraph_text": c.paragraph_text, "paragraph_start": c.paragraph_start,
        "start": c.start, "end": c.end, "text": c.sentence_text,
    }


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """An answer: text, refusal flag, citations, hits, the query searched and timings."""
    return {
        "question": answer.question, "query": answer.query, "answer": answer.text, "refused": answer.refused,
        "mode": answer.mode, "uncited": answer.uncited,
        "citations": [citation_to_json(c) for c in answer.citations],
        "hits": [hit_to_json(h) for h in answer.hits],
        "timings_ms": {k: round(v, 2) for k, v in answer.timings_ms.items()},
    }
