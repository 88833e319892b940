"""Text that is not language: what a broken font map makes of a document, caught before it is indexed.

A PDF whose ToUnicode map is broken gives text such as 「卨敮穨敮⁁䤠…」 (the
bytes of "Shenzhen AI " read two at a time as code points): pypdf extracts it
without complaint, and it was indexed as mojibake, or skipped as "headings but
no paragraphs". Such text is mostly characters no writing uses: CJK ideographs
outside the common sets (GB2312 for simplified Chinese, Big5 for traditional),
private-use and unassigned code points, format characters, U+FFFD.

``language_share`` is the share of the other characters: letters of any
alphabet (Latin, Cyrillic, kana, Hangul, …), common CJK ideographs, digits,
punctuation and symbols. Measured with it: at least 0.966 for each of CMRC 2018
train's 2,403 passages, 0.953 for each of dev's 848, 0.941 for the first 800
train passages in traditional script (OpenCC s2t), 1.0 for the default article;
0.71 for the README's English read as UTF-16 (the broken map above) and 0.58 for
the default article's UTF-8 read so. Below ``MIN_LANGUAGE_SHARE`` a document is
refused with one line that says so.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

MIN_LANGUAGE_SHARE = 0.85
MIN_CHARS = 40  # fewer characters than this say too little either way
SAMPLE_CHARS = 200_000  # a longer text is judged on this many characters taken evenly from all of it
_CJK_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
_NOT_TEXT = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})


def _in_cjk_block(code: int) -> bool:
    return any(low <= code <= high for low, high in _CJK_BLOCKS)


@lru_cache(maxsize=1)
def common_ideographs() -> frozenset[str]:
    """The CJK ideographs of GB2312 (simplified Chinese) and Big5 (traditional): about 20,000 characters."""
    found = set()
    for low, high in _CJK_BLOCKS[:3]:
        for code in range(low, high + 1):
            ch = chr(code)
            for encoding in ("gb2312", "big5"):
                try:
                    ch.encode(encoding)
                except UnicodeEncodeError:
                    continue
                found.add(ch)
                break
    return frozenset(found)


def is_language(ch: str) -> bool:
    """True for a character some writing uses: any alphabet's letter, a common ideograph, digits, punctuation.

    >>> [is_language(c) for c in "深a。Ж한ｶ😀"], [is_language(c) for c in "卨\\ue000\\ufffd\\u200b"]
    ([True, True, True, True, True, True, True], [False, False, False, False])
    """
    code = ord(ch)
    if code < 0x80:
        return ch.isprintable() or ch in "\t\n\r"
    if ch == "\ufffd":
        return False
    if _in_cjk_block(code):
        return ch in common_ideographs()
    return unicodedata.category(ch) not in _NOT_TEXT


def language_share(text: str) -> tuple[float, int]:
    """The share of characters some writing uses among the text's non-space ones, and how many were judged.

    >>> language_share("深圳人工智能核心产业营收约 2200 亿元。")
    (1.0, 20)
    """
    step = max(1, len(text) // SAMPLE_CHARS)
    chars = [ch for ch in text[::step] if not ch.isspace()]
    if not chars:
        return 1.0, 0
    return sum(map(is_language, chars)) / len(chars), len(chars)


def language_problem(text: str) -> str | None:
    """Why ``text`` does not read as language (one line, with a sample of it), or None when it does.

    >>> broken = ("Shenzhen AI industry revenue grows. " * 4).encode("ascii").decode("utf-16-be")
    >>> broken[:6], language_problem(broken)[:24]
    ('卨敮穨敮\u2041䤠', 'only 50% of its characte')
    >>> language_problem("深圳人工智能核心产业营收约 2200 亿元，同比增长百分之三十。" * 3) is None
    True
    """
    share, judged = language_share(text)
    if judged < MIN_CHARS or share >= MIN_LANGUAGE_SHARE:
        return None
    odd = [ch for ch in text if not ch.isspace() and not is_language(ch) and ch.isprintable()][:8]
    sample = f" (e.g. 「{''.join(odd)}」)" if odd else ""
    return (f"only {share:.0%} of its characters are letters, common Chinese characters, digits or punctuation; "
            f"the rest are rare ideographs, private-use or unassigned code points{sample}")
