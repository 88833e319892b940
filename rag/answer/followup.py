"""Follow-up questions: a question that leans on the previous turn is asked as the question it stands for.

Only two kinds of question lean on the previous turn (``is_followup``): one that
points back (它, 这个, 该公司, 其…, "it", "its") and an elliptical one that has no
subject of its own (「那比亚迪呢？」, 「累计投入了多少？」, 「为什么？」). A
greeting, a thank-you or a one-word topic (「深圳」) never does, nor a question that
names its subject. Nothing but this rule rewrites a question.

A follow-up is written out in full (``rewrite_followup``, by ``rag.answer.substitution``)
and that question is what is searched and read: 「那华为呢？」 after
「荣耀累计投入了多少资金用于AI研发？」 asks 「华为累计投入了多少资金用于AI研发？」 (which
the article does not answer), not 荣耀's question again; 「它…」 is the previous
question's subject; 「有多少研发人员？」 gets that subject in front. The previous
question is taken as it stood (``standing_question``): after 「那华为呢？」, 「它」 is 华为.
The rule is measured on ``questions/followups.jsonl`` (tests/test_followup.py: detection
precision and recall, the share of rows asked exactly as the question they stand for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.substitution import (
    QUESTION_WORDS,
    add_subject,
    english_pointer,
    english_subject,
    english_substitute,
    resolve_pointer,
    substitute,
    words,
)
from rag.text import fold_text

# Words that point back to the previous turn instead of naming their subject (simplified and traditional).
_BACK_REFERENCE = re.compile(
    r"它们|它們|它|这个|這個|这些|這些|那个|那個|那些|这家|這家|那家|这项|這項|这一|這一|这套|這套|这种|這種|那种|那種|这位|這位|该|該|其|上述|此"
    r"|他们|他們|她们|她們|\b(?:it|its|they|their|them)\b", re.IGNORECASE)
# Words that hold one of those characters without pointing back (其他, 因此, 应该…): removed first.
_NOT_BACK_REFERENCE = re.compile(
    r"其他|其它|其中|其实|其實|尤其|极其|極其|其余|其餘|与其|與其|因此|此外|如此|从此|從此|彼此|此前|此后|此後"
    r"|应该|應該|该国|該國")
# An elliptical question: it opens on a connective or a predicate, or asks 「…呢？」 about the last topic.
_ELLIPTICAL_START = re.compile(
    r"^(?:那么|那麼|那|还有|還有|另外|又|再|以及|"
    r"有多少|有几|有幾|是多少|是什么|是什麼|是哪|是谁|是誰|是否|多少|几|幾|为什么|為什麼|为何|為何|怎么|怎麼|如何|"
    r"什么时候|什麼時候|何时|何時|具体|具體|分别|分別|累计|累計|一共|总共|總共|主要|占|佔|达到|達到|成立于|成立於|"
    r"why\b|when\b|how many\b|how much\b)", re.IGNORECASE)
_ENDS_WITH_NE = re.compile(r"呢\s*[？?]?\s*$")
# 「那华为呢？」, "what about Huawei?": the word between takes the place of its kind in the previous question.
_WHAT_ABOUT = re.compile(r"^(?:那么|那麼|那|还有|還有|另外|以及|又|再)?\s*(.*?)\s*呢\s*[？?]?\s*$")
_WHAT_ABOUT_EN = re.compile(r"^\s*(?:what about|how about|and)\s+(.+?)\s*[?？.!]*\s*$", re.IGNORECASE)
_CONNECTIVE = re.compile(r"^(?:那么|那麼|那|还有|還有|另外|以及|又|再)\s*")
# Words that only insist (「具体是多少？」, 「一共是多少？」): with the same question word, the question is asked again.
_INSISTING = frozenset({"具体", "到底", "究竟", "确切", "大概", "大约", "一共", "总共", "总计", "合计",
                        "是", "呢", "吗", "了", "的"})
# A greeting or courtesy is never a follow-up, whatever follows it.
_COURTESY = re.compile(
    r"^(?:你好|您好|嗨|哈喽|哈囉|早上好|晚上好|谢谢|謝謝|多谢|多謝|感谢|感謝|再见|再見|好的|明白了|知道了|"
    r"hi|hello|hey|thanks|thank you|bye|ok|okay)[\s!！。.,，~～]*(?:你|您|啦|了|呀)?[\s!！。.,，~～]*$",
    re.IGNORECASE)
MAX_CHAIN = 8  # earlier questions a follow-up may still lean on through the ones between
MAX_ELLIPTICAL_CHARS = 16  # a longer question names what it is about (the shipped question set: 16-40)


def is_followup(question: str) -> bool:
    """True when the question leans on the previous turn: it points back, or it has no subject of its own.

    >>> [is_followup(q) for q in ("它的营收是多少？", "那比亚迪呢？", "你好", "深圳", "比亚迪的营收是多少？")]
    [True, True, False, False, False]
    """
    text = question.strip()
    if not text or _COURTESY.match(text):
        return False
    # 「其中…」 opening a question is "among them" (inside one, 其中 points nowhere)
    if text.startswith("其中") or _BACK_REFERENCE.search(_NOT_BACK_REFERENCE.sub("", text)):
        return True
    # A Latin word or number counts as one character, as a Chinese word of one or two would.
    if len(re.sub(r"[A-Za-z0-9]+", "x", text)) > MAX_ELLIPTICAL_CHARS:
        return False
    if _ENDS_WITH_NE.search(text) or _WHAT_ABOUT_EN.match(text):
        return True
    # An English question that opens on a predicate but names its subject is a question of its own
    # ("How many AI companies are in Shenzhen?"); "Why?", "How many employees?" lean on the last one.
    return bool(_ELLIPTICAL_START.match(text)) and not (text.isascii() and english_subject(text) is not None)


@dataclass(frozen=True)
class Rewrite:
    """A question as asked and the question asked in its place: itself, or a follow-up written out in full."""

    question: str
    asked: str
    kind: str = "none"  # "none", or how it leaned on ``previous``: "back-reference", "what-about", "predicate"
    previous: str | None = None  # the previous question as it stood


def rewrite_followup(question: str, previous: str) -> Rewrite:
    """A follow-up (``is_followup``) written out in full against the previous question (as it stood).

    A word that points back becomes the previous subject; 「X呢？」 puts X in place of the
    previous question's word of its kind; a predicate alone gets the previous subject in
    front, or, when it only insists (「具体是多少？」), is the previous question again. A
    follow-up none of these can write out (no subject to borrow, an English predicate) is
    asked as it is.

    >>> rewrite_followup("那华为呢？", "荣耀累计投入了多少资金用于AI研发？").asked
    '华为累计投入了多少资金用于AI研发？'
    >>> rewrite_followup("它的AI生态战略叫什么？", "荣耀累计投入了多少资金用于AI研发？").asked
    '荣耀的AI生态战略叫什么？'
    >>> rewrite_followup("有多少研发人员？", "荣耀累计投入了多少资金用于AI研发？").asked
    '荣耀有多少研发人员？'
    """
    text = question.strip()
    if text.isascii():
        return _rewrite_english(question, text, previous)
    if (pointed := resolve_pointer(text, previous)) is not None:
        return Rewrite(question, pointed, "back-reference", previous)
    if (about := _WHAT_ABOUT.match(text)) is not None:
        new = about.group(1).strip()
        return Rewrite(question, _substitute(new, previous) if new else previous, "what-about", previous)
    predicate = _CONNECTIVE.sub("", text)
    if _insists(predicate, previous):
        return Rewrite(question, previous, "predicate", previous)
    added = add_subject(predicate, previous)
    return Rewrite(question, added, "predicate", previous) if added else Rewrite(question, question)


def _rewrite_english(question: str, text: str, previous: str) -> Rewrite:
    if (pointed := english_pointer(text, previous)) is not None:
        return Rewrite(question, pointed, "back-reference", previous)
    if (about := _WHAT_ABOUT_EN.match(text)) is not None:
        return Rewrite(question, _substitute(about.group(1), previous), "what-about", previous)
    return Rewrite(question, question)  # an English predicate alone has no place to take a subject


def _substitute(new: str, previous: str) -> str:
    """``new`` in place of its kind in the previous question, by that question's language."""
    return english_substitute(new, previous) if previous.isascii() else substitute(new, previous)


