"""Records as JSON with stable keys (``--json`` output, reports, the browser); JSON read from outside."""

from __future__ import annotations

import json
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
        "knowledge_base": hit.knowledge_base,
    }


def citation_to_json(c: Citation) -> dict[str, Any]:
    """A citation with the paragraph text and the cited span."""
    return {
        "n": c.n, "article": c.article, "title": c.title, "section": c.section, "paragraph": c.paragraph,
        "page": c.page, "paragraph_text": c.paragraph_text, "paragraph_start": c.paragraph_start,
        "start": c.start, "end": c.end, "text": c.sentence_text, "knowledge_base": c.knowledge_base,
    }


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """An answer: text, refusal flag, citations, hits, the query searched and timings."""
    return {
        "question": answer.question, "query": answer.query, "answer": answer.text, "refused": answer.refused,
        "mode": answer.mode, "uncited": answer.uncited,
        "citations": [citation_to_json(c) for c in answer.citations],
        "hits": [hit_to_json(h) for h in answer.hits],
        "timings_ms": {k: round(v, 2) for k, v in answer.timings_ms.items()},
        "short_answer": None if answer.short_answer is None else {
            "text": answer.short_answer.text, "n": answer.short_answer.n,
            "start": answer.short_answer.start, "end": answer.short_answer.end,
        },
    }


def parse_json(text: str) -> Any:
    """``json.loads`` for text from outside (question sets, reports): too deep a nesting is malformed JSON too.

    The parser recurses once per ``[`` or ``{``; a few thousand of them would raise
    RecursionError, which no caller expects from bad input.

    >>> parse_json("[" * 100_000)
    Traceback (most recent call last):
    json.decoder.JSONDecodeError: nested too deeply to read: line 1 column 1 (char 0)
    """
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise json.JSONDecodeError("nested too deeply to read", text, 0) from exc


def json_text(data: Any, **options: Any) -> str:
    r"""``json.dumps(data, ensure_ascii=False, **options)`` with each lone surrogate as its ``\udcNN`` escape.

    A file name that is not UTF-8 reaches Python as lone surrogates
    (``os.fsdecode``), which no UTF-8 file can hold as they are; as JSON escapes
    the text is valid UTF-8, and ``json.loads`` gives the very same name back.
    Valid text is written exactly as ``json.dumps`` writes it.

    >>> json_text({"path": "\udcb0\udca1.txt", "title": "标题"})
    '{"path": "\\udcb0\\udca1.txt", "title": "标题"}'
    >>> json.loads(json_text(["\udcb0.txt"])) == ["\udcb0.txt"]
    True
    """
    return json.dumps(data, ensure_ascii=False, **options).encode("utf-8", "backslashreplace").decode("utf-8")
