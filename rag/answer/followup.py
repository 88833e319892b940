"""Follow-up questions: a question that leans on the previous turn borrows its key terms."""

from __future__ import annotations

import re

from rag.text import lexical_tokens

# Words that point back to the previous turn instead of naming their subject.
_FOLLOWUP = re.compile(r"(它|它们|这个|这些|那个|那些|该|其|他们|她们|上述|此|这家|那家|这项|那里|这里)")


def followup_query(question: str, previous_questions: list[str]) -> str:
    """The query to search for a follow-up question that leans on the previous turn.

    A question with a pronoun (它, 这个, …) or too short to name its subject gets
    the previous question's key terms added.

    >>> followup_query("它的营收是多少？", ["深圳人工智能产业的规模"])
    '它的营收是多少？ 深圳 人工 智能 人工智能 产业 规模'
    """
    if not previous_questions:
        return question
    own = lexical_tokens(question)
    if not (_FOLLOWUP.search(question) or len(own) <= 1):
        return question
    previous = [t for t in lexical_tokens(previous_questions[-1]) if t not in own]
    if not previous:
        return question
    return question + " " + " ".join(dict.fromkeys(previous))
