"""A follow-up written out in full: what it points back to, what it replaces, what it adds a subject to.

Pure functions over jieba's parts of speech (on the folded text: simplified script,
half-width, lower case), each replacement made in the question as the user wrote it
(their script, their spacing). ``rag.answer.followup`` chooses which one applies:

- ``resolve_pointer``: 「它的AI生态战略叫什么？」 after 「荣耀累计投入了多少资金用于AI研发？」 reads
  「荣耀的AI生态战略叫什么？」;
- ``substitute``: 「那华为呢？」 after the same question reads 「华为累计投入了多少资金用于AI研发？」;
- ``add_subject``: 「有多少研发人员？」 reads 「荣耀有多少研发人员？」.

The subject of a question (``subject``) is its leading noun phrase up to its head noun
(``HEAD_NOUNS``: 公司, 产业, 模型, 系统…), or its first name when it has no head noun:
荣耀, 华为盘古大模型, 2025年深圳人工智能核心产业, 比亚迪的AI视觉检测系统. An English
question's subject is its first capitalised name (``english_subject``): Honor, BYD.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text import fold_text, pos_tokenizer

# jieba's tags of names: people, organisations, other proper nouns, Latin words; places apart.
NAME_TAGS = frozenset({"nr", "nrt", "nrfg", "nt", "nz", "eng"})
PLACE_TAGS = frozenset({"ns"})
GENERIC_LATIN = frozenset({"ai"})  # Latin words that name no one (「AI研发」)
# Nouns that end a subject: what the words before them qualify (「华为盘古大模型」, 「比亚迪工厂」).
# Without them 「比亚迪的AI视觉检测系统电池缺陷识别」 would be the subject of a follow-up about
# 「这套系统」: questions/followups.jsonl has 74 of its 94 rows written as they stand for without
# this list, 93 with it.
HEAD_NOUNS = ("公司", "企业", "集团", "银行", "实验室", "研究院", "学院", "大学", "医院", "产业", "行业", "模型",
              "系统", "平台", "基金", "园区", "基地", "工厂", "中心", "联盟", "城市", "政府", "部门", "芯片",
              "处理器", "服务器", "终端", "产品", "集群", "节点")
COMPANY_WORDS = ("公司", "企业", "集团", "厂商", "品牌", "机构")  # 该公司: the company the last question names
# An organisation named by its kind (「微众银行」): what 该公司 points to when no name says it (one row).
ORGANISATION_ENDINGS = ("公司", "集团", "银行", "实验室", "研究院", "学院", "大学", "医院", "科技")
# Words that point back: bare pronouns stand for the subject; a demonstrative may come with a noun.
PRONOUNS = frozenset({"它", "它们", "他们", "她们", "其", "其中"})
DEMONSTRATIVES = frozenset({"这", "这个", "那个", "这些", "那些", "该", "此", "上述", "这家", "那家", "这项", "这套",
                            "这种", "那种", "这位", "这一", "这款"})
PLURAL = frozenset({"这些", "那些"})
MEASURE_WORDS = frozenset({"个", "家", "套", "项", "种", "位", "款", "些", "一", "条"})
QUESTION_WORDS = ("多少", "什么", "哪", "几", "谁", "是否", "如何", "怎么", "怎样", "为什么", "为何", "何时")
# Attributes asked about: 「准确率呢？」 asks the same subject's 准确率, it does not replace the subject.
ATTRIBUTE_ENDINGS = ("率", "量", "额", "数", "规模", "营收", "收入", "效率", "比例", "占比", "人数", "价格", "成本")
# jieba's HMM runs Viterbi over each run of words it does not know: 1.3 s for 1,800 such characters on
# this machine. What a rewrite needs (the subject, the word that points back) stands near the start.
MAX_TAGGED_CHARS = 200
_TIME = re.compile(r"\d{2,4}")
_TIME_UNITS = ("年", "月", "日")
_PUNCT = re.compile(r"^[\W_]+$")


@dataclass(frozen=True)
class Word:
    """A jieba word of a question: its folded text and tag, and where it stands in the text as written."""

    folded: str
    tag: str
    start: int
    end: int


@lru_cache(maxsize=256)  # a rewrite reads the previous question several times; a chain, each question twice
def words(text: str) -> tuple[Word, ...]:
    """The question's words with their tags, its first ``MAX_TAGGED_CHARS`` characters only.

    ``start``/``end`` index the text as written (white space is left out).

    >>> [(w.folded, w.tag) for w in words("那華為呢？")]
    [('那', 'r'), ('华为', 'nr'), ('呢', 'y'), ('?', 'x')]
    """
    text = text[:MAX_TAGGED_CHARS]
    folded = fold_text(text)
    if len(folded) == len(text):
        origin = list(range(len(text)))
    else:  # a character that folds to several (NFKC): map each folded character back to its source
        pieces = [fold_text(ch) for ch in text]
        folded = "".join(pieces)
        origin = [i for i, piece in enumerate(pieces) for _ in piece]
    out, pos = [], 0
    for word, tag in pos_tokenizer().cut(folded):
        start, pos = pos, pos + len(word)
        if word.strip():
            out.append(Word(word, tag, origin[start], origin[pos - 1] + 1))
    return tuple(out)


def _is_name(w: Word) -> bool:
    return w.tag in NAME_TAGS and w.folded not in GENERIC_LATIN and not _TIME.fullmatch(w.folded)


def _is_place(w: Word) -> bool:
    return w.tag in PLACE_TAGS


def _is_head(w: Word) -> bool:
    return (w.tag.startswith("n") or w.tag == "x") and w.folded.endswith(HEAD_NOUNS)


def _is_noun(w: Word) -> bool:
    return w.tag.startswith("n") or w.tag in ("vn", "eng", "j") or (w.tag == "x" and not _PUNCT.match(w.folded))


def _in_phrase(w: Word, before: Word | None) -> bool:
    """Whether a word continues a subject's noun phrase (numbers and years, 的 between nouns included)."""
    if _is_noun(w) or w.tag in ("a", "b", "t") or _TIME.fullmatch(w.folded):
        return True
    if w.folded in _TIME_UNITS and before is not None and _TIME.fullmatch(before.folded):
        return True
    # a lone verb character is what jieba leaves of a noun it split (「风/控/模型」), a 的 links two nouns
    return (w.tag == "v" and len(w.folded) == 1 and before is not None) or (w.tag == "uj" and before is not None)


