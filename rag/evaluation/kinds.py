"""Groups for reporting answer quality: the kind of fact a question asks for, and the gold answer's length.

A reader can do well on dates and numbers and badly on why-questions, or well on
short answers and badly on clauses; one average hides both. These groups split
the figures (benchmarks/quality.py, ``python -m training.evaluate_reads``).
"""

from __future__ import annotations

import re

# Checked in order: the first that matches names the kind.
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("为什么", re.compile(r"为什么|為什麼|为何|為何|原因|why", re.IGNORECASE)),
    ("怎么", re.compile(r"怎么|怎麼|如何|怎样|怎樣|什么方式|什麼方式|how(?! (?:many|much|long|old))", re.IGNORECASE)),
    ("时间", re.compile(r"什么时候|什麼時候|何时|何時|哪一年|哪年|哪一天|几月|幾月|几号|幾號"
                      r"|年份|日期|时间|時間|哪个朝代|哪個朝代|when|what year", re.IGNORECASE)),
    ("数字", re.compile(r"多少|几|幾|多大|多高|多长|多長|多重|多久|多远|多遠"
                      r"|how (?:many|much|long|old)", re.IGNORECASE)),
    ("人物", re.compile(r"谁|誰|哪位|何人|什么人|什麼人|哪个人|哪個人|who", re.IGNORECASE)),
    ("地点", re.compile(r"哪里|哪裡|哪儿|哪兒|何处|何處|何地|在哪|哪个国家|哪個國家|哪座"
                      r"|哪个城市|哪個城市|哪个省|哪個省|where", re.IGNORECASE)),
    ("是什么", re.compile(r"什么|什麼|何种|何種|哪种|哪種|哪个|哪個|哪些|what|which", re.IGNORECASE)),
)
OTHER = "其他"
LENGTH_BUCKETS = ((10, "≤10"), (20, "11–20"), (40, "21–40"))
LONGEST = ">40"


def question_kind(question: str) -> str:
    """The kind of fact a question asks for (``KINDS``), or 其他.

    >>> [question_kind(q) for q in ("为什么要建设？", "营收约多少？", "哪一年成立？", "创始人是谁？", "总部在哪里？")]
    ['为什么', '数字', '时间', '人物', '地点']
    >>> question_kind("该模型是什么？"), question_kind("请介绍一下")
    ('是什么', '其他')
    """
    for name, pattern in KINDS:
        if pattern.search(question):
            return name
    return OTHER


def length_bucket(answer: str) -> str:
    """The bucket of a gold answer's length in characters: ≤10, 11–20, 21–40 or >40.

    >>> [length_bucket("x" * n) for n in (3, 10, 11, 40, 41)]
    ['≤10', '≤10', '11–20', '21–40', '>40']
    """
    for limit, name in LENGTH_BUCKETS:
        if len(answer) <= limit:
            return name
    return LONGEST


def bucket_names() -> list[str]:
    """Every length bucket, shortest first."""
    return [name for _, name in LENGTH_BUCKETS] + [LONGEST]


def kind_names() -> list[str]:
    """Every question kind, in report order."""
    order = ["数字", "时间", "人物", "地点", "为什么", "怎么", "是什么"]
    return [*order, OTHER]
