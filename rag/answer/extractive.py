"""Extractive answers: the exact phrase that answers, the sentences that hold it, each cited.

Sentence vectors were computed at index time, so answering encodes only the
question. Each candidate sentence is scored by its similarity to the question,
the question words it contains and the rank of the chunk it came from. With the
reading model on (``short_answers``), the reader reads the top chunk
(``rag.answer.short_answer``); its best span is the short answer, and the
sentence holding it is the first evidence. Without it, the best sentence (and,
when it helps, another) is the answer, in reading order. Too weak evidence, or a
reader sure that what it read does not answer, gives the refusal
「文章中没有找到相关信息」 instead of a guess (``is_refusal``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from rag.answer.question_terms import kind_mismatch, missing_terms, unsupported_terms
from rag.answer.short_answer import FoundSpan, chunk_passages, read_short_answer
from rag.records import Answer, Citation, Hit, Sentence, ShortAnswer
from rag.search.sentences import SENTENCE_WEIGHTS, ScoredSentence, score_sentences, sentence_text
from rag.settings import Settings
from rag.store.versions import IndexVersion
from rag.text import lexical_tokens
from rag.trace import ANSWERED, AnswerTrace, RefusalDecision

if TYPE_CHECKING:
    from rag.answer.reader import Reader
    from rag.vocabulary import Vocabulary

REFUSAL = "文章中没有找到相关信息。"
CLAUSE_SPLIT = re.compile(r"(?<=[，,；;：:])")


@dataclass(frozen=True)
class AnswerParams:
    """Weights of the sentence score, the answer's shape, what the reader reads and the refusal rule.

    ``from_settings`` takes the values that are settings (sentences, length,
    thresholds, what the reader reads) from ``Settings``; the score weights default
    to ``SENTENCE_WEIGHTS``. The sentence rules were chosen on the CMRC tuning half
    with scripts/tune_answers.py --grid (see BENCHMARKS.md); the reader's share of
    the refusal rule on CMRC 2018 train by scripts/tune_reader.py.
    """

    max_sentences: int
    max_chars: int
    refusal_threshold: float  # reader off: an evidence score below it refuses (see is_refusal)
    reader_refusal_threshold: float = 0.0  # reader on: a support score below it refuses (see support_score)
    reader_chunks: int = 1  # the reader reads the top this many chunks (see rag.answer.short_answer)
    w_dense: float = SENTENCE_WEIGHTS.w_dense
    w_lexical: float = SENTENCE_WEIGHTS.w_lexical
    w_rank: float = 0.15  # bonus 0.15/rank of the best chunk holding the sentence (after the sentence re-rank)
    w_type: float = SENTENCE_WEIGHTS.w_type
    strategy: str = "top2"  # "top2": the two best sentences; "neighbour": the best and an adjacent one
    second_margin: float = 0.15  # a second sentence only when it scores within this of the best
    trim: bool = True  # trim long sentences to the clauses that answer
    refuse_missing_terms: bool = True  # refuse when a name, place or number of the question is nowhere retrieved
    refuse_unsupported_terms: bool = True  # refuse when the answer's paragraph lacks one (or the quantity asked)
    # The reader's share of the support score (support_score), calibrated with reader_refusal_threshold on
    # CMRC 2018 train passages the reader never trained on (scripts/tune_reader.py fit): the evidence
    # score alone separates best (ROC AUC 0.98 there against 0.81-0.83 for the null score); the null
    # score and a span that lacks the asked kind move it a little (refusal recall 0.872 -> 0.885 at
    # 2.5% of answerable questions refused).
    w_null: float = 0.0005
    w_mismatch: float = 0.01

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerParams:
        """The answer parameters ``rag ask`` uses."""
        return cls(max_sentences=settings.answer_sentences, max_chars=settings.answer_max_chars,
                   refusal_threshold=settings.refusal_threshold,
                   reader_refusal_threshold=settings.reader_refusal_threshold,
                   reader_chunks=settings.reader_chunks, w_null=settings.reader_null_weight,
                   refuse_unsupported_terms=settings.refuse_unsupported_terms,
                   w_mismatch=settings.reader_mismatch_weight)


# The word overlap's share of the evidence score. Set by hand in the first version (no sweep chose it);
# both refusal thresholds were calibrated with it in place (refusal_threshold by
# scripts/calibrate_refusal.py, reader_refusal_threshold by scripts/tune_reader.py fit), so changing it
# means calibrating them again.
EVIDENCE_LEXICAL_WEIGHT = 0.1


def evidence_score(hits: list[Hit], scored: list[ScoredSentence]) -> float:
    """How strongly the retrieved text supports an answer: the best similarity plus word overlap."""
    if not hits or not scored:
        return 0.0
    top_dense = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
    best = scored[0]
    return max(top_dense, best.dense) + EVIDENCE_LEXICAL_WEIGHT * best.lexical


@dataclass(frozen=True)
class RefusalSignals:
    """What the refusal rule weighs (``is_refusal``); the calibration scripts read the same record."""

    evidence: float  # evidence_score
    missing: tuple[str, ...]  # missing_terms
    null_score: float | None  # the reader's "no answer here" score of its best span (None: reader off or no span)
    mismatch: bool  # kind_mismatch of the question and the short answer
    unsupported: tuple[str, ...] = ()  # unsupported_terms of the answer's paragraph

    def with_span(self, question: str, found: FoundSpan | None) -> RefusalSignals:
        """These signals with the reader's: its best span's null score and kind mismatch."""
        if found is None:
            return self
        return replace(self, null_score=found.null_score, mismatch=kind_mismatch(question, found.text))


def refusal_signals(question: str, hits: list[Hit], scored: list[ScoredSentence],
                    found: FoundSpan | None = None, vocabulary: Vocabulary | None = None) -> RefusalSignals:
    """The signals of one question's evidence and (when the reader ran) its best span (``vocabulary``: synonyms)."""
    missing = tuple(missing_terms(question, hits, vocabulary))
    return RefusalSignals(evidence=evidence_score(hits, scored), missing=missing,
                          null_score=None, mismatch=False).with_span(question, found)