def _phrase(ws: Sequence[Word]) -> list[Word]:
    """The leading noun phrase of a question (its first words while they can be part of one)."""
    out: list[Word] = []
    for w in ws:
        if not _in_phrase(w, out[-1] if out else None):
            break
        out.append(w)
    while out and (out[-1].tag == "uj" or out[-1].tag == "v"):  # only between nouns
        out.pop()
    return out


def subject(text: str) -> str | None:
    """The question's subject as written: its leading noun phrase up to its head noun, else its first name.

    >>> subject("华为盘古大模型已服务多少个国民经济重点行业？"), subject("荣耀累计投入了多少资金用于AI研发？")
    ('华为盘古大模型', '荣耀')
    >>> subject("2025年深圳人工智能核心产业营收约多少？"), subject("比亚迪的AI视觉检测系统电池缺陷识别准确率是多少？")
    ('2025年深圳人工智能核心产业', '比亚迪的AI视觉检测系统')
    >>> subject("为什么？") is None
    True
    """
    span = _subject_span(words(text))
    return None if span is None else text[span[0] : span[1]]


def _subject_span(ws: Sequence[Word]) -> tuple[int, int] | None:
    phrase = _phrase(ws)
    heads = [i for i, w in enumerate(phrase) if _is_head(w)]
    if heads:
        return phrase[0].start, phrase[heads[-1]].end
    first = next((i for i, w in enumerate(phrase) if _is_name(w) or _is_place(w)), None)
    if first is None:
        return (phrase[0].start, phrase[-1].end) if phrase and any(_is_noun(w) for w in phrase) else None
    same = _is_place if _is_place(phrase[first]) else _is_name
    last = first
    while last + 1 < len(phrase) and same(phrase[last + 1]):
        last += 1
    return phrase[0].start, phrase[last].end


def _name_run(ws: Sequence[Word]) -> tuple[int, int] | None:
    """Where the first name stands with the names right after it (「华为盘古」 of 「华为盘古大模型」)."""
    first = next((i for i, w in enumerate(ws) if _is_name(w)), None)
    if first is None:
        first = next((i for i, w in enumerate(ws) if _is_place(w)), None)
    if first is None:
        return None
    last = first
    while last + 1 < len(ws) and (_is_name(ws[last + 1]) or _is_place(ws[last + 1])):
        last += 1
    return ws[first].start, ws[last].end


