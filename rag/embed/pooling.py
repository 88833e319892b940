"""Vectors for spans of a passage from the passage's own token states: one encoder pass, many vectors.

A passage is encoded once; each span (a sentence of a chunk) is the mean of the
last-layer states of the tokens that overlap it, L2-normalised, as e5 pools a
whole text. The passage prefix ("passage: ") and the special tokens belong to
no span, but the span's tokens were read with the whole passage around them.
A span the model did not read whole (cut off by its token limit) has no vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# A span of the text a vector is wanted for: (start, end) character offsets into it.
Span = tuple[int, int]


@dataclass(frozen=True)
class PooledPassage:
    """One passage's vector and the vectors of spans of it, from a single encoder pass."""

    vector: np.ndarray  # (dimension,) float32, L2-normalised: what ``Encoder.encode_passages`` gives it
    spans: np.ndarray  # (spans, dimension) float32, each L2-normalised; a zero row where ``whole`` is False
    whole: tuple[bool, ...]  # per span: the model read every token of it


def span_tokens(offsets: Sequence[tuple[int, int]], special: Sequence[int], start: int, end: int) -> list[int]:
    """Indices of the tokens whose characters overlap ``[start, end)``; special tokens never do.

    A token that straddles a boundary (「。“」 ends one sentence and opens the
    next) belongs to both spans.

    >>> offsets = [(0, 0), (0, 2), (2, 4), (4, 6), (6, 7), (0, 0)]  # <s> 深圳 很大 。“ 它 </s>
    >>> span_tokens(offsets, [1, 0, 0, 0, 0, 1], 0, 5), span_tokens(offsets, [1, 0, 0, 0, 0, 1], 5, 7)
    ([1, 2, 3], [3, 4])
    """
    return [i for i, ((a, b), sp) in enumerate(zip(offsets, special, strict=True))
            if not sp and a < end and b > start]


def kept_tokens(token_ids: list[int], max_tokens: int) -> list[int]:
    """The tokens the model reads of a text: all, or its first ``max_tokens - 1`` and the closing special.

    What the tokenizer's own truncation gives: the text cut to fit between
    ``<s>`` and a kept ``</s>``.

    >>> kept_tokens([0, 5, 6, 7, 2], 4), kept_tokens([0, 5, 2], 4)
    ([0, 5, 6, 2], [0, 5, 2])
    """
    if len(token_ids) <= max_tokens:
        return token_ids
    return token_ids[: max_tokens - 1] + token_ids[-1:]


def read_whole(indices: list[int], total: int, max_tokens: int) -> bool:
    """True when a span's token ``indices`` (of a text of ``total`` tokens) all lie inside what the model reads.

    >>> read_whole([3, 4], 10, 8), read_whole([6, 7], 10, 8), read_whole([], 10, 8)
    (True, False, False)
    """
    if not indices:
        return False  # nothing of it reaches the model (a span of characters the normaliser deletes)
    return total <= max_tokens or indices[-1] < max_tokens - 1


def pool_passage(states: np.ndarray, offsets: Sequence[tuple[int, int]], special: Sequence[int],
                 spans: Sequence[Span], max_tokens: int) -> PooledPassage:
    """The passage vector and each span's vector from the token ``states`` the model gave for the kept tokens.

    ``offsets`` and ``special`` describe every token of the (prefixed) text
    before truncation; ``spans`` are offsets into that same text.
    """
    total = len(offsets)
    dimension = states.shape[1]
    vector = normalise_rows(states.mean(axis=0)[None, :])[0]
    out = np.zeros((len(spans), dimension), dtype=np.float32)
    whole: list[bool] = []
    for row, (start, end) in enumerate(spans):
        indices = span_tokens(offsets, special, start, end)
        ok = read_whole(indices, total, max_tokens)
        whole.append(ok)
        if ok:
            out[row] = states[indices].mean(axis=0)
    return PooledPassage(vector=vector, spans=normalise_rows(out), whole=tuple(whole))


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (a zero row stays zero), as float32.

    >>> normalise_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