def support_score(signals: RefusalSignals, params: AnswerParams) -> float:
    """The evidence score, less the reader's null score and a kind mismatch, weighted (reader on).

    >>> s = RefusalSignals(evidence=0.93, missing=(), null_score=-5.0, mismatch=True)
    >>> round(support_score(s, AnswerParams(2, 200, 0.9, w_null=0.002, w_mismatch=0.01)), 4)
    0.93
    """
    if signals.null_score is None:
        return signals.evidence
    return signals.evidence - params.w_null * signals.null_score - params.w_mismatch * signals.mismatch


def is_refusal(signals: RefusalSignals, params: AnswerParams, reader: bool = False) -> bool:
    """True when the evidence is too weak to answer from: one rule over all the signals.

    Refuse when a specific term of the question is nowhere retrieved, or when
    the paragraph the answer comes from lacks one or the quantity asked; else, with
    the reader (``reader``), when the support score (``support_score``) is below
    ``reader_refusal_threshold``; without it, when the evidence score is below
    ``refusal_threshold``.
    """
    return refusal_rule(signals, params, reader) != ANSWERED


def refusal_rule(signals: RefusalSignals, params: AnswerParams, reader: bool = False) -> str:
    """Which part of the rule decides (``rag.trace.RULES``): "answered", "missing_terms", "unsupported_terms", …

    >>> refusal_rule(RefusalSignals(0.95, (), None, False), AnswerParams(2, 200, 0.9))
    'answered'
    >>> refusal_rule(RefusalSignals(0.95, ("华为",), None, False), AnswerParams(2, 200, 0.9))
    'missing_terms'
    """
    if params.refuse_missing_terms and signals.missing:
        return "missing_terms"
    if params.refuse_unsupported_terms and signals.unsupported:
        return "unsupported_terms"
    if reader:
        return "reader_support" if support_score(signals, params) < params.reader_refusal_threshold else ANSWERED
    return "evidence" if signals.evidence < params.refusal_threshold else ANSWERED


