"""Follow-up questions: a question that leans on the previous turn borrows its key terms.

Only two kinds of question lean on the previous turn (``is_followup``): one that
points back (它, 这个, 该公司, 其…, "it", "its") and an elliptical one that has no
subject of its own (「那比亚迪呢？」, 「累计投入了多少？」, 「为什么？」). A
greeting, a thank-you or a one-word topic (「深圳」) never does, nor a question that
names its subject. The rule is measured on ``questions/followups.jsonl`` (see
tests/test_followup.py for its precision and recall).
"""

from __future__ import annotations

import re

from rag.text import lexical_tokens

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
    r"and\b|what about\b|how about\b|why\b|when\b|how many\b|how much\b)", re.IGNORECASE)
_ENDS_WITH_NE = re.compile(r"呢\s*[？?]?\s*$")
# A greeting or courtesy is never a follow-up, whatever follows it.
_COURTESY = re.compile(
    r"^(?:你好|您好|嗨|哈喽|哈囉|早上好|晚上好|谢谢|謝謝|多谢|多謝|感谢|感謝|再见|再見|好的|明白了|知道了|"
    r"hi|hello|hey|thanks|thank you|bye|ok|okay)[\s!！。.,，~～]*(?:你|您|啦|了|呀)?[\s!！。.,，~～]*$",
    re.IGNORECASE)
MAX_ELLIPTICAL_CHARS = 16  # a longer question names what it is about (the shipped question set: 16-40)


def is_followup(question: str) -> bool:
    """True when the question leans on the previous turn: it points back, or it has no subject of its own.

    >>> [is_followup(q) for q in ("它的营收是多少？", "那比亚迪呢？", "你好", "深圳", "比亚迪的营收是多少？")]
    [True, True, False, False, False]
    """
    text = question.strip()
    if not text or _COURTESY.match(text):
        return False
    if _BACK_REFERENCE.search(_NOT_BACK_REFERENCE.sub("", text)):
        return True
    # A Latin word or number counts as one character, as a Chinese word of one or two would.
    if len(re.sub(r"[A-Za-z0-9]+", "x", text)) > MAX_ELLIPTICAL_CHARS:
        return False
    return bool(_ELLIPTICAL_START.match(text) or _ENDS_WITH_NE.search(text))


def followup_query(question: str, previous_questions: list[str]) -> str:
    """The query to search: a follow-up question (``is_followup``) with the previous question's key terms added.

    Any other question is searched as it is.

    >>> followup_query("它的营收是多少？", ["深圳人工智能产业的规模"])
    '它的营收是多少？ 深圳 人工 智能 人工智能 产业 规模'
    >>> followup_query("你好", ["深圳人工智能产业的规模"])
    '你好'
    """
    if not previous_questions or not is_followup(question):
        return question
    own = lexical_tokens(question)
    previous = [t for t in lexical_tokens(previous_questions[-1]) if t not in own]
    if not previous:
        return question
    return question + " " + " ".join(dict.fromkeys(previous))


def borrowed_words(question: str, query: str) -> list[str]:
    """The words a follow-up borrowed, for people: the query's added terms without those inside a longer one.

    >>> borrowed_words("它的营收是多少？", "它的营收是多少？ 深圳 人工 智能 人工智能 产业")
    ['深圳', '人工智能', '产业']
    >>> borrowed_words("深圳", "深圳")
    []
    """
    if query == question or not query.startswith(question + " "):
        return []
    terms = list(dict.fromkeys(query[len(question) + 1 :].split()))
    return [t for t in terms if not any(t != other and t in other for other in terms)]
