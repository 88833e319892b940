"""EM and F1 exactly as the official CMRC 2018 scorer (``cmrc2018_evaluate.py``) computes them.

The official algorithm, per question, best over the gold answers:

- text is lower-cased and stripped;
- *mixed segmentation*: each Chinese character (U+4E00–U+9FA5) and each character
  of its punctuation list is a token; runs of other characters (Latin words,
  digits, spaces, ASCII punctuation) are split into words by ``nltk.word_tokenize``;
- for F1 the punctuation list is removed first, and F1 is taken over the *longest
  common substring* of the two token lists (not a bag of tokens as in SQuAD);
- EM compares the two strings with the punctuation list removed (spaces kept).

nltk is not a dependency: ``word_tokenize`` below reproduces nltk's word
tokenizer (its regular expressions, ported) with a small stand-in for its
Punkt sentence splitter that handles ordinary words and numbers.
"""

from __future__ import annotations

import re

# The scorer's list, verbatim (kept in rag.text beside the normalisers). Subtle: it holds "……" (two
# characters), which never equals a single character, so a lone "…" is *not* removed by the official scorer.
from rag.text import CMRC_PUNCTUATION

_PUNCT_SET = frozenset(CMRC_PUNCTUATION)
_CHINESE = re.compile(r"[\u4e00-\u9fa5]")

# nltk's NLTKWordTokenizer (nltk 3.x), rule for rule, in its order.
_STARTING_QUOTES = [
    (re.compile(r"([«“‘„]|[`]+)"), r" \1 "),
    (re.compile(r'^"'), r"``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r"([ \(\[{<])(\"|\'{2})"), r"\1 `` "),
    (re.compile(r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 "),
]
_PUNCTUATION = [
    (re.compile(r"([^\.])(\.)([\]\)}>\"'»”’ ]*)\s*$"), r"\1 \2 \3 "),
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.{2,}"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r"[\u2012-\u2015]"), r" \g<0> "),
    (re.compile(r"([^\.])(\.)([\]\)}>\"']*)\s*$"), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"[*]"), r" \g<0> "),
]
_PARENS_BRACKETS = (re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> ")
_DOUBLE_DASHES = (re.compile(r"--"), r" -- ")
_ENDING_QUOTES = [
    (re.compile(r"([»”’])"), r" \1 "),
    (re.compile(r"''"), " '' "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
]
_CONTRACTIONS = [re.compile(p) for p in (
    r"(?i)\b(can)(?#X)(not)\b", r"(?i)\b(d)(?#X)('ye)\b", r"(?i)\b(gim)(?#X)(me)\b", r"(?i)\b(gon)(?#X)(na)\b",
    r"(?i)\b(got)(?#X)(ta)\b", r"(?i)\b(lem)(?#X)(me)\b", r"(?i)\b(more)(?#X)('n)\b", r"(?i)\b(wan)(?#X)(na)(?=\s)",
    r"(?i) ('t)(?#X)(is)\b", r"(?i) ('t)(?#X)(was)\b",
)]
# Punkt does not end a sentence after these (a few of its English abbreviations).
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "inc", "ltd", "co",
                            "corp", "no", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
                            "oct", "nov", "dec"})
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_PUNKT_NON_WORD = re.compile(r"[)\";}\]*:@'({\[!?]")


def _sentences(text: str) -> list[str]:
    """Punkt's sentence split for plain text: after . ? ! and whitespace, except after abbreviations.

    A period after a number, a single letter or a word with inner periods
    (``u.s.``) does not end a sentence, as in Punkt's English model.
    """
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        before = text[start : m.start()].rsplit(None, 1)[-1]
        # Punkt's own tokens end at brackets and quotes and never start with one.
        word = _PUNKT_NON_WORD.split(before)[-1].lstrip("\"`([{:;&#*@)}]-,").rstrip(".")
        not_an_end = not word or len(word) == 1 or "." in word or word.lower() in _ABBREVIATIONS \
            or word.replace(",", "").isdigit()
        if before.endswith(".") and not before.endswith("..") and not_an_end:
            continue
        out.append(text[start : m.start()])
        start = m.end()
    out.append(text[start:])
    return [s for s in out if s.strip()]


def _tokenize_sentence(text: str) -> list[str]:
    for regexp, sub in _STARTING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp, sub in _PUNCTUATION:
        text = regexp.sub(sub, text)
    text = _PARENS_BRACKETS[0].sub(_PARENS_BRACKETS[1], text)
    text = _DOUBLE_DASHES[0].sub(_DOUBLE_DASHES[1], text)
    text = " " + text + " "
    for regexp, sub in _ENDING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp in _CONTRACTIONS:
        text = regexp.sub(r" \1 \2 ", text)
    return text.split()


def word_tokenize(text: str) -> list[str]:
    """Words of a non-Chinese run, as ``nltk.word_tokenize`` splits them.

    >>> word_tokenize("iphone 6s plus, 3.5 inch.")
    ['iphone', '6s', 'plus', ',', '3.5', 'inch', '.']
    >>> word_tokenize("(2,000)")
    ['(', '2,000', ')']
    """
    return [token for sentence in _sentences(text) for token in _tokenize_sentence(sentence)]


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """The official tokens: Chinese characters and listed punctuation one by one, other runs as words.

    >>> mixed_segmentation("iPhone 6s于2015年发布。", remove_punctuation=True)
    ['iphone', '6s', '于', '2015', '年', '发', '布']
    """
    text = text.lower().strip()
    tokens: list[str] = []
    run = ""
    for ch in text:
        # Subtle: a removed mark does not end the run, so "a-b" becomes the one word "ab".
        if remove_punctuation and ch in _PUNCT_SET:
            continue
        if _CHINESE.match(ch) or ch in _PUNCT_SET:
            if run:
                tokens.extend(word_tokenize(run))
                run = ""
            tokens.append(ch)
        else:
            run += ch
    if run:
        tokens.extend(word_tokenize(run))
    return tokens


def remove_punctuation(text: str) -> str:
    """Lower-case, strip, then drop the listed punctuation (spaces stay), as the official EM does.

    >>> remove_punctuation(" 《三体》：第2部 ")
    '三体第2部'
    """
    return "".join(ch for ch in text.lower().strip() if ch not in _PUNCT_SET)


def longest_common_substring(a: list[str], b: list[str]) -> int:
    """Length of the longest run of tokens found in both lists, in order and contiguous.

    >>> longest_common_substring(list("abcde"), list("xbcdy"))
    3
    """
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def exact_match(prediction: str, answers: list[str] | tuple[str, ...]) -> float:
    """1.0 when the prediction equals a gold answer after ``remove_punctuation``, else 0.0.

    >>> exact_match("《三体》", ["三体", "刘慈欣"])
    1.0
    """
    pred = remove_punctuation(prediction)
    return 1.0 if any(remove_punctuation(a) == pred for a in answers) else 0.0


def f1_score(prediction: str, answers: list[str] | tuple[str, ...]) -> float:
    """The official F1: longest common token substring, best over the gold answers (0.0 without any).

    >>> round(f1_score("2015年9月", ["2015年"]), 4)  # tokens 2015 年 9 月 vs 2015 年
    0.6667
    """
    pred = mixed_segmentation(prediction, remove_punctuation=True)
    best = 0.0
    for answer in answers:
        gold = mixed_segmentation(answer, remove_punctuation=True)
        common = longest_common_substring(gold, pred)
        if common == 0:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best