def refusal_decision(signals: RefusalSignals, params: AnswerParams, reader: bool, scored: bool) -> RefusalDecision:
    """The rule's verdict with its signals and threshold (``scored``: any sentence was retrieved to answer from)."""
    rule = refusal_rule(signals, params, reader) if scored else "no_sentences"
    return RefusalDecision(
        rule=rule, refused=rule != ANSWERED, evidence=signals.evidence, missing=signals.missing,
        unsupported=signals.unsupported,
        null_score=signals.null_score, mismatch=signals.mismatch,
        support=support_score(signals, params) if reader else None,
        threshold=params.reader_refusal_threshold if reader else params.refusal_threshold, reader=reader)


def trim_to_clauses(text: str, start: int, max_chars: int, query_tokens: list[str],
                    keep: tuple[int, int] | None = None, words: Vocabulary | None = None) -> tuple[int, int]:
    """Trim a long sentence to the run of clauses that holds most question words.

    Returns (start, end) offsets (absolute, ``start`` is the sentence's start).
    ``keep`` (absolute offsets): a stretch the result must contain, e.g. the short
    answer; when no run of clauses within ``max_chars`` holds it, the trim is a
    window of ``max_chars`` centred on it. ``words``: the knowledge base's, which cut ``query_tokens``.
    """
    if len(text) <= max_chars:
        return start, start + len(text)
    clauses = [c for c in CLAUSE_SPLIT.split(text) if c]
    bounds = []
    pos = 0
    for clause in clauses:
        bounds.append((pos, pos + len(clause)))
        pos += len(clause)
    inside = (keep[0] - start, keep[1] - start) if keep else None
    query_set = set(query_tokens)
    cut = words.lexical_tokens if words is not None else lexical_tokens
    best: tuple[float, int, int] | None = None if inside else (0.0, 0, min(len(text), max_chars))
    for i in range(len(bounds)):
        for j in range(i, len(bounds)):
            a, b = bounds[i][0], bounds[j][1]
            if b - a > max_chars:
                break
            if inside and not a <= inside[0] <= inside[1] <= b:
                continue
            covered = len(query_set & set(cut(text[a:b])))
            if best is None or covered > best[0]:
                best = (float(covered), a, b)
    if best is None:
        assert inside is not None
        a = max(0, min(len(text) - max_chars, (inside[0] + inside[1] - max_chars) // 2))
        best = (0.0, a, a + max_chars)
    return start + best[1], start + best[2]


def choose_sentences(version: IndexVersion, scored: list[ScoredSentence], query_tokens: list[str],
                     params: AnswerParams) -> list[tuple[Sentence, int, int]]:
    """The answer's sentences as (sentence, start, end), in reading order, within the length limits."""
    best = scored[0]
    chosen = [best.sentence_id]
    if params.max_sentences > 1 and params.strategy == "top2":
        if len(scored) > 1 and best.score - scored[1].score <= params.second_margin:
            chosen.append(scored[1].sentence_id)
    elif params.max_sentences > 1:
        neighbours = {best.sentence_id - 1, best.sentence_id + 1}
        base = version.sentences[best.sentence_id]
        for cand in scored[1:]:
            if best.score - cand.score > params.second_margin:
                break
            sent = version.sentences[cand.sentence_id]
            if cand.sentence_id in neighbours and sent.article == base.article:
                chosen.append(cand.sentence_id)
                break
    chosen.sort()
    spans: list[tuple[Sentence, int, int]] = []
    budget = params.max_chars
    for sid in chosen:
        sent = version.sentences[sid]
        text = sentence_text(version, sent)
        a, b = trim_to_clauses(text, sent.start, budget if params.trim else max(budget, len(text)), query_tokens,
                               words=version.curation.vocabulary)
        if b - a > budget:
            continue
        spans.append((sent, a, b))
        budget -= b - a
    if not spans:  # the best sentence alone, trimmed to the full budget
        sent = version.sentences[best.sentence_id]
        a, b = trim_to_clauses(sentence_text(version, sent), sent.start, params.max_chars, query_tokens,
                               words=version.curation.vocabulary)
        spans.append((sent, a, b))
    return spans


def evidence_for_span(version: IndexVersion, scored: list[ScoredSentence], found: FoundSpan,
                      query_tokens: list[str], params: AnswerParams) -> list[tuple[Sentence, int, int]]:
    """The evidence of a short answer as (sentence, start, end), most relevant first.

    The sentence holding the span comes first, trimmed (if it must be) around
    the span; a second sentence follows only when it adds support: the best
    other sentence, when it scores within ``second_margin`` of the best of all
    (the rule of ``choose_sentences``) and fits the length left.
    """
    sent = version.sentences[found.sentence_id]
    a, b = trim_to_clauses(sentence_text(version, sent), sent.start, params.max_chars, query_tokens,
                           keep=(found.start, found.end), words=version.curation.vocabulary)
    spans = [(sent, a, b)]
    others = [s for s in scored if s.sentence_id != found.sentence_id]
    if params.max_sentences > 1 and others and scored[0].score - others[0].score <= params.second_margin:
        second = version.sentences[others[0].sentence_id]
        budget = params.max_chars - (b - a)
        c, d = trim_to_clauses(sentence_text(version, second), second.start, budget, query_tokens,
                               words=version.curation.vocabulary)
        if 0 < d - c <= budget:
            spans.append((second, c, d))
    return spans


def answer_context(version: IndexVersion, sentence_id: int) -> str:
    """The title of the article and the paragraph that hold a sentence: what ``unsupported_terms`` looks in."""
    sent = version.sentences[sentence_id]
    article = version.articles[sent.article]
    paragraph = article.paragraph(sent.paragraph)
    return f"{article.title}\n{article.text[paragraph.start:paragraph.end]}"


def make_citation(version: IndexVersion, n: int, sentence: Sentence, start: int, end: int) -> Citation:
    """A citation of ``article.text[start:end]`` inside its paragraph."""
    article = version.articles[sentence.article]
    return Citation.of(article, article.paragraph(sentence.paragraph), n, start, end)


def extractive_answer(
    version: IndexVersion, question: str, query: str, hits: list[Hit], query_vector: np.ndarray,
    params: AnswerParams, reader: Reader | None = None, trace: AnswerTrace | None = None,
) -> Answer:
    """Answer from the hits' sentences, or refuse; citations carry exact spans.

    With a ``reader``, the answer leads with a short answer (``Answer.short_answer``)
    and the reader's null score takes part in the refusal; the time it took is
    ``timings_ms["read"]``. ``trace``: where to record the reader's spans and the
    refusal decision (``rag.trace``).
    """
    vocabulary = version.curation.vocabulary  # the knowledge base's words: its synonyms match as the lexical leg's
    query_tokens = vocabulary.lexical_tokens(query)
    scored = score_sentences(version, hits, query_vector, query_tokens, params, question)
    signals = refusal_signals(query, hits, scored, vocabulary=vocabulary)
    found, timings = None, {}
    # A question a missing term refuses is not read.
    if scored and reader is not None and not (params.refuse_missing_terms and signals.missing):
        began = time.perf_counter()
        found = read_short_answer(reader, version, query, chunk_passages(hits, params.reader_chunks), trace)
        timings["read"] = (time.perf_counter() - began) * 1000
        signals = signals.with_span(query, found)
    if scored:
        answer_sentence = found.sentence_id if found is not None else scored[0].sentence_id
        signals = replace(signals, unsupported=unsupported_terms(
            query, answer_context(version, answer_sentence), vocabulary,
            doubt=found is None or found.null_score >= 0))
    decision = refusal_decision(signals, params, reader is not None, bool(scored))
    if trace is not None:
        trace.decided(decision)
    if decision.refused:
        return Answer(question=question, query=query, text=REFUSAL, refused=True, hits=hits, timings_ms=timings)
    if found is None:
        spans = choose_sentences(version, scored, query_tokens, params)
    else:
        spans = evidence_for_span(version, scored, found, query_tokens, params)
    citations = [make_citation(version, n, s, a, b) for n, (s, a, b) in enumerate(spans, start=1)]
    text = "".join(
        f"{version.articles[c.article].text[c.start:c.end]}[{c.n}]" for c in citations
    )
    short = None if found is None else ShortAnswer(found.text, 1, found.start, found.end, found.score)
    return Answer(question=question, query=query, text=text, refused=False, citations=citations, hits=hits,
                  timings_ms=timings, short_answer=short)
