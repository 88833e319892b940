"""Extractive answers: the sentences of the retrieved chunks that answer, each cited.

Sentence vectors were computed at index time, so answering encodes only the
question. Each candidate sentence is scored by its similarity to the question,
the question words it contains and the rank of the chunk it came from; the best
one (and, when it helps, its neighbour) is the answer. Too weak evidence gives
the refusal 「文章中没有找到相关信息」 instead of a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rag.records import Answer, Citation, Hit, Sentence
from rag.search.sentences import SENTENCE_WEIGHTS, ScoredSentence, score_sentences, sentence_text
from rag.settings import Settings
from rag.store.versions import IndexVersion
from rag.text import fold_text, jieba_tokenizer, lexical_tokens

REFUSAL = "文章中没有找到相关信息。"
CLAUSE_SPLIT = re.compile(r"(?<=[，,；;：:])")


@dataclass(frozen=True)
class AnswerParams:
    """Weights of the sentence score, the answer's shape and the refusal rule.

    The values that are settings (sentences, length, refusal threshold) have no
    default here: ``from_settings`` takes them from ``Settings``; the score
    weights default to ``SENTENCE_WEIGHTS``. The rest was chosen on the CMRC
    tuning half with scripts/tune_answers.py --grid (see BENCHMARKS.md).
    """

    max_sentences: int
    max_chars: int
    refusal_threshold: float  # below it the answer is the refusal (calibrated: scripts/calibrate_refusal.py)
    w_dense: float = SENTENCE_WEIGHTS.w_dense
    w_lexical: float = SENTENCE_WEIGHTS.w_lexical
    w_rank: float = 0.15  # bonus 0.15/rank of the best chunk holding the sentence (after the sentence re-rank)
    w_type: float = SENTENCE_WEIGHTS.w_type
    strategy: str = "top2"  # "top2": the two best sentences; "neighbour": the best and an adjacent one
    second_margin: float = 0.15  # a second sentence only when it scores within this of the best
    trim: bool = True  # trim long sentences to the clauses that answer
    refuse_missing_terms: bool = True  # refuse when a name, place or number of the question is nowhere retrieved

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerParams:
        """The answer parameters ``rag ask`` uses."""
        return cls(max_sentences=settings.answer_sentences, max_chars=settings.answer_max_chars,
                   refusal_threshold=settings.refusal_threshold)


def evidence_score(hits: list[Hit], scored: list[ScoredSentence]) -> float:
    """How strongly the retrieved text supports an answer: the best similarity plus word overlap."""
    if not hits or not scored:
        return 0.0
    top_dense = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
    best = scored[0]
    return max(top_dense, best.dense) + 0.1 * best.lexical


# jieba part-of-speech tags of words that name something specific: places,
# people, organisations, other proper nouns, Latin-script words.
_SPECIFIC_TAGS = frozenset({"ns", "nr", "nrt", "nrfg", "nt", "nz", "eng"})
_DIGITS = re.compile(r"\d{2,}")


@lru_cache(maxsize=1)
def _pos_tokenizer() -> Any:
    import jieba.posseg

    return jieba.posseg.POSTokenizer(jieba_tokenizer())


def specific_terms(question: str) -> list[str]:
    """Names, places, organisations, Latin words and numbers in a question (folded, lower case).

    >>> specific_terms("2019年北京的AI企业有多少家？")
    ['2019', '北京', 'ai']
    """
    folded = fold_text(question)
    terms = []
    for word, tag in _pos_tokenizer().cut(folded):
        word = word.strip()
        if len(word) >= 2 and (tag in _SPECIFIC_TAGS or _DIGITS.search(word)):
            terms.append(word)
    return list(dict.fromkeys(terms))


def missing_terms(question: str, hits: list[Hit]) -> list[str]:
    """The question's specific terms that appear in none of the retrieved chunks.

    A question about another city, year or company than the articles cover
    shares its topic words with them, so similarity alone would answer it.
    """
    text = fold_text(" ".join(h.chunk.text for h in hits))
    return [t for t in specific_terms(question) if t not in text]


def is_refusal(question: str, hits: list[Hit], scored: list[ScoredSentence], params: AnswerParams) -> bool:
    """True when the evidence is too weak to answer from."""
    if params.refuse_missing_terms and missing_terms(question, hits):
        return True
    return evidence_score(hits, scored) < params.refusal_threshold


def trim_to_clauses(text: str, start: int, max_chars: int, query_tokens: list[str]) -> tuple[int, int]:
    """Trim a long sentence to the run of clauses that holds most question words.

    Returns (start, end) offsets (absolute, ``start`` is the sentence's start).
    """
    if len(text) <= max_chars:
        return start, start + len(text)
    clauses = [c for c in CLAUSE_SPLIT.split(text) if c]
    bounds = []
    pos = 0
    for clause in clauses:
        bounds.append((pos, pos + len(clause)))
        pos += len(clause)
    query_set = set(query_tokens)
    best = (0.0, 0, min(len(text), max_chars))
    for i in range(len(bounds)):
        for j in range(i, len(bounds)):
            a, b = bounds[i][0], bounds[j][1]
            if b - a > max_chars:
                break
            covered = len(query_set & set(lexical_tokens(text[a:b])))
            if covered > best[0]:
                best = (float(covered), a, b)
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
        a, b = trim_to_clauses(text, sent.start, budget if params.trim else max(budget, len(text)), query_tokens)
        if b - a > budget:
            continue
        spans.append((sent, a, b))
        budget -= b - a
    if not spans:  # the best sentence alone, trimmed to the full budget
        sent = version.sentences[best.sentence_id]
        a, b = trim_to_clauses(sentence_text(version, sent), sent.start, params.max_chars, query_tokens)
        spans.append((sent, a, b))
    return spans


def make_citation(version: IndexVersion, n: int, sentence: Sentence, start: int, end: int) -> Citation:
    """A citation of ``article.text[start:end]`` inside its paragraph."""
    article = version.articles[sentence.article]
    paragraph = article.paragraph(sentence.paragraph)
    return Citation(
        n=n, article=article.path, title=article.title, section=paragraph.section,
        paragraph=paragraph.number, page=paragraph.page,
        paragraph_text=article.text[paragraph.start : paragraph.end], paragraph_start=paragraph.start,
        start=start, end=end,
    )


def extractive_answer(
    version: IndexVersion, question: str, query: str, hits: list[Hit], query_vector: np.ndarray,
    params: AnswerParams,
) -> Answer:
    """Answer from the hits' sentences, or refuse; citations carry exact spans."""
    query_tokens = lexical_tokens(query)
    scored = score_sentences(version, hits, query_vector, query_tokens, params, question)
    if is_refusal(query, hits, scored, params):
        return Answer(question=question, query=query, text=REFUSAL, refused=True, hits=hits)
    spans = choose_sentences(version, scored, query_tokens, params)
    citations = [make_citation(version, n, s, a, b) for n, (s, a, b) in enumerate(spans, start=1)]
    text = "".join(
        f"{version.articles[c.article].text[c.start:c.end]}[{c.n}]" for c in citations
    )
    return Answer(question=question, query=query, text=text, refused=False, citations=citations, hits=hits)
