"""SQuAD-format question sets as typed records, and a split by passage.

>>> split_by_passage([Passage(str(i), "t", "c", ()) for i in range(10)], 0.2, seed=0)[1][0].pid in "0123456789"
True
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Answer:
    """A gold answer: its text and its character offset in the passage."""

    text: str
    start: int


@dataclass(frozen=True)
class Question:
    """A question with its gold answers (the first is the training target)."""

    qid: str
    text: str
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class Passage:
    """A passage (a SQuAD paragraph) and the questions asked of it."""

    pid: str
    title: str
    context: str
    questions: tuple[Question, ...]


def _locate(context: str, text: str, start: int) -> int:
    """The answer's offset: as given when it reproduces the text, else its nearest occurrence (-1: none)."""
    if context[start:start + len(text)] == text:
        return start
    found = [i for i in range(len(context)) if context.startswith(text, i)]
    return min(found, key=lambda i: abs(i - start)) if found else -1


def load_squad(path: Path) -> list[Passage]:
    """Read a SQuAD-format file; answers not in their passage are dropped, and questions left without one."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    passages = []
    for article in data["data"]:
        for number, paragraph in enumerate(article["paragraphs"]):
            context = paragraph["context"]
            questions = []
            for qa in paragraph["qas"]:
                answers = []
                for answer in qa.get("answers", []):
                    start = _locate(context, answer["text"], int(answer["answer_start"]))
                    if answer["text"].strip() and start >= 0:
                        answers.append(Answer(answer["text"], start))
                if answers:
                    questions.append(Question(qa["id"], qa["question"], tuple(answers)))
            pid = str(paragraph.get("id") or f"{article.get('id', article.get('title', ''))}-{number}")
            passages.append(Passage(pid, str(article.get("title", "")), context, tuple(questions)))
    return passages


def load_all(paths: list[Path]) -> list[Passage]:
    """Read several SQuAD-format files into one list of passages."""
    return [passage for path in paths for passage in load_squad(path)]


def split_by_passage(passages: list[Passage], fraction: float, seed: int = 0) -> tuple[list[Passage], list[Passage]]:
    """(train, validation): a seeded shuffle of whole passages, ``fraction`` of them for validation."""
    order = list(range(len(passages)))
    random.Random(seed).shuffle(order)
    cut = round(len(order) * fraction)
    held = set(order[:cut])
    return ([p for i, p in enumerate(passages) if i not in held], [p for i, p in enumerate(passages) if i in held])


def write_squad(passages: list[Passage], path: Path) -> None:
    """Write passages as a SQuAD-format file (one article per title), e.g. the held-out split for evaluation."""
    articles: dict[str, list[dict[str, object]]] = {}
    for p in passages:
        articles.setdefault(p.title, []).append({
            "id": p.pid, "context": p.context,
            "qas": [{"id": q.qid, "question": q.text,
                     "answers": [{"text": a.text, "answer_start": a.start} for a in q.answers]} for q in p.questions],
        })
    data = {"version": "split", "data": [{"title": t, "paragraphs": ps} for t, ps in articles.items()]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
