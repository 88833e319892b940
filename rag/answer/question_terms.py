"""What a question names and asks, and whether a text holds it: the refusal rule's term checks.

A question's specific terms (names, places, Latin words, numbers), the noun whose
quantity it asks, and whether the retrieved chunks (``missing_terms``) or the
paragraph an answer comes from (``unsupported_terms``) hold them; and whether a
short answer has the kind the question asks for (``kind_mismatch``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag.records import Hit
from rag.search.sentences import _ASKS
from rag.text import fold_text, pos_tokenizer, word_core

if TYPE_CHECKING:
    from rag.vocabulary import Vocabulary


# jieba part-of-speech tags of words that name something specific: places,
# people, organisations, other proper nouns, Latin-script words.
_SPECIFIC_TAGS = frozenset({"ns", "nr", "nrt", "nrfg", "nt", "nz", "eng"})
_DIGITS = re.compile(r"\d{2,}")


def specific_terms(question: str) -> list[str]:
    """Names, places, organisations, Latin words and numbers in a question (folded, lower case).

    >>> specific_terms("2019年北京的AI企业有多少家？")
    ['2019', '北京', 'ai']
    """
    folded = fold_text(question)
    terms = []
    for word, tag in pos_tokenizer().cut(folded):
        word = word.strip()
        if len(word) >= 2 and (tag in _SPECIFIC_TAGS or _DIGITS.search(word)):
            terms.append(word)
    return list(dict.fromkeys(terms))


def missing_terms(question: str, hits: list[Hit], vocabulary: Vocabulary | None = None) -> list[str]:
    """The question's specific terms that appear in none of the retrieved chunks.

    A question about another city, year or company than the articles cover
    shares its topic words with them, so similarity alone would answer it.
    ``vocabulary``: the knowledge base's words, whose synonyms count as the term (「Pangu」 is in 「盘古」's text).
    """
    text = fold_text(" ".join(h.chunk.text for h in hits))
    if vocabulary is None or vocabulary.empty:
        return [t for t in specific_terms(question) if not term_in(t, text)]
    text = vocabulary.canonical(text)
    return [t for t in specific_terms(question) if not term_in(vocabulary.canonical(t), text)]


# What a name may carry that a text leaves out (「深圳市」 in a question, 「深圳」 in the article).
_NAME_SUFFIXES = ("公司", "集团", "市", "省", "县", "区", "镇", "乡")


def term_in(term: str, text: str) -> bool:
    """Whether ``term`` (folded) is in ``text`` (folded), or the name is without its suffix (市, 省, 公司, …).

    >>> term_in("深圳市", "深圳的企业"), term_in("华为公司", "华为盘古"), term_in("广州", "广东")
    (True, True, False)
    """
    if term in text:
        return True
    for suffix in _NAME_SUFFIXES:
        if term.endswith(suffix) and len(term) - len(suffix) >= 2:
            return term[: -len(suffix)] in text
    return False


# Words between a quantity asked and the noun it asks about that say nothing (「人口是多少」, 「面积约为多少」).
_QUANTITY_FILLERS = frozenset({"是", "有", "为", "约", "大约", "大概", "共", "一共", "总共", "共有", "达", "达到",
                               "约为", "的", "总计", "合计", "拥有", "有着"})
_NAME_TAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz"})


def asked_quantity(question: str) -> str | None:
    """The noun whose quantity a question asks (「深圳的人口是多少」: 人口), or None.

    The first 多少/几 of the question: the common noun right after it (measure
    words skipped), else the one right before it (filler words such as 是, 有, 约
    skipped). Names are ``specific_terms``'s, not this.

    >>> asked_quantity("腾讯混元T1模型有多少参数？"), asked_quantity("深圳的人口是多少？")
    ('参数', '人口')
    >>> asked_quantity("他有几个孩子？"), asked_quantity("荣耀累计投入多少用于AI研发？"), asked_quantity("他是谁？")
    ('孩子', None, None)
    """
    words = [(w, t) for w, t in pos_tokenizer().cut(fold_text(question)) if w.strip()]

    def common_noun(i: int) -> bool:
        word, tag = words[i]
        return len(word) >= 2 and tag.startswith(("n", "vn", "j")) and tag not in _NAME_TAGS

    for i, (word, _) in enumerate(words):
        if not word.startswith(("多少", "几")):
            continue
        j = i + 1
        while j < len(words) and words[j][1] in ("q", "m", "mq") and len(words[j][0]) <= 2:
            j += 1
        if j < len(words) and common_noun(j):
            return words[j][0]
        k = i - 1
        while k >= 0 and words[k][0] in _QUANTITY_FILLERS:
            k -= 1
        return words[k][0] if k >= 0 and common_noun(k) else None
    return None


def unsupported_terms(question: str, context: str, vocabulary: Vocabulary | None = None,
                      doubt: bool = True) -> tuple[str, ...]:
    """The question's names and numbers, and the quantity it asks (``asked_quantity``), that ``context`` lacks.

    ``context``: the paragraph the answer comes from, with its article's title.
    A term found elsewhere in the retrieved chunks does not make an answer from
    a paragraph about something else: after 「荣耀累计投入多少用于AI研发？」,
    「华为累计投入多少用于AI研发？」 finds 华为 two paragraphs away, and 荣耀's
    figure must not answer it. The quantity asked counts when any two
    characters of it are there (「占地面积」 is found as 「面积」), and only when
    the reader doubts its span (``doubt``: its null score is not below 0):
    passages often name the quantity otherwise (孩子 as 子女, 金额 by its sum), and on
    CMRC 2018 train passages the reader never saw, the three answers this check
    refused wrongly had null scores of −10.6, −6.8 and +2.4.

    >>> unsupported_terms("华为累计投入多少用于AI研发？", "荣耀已累计投入超 100 亿元用于 AI 研发")
    ('华为',)
    >>> unsupported_terms("高雄炼油厂占地面积多少？", "高雄炼油厂面积262公顷")
    ()
    """
    text = fold_text(context)
    canon = vocabulary.canonical if vocabulary is not None and not vocabulary.empty else None
    if canon is not None:
        text = canon(text)
    lacking = [t for t in specific_terms(question) if not term_in(canon(t) if canon else t, text)]
    asked = asked_quantity(question) if doubt else None
    if asked and asked not in lacking and not any(asked[i:i + 2] in text for i in range(len(asked) - 1)):
        lacking.append(asked)
    return tuple(lacking)


def kind_mismatch(question: str, span: str) -> bool:
    """True when the span only repeats the question, or lacks the date or number the question asks for.

    The date or number must lie in the span's own part, what is left once the
    question's specific terms (``specific_terms``) are taken out: 「混元 T1」
    does not say how many parameters 混元 T1 has. The kinds are those that give
    a sentence its type bonus (``rag.search.sentences``), but places: a country
    or a town is seldom written with 省/市/国 (on CMRC train a place span lacked
    the pattern as often for answerable questions as for unanswerable ones).

    >>> kind_mismatch("营收约多少？", "约 2200 亿元"), kind_mismatch("营收约多少？", "人工智能")
    (False, True)
    >>> kind_mismatch("腾讯混元T1模型有多少参数？", "“混元 T1”"), kind_mismatch("他是哪国人？", "比利时")
    (True, False)
    """
    asked, answer = fold_text(question), fold_text(span)
    core = word_core(span)
    if not core or (len(core) > 1 and core in word_core(question)):
        return True
    own = answer
    for term in sorted(specific_terms(question), key=len, reverse=True):
        own = own.replace(term, " ")
    wanted = [holds for asks, holds in _ASKS[:2] if asks.search(asked)]  # dates and numbers
    return bool(wanted) and not any(holds.search(own) for holds in wanted)
