"""Text folding and tokenising shared by every stage: jieba with the project's words, scripts, stopwords.

One normalisation order everywhere: NFKC (full-width letters and digits to
half-width), lower case, then traditional Chinese folded to simplified (OpenCC).
The family of normalisers, each a named variant of that order, is all here:

- ``fold_text``: the order itself (what BM25, sentence scores and answer rules match on);
- ``word_core``: folded, letters and digits only (does a span only repeat the question?);
- ``bare_text``: folded, without citation markers, white space and punctuation (is this the refusal?);
- ``scorer_text``: case-folded, without white space and punctuation, *not* script-folded: containment as
  the evaluation reports it, the official CMRC scorer's view of the text (folding it too would move every
  reported containment figure).

``lexical_tokens`` is what BM25, the sentence scores and the answer rules match on.
"""

from __future__ import annotations

import hashlib
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
        tokenizer.add_word(word, freq=USER_WORD_FREQ)
    return tokenizer


@lru_cache(maxsize=1)
def pos_tokenizer() -> Any:
    """jieba's part-of-speech tagger over the shared tokenizer (loaded once)."""
    import jieba.posseg

    module_tagger = jieba.posseg.dt

    class Tagger(jieba.posseg.POSTokenizer):
        def load_word_tag(self, f: Any) -> None:
            # subtle: importing jieba.posseg has already read the same dictionary's 350k tags for a tagger of
            # its own; reading them again took another half second on 2 cores. Copied: ours may grow.
            if self.tokenizer.dictionary == module_tagger.tokenizer.dictionary:
                f.close()
                self.word_tag_tab = dict(module_tagger.word_tag_tab)
            else:
                super().load_word_tag(f)

    return Tagger(jieba_tokenizer())


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


# Domain terms of the demo corpus that jieba splits by default (DECISIONS, issue 3): kept whole, BM25
# matches them as one token. The words are part of the tokenizer's identity (``TOKENIZER_VERSION``).
USER_WORDS = ("大模型", "具身智能", "人工智能", "智能体", "算力", "雁阵梯队", "先进制造业",
              "低空经济", "智能终端", "鸿蒙", "昇腾", "超节点")
# The frequency jieba gives each of them: high enough that it always wins over a split.
USER_WORD_FREQ = 20000


def tokenizer_version(words: tuple[str, ...] = USER_WORDS, freq: int = USER_WORD_FREQ) -> str:
    """The lexical tokenizer's identity: the rules' name and a hash of the user dictionary's content.

    Indexes record it, so changing a word of the dictionary makes the next build re-tokenise
    (nothing to bump by hand). The dictionary the name ``…/1`` was written for keeps that name, so
    indexes built before the hash was part of it are not rebuilt for nothing.

    >>> tokenizer_version()
    'jieba-search+opencc-t2s+nfkc/1'
    >>> tokenizer_version((*USER_WORDS, "数据要素"))[:43]
    'jieba-search+opencc-t2s+nfkc/1-dict-021853b'
    """
    digest = hashlib.sha256(f"{freq}\n{chr(10).join(words)}".encode()).hexdigest()[:12]
    return _TOKENIZER_RULES if digest == _FIRST_DICTIONARY else f"{_TOKENIZER_RULES}-dict-{digest}"


_TOKENIZER_RULES = "jieba-search+opencc-t2s+nfkc/1"
_FIRST_DICTIONARY = "dc13919d1609"  # the words above, as they were when "/1" was named
TOKENIZER_VERSION = tokenizer_version()

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


def bare_text(text: str) -> str:
    """``fold_text`` of the text without citation markers, white space and punctuation: what a text says.

    >>> bare_text("文章中沒有找到相關信息 [1]。") == bare_text("文章中没有找到相关信息")
    True
    """
    folded = fold_text(CITATION_MARKER.sub("", text))
    return "".join(ch for ch in folded if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


# The official CMRC 2018 scorer's punctuation list (its tokens and what it strips; rag.evaluation.cmrc_scorer).
CMRC_PUNCTUATION = (
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！", "“", "”", "；", "’",
    "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～", "『", "』",
)
_SCORER_PUNCTUATION = frozenset(CMRC_PUNCTUATION)


def scorer_text(text: str) -> str:
    """Case-folded text without white space and punctuation (the CMRC scorer's), scripts and widths kept.

    Containment compares these: the evaluation's figures are measured on this rule.

    >>> scorer_text("「战史演武」& 「争霸演武」")
    '战史演武争霸演武'
    """
    return "".join(
        ch for ch in text.casefold()
        if not (ch.isspace() or unicodedata.category(ch).startswith("P") or ch in _SCORER_PUNCTUATION)
    )


_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


def one_line(text: str, limit: int = 400) -> str:
    r"""``text`` with each line break (and the spaces around it) as one space, cut to ``limit`` characters.

    >>> one_line("bad file:\n  line 2 of  the error")
    'bad file: line 2 of  the error'
    """
    flat = _LINE_BREAKS.sub(" ", text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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

    A knowledge base with its own dictionary or synonyms tokenises with its
    ``rag.vocabulary.Vocabulary`` instead (the same rules, its own words).

    >>> lexical_tokens("深圳的人工智能產業？")
    ['深圳', '人工', '智能', '人工智能', '产业']
    """
    return cut_words(fold_text(text), jieba_tokenizer())


def cut_words(folded: str, tokenizer: Any) -> list[str]:
    """jieba's search-mode words of folded text, punctuation and stopwords dropped (``lexical_tokens``' rule)."""
    return [
        token
        for token in tokenizer.cut_for_search(folded, HMM=True)
        if _is_word(token) and token.strip() and token not in STOPWORDS
    ]


