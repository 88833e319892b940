"""Matching a question to FAQ questions: dense similarity plus a lexical check, one score, one threshold.

Both sides are questions, so both are embedded as queries (the encoder's
``query: `` prefix for e5, as the searcher embeds a question). The lexical check
is the Dice overlap of the two questions' character bigrams, punctuation and
spaces left out; it keeps two questions that share a template but ask about
different things ("……的父亲是谁" / "……的母亲是谁") from matching on the dense
score alone. The combined score ``faq_score`` is a weighted mean of the two, and
one threshold (settings ``faq_threshold`` and ``faq_lexical_weight``, calibrated
by scripts/calibrate_faq.py on CMRC 2018 train pairs) decides.

The FAQ's vectors are a small matrix of their own, searched here by one
product: it does not depend on the article store (FAISS or Milvus).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag.records import FaqEntry


def bigrams(text: str) -> frozenset[str]:
    """The character bigrams of ``text`` without punctuation, symbols and spaces (case folded).

    >>> sorted(bigrams("深圳 在哪？"))
    ['在哪', '圳在', '深圳']
    >>> sorted(bigrams("是"))
    ['是']
    """
    kept = "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold()
                   if unicodedata.category(ch)[0] in "LN")
    if len(kept) < 2:
        return frozenset([kept]) if kept else frozenset()
    return frozenset(kept[i : i + 2] for i in range(len(kept) - 1))


def lexical_similarity(a: str, b: str) -> float:
    """Dice overlap of the two texts' bigrams, 0 to 1.

    >>> round(lexical_similarity("深圳在哪里？", "深圳在哪儿"), 2)
    0.75
    """
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))


def faq_score(dense: float, lexical: float, lexical_weight: float) -> float:
    """The one score the FAQ threshold is compared with: ``(dense + w·lexical) / (1 + w)``.

    >>> faq_score(0.9, 0.5, 1.0)
    0.7
    """
    return (dense + lexical_weight * lexical) / (1 + lexical_weight)


@dataclass(frozen=True)
class FaqMatch:
    """The FAQ entry most like a question, its scores, and whether it passes the threshold."""

    entry: FaqEntry | None  # None: the FAQ is empty
    dense: float
    lexical: float
    score: float
    threshold: float
    matched: bool


class FaqMatcher:
    """The FAQ's questions and their vectors (L2-normalised, one row per entry)."""

    def __init__(self, entries: Sequence[FaqEntry], vectors: np.ndarray, threshold: float, lexical_weight: float):
        """``vectors[i]`` is the query embedding of ``entries[i].question``."""
        if len(entries) != len(vectors):
            raise ValueError(f"{len(entries)} FAQ entries but {len(vectors)} vectors")
        self.entries = tuple(entries)
        self.vectors = np.asarray(vectors, dtype=np.float32).reshape(len(entries), -1)
        self.threshold = threshold
        self.lexical_weight = lexical_weight

    def best(self, question: str, query_vector: np.ndarray) -> FaqMatch:
        """The entry with the highest combined score for ``question`` (embedded as ``query_vector``)."""
        if not self.entries:
            return FaqMatch(None, 0.0, 0.0, 0.0, self.threshold, False)
        dense = self.vectors @ np.asarray(query_vector, dtype=np.float32)
        lexical = np.array([lexical_similarity(question, e.question) for e in self.entries], dtype=np.float32)
        scores = (dense + self.lexical_weight * lexical) / (1 + self.lexical_weight)
        i = int(np.argmax(scores))
        score = float(scores[i])
        return FaqMatch(self.entries[i], float(dense[i]), float(lexical[i]), score, self.threshold,
                        score >= self.threshold)
