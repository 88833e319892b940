"""Scoring the sentences of retrieved chunks against a question.

Shared by retrieval (chunks are re-ranked by their best sentence) and by the
extractive answerer (which picks the best sentences). Sentence vectors were
stored at index time, so this costs one small matrix product per question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from rag.records import Hit, Sentence
from rag.store.versions import IndexVersion
from rag.text import lexical_tokens


class SentenceWeights(Protocol):
    """The weights of a sentence's score (``AnswerParams`` and ``SENTENCE_WEIGHTS`` have them)."""

    @property
    def w_dense(self) -> float: ...
    @property
    def w_lexical(self) -> float: ...
    @property
    def w_rank(self) -> float: ...
    @property
    def w_type(self) -> float: ...


@dataclass(frozen=True)
class Weights:
    """The weights of a sentence's score: the one place their tuned values live.

    Chosen on the CMRC tuning half with scripts/tune_answers.py --grid (see
    BENCHMARKS.md). Re-ranking chunks uses them as they are; answers add a rank
    bonus (``AnswerParams.w_rank``).
    """

    w_dense: float = 1.0
    w_lexical: float = 0.2
    w_rank: float = 0.0
    w_type: float = 0.05  # bonus when the sentence holds what the question asks for (a number, a date, …)


SENTENCE_WEIGHTS = Weights()

# What a question asks for, and what a sentence must hold to answer it.
_ASKS = (
    (re.compile(r"何时|什么时候|哪一年|哪年|哪天|何年|几月|几号|哪个月|日期|年代|世纪|when", re.I),
     re.compile(r"\d{2,4}\s*年|\d+\s*月|\d+\s*日|世纪|年代|[一二三四五六七八九〇零十]+年|朝|时期")),
    (re.compile(r"多少|几|多大|多高|多长|多重|多远|多久|多深|比例|百分|数量|人口|面积|how many|how much", re.I),
     re.compile(r"\d|[一二两三四五六七八九十百千万亿]")),
    (re.compile(r"哪里|哪儿|何地|何处|什么地方|哪个国家|哪个城市|哪个省|在哪|位于|where", re.I),
     re.compile(r"[省市县区州国岛山河湖海洋镇村]|位于")),
)


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence and its score."""

    sentence_id: int
    score: float
    dense: float
    lexical: float
    hit_rank: int


def score_sentences(
    version: IndexVersion, hits: list[Hit], query_vector: np.ndarray, query_tokens: list[str],
    params: SentenceWeights, question: str = "",
) -> list[ScoredSentence]:
    """Score every sentence of the retrieved chunks, best first."""
    best_rank: dict[int, int] = {}
    for hit in hits:
        for sid in hit.chunk.sentence_ids:
            best_rank.setdefault(sid, hit.rank)
    if not best_rank:
        return []
    ids = np.fromiter(best_rank.keys(), dtype=np.int64)
    wanted = [holds for asks, holds in _ASKS if asks.search(question)]
    dense = np.asarray(version.sentence_vectors[ids], dtype=np.float32) @ query_vector.astype(np.float32)
    query_set = set(query_tokens)
    vocabulary = version.curation.vocabulary  # the words the query tokens were cut with
    tokens_of = sentence_tokens if vocabulary.empty else (lambda t: frozenset(vocabulary.lexical_tokens(t)))
    scored = []
    for sid, d in zip(ids.tolist(), dense.tolist(), strict=True):
        text = sentence_text(version, version.sentences[sid])
        overlap = 0.0
        if query_set:
            overlap = len(query_set & tokens_of(text)) / len(query_set)
        rank = best_rank[sid]
        typed = 1.0 if wanted and any(h.search(text) for h in wanted) else 0.0
        score = params.w_dense * d + params.w_lexical * overlap + params.w_rank / rank + params.w_type * typed
        scored.append(ScoredSentence(sid, score, d, overlap, rank))
    scored.sort(key=lambda s: -s.score)
    return scored


@lru_cache(maxsize=65536)
def sentence_tokens(text: str) -> frozenset[str]:
    """The lexical tokens of a sentence, cached: the same sentences come back question after question."""
    return frozenset(lexical_tokens(text))


def sentence_text(version: IndexVersion, sentence: Sentence) -> str:
    """The text of a sentence."""
    return version.articles[sentence.article].text[sentence.start : sentence.end]
