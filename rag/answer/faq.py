"""An FAQ entry as an answer: shown like an article's, the entry its one cited source.

The answer's text is the entry's answer with the marker ``[1]``; its citation
is the entry (``kind: "faq"``: article ``faq:ID``, title the entry's question,
section its source, the cited text its answer); the bold short answer is the
answer's first clause.
"""

from __future__ import annotations

from rag.records import Answer, Citation, FaqEntry, ShortAnswer

CLAUSE_ENDS = "，,；;。！？!?：:\n"
MIN_CLAUSE_CHARS = 2  # a shorter first clause ("是，…") says too little alone: the first sentence is taken


def first_clause(text: str) -> str:
    """The text up to its first clause mark (not kept), or all of it.

    >>> first_clause("在广东省南部，珠江口东岸。"), first_clause("是，它在广东。"), first_clause("广东")
    ('在广东省南部', '是，它在广东', '广东')
    """
    text = text.strip()
    for i, ch in enumerate(text):
        if ch in CLAUSE_ENDS:
            if i >= MIN_CLAUSE_CHARS:
                return text[:i]
            sentence = next((j for j in range(i + 1, len(text)) if text[j] in "。！？!?\n"), len(text))
            return text[:sentence]
    return text


def faq_answer(question: str, query: str, entry: FaqEntry, mode: str = "extractive",
               knowledge_base: str = "default") -> Answer:
    """The answer of ``question`` from the FAQ entry it matched."""
    clause = first_clause(entry.answer)
    return Answer(question=question, query=query, text=f"{entry.answer}[1]", refused=False,
                  citations=[Citation.of_faq(entry, knowledge_base)], mode=mode,
                  short_answer=ShortAnswer(clause, 1, 0, len(clause), 1.0))