def _organisation(ws: Sequence[Word]) -> tuple[int, int] | None:
    """Where the organisation a question names stands: its subject's words up to 银行/公司…, else its first name.

    >>> q = "微众银行AI风控模型将信贷审批效率提升了多少？"
    >>> q[slice(*_organisation(words(q)))]
    '微众银行'
    """
    phrase = _phrase(ws)
    kind = next((n for n, w in enumerate(phrase) if w.folded.endswith(ORGANISATION_ENDINGS)), None)
    if kind is not None:
        return phrase[0].start, phrase[kind].end
    return _name_run([w for w in ws if not _is_place(w)])


def _time_span(ws: Sequence[Word]) -> tuple[int, int] | None:
    """Where the first year (「2025年」, 「2025年10月」) stands."""
    for i, w in enumerate(ws):
        if _TIME.fullmatch(w.folded) and i + 1 < len(ws) and ws[i + 1].folded in _TIME_UNITS:
            end = i + 1
            while end + 2 < len(ws) and _TIME.fullmatch(ws[end + 1].folded) and ws[end + 2].folded in _TIME_UNITS:
                end += 2
            return w.start, ws[end].end
    return None


def _stem_end(ws: Sequence[Word]) -> int:
    """Where the question's first question word starts (its length when it has none)."""
    return next((w.start for w in ws if w.folded.startswith(QUESTION_WORDS)), ws[-1].end if ws else 0)


def resolve_pointer(question: str, previous: str) -> str | None:
    """The question with its first word that points back replaced by what it points to; None when none does.

    >>> resolve_pointer("它的AI生态战略叫什么？", "荣耀累计投入了多少资金用于AI研发？")
    '荣耀的AI生态战略叫什么？'
    >>> resolve_pointer("这套系统用在哪里？", "比亚迪的AI视觉检测系统电池缺陷识别准确率是多少？")
    '比亚迪的AI视觉检测系统用在哪里？'
    >>> resolve_pointer("该公司的工厂在哪里？", "比亚迪的AI视觉检测系统电池缺陷识别准确率是多少？")
    '比亚迪的工厂在哪里？'
    """
    own = any_subject(previous)
    if own is None:
        return None
    ws = words(question)
    before = () if previous.isascii() else words(previous)  # an English question: its name only
    for i, w in enumerate(ws):
        if w.folded in PRONOUNS:
            if w.folded == "其中":
                return question[: w.start] + own + "中" + question[w.end :]
            linked = w.folded == "其" and not (i + 1 < len(ws) and ws[i + 1].tag == "uj")
            return question[: w.start] + own + ("的" if linked else "") + question[w.end :]
        if w.folded in DEMONSTRATIVES:
            return _demonstrative(question, ws, i, previous, before, own)
    return None


def _demonstrative(question: str, ws: Sequence[Word], i: int, previous: str, before: Sequence[Word], own: str) -> str:
    """「这套系统」, 「该公司」, 「这个战略」 at ``ws[i]``: each reads as the noun the previous question means."""
    j = i + 1 + (i + 1 < len(ws) and ws[i + 1].folded in MEASURE_WORDS)
    if j >= len(ws) or not _is_noun(ws[j]):
        return question[: ws[i].start] + own + question[ws[i].end :]
    noun, start, end = ws[j], ws[i].start, ws[j].end
    company = _organisation(before)
    if noun.folded.endswith(COMPANY_WORDS) and ws[i].folded not in PLURAL and company is not None:
        return question[:start] + previous[company[0] : company[1]] + question[end:]
    if (held := _held_before_asking(before, noun.folded)) is not None:
        return question[:start] + previous[:held] + question[end:]
    return question[:start] + own + "的" + question[noun.start : noun.end] + question[end:]


def _held_before_asking(ws: Sequence[Word], noun: str) -> int | None:
    """Where the word ending the first ``noun`` before the question word ends (「系统」 in 「…检测系统电池…是多少」)."""
    stem = [w for w in ws if w.end <= _stem_end(ws)]
    joined, ends = "", []
    for w in stem:
        joined += w.folded
        ends.append(len(joined))
    at = joined.find(noun)
    if at < 0:
        return None
    return stem[next(k for k, e in enumerate(ends) if e >= at + len(noun))].end


