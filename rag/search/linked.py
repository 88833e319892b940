"""Linked questions as extra dense keys: a chunk found by its own vector or by a question linked to it.

A user links a question to a chunk (``rag chunks ARTICLE --link N QUESTION``);
the build embeds it as a question is embedded, so a user's paraphrase of it
scores high against it. The dense leg then ranks each chunk by the best of
its own score and its linked questions' scores, a chunk never twice.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

# Taken off a linked question's score before it meets the chunks' own: a question is closer to
# any question than to a passage (e5 puts question pairs higher), so a link without it pulls its
# chunk up for questions it was not meant for. On CMRC 2018 train (scripts/linked_questions.py,
# hybrid search, 166 linked questions): the asked question right 0.747 -> 0.765 with no margin,
# 0.759 with 0.02; the 204 other questions of the same passages 0.887 -> 0.877 with none, 0.887
# with 0.02 (links embedded as passages: 0.759 and 0.882).
LINKED_MARGIN = 0.02

def with_linked_keys(ids: np.ndarray, scores: np.ndarray, linked_chunks: np.ndarray, linked_scores: np.ndarray,
                     depth: int, allowed: Collection[int] | None = None, margin: float = 0.0,
                     ) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """The dense ranking with each chunk's score raised to its best linked key's, re-sorted, cut to ``depth``.

    ``linked_chunks[i]`` is the chunk of linked key ``i``, ``linked_scores[i]``
    its similarity to the query; ``allowed``: the only chunks that may join
    (a search limited to some articles); ``margin`` is taken off every linked
    key's score first. Returns the ids, scores and, per chunk
    whose score came from a linked key, that key's index.

    >>> ids, scores, via = with_linked_keys(np.array([4, 2]), np.array([0.8, 0.7]),
    ...                                     np.array([2, 9]), np.array([0.95, 0.5]), depth=3)
    >>> ids.tolist(), [round(s, 2) for s in scores.tolist()], via
    ([2, 4, 9], [0.95, 0.8, 0.5], {2: 0, 9: 1})
    """
    best: dict[int, float] = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    via: dict[int, int] = {}
    for key, (chunk, score) in enumerate(zip(linked_chunks.tolist(), linked_scores.tolist(), strict=True)):
        if allowed is not None and chunk not in allowed:
            continue
        score -= margin
        if score > best.get(chunk, -np.inf):
            best[chunk], via[chunk] = score, key
    if not via:
        return ids, scores, via
    # Stable: equal scores keep the dense leg's order.
    order = sorted(best, key=lambda c: -best[c])[:depth]
    kept = set(order)
    return (np.asarray(order, dtype=np.int64), np.asarray([best[c] for c in order], dtype=np.float32),
            {c: k for c, k in via.items() if c in kept})
