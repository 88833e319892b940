"""Records as JSON with stable keys (``--json`` output, reports, the browser, the API), and back; JSON from outside.

Each record's ``*_to_json`` stands beside its ``*_from_json``: an answer written and read back is the
same answer (tests/test_serialize.py). Keys only grow; a reader takes the later keys as optional.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from rag.records import Answer, Chunk, Citation, Hit, ShortAnswer
from rag.trace import AnswerTrace, Candidate, ReadSpan, RefusalDecision


def hit_to_json(hit: Hit) -> dict[str, Any]:
    """A search hit: rank, score, text, article, title, section, paragraphs, start, end, per-leg ranks and scores."""
    c = hit.chunk
    return {
        "rank": hit.rank, "score": hit.score, "text": c.text, "article": c.article,
        "title": c.title, "section": c.section, "paragraphs": list(c.paragraphs), "start": c.start,
        "end": c.end, "chunk_id": c.id, "dense_rank": hit.dense_rank, "dense_score": hit.dense_score,
        "lexical_rank": hit.lexical_rank, "lexical_score": hit.lexical_score,
        "knowledge_base": hit.knowledge_base, "sentence_ids": list(c.sentence_ids),
    }


def hit_from_json(data: dict[str, Any]) -> Hit:
    """A ``Hit`` from its ``hit_to_json`` form; KeyError, TypeError or ValueError when it does not read."""
    chunk = Chunk(id=int(data["chunk_id"]), article=str(data["article"]), title=str(data["title"]),
                  section=str(data["section"]), paragraphs=tuple(int(p) for p in data["paragraphs"]),
                  start=int(data["start"]), end=int(data["end"]), text=str(data["text"]),
                  sentence_ids=tuple(int(i) for i in data.get("sentence_ids") or ()))
    return Hit(chunk=chunk, rank=int(data["rank"]), score=float(data["score"]),
               dense_rank=_maybe(int, data["dense_rank"]), dense_score=_maybe(float, data.get("dense_score")),
               lexical_rank=_maybe(int, data["lexical_rank"]), lexical_score=_maybe(float, data.get("lexical_score")),
               knowledge_base=str(data.get("knowledge_base", "default")))


def citation_to_json(c: Citation) -> dict[str, Any]:
    """A citation with the paragraph text and the cited span."""
    return {
        "n": c.n, "article": c.article, "title": c.title, "section": c.section, "paragraph": c.paragraph,
        "page": c.page, "paragraph_text": c.paragraph_text, "paragraph_start": c.paragraph_start,
        "start": c.start, "end": c.end, "text": c.sentence_text, "knowledge_base": c.knowledge_base,
        "kind": c.kind,
    }


def citation_from_json(data: dict[str, Any]) -> Citation:
    """A ``Citation`` from its ``citation_to_json`` form (``text`` is derived, so not read)."""
    return Citation(n=int(data["n"]), article=str(data["article"]), title=str(data["title"]),
                    section=str(data["section"]), paragraph=int(data["paragraph"]), page=_maybe(int, data["page"]),
                    paragraph_text=str(data["paragraph_text"]), paragraph_start=int(data["paragraph_start"]),
                    start=int(data["start"]), end=int(data["end"]),
                    knowledge_base=str(data.get("knowledge_base", "default")),
                    kind=str(data.get("kind", "article")))


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """An answer: text, refusal flag, citations, hits, the query searched, timings, the bases asked.

    ``answer_from_json`` reads it back to the same ``Answer`` (floats are written as they are, not rounded).
    """
    short = answer.short_answer
    return {
        "question": answer.question, "query": answer.query, "answer": answer.text, "refused": answer.refused,
        "mode": answer.mode, "uncited": answer.uncited,
        "citations": [citation_to_json(c) for c in answer.citations],
        "hits": [hit_to_json(h) for h in answer.hits],
        "timings_ms": dict(answer.timings_ms),
        "short_answer": None if short is None else {
            "text": short.text, "n": short.n, "start": short.start, "end": short.end, "score": short.score,
        },
        "knowledge_bases": list(answer.knowledge_bases),
    }


def answer_from_json(data: dict[str, Any]) -> Answer:
    """An ``Answer`` from its ``answer_to_json`` form; KeyError, TypeError or ValueError when it does not read.

    Keys added later (a short answer's score, the bases asked) are optional, so an answer stored by an
    earlier version (a conversation in a browser) still reads.
    """
    short = data.get("short_answer")
    return Answer(question=str(data["question"]), query=str(data["query"]), text=str(data["answer"]),
                  refused=bool(data["refused"]), citations=[citation_from_json(c) for c in data["citations"]],
                  hits=[hit_from_json(h) for h in data["hits"]],
                  timings_ms={str(k): float(v) for k, v in dict(data.get("timings_ms") or {}).items()},
                  mode=str(data.get("mode", "extractive")), uncited=bool(data.get("uncited", False)),
                  short_answer=None if not short else ShortAnswer(
                      str(short["text"]), int(short["n"]), int(short["start"]), int(short["end"]),
                      float(short.get("score", 0.0))),
                  knowledge_bases=tuple(str(n) for n in data.get("knowledge_bases") or ("default",)))


def trace_to_json(trace: AnswerTrace) -> dict[str, Any]:
    """Why an answer (``rag ask --explain --json``'s ``explain``): the query, candidates, reader spans, refusal.

    Written only (an explanation is read by people and tools, never stored to be read back).
    """
    return {
        "question": trace.question, "history": list(trace.history), "query": trace.query,
        "followup": trace.followup, "mode": trace.mode, "top_k": trace.top_k, "reranked": trace.reranked,
        "settings": dict(trace.settings),
        "candidates": [candidate_to_json(c) for c in trace.candidates],
        "reader_spans": [span_to_json(s) for s in trace.spans],
        "refusal": None if trace.decision is None else decision_to_json(trace.decision),
        "faq": None if trace.faq is None else asdict(trace.faq),
    }


def candidate_to_json(c: Candidate) -> dict[str, Any]:
    """A candidate: its chunk, each ranking's rank and score, its best sentence's score and final rank."""
    chunk = c.chunk
    return {
        "chunk_id": chunk.id, "article": chunk.article, "title": chunk.title, "section": chunk.section,
        "paragraphs": list(chunk.paragraphs), "start": chunk.start, "end": chunk.end, "text": chunk.text,
        "dense_rank": c.dense_rank, "dense_score": c.dense_score, "lexical_rank": c.lexical_rank,
        "lexical_score": c.lexical_score, "fused_rank": c.fused_rank, "fused_score": c.fused_score,
        "sentence_score": c.sentence_score, "rerank_score": c.rerank_score, "final_rank": c.final_rank,
        "knowledge_base": c.knowledge_base, "linked_question": c.linked_question,
    }


def span_to_json(s: ReadSpan) -> dict[str, Any]:
    """A span the reader found: the passage it read (article offsets, chunks), the span, its scores."""
    return {
        "article": s.article, "passage_start": s.passage_start, "passage_end": s.passage_end,
        "chunk_ids": list(s.chunk_ids), "start": s.start, "end": s.end, "text": s.text, "score": s.score,
        "null_score": s.null_score, "chosen": s.chosen,
    }


def decision_to_json(d: RefusalDecision) -> dict[str, Any]:
    """The refusal decision: the rule that decided, the signals, the threshold."""
    return {
        "rule": d.rule, "refused": d.refused, "evidence": d.evidence, "missing_terms": list(d.missing),
        "unsupported_terms": list(d.unsupported),
        "null_score": d.null_score, "mismatch": d.mismatch, "support": d.support, "threshold": d.threshold,
        "reader": d.reader,
    }


def _maybe(kind: Callable[[Any], Any], value: Any) -> Any:
    """``kind(value)``, or None for None."""
    return None if value is None else kind(value)


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
