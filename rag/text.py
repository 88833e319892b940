"""Text folding and tokenising shared by every stage: jieba with the project's words, scripts, stopwords.

One normalisation order everywhere: NFKC (full-width letters and digits to
half-width), lower case, then traditional Chinese folded to simplified (OpenCC).
``lexical_tokens`` is what BM25, the sentence scores and the answer rules match on.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

# What ends a sentence, the one set for every stage: terminators (full- and
# half-width), then the closing quotes and brackets that may follow them. A
# paragraph or a PDF line ending in any of these (or a colon) ends a sentence;
# any other ending (a CJK character, a letter, a digit) means it was broken
# mid-sentence.
SENTENCE_TERMINATORS = "。！？!?；;…."
CLOSING_MARKS = "”’\"'」』）)】》〉"
SENTENCE_END = frozenset(SENTENCE_TERMINATORS + CLOSING_MARKS + ":：")
# An answer's citation marker: [n].
CITATION_MARKER = re.compile(r"\[(\d+)\]")



@lru_cache(maxsize=1)
def jieba_tokenizer() -> Any:
    """The shared jieba tokenizer with the project's user dictionary (loaded once), its cache this user's own."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = str(jieba_cache_dir())
    # Domain terms jieba splits by default; keeping them whole helps BM25 matching.
    for word in USER_WORDS:
        tokenizer.add_word(word, freq=20000)
    return tokenizer


def jieba_cache_dir() -> Path:
    """The folder of jieba's dictionary cache: this user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``).

    jieba's own default is one file for everyone, ``/tmp/jieba.cache``: a second user of the machine could
    neither read the first one's file nor replace it, and every command printed a PermissionError traceback.
    A user without a writable home gets a private folder of its own in the temporary folder (made afresh by
    each process: the cache is then rebuilt, about a second).
    """
    home = os.environ.get("XDG_CACHE_HOME") or str(Path("~").expanduser() / ".cache")
    folder = Path(home) / "rag-zh" / "jieba"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if folder.is_dir() and folder.stat().st_uid == os.getuid() and os.access(folder, os.W_OK):
            return folder
    except (OSError, RuntimeError):  # no home, a read-only one, ~ not expandable
        pass
    return Path(tempfile.mkdtemp(prefix="rag-zh-jieba-"))


USER_WORDS = ("大模型", "具身智能", "人工智能", "智能体", "算力", "雁阵梯队", "先进制造业",
              "低空经济", "智能终端", "鸿蒙", "昇腾", "超节点")



TOKENIZER_VERSION = "jieba-search+opencc-t2s+nfkc/1"

# Function words and question words: they match everywhere and decide nothing.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 也 都 就 而 之 其 这 那 这个 那个 这些 那些 一个 为 以 于 被 把 对
    从 到 向 由 有 没有 中 上 下 里 吗 呢 吧 啊 么 什么 哪 哪个 哪些 哪里 哪儿 多少 几 谁 怎么 怎样
    如何 为什么 何 何时 何地 是否 请问 请 告诉 我 你 他 她 它 我们 你们 他们 它们 啥 多 个 年 月 日
    the a an of to in on and or is are was were be what which who when where how why does do did
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def fold_script(text: str) -> str:
    """Fold traditional Chinese to simplified so either script matches the other.

    >>> fold_script("臺灣產業")
    '台湾产业'
    """
    return str(_converter().convert(text))


def fold_text(text: str) -> str:
    """The one normalisation order: NFKC (full-width to half-width), lower case, then simplified script.

    >>> fold_text("臺灣ＡＩ產業")
    '台湾ai产业'
    """
    return fold_script(unicodedata.normalize("NFKC", text).lower())


_NOT_WORD = re.compile(r"[\W_]+")


def word_core(text: str) -> str:
    """``fold_text`` of the text with everything but letters and digits removed: what two wordings share.

    >>> word_core("“混元 Ｔ1”！")
    '混元t1'
    """
    return _NOT_WORD.sub("", fold_text(text))


def strip_citation_markers(text: str) -> str:
    """The text without its ``[n]`` citation markers.

    >>> strip_citation_markers("约 2200 亿元[1]。")
    '约 2200 亿元。'
    """
    return CITATION_MARKER.sub("", text).strip()


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25 matching; the same function serves questions and chunks.

    >>> lexical_tokens("深圳的人工智能產業？")
    ['深圳', '人工', '智能', '人工智能', '产业']
    """
    folded = fold_text(text)
    return [
        token
        for token in jieba_tokenizer().cut_for_search(folded, HMM=True)
        if _is_word(token) and token.strip() and token not in STOPWORDS
    ]


