"""The reader's pure parts: script folding that keeps offsets, windows of tokens, match features, span search.

Training (``training/``) and inference (``rag.answer.reader``) both call these, so
the head sees the same tokens, windows and features in both. Only numpy is
imported; the tokenizer is passed in (a ``tokenizers.Tokenizer``).

A passage window is ``<s> passage: TEXT </s>`` over at most ``max_tokens``
tokens; a question is ``<s> query: QUESTION </s>``, encoded separately, so a
passage's features serve every question asked of it. Position 0 (``<s>``)
of a window is the "no answer here" slot of the start and end pointers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rag.text import fold_script, word_core

BOS_ID, EOS_ID, PAD_ID = 0, 2, 1
PASSAGE_PREFIX = "passage:"
QUERY_PREFIX = "query:"
MATCH_FEATURES = 2


@dataclass(frozen=True)
class Window:
    """One encoder input over a passage: token ids and, per id, its character span in the passage.

    ``offsets[i]`` is ``(start, end)`` into the passage text for a text token and
    ``(-1, -1)`` for ``<s>``, the prefix and ``</s>``.
    """

    ids: np.ndarray       # int64 [T]
    offsets: np.ndarray   # int32 [T, 2]


def fold_keeping_offsets(text: str) -> str:
    """Traditional Chinese folded to simplified, one character for one, so offsets stay valid.

    OpenCC's phrase tables may change a phrase's length; then each character is
    folded alone (a character whose folding is not one character is kept).

    >>> fold_keeping_offsets("臺灣產業約兩千億")
    '台湾产业约两千亿'
    """
    folded = fold_script(text)
    if len(folded) == len(text):
        return folded
    return "".join(_fold_char(c) for c in text)


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    folded = fold_script(char)
    return folded if len(folded) == 1 else char


def prefix_ids(tokenizer: Any, prefix: str) -> list[int]:
    """The token ids of a prompt prefix such as ``passage:`` (without ``<s>``)."""
    return list(tokenizer.encode(prefix, add_special_tokens=False).ids)


def passage_windows(tokenizer: Any, text: str, max_tokens: int = 512, stride: int = 384,
                    fold: bool = True) -> list[Window]:
    """Cut a passage into windows of at most ``max_tokens`` tokens, each starting ``stride`` text tokens on.

    The text is folded to simplified script first (unless ``fold`` is false, kept
    for measuring what folding buys); offsets index the text as given.
    """
    encoding = tokenizer.encode(fold_keeping_offsets(text) if fold else text, add_special_tokens=False)
    ids = np.asarray(encoding.ids, dtype=np.int64)
    offsets = np.asarray(encoding.offsets, dtype=np.int32).reshape(-1, 2)
    head = prefix_ids(tokenizer, PASSAGE_PREFIX)
    room = max_tokens - 2 - len(head)
    windows = []
    start = 0
    while True:
        stop = min(len(ids), start + room)
        window_ids = np.concatenate([[BOS_ID], head, ids[start:stop], [EOS_ID]]).astype(np.int64)
        window_offsets = np.full((len(window_ids), 2), -1, dtype=np.int32)
        window_offsets[1 + len(head):-1] = offsets[start:stop]
        windows.append(Window(window_ids, window_offsets))
        if stop >= len(ids):
            return windows
        start += stride


def question_ids(tokenizer: Any, question: str, max_tokens: int = 64, fold: bool = True) -> np.ndarray:
    """``<s> query: QUESTION </s>``, folded to simplified script, the question cut to fit ``max_tokens``."""
    body = tokenizer.encode(fold_keeping_offsets(question) if fold else question, add_special_tokens=False).ids
    head = prefix_ids(tokenizer, QUERY_PREFIX)
    body = body[: max_tokens - 2 - len(head)]
    return np.asarray([BOS_ID, *head, *body, EOS_ID], dtype=np.int64)


def match_features(passage_ids: np.ndarray, passage_offsets: np.ndarray, passage_text: str,
                   question_ids: np.ndarray, question_text: str) -> np.ndarray:
    """Per passage token: [its id occurs in the question, share of its characters found in the question].

    Special tokens and the bare ``▁`` piece score 0. The characters are compared
    after folding, so either script matches the other.

    >>> from types import SimpleNamespace
    >>> ids = np.array([0, 5, 7, 2]); offs = np.array([[-1, -1], [0, 2], [2, 3], [-1, -1]])
    >>> match_features(ids, offs, "深圳营", np.array([0, 5, 2]), "深圳").tolist()
    [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]
    """
    special = {BOS_ID, EOS_ID, PAD_ID, 6}  # 6 is the bare "▁" piece
    asked = set(question_ids.tolist()) - special
    chars = set(fold_keeping_offsets(question_text)) - {" ", "？", "?", "，", "。"}
    text = fold_keeping_offsets(passage_text)
    out = np.zeros((len(passage_ids), MATCH_FEATURES), dtype=np.float32)
    for i, (token, (start, end)) in enumerate(zip(passage_ids.tolist(), passage_offsets.tolist(), strict=True)):
        if start < 0 or token in special:
            continue
        out[i, 0] = float(token in asked)
        piece = text[start:end].strip()
        if piece:
            out[i, 1] = sum(c in chars for c in piece) / len(piece)
    return out


def length_prior(max_span: int, weights: list[float] | None) -> np.ndarray:
    """Additive score per span length 1..max_span (index 0 is length 1); zeros without weights."""
    prior = np.zeros(max_span, dtype=np.float32)
    if weights:
        prior[: len(weights)] = np.asarray(weights[:max_span], dtype=np.float32)
    return prior


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, offsets: np.ndarray,
               prior: np.ndarray, top_k: int = 1) -> list[tuple[int, int, float]]:
    """The ``top_k`` token spans ``(first, last, score)`` over text tokens, at most ``len(prior)`` long.

    A span's score is ``start[first] + end[last] + prior[last - first]``; only
    tokens with a character span (``offsets[:, 0] >= 0``) may begin or end one.

    >>> offs = np.array([[-1, -1], [0, 1], [1, 2], [2, 3], [-1, -1]])
    >>> best_spans(np.array([9., 0, 3, 0, 0]), np.array([9., 0, 0, 2, 0]), offs, np.zeros(2))
    [(2, 3, 5.0)]
    """
    valid = offsets[:, 0] >= 0
    neg = np.float32(-1e9)
    starts = np.where(valid, start_logits, neg)
    ends = np.where(valid, end_logits, neg)
    n, width = len(starts), len(prior)
    # scores[i, k] = start[i] + end[i + k] + prior[k]: a band, not the n x n square
    padded = np.concatenate([ends, np.full(width, neg, dtype=ends.dtype)])
    band = np.lib.stride_tricks.sliding_window_view(padded, width)[:n]
    scores = starts[:, None] + band + prior[None, :]
    flat = np.argsort(scores, axis=None)[::-1][:top_k]
    spans = []
    for index in flat:
        first, k = divmod(int(index), width)
        if scores[first, k] <= neg / 2:
            break
        spans.append((first, first + k, float(scores[first, k])))
    return spans


ECHO_TOP_K = 5  # spans looked at past one that only repeats the question
CHOICE_MARKERS = ("还是", "還是")


def is_echo(span: str, question: str) -> bool:
    """Whether a span only repeats words of the question (whitespace, punctuation, case and script aside).

    Such a span answers nothing (「混元 T1」 for 「腾讯混元T1模型有多少参数？」),
    except in a choice question (「…是A还是B？」), whose answer is one of its words.

    >>> is_echo("混元 T1", "腾讯混元T1模型有多少参数？"), is_echo("约 2200 亿元", "营收约多少？")
    (True, False)
    >>> is_echo("男的", "他是男的还是女的？"), is_echo("  ", "问")
    (False, False)
    """
    if any(marker in question for marker in CHOICE_MARKERS):
        return False
    said = word_core(span)
    return bool(said) and said in word_core(question)


EDGE_MARKS = frozenset("，。；：、！？,.;:!?")  # never the first or last character of an answer


def char_span(offsets: np.ndarray, first: int, last: int, text: str) -> tuple[int, int]:
    """Character ``(start, end)`` in ``text`` of tokens ``first..last``, white space and separators at the ends trimmed.

    >>> offs = np.array([[0, 2], [2, 6], [6, 7]])
    >>> text = "，约 50亿。"
    >>> start, end = char_span(offs, 0, 2, text); text[start:end]
    '约 50亿'
    """
    start, end = int(offsets[first, 0]), int(offsets[last, 1])
    while start < end and (text[start].isspace() or text[start] in EDGE_MARKS):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in EDGE_MARKS):
        end -= 1
    return start, end
