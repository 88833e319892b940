"""Scoring: per question (``score_question``) and over a run (``summarize``); pure functions.

Retrieval is scored at chunk level: a retrieved chunk is a hit when it holds a
gold answer span (offsets, for SQuAD sets) or the gold text / gold article and
paragraph (for JSONL and CSV sets). Answers are scored by the official CMRC 2018
EM and F1 (``cmrc_scorer``) of the short answer (the whole answer when there is
none: what predictions.json holds), by the same scores of the whole answer (the
evidence sentences: ``em_sentences``/``f1_sentences``), and by containment: the
gold text inside the whole answer once whitespace and punctuation are removed.
All rates are fractions from 0 to 1; a rate with nothing to count is None (JSON
null), never a made-up 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The answer-matching helpers live in answer_match; these names stay importable from here.
from rag.evaluation.answer_match import MAX_ANSWER_CHARS as MAX_ANSWER_CHARS
from rag.evaluation.answer_match import PASS_F1 as PASS_F1
from rag.evaluation.answer_match import answer_prediction as answer_prediction
from rag.evaluation.answer_match import contains_answer as contains_answer
from rag.evaluation.answer_match import normalize_text as normalize_text
from rag.evaluation.answer_match import passes as passes
from rag.evaluation.answer_match import short_prediction as short_prediction
from rag.evaluation.cmrc_scorer import exact_match, f1_score
from rag.evaluation.questions import LOCATED_MISSING, LOCATED_NEAREST, LOCATED_NORMALIZED, Question
from rag.records import Answer, Chunk, Hit

STANDARD_K = (1, 3, 5, 10)
MRR_DEPTH = 10


# -- retrieval ----------------------------------------------------------------------------------


def chunk_holds_gold(chunk: Chunk, question: Question) -> bool:
    """True when the chunk holds the question's gold: an answer span, else the answer text or gold paragraph.

    With offsets: ``chunk.start <= start`` and ``end <= chunk.end`` in the gold passage,
    for any of the gold answers.
    """
    if question.unanswerable:
        return False
    if question.article is not None and chunk.article != question.article:
        return False
    if question.paragraph is not None and question.paragraph not in chunk.paragraphs:
        return False
    if any(a.located is not None for a in question.answers):
        return any(a.span is not None and chunk.start <= a.span[0] and a.span[1] <= chunk.end
                   for a in question.answers)
    if question.answers:
        text = normalize_text(chunk.text)
        return any((needle := normalize_text(a.text)) and needle in text for a in question.answers)
    return question.article is not None


def is_retrieval_graded(question: Question) -> bool:
    """True when retrieval can be scored: an answerable question with gold answers or a gold article."""
    return not question.unanswerable and bool(question.answers or question.article)


def first_hit_rank(chunks: list[Chunk], question: Question) -> int | None:
    """Rank (from 1) of the first chunk holding the gold, or None."""
    for rank, chunk in enumerate(chunks, start=1):
        if chunk_holds_gold(chunk, question):
            return rank
    return None


def hit_rate(ranks: list[int | None], k: int) -> float | None:
    """Fraction of questions with a hit within the top ``k``.

    >>> hit_rate([1, 3, None, 6], 3)
    0.5
    """
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mean_reciprocal_rank(ranks: list[int | None], k: int = MRR_DEPTH) -> float | None:
    """Mean of 1/rank over questions, counting 0 for no hit within the top ``k``.

    >>> mean_reciprocal_rank([1, 2, None, 20], 10)
    0.375
    """
    if not ranks:
        return None
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


# -- refusals and distributions -------------------------------------------------------------------


def refusal_precision_recall(refused: list[bool], unanswerable: list[bool]) -> tuple[float | None, float | None]:
    """Precision (refusals that were right) and recall (unanswerable questions refused).

    >>> refusal_precision_recall([True, True, False, False], [True, False, True, False])
    (0.5, 0.5)
    """
    right = sum(1 for r, u in zip(refused, unanswerable, strict=True) if r and u)
    n_refused, n_unanswerable = sum(refused), sum(unanswerable)
    return (right / n_refused if n_refused else None, right / n_unanswerable if n_unanswerable else None)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100), interpolating linearly between ranks as numpy does.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([10.0, 20.0], 95)
    (2.5, 19.5)
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- one question ----------------------------------------------------------------------------------


JUDGED_BY = ("unanswerable", "rejected_answer", "short_answer", "containment", "retrieval", "none")
VERDICTS = ("answered unanswerable", "false refusal", "repeats the rejected answer", "wrong short answer", "miss",
            "no hit", "ok")

@dataclass(frozen=True)
class RetrievedChunk:
    """Where a retrieved chunk stands: enough to check a hit by hand, without its text."""

    rank: int
    article: str
    start: int
    end: int
    holds_gold: bool


@dataclass(frozen=True)
class QuestionResult:
    """One question scored: retrieval, answer metrics, refusal and timings."""

    id: str
    question: str
    gold_answers: tuple[str, ...]
    gold_article: str | None
    unanswerable: bool
    retrieval_graded: bool
    first_hit_rank: int | None
    retrieved: tuple[RetrievedChunk, ...]
    prediction: str  # the whole answer without citation marks ("" for a refusal)
    refused: bool
    em: float | None  # official EM of ``official_prediction`` (the short answer, else the whole answer)
    f1: float | None
    contained: bool | None
    too_long: bool
    answer_chars: int
    search_ms: float
    total_ms: float
    answers_relocated: int = 0
    answers_unlocatable: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)  # every stage the answer timed (encode, dense, …)
    short_answer: str | None = None
    em_sentences: float | None = None  # official EM and F1 of the whole answer (the evidence sentences)
    f1_sentences: float | None = None
    rejected_answer: str | None = None  # a 👎 row's rejected answer text (rag.kb.feedback)
    rejected_refusal: bool = False  # a 👎 row rejected a refusal
    rejected_short: str | None = None  # the rejected answer's short answer, when it had one

    @property
    def official_prediction(self) -> str:
        """What predictions.json holds for this question: the short answer, else the whole answer."""
        return self.prediction if self.short_answer is None else self.short_answer

    @property
    def refusal_graded(self) -> bool:
        """Whether a refusal of this question can be judged: it is answerable and its gold is not unknown.

        A 👎 on an answer (not on a refusal) with no gold says only that answer was wrong:
        a refusal may be the right reply, so it is neither a false refusal nor a pass by itself.
        """
        return not self.unanswerable and not (self.rejected_answer is not None and not self.gold_answers)

    @property
    def false_refusal(self) -> bool:
        """An answerable question that got the refusal (a rejected refusal repeated included)."""
        return self.refused and self.refusal_graded

    @property
    def repeats_rejected(self) -> bool:
        """The answer is the one a 👎 rejected: the refusal again, or the same short answer, else the same text.

        Where both have a short answer it is what was rejected and what is judged (issue 26):
        the same evidence with another short answer is another answer.
        """
        if self.rejected_refusal:
            return self.refused
        if self.rejected_answer is None or self.refused:
            return False
        if self.rejected_short is not None and self.short_answer is not None:
            return "".join(self.short_answer.split()) == "".join(self.rejected_short.split())
        return "".join(self.prediction.split()) == "".join(self.rejected_answer.split())

    @property
    def judged_by(self) -> str:
        """What decides the question's pass/fail (``failed``): one of ``JUDGED_BY``.

        "unanswerable": passes when refused; "rejected_answer": a 👎 on an answer with no gold
        known, passes unless the same answer comes again; "short_answer": official EM, or F1
        ≥ PASS_F1, of the short answer (a refusal fails); "containment": without a short answer
        (the reader off, a generative answer), the whole answer holds a gold answer;
        "retrieval": a question with a gold article only, a hit; "none": nothing to judge.
        """
        if self.unanswerable:
            return "unanswerable"
        if self.em is None:
            if self.rejected_answer is not None:
                return "rejected_answer"
            return "retrieval" if self.retrieval_graded else "none"
        return "short_answer" if self.short_answer is not None or self.refused else "containment"

    @property
    def failed(self) -> bool:
        """The one pass/fail rule of a question, shared by the tables, the summary counts and report.json.

        Fails: an unanswerable question answered, a false refusal, the answer a 👎 rejected given
        again, a short answer that does not pass (``passes``; issue 26: before, the whole answer's
        containment judged it), a whole answer without a short answer that misses the gold, or
        (graded by retrieval only) no hit.
        """
        if self.unanswerable:
            return not self.refused
        if self.false_refusal or self.repeats_rejected:
            return True
        if self.short_answer is not None and self.em is not None and self.f1 is not None:
            return not passes(self.em, self.f1)
        if self.contained is not None:
            return not self.contained
        return self.retrieval_graded and self.first_hit_rank is None

    @property
    def verdict(self) -> str:
        """Why the question passed or failed, in words: one of ``VERDICTS``."""
        if self.unanswerable:
            return "answered unanswerable" if not self.refused else "ok"
        if self.false_refusal:
            return "false refusal"
        if self.repeats_rejected:
            return "repeats the rejected answer"
        if not self.failed:
            return "ok"
        return {"short_answer": "wrong short answer", "containment": "miss"}.get(self.judged_by, "no hit")


def score_question(question: Question, retrieved: list[Hit], answer: Answer,
                   max_chars: int = MAX_ANSWER_CHARS) -> QuestionResult:
    """Score one question from its ranked hits (to the full depth) and the answer given."""
    prediction = answer_prediction(answer)
    short = short_prediction(answer)
    official = prediction if short is None else short
    graded = is_retrieval_graded(question)
    holds = [chunk_holds_gold(h.chunk, question) for h in retrieved]
    rank = next((i for i, held in enumerate(holds, start=1) if held), None) if graded else None
    texts = question.answer_texts
    scored = bool(texts) and not question.unanswerable
    too_long = len(prediction) > max_chars
    return QuestionResult(
        id=question.id, question=question.question, gold_answers=texts, gold_article=question.article,
        unanswerable=question.unanswerable, retrieval_graded=graded, first_hit_rank=rank,
        retrieved=tuple(RetrievedChunk(h.rank, h.chunk.article, h.chunk.start, h.chunk.end, held)
                        for h, held in zip(retrieved, holds, strict=True)),
        prediction=prediction, refused=answer.refused,
        em=exact_match(official, texts) if scored else None,
        f1=f1_score(official, texts) if scored else None,
        contained=contains_answer(prediction, texts, max_chars) if scored else None,
        too_long=too_long, answer_chars=len(prediction),
        search_ms=answer.timings_ms.get("search", math.nan), total_ms=answer.timings_ms.get("total", math.nan),
        answers_relocated=sum(1 for a in question.answers if a.located in (LOCATED_NEAREST, LOCATED_NORMALIZED)),
        answers_unlocatable=sum(1 for a in question.answers if a.located == LOCATED_MISSING),
        timings_ms=dict(answer.timings_ms), short_answer=short,
        em_sentences=exact_match(prediction, texts) if scored else None,
        f1_sentences=f1_score(prediction, texts) if scored else None,
        rejected_answer=question.rejected_answer, rejected_refusal=question.rejected_refusal,
        rejected_short=question.rejected_short,
    )


# -- a run -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """How many questions each rate is taken over, and the events counted."""

    questions: int
    answerable: int
    unanswerable: int
    retrieval_graded: int
    answer_graded: int
    answered: int
    refused: int
    false_refusals: int
    too_long: int
    answers_relocated: int  # gold offset did not reproduce its text: matched at the nearest occurrence
    answers_unlocatable: int  # gold text not in its passage even ignoring punctuation: cannot be a hit
    short_answers: int = 0  # answers that led with a short answer
    failed: int = 0  # questions that fail the pass rule (QuestionResult.failed)


@dataclass(frozen=True)
class Summary:
    """Aggregate metrics of a run (fractions 0–1, times in ms, lengths in characters).

    Answer lengths are of the answer text without citation marks, over the questions answered;
    short-answer lengths over the short answers given. ``em``/``f1`` score the short
    answers (the whole answer where there is none), ``em_sentences``/``f1_sentences``
    the whole answers.
    """

    depth: int
    hit_at: dict[int, float | None]
    hit_curve: tuple[float, ...]  # hit@1 … hit@depth
    mrr_at_10: float | None
    em: float | None
    f1: float | None
    containment: float | None
    false_refusals: float | None
    refusal_precision: float | None
    refusal_recall: float | None
    search_ms_p50: float | None
    search_ms_p95: float | None
    total_ms_p50: float | None
    total_ms_p95: float | None
    answer_chars_median: float | None
    answer_chars_p95: float | None
    counts: Counts
    em_sentences: float | None = None
    f1_sentences: float | None = None
    short_answer_chars_median: float | None = None
    short_answer_chars_p95: float | None = None
    read_ms_p50: float | None = None  # the reader's share of the answer time (questions it read)
    read_ms_p95: float | None = None
    pass_rate: float | None = None  # share of the questions that pass (QuestionResult.failed is False)


def summarize(results: list[QuestionResult], depth: int = 10) -> Summary:
    """Aggregate per-question results; hit@k for k in 1, 3, 5, 10 (up to ``depth``) and ``depth`` itself."""
    ranks = [r.first_hit_rank for r in results if r.retrieval_graded]
    graded = [r for r in results if r.em is not None]
    answerable = [r for r in results if not r.unanswerable]
    answered = [r for r in results if not r.refused]
    ks = sorted({k for k in STANDARD_K if k <= depth} | {depth})
    precision, recall = refusal_precision_recall([r.refused for r in results], [r.unanswerable for r in results])
    search = [r.search_ms for r in results if not math.isnan(r.search_ms)]
    total = [r.total_ms for r in results if not math.isnan(r.total_ms)]
    lengths = [float(r.answer_chars) for r in answered]
    shorts = [float(len(r.short_answer)) for r in results if r.short_answer is not None]
    reads = [r.timings_ms["read"] for r in results if "read" in r.timings_ms]
    return Summary(
        depth=depth,
        hit_at={k: hit_rate(ranks, k) for k in ks},
        hit_curve=tuple(hit_rate(ranks, k) or 0.0 for k in range(1, depth + 1)) if ranks else (),
        mrr_at_10=mean_reciprocal_rank(ranks, MRR_DEPTH) if depth >= MRR_DEPTH else None,
        em=_mean([r.em for r in graded]),
        f1=_mean([r.f1 for r in graded]),
        containment=_mean([1.0 if r.contained else 0.0 for r in graded]),
        false_refusals=_mean([1.0 if r.false_refusal else 0.0 for r in results if r.refusal_graded]),
        refusal_precision=precision,
        refusal_recall=recall,
        search_ms_p50=percentile(search, 50), search_ms_p95=percentile(search, 95),
        total_ms_p50=percentile(total, 50), total_ms_p95=percentile(total, 95),
        answer_chars_median=percentile(lengths, 50), answer_chars_p95=percentile(lengths, 95),
        counts=Counts(
            questions=len(results), answerable=len(answerable), unanswerable=len(results) - len(answerable),
            retrieval_graded=len(ranks), answer_graded=len(graded), answered=len(answered),
            refused=len(results) - len(answered), false_refusals=sum(1 for r in results if r.false_refusal),
            too_long=sum(1 for r in results if r.too_long),
            answers_relocated=sum(r.answers_relocated for r in results),
            answers_unlocatable=sum(r.answers_unlocatable for r in results),
            short_answers=len(shorts), failed=sum(1 for r in results if r.failed),
        ),
        em_sentences=_mean([r.em_sentences for r in graded]),
        f1_sentences=_mean([r.f1_sentences for r in graded]),
        short_answer_chars_median=percentile(shorts, 50), short_answer_chars_p95=percentile(shorts, 95),
        read_ms_p50=percentile(reads, 50), read_ms_p95=percentile(reads, 95),
        pass_rate=_mean([0.0 if r.failed else 1.0 for r in results]),
    )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