def _insists(predicate: str, previous: str) -> bool:
    """Whether a predicate only asks again what the previous question asked (「具体是多少？」 after 「…约多少？」)."""
    rest = [w.folded for w in words(predicate) if w.tag != "x" and w.folded not in _INSISTING]
    asked_before = fold_text(previous)
    return bool(rest) and all(w.startswith(QUESTION_WORDS) and w in asked_before for w in rest)


def standing_question(history: list[str]) -> str | None:
    """The conversation's last question as it stood: a follow-up read as the question it was asked as.

    Greetings and thanks are passed over: a follow-up never leans on them. The chain
    starts at the last question that names its own subject.

    >>> standing_question(["荣耀累计投入了多少资金用于AI研发？", "那华为呢？", "谢谢"])
    '华为累计投入了多少资金用于AI研发？'
    """
    # The last few questions only: a chain is as long as the conversation stays on one subject, and a
    # history of any length (the API takes one) must not make each question slower.
    asked = [q.strip() for q in history if q.strip() and not _COURTESY.match(q.strip())][-MAX_CHAIN:]
    if not asked:
        return None
    start = max((n for n, q in enumerate(asked) if not is_followup(q)), default=0)
    standing = asked[start]
    for q in asked[start + 1 :]:
        standing = rewrite_followup(q, standing).asked
    return standing


def resolve_followup(question: str, history: list[str]) -> Rewrite:
    """The question asked in place of ``question`` after ``history`` (earlier questions, oldest first).

    >>> resolve_followup("你好", ["荣耀累计投入了多少资金用于AI研发？"]).asked
    '你好'
    """
    previous = standing_question(history) if history else None
    if previous is None or not is_followup(question):
        return Rewrite(question, question)
    return rewrite_followup(question, previous)


def followup_query(question: str, previous_questions: list[str]) -> str:
    """The question to search and read: a follow-up written out in full (``resolve_followup``), any other as asked.

    >>> followup_query("它的营收是多少？", ["深圳人工智能产业的规模"])
    '深圳人工智能产业的营收是多少？'
    >>> followup_query("你好", ["深圳人工智能产业的规模"])
    '你好'
    """
    return resolve_followup(question, previous_questions).asked
