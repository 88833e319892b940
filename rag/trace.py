"""Why this answer: a record of one question's way through search and answer, filled as it runs.

An ``AnswerTrace`` is handed to the code that answers (``Searcher.search``,
``read_short_answer``, ``extractive_answer``, through ``KnowledgeBase.answer_steps``),
and each stage writes into it what it has just computed; when none is handed,
nothing changes. So an explanation is what the answer was made of, never a
second computation that could disagree with it: the query searched, every
candidate with its score and rank per leg, its fused score and its best
sentence's score in the re-rank, the spans the reader found, and the refusal
rule's signals and verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.records import Chunk, Fused, Hit

# The rules that decide an extractive answer (``RefusalDecision.rule``), in the order they are applied.
ANSWERED = "answered"
RULES = (
    "no_sentences",  # nothing was retrieved to answer from
    "missing_terms",  # a name, place or number of the question is in no retrieved chunk
    "unsupported_terms",  # the answer's paragraph lacks a name or number of the question, or the quantity asked
    "reader_support",  # reader on: the support score is below reader_refusal_threshold
    "evidence",  # reader off: the evidence score is below refusal_threshold
    "overview",  # a question about the article as a whole: answered with its outline, no refusal rule
    "faq",  # the question matched an FAQ question: answered with its answer before the articles are read
    ANSWERED,
)


@dataclass
class Candidate:
    """One chunk the search weighed: its place in each ranking, and where it ended."""

    chunk: Chunk
    fused_rank: int  # its rank in the fused list (rank of its leg alone in dense or lexical mode)
    fused_score: float
    dense_rank: int | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None
    sentence_score: float | None = None  # its best sentence's score in the re-rank (None: not re-ranked)
    rerank_score: float | None = None  # the re-rank's key: scaled fused score + rerank_weight x sentence score
    final_rank: int | None = None  # its rank among the hits the answer is drawn from (None: not kept)
    knowledge_base: str = "default"
    linked_question: str | None = None  # the linked question its dense score came from (None: its own vector)


@dataclass(frozen=True)
class ReadSpan:
    """The best span the reader found in one passage it read (article offsets).

    ``chosen``: the reader's best span, clipped to the sentence that holds it:
    the short answer, unless the refusal rule refuses the question.
    """

    article: str
    passage_start: int
    passage_end: int
    chunk_ids: tuple[int, ...]  # the kept chunks the passage is made of
    start: int
    end: int
    text: str
    score: float
    null_score: float
    chosen: bool


@dataclass(frozen=True)
class RefusalDecision:
    """The refusal rule's signals, the threshold it compared with, and which rule decided (``RULES``)."""

    rule: str
    refused: bool
    evidence: float | None = None
    missing: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()  # terms of the question the answer's paragraph lacks
    null_score: float | None = None
    mismatch: bool = False
    support: float | None = None  # reader on: the support score compared with the threshold
    threshold: float | None = None  # reader_refusal_threshold with the reader, else refusal_threshold
    reader: bool = False


@dataclass(frozen=True)
class FaqDecision:
    """The FAQ step: the entry most like the question, its scores, the threshold, and whether it answered."""

    entries: int  # entries in the FAQ (0: the step was skipped)
    entry_id: str | None = None
    question: str | None = None  # the entry's question
    dense: float | None = None
    lexical: float | None = None
    score: float | None = None  # faq_score(dense, lexical, faq_lexical_weight), compared with the threshold
    threshold: float | None = None
    lexical_weight: float | None = None
    matched: bool = False


@dataclass
class AnswerTrace:
    """Filled by the stages as one question runs; read by ``rag ask --explain``, ``/api/explain`` and MCP."""

    question: str = ""
    history: tuple[str, ...] = ()
    query: str = ""  # what was searched and read (a follow-up written out in full)
    mode: str = ""
    top_k: int = 0
    reranked: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the settings the question ran with
    candidates: list[Candidate] = field(default_factory=list)  # in fused order
    spans: list[ReadSpan] = field(default_factory=list)  # most answerable passage first
    decision: RefusalDecision | None = None
    faq: FaqDecision | None = None  # None: no FAQ step (no FAQ, or the question was limited to articles)

    @property
    def followup(self) -> bool:
        """True when the question was searched as another (the follow-up rule wrote it out)."""
        return self.query != self.question

    def asked(self, question: str, history: Sequence[str], query: str) -> None:
        """The question, the earlier ones it may lean on, and the query searched."""
        self.question, self.history, self.query = question, tuple(history), query

    def searched(self, mode: str, k: int, fused: Sequence[Fused], chunks: Sequence[Chunk],
                 dense_scores: Mapping[int, float], lexical_scores: Mapping[int, float],
                 linked: Mapping[int, str] | None = None) -> None:
        """The fused candidates of a search, each with its legs' ranks and scores.

        ``linked``: per chunk the dense leg found through a linked question, that question.
        """
        self.mode, self.top_k = mode, k
        linked = linked or {}
        self.candidates = [
            Candidate(chunks[f.id], rank, float(f.score), f.dense_rank, dense_scores.get(f.id),
                      f.lexical_rank, lexical_scores.get(f.id), linked_question=linked.get(f.id))
            for rank, f in enumerate(fused, start=1)
        ]

    def reranked_one(self, chunk_id: int, sentence_score: float, rerank_score: float) -> None:
        """A candidate's best sentence score and its key in the re-rank by sentence."""
        self.reranked = True
        for candidate in self.candidates:
            if candidate.chunk.id == chunk_id:
                candidate.sentence_score, candidate.rerank_score = float(sentence_score), float(rerank_score)

    def kept(self, hits: Sequence[Hit]) -> None:
        """The hits the search returned: their final ranks."""
        final = {h.chunk.id: h for h in hits}
        for candidate in self.candidates:
            hit = final.get(candidate.chunk.id)
            candidate.final_rank = None if hit is None else hit.rank
            if hit is not None:
                candidate.knowledge_base = hit.knowledge_base

    def read(self, article: str, passage: tuple[int, int], span: tuple[int, int], text: str, score: float,
             null_score: float, chosen: bool) -> None:
        """One span the reader found, in the passage ``article.text[passage[0]:passage[1]]``."""
        chunk_ids = tuple(c.chunk.id for c in self.final_candidates()
                          if c.chunk.article == article and c.chunk.start < passage[1] and passage[0] < c.chunk.end)
        self.spans.append(ReadSpan(article, passage[0], passage[1], chunk_ids, span[0], span[1], text,
                                   float(score), float(null_score), chosen))

    def decided(self, decision: RefusalDecision) -> None:
        """The refusal rule's verdict."""
        self.decision = decision

    def matched_faq(self, decision: FaqDecision) -> None:
        """The FAQ step's decision."""
        self.faq = decision

    def final_candidates(self) -> list[Candidate]:
        """The candidates kept as hits, by final rank."""
        return sorted((c for c in self.candidates if c.final_rank is not None), key=lambda c: c.final_rank or 0)