def substitute(new: str, previous: str) -> str:
    """The previous question with ``new`` in place of its word of the same kind (a year, a place, a name).

    An attribute the previous question already asks about leaves it as it is; another
    attribute reads 「subject的X呢？」.

    >>> substitute("华为", "荣耀累计投入了多少资金用于AI研发？")
    '华为累计投入了多少资金用于AI研发？'
    >>> substitute("2024年", "2025年深圳人工智能核心产业营收约多少？")
    '2024年深圳人工智能核心产业营收约多少？'
    >>> substitute("不良贷款率", "微众银行AI风控模型将信贷审批效率提升了多少？")
    '微众银行AI风控模型的不良贷款率呢？'
    """
    mine, before = words(new), words(previous)
    if not mine:
        return previous
    if _time_span(mine) is not None and len(mine) <= 4:
        at = _time_span(before)
        return previous[: at[0]] + new + previous[at[1] :] if at else new + previous
    if all(_is_name(w) or _is_place(w) for w in mine):
        places = [w for w in before if _is_place(w)]
        at = (places[0].start, places[0].end) if len(mine) == 1 and _is_place(mine[0]) and places \
            else _name_run(before) or _subject_span(before)
        return previous[: at[0]] + new + previous[at[1] :] if at else new + previous
    if fold_text(new) in fold_text(previous):
        return previous
    own = _subject_span(before)
    if not fold_text(new).endswith(ATTRIBUTE_ENDINGS):  # a thing of its own (「那昇腾384超节点呢？」): a new subject
        return previous[: own[0]] + new + previous[own[1] :] if own else new + previous
    asked = new + "呢？"
    return asked if own is None else previous[own[0] : own[1]] + "的" + asked


def add_subject(predicate: str, previous: str) -> str | None:
    """The previous subject before a follow-up that brings only a predicate; None when there is no subject.

    >>> add_subject("有多少研发人员？", "荣耀累计投入了多少资金用于AI研发？")
    '荣耀有多少研发人员？'
    """
    own = any_subject(previous)
    return None if own is None else own + predicate


# -- English -------------------------------------------------------------------------------------------
_EN_WORD = re.compile(r"[A-Za-z0-9][\w&-]*")
_EN_OPENERS = frozenset({"what", "how", "when", "where", "which", "who", "why", "is", "are", "was", "were", "did",
                         "does", "do", "can", "will", "and"})
_EN_POINTER = re.compile(r"\b(its|their|it|they|them)\b", re.IGNORECASE)
_YEAR = re.compile(r"\b\d{4}\b")


def english_subject(text: str) -> tuple[int, int] | None:
    """Where an English question's first capitalised name stands (its 's left out), or None.

    >>> q = "How accurate is BYD's battery defect detection?"
    >>> q[slice(*english_subject(q))]
    'BYD'
    """
    found = list(_EN_WORD.finditer(text))
    for n, m in enumerate(found):
        word = m.group()
        if (n == 0 and word.lower() in _EN_OPENERS) or not word[0].isupper() or word.lower() in GENERIC_LATIN:
            continue
        end = m.end()
        for nxt in found[n + 1 :]:
            if text[end : nxt.start()] != " " or not nxt.group()[0].isupper():
                break
            end = nxt.end()
        return m.start(), end
    return None


def any_subject(text: str) -> str | None:
    """The subject of a question in either language (``english_subject`` for an English one, else ``subject``)."""
    if text.isascii():
        span = english_subject(text)
        return None if span is None else text[span[0] : span[1]]
    return subject(text)


def english_pointer(question: str, previous: str) -> str | None:
    """An English question with its first it/its/they/their/them replaced by the previous subject; None without.

    >>> english_pointer("What is its AI strategy called?", "How much did Honor invest in AI research?")
    "What is Honor's AI strategy called?"
    """
    own, m = any_subject(previous), _EN_POINTER.search(question)
    if own is None or m is None:
        return None
    possessive = m.group(1).lower() in ("its", "their")
    return question[: m.start()] + own + ("'s" if possessive else "") + question[m.end() :]


def english_substitute(new: str, previous: str) -> str:
    """The previous question, in English, with ``new`` (a year or a name) in place of its year or its subject.

    >>> english_substitute("Huawei", "How much did Honor invest in AI research?")
    'How much did Huawei invest in AI research?'
    """
    if _YEAR.fullmatch(new):
        year = _YEAR.search(previous)
        return previous[: year.start()] + new + previous[year.end() :] if year else f"{previous} ({new})"
    at = english_subject(previous)
    return previous if at is None else previous[: at[0]] + new + previous[at[1] :]
