"""The real text every measurement runs on: CMRC 2018 dev passages and questions.

Passages become articles exactly as ``rag eval`` makes them, and are chunked
with the default settings, so the chunk texts are the ones a user's index holds.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rag.evaluation.datasets import (
    QuestionSet,
    bundled_dataset,
    load_question_set,
    passage_articles,
    select_questions,
)
from rag.evaluation.questions import Passage
from rag.ingest.chunking import chunk_article
from rag.records import Article
from rag.settings import Settings

DATASET = "cmrc2018-dev"
# The embedding cache `rag eval` keeps: a benchmark's index that starts from a copy embeds only what it lacks.
EVAL_CACHE = Path(__file__).resolve().parent.parent / "eval-runs" / ".index" / "cache" / "embeddings.sqlite"


@dataclass(frozen=True)
class CmrcText:
    """The CMRC dev set, its passages as articles and their default chunk texts."""

    question_set: QuestionSet  # the questions whose hit@5 is reported (all of them, or a quick sample)
    passages: list[Passage]  # the passages indexed for hit@5 (all of them, or the sample's)
    articles: list[Article]
    chunk_texts: list[str]  # every chunk of ``articles``, default chunking
    questions: list[str]  # question texts for latency, in a seeded random order


def load_cmrc(settings: Settings, quick: bool, quick_questions: int = 24) -> CmrcText:
    """Load CMRC 2018 dev; ``quick`` keeps a sample of questions and only their passages."""
    full = load_question_set(bundled_dataset(DATASET))
    question_set = select_questions(full, sample=quick_questions, seed=0) if quick else full
    wanted = {q.article for q in question_set.questions}
    passages = [p for p in full.passages if p.id in wanted]
    articles = passage_articles(passages)
    chunk_texts = [c.text for a in articles
                   for c in chunk_article(a, settings.chunk_size, settings.chunk_overlap)[1]]
    questions = [q.question for q in question_set.questions]
    random.Random(0).shuffle(questions)
    return CmrcText(question_set, passages, articles, chunk_texts, questions)


def spread_sample(texts: list[str], count: int) -> list[str]:
    """``count`` texts taken evenly across ``texts`` (so lengths stay representative).

    >>> spread_sample(list("abcdefgh"), 3)
    ['a', 'c', 'f']
    """
    if count >= len(texts):
        return list(texts)
    return [texts[i * len(texts) // count] for i in range(count)]


def write_passage_files(passages: list[Passage], folder: Path) -> list[Path]:
    """Write passages as UTF-8 .txt articles (a ``#`` title line, then the text) for ``rag index``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in passages:
        path = folder / f"{p.id}.txt"
        path.write_text(f"# {p.title}\n\n{p.text}\n", encoding="utf-8")
        paths.append(path)
    return paths


def copy_eval_cache(target: Path) -> bool:
    """Copy the evaluation embedding cache (consistently, with SQLite's backup) to ``target``; False without one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not EVAL_CACHE.is_file():
        return False
    src = sqlite3.connect(f"file:{EVAL_CACHE}?mode=ro", uri=True)
    dst = sqlite3.connect(str(target))
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return True
