"""Question sets: JSONL, CSV and SQuAD-format JSON (CMRC 2018, DRCD) read into typed records.

A JSONL or CSV row has ``question`` and optionally ``id``, ``answers`` (a list of
strings; in CSV a JSON array in the cell), ``article`` (path relative to the
corpus), ``paragraph`` (number, from 1) and ``unanswerable`` (true/false).
A malformed row is reported as ``file:line: what is wrong`` and skipped; only a
set with no valid question left is an error (``QuestionSetError``).

In a SQuAD file each passage becomes an article of its own corpus; each gold
answer is located in its passage (``locate_answer``) so retrieval can be scored
by character offsets.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from rag.errors import QuestionSetError
from rag.evaluation.questions import (
    LOCATED_EXACT,
    LOCATED_MISSING,
    LOCATED_NEAREST,
    LOCATED_NORMALIZED,
    GoldAnswer,
    Passage,
    Question,
    QuestionSet,
    rejection,
)

# Re-exported from their old home: the CLI, scripts and benchmarks import them from here.
from rag.evaluation.shipped import BUNDLED_DATASETS as BUNDLED_DATASETS
from rag.evaluation.shipped import bundled_dataset as bundled_dataset
from rag.records import Article, Paragraph
from rag.serialize import parse_json

SPLITS = ("all", "tune", "test")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".json": "squad"}
MAX_PROBLEMS_SHOWN = 20


# -- reading ---------------------------------------------------------------------------

def load_question_set(path: Path) -> QuestionSet:
    """Read a question set; the format follows the file extension (.jsonl, .csv, .json)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise QuestionSetError(
            f"{path}: unknown question-set type {path.suffix or '(no extension)'!r}; "
            "use .jsonl, .csv or a SQuAD-format .json"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise QuestionSetError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuestionSetError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    digest = hashlib.sha256(data).hexdigest()
    parse = {"jsonl": parse_jsonl, "csv": parse_csv, "squad": parse_squad}[kind]
    qs = parse(text, path.name)
    qs.sha256, qs.path = digest, path
    return qs


def parse_jsonl(text: str, name: str) -> QuestionSet:
    """Questions from JSON Lines text, one object a line; blank lines are ignored."""
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, parse_json(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"{name}:{number}: not valid JSON ({exc.msg} at column {exc.colno})")
    return _from_rows(rows, name, "jsonl", problems)


def parse_csv(text: str, name: str) -> QuestionSet:
    """Questions from CSV text with a header row; the ``answers`` cell is a JSON array."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "question" not in [f.strip() for f in reader.fieldnames]:
        raise QuestionSetError(f"{name}: the first row must be a header naming a `question` column "
                               f"(found {reader.fieldnames or 'nothing'})")
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    line = reader.line_num + 1
    try:
        for raw in reader:
            row: dict[str, Any] = {k.strip(): v for k, v in raw.items() if k is not None}
            if None in raw:  # more cells than header columns
                problems.append(f"{name}:{line}: more cells than the header has columns")
            elif any(v is None for v in row.values()):
                problems.append(f"{name}:{line}: fewer cells than the header has columns")
            else:
                try:
                    rows.append((line, _csv_row(row)))
                except ValueError as exc:
                    problems.append(f"{name}:{line}: {exc}")
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.append(f"{name}:{reader.line_num}: unreadable CSV ({exc}); the rest of the file is skipped")
    return _from_rows(rows, name, "csv", problems)


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row with its cells turned into JSON values; empty cells mean "not given"."""
    out: dict[str, Any] = {k: v for k, v in row.items() if v.strip() != ""}
    if "answers" in out:
        try:
            out["answers"] = parse_json(out["answers"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"the answers cell is not a JSON array ({exc.msg}): {out['answers'][:60]!r}") from exc
    if "paragraph" in out:
        try:
            out["paragraph"] = int(out["paragraph"])
        except ValueError as exc:
            raise ValueError(f"paragraph must be a number, got {out['paragraph']!r}") from exc
    if "unanswerable" in out:
        flag = out["unanswerable"].strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"unanswerable must be true or false, got {out['unanswerable']!r}")
        out["unanswerable"] = flag in ("true", "1", "yes")
    return out


def _from_rows(rows: list[tuple[int, Any]], name: str, kind: str, problems: list[str]) -> QuestionSet:
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        try:
            q = question_from_row(row, number)
        except ValueError as exc:
            problems.append(f"{name}:{number}: {exc}")
            continue
        if q.id in seen:
            problems.append(f"{name}:{number}: id {q.id!r} already used on line {seen[q.id]}")
            continue
        seen[q.id] = number
        questions.append(q)
    return _checked(QuestionSet(name=name, format=kind, sha256="", questions=questions, problems=problems,
                                total_questions=len(questions)))


def question_from_row(row: Any, line: int) -> Question:
    """A question from one JSONL object or CSV row; ValueError says what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('no "question" text')
    qid = row.get("id", f"line-{line}")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or str(qid).strip() == "":
        raise ValueError(f"id must be a string or a number, got {qid!r}")
    answers_raw = row.get("answers", [])
    if isinstance(answers_raw, str):
        answers_raw = [answers_raw]  # a single answer given as a bare string is unambiguous
    if not isinstance(answers_raw, list):
        raise ValueError(f"answers must be a list of strings, got {type(answers_raw).__name__}")
    answers = []
    for item in answers_raw:
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"answers must be non-empty strings, got {item!r}")
        answers.append(GoldAnswer(text=text))
    article = row.get("article")
    if article is not None and (not isinstance(article, str) or not article.strip()):
        raise ValueError(f"article must be a path relative to the corpus, got {article!r}")
    paragraph = row.get("paragraph")
    if paragraph is not None and (not isinstance(paragraph, int) or isinstance(paragraph, bool) or paragraph < 1):
        raise ValueError(f"paragraph must be a number from 1, got {paragraph!r}")
    if paragraph is not None and article is None:
        raise ValueError("paragraph is given without its article")
    unanswerable = row.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise ValueError(f"unanswerable must be true or false, got {unanswerable!r}")
    if unanswerable and (answers or article):
        raise ValueError("an unanswerable question cannot have answers or a gold article")
    return Question(id=str(qid).strip(), question=question.strip(), answers=tuple(answers), article=article,
                    paragraph=paragraph, unanswerable=unanswerable, line=line, **rejection(row))


def parse_squad(text: str, name: str) -> QuestionSet:
    """Questions and passages from SQuAD-format JSON (CMRC 2018, DRCD, SQuAD 1/2)."""
    try:
        data = parse_json(text)
    except json.JSONDecodeError as exc:
        raise QuestionSetError(f"{name}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    documents = data.get("data") if isinstance(data, dict) else None
    if not isinstance(documents, list):
        raise QuestionSetError(f'{name}: not a SQuAD-format file (no "data" list at the top); '
                               "question lists go in .jsonl or .csv files")
    passages: list[Passage] = []
    questions: list[Question] = []
    problems: list[str] = []
    seen_passages: set[str] = set()
    seen_questions: set[str] = set()
    for d, doc in enumerate(documents):
        paragraphs = doc.get("paragraphs") if isinstance(doc, dict) else None
        if not isinstance(paragraphs, list):
            problems.append(f"{name}: data[{d}]: no paragraphs list; skipped")
            continue
        title = str(doc.get("title") or doc.get("id") or f"document {d}")
        for p, para in enumerate(paragraphs):
            where = f"{name}: data[{d}].paragraphs[{p}]"
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str) or not context.strip():
                problems.append(f"{where}: no context text; skipped")
                continue
            pid = str(para.get("id") or (f"{doc['id']}-{p}" if doc.get("id") else f"{d}-{p}"))
            if pid in seen_passages:
                pid = f"{pid}#{d}-{p}"  # ids must be unique: they are the article paths of the index
            seen_passages.add(pid)
            passages.append(Passage(id=pid, title=title, text=context))
            qas = para.get("qas", [])
            for i, qa in enumerate(qas if isinstance(qas, list) else []):
                try:
                    q = _squad_question(qa, pid, context)
                except ValueError as exc:
                    problems.append(f"{where}.qas[{i}]: {exc}; skipped")
                    continue
                if q.id in seen_questions:
                    problems.append(f"{where}.qas[{i}]: id {q.id!r} already used; skipped")
                    continue
                seen_questions.add(q.id)
                questions.append(q)
    return _checked(QuestionSet(name=name, format="squad", sha256="", questions=questions, passages=passages,
                                problems=problems, total_questions=len(questions)))


def _squad_question(qa: Any, passage_id: str, context: str) -> Question:
    if not isinstance(qa, dict):
        raise ValueError("not an object")
    question, qid = qa.get("question"), qa.get("id")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('no "question" text')
    if qid is None or str(qid).strip() == "":
        raise ValueError('no "id"')
    answers: list[GoldAnswer] = []
    raw_answers = qa.get("answers", [])
    for a in raw_answers if isinstance(raw_answers, list) else []:
        text = a.get("text") if isinstance(a, dict) else None
        if not isinstance(text, str) or not text.strip():
            continue  # an empty gold answer cannot be matched; the others still count
        start = a.get("answer_start")
        start = start if isinstance(start, int) and not isinstance(start, bool) else None
        span, located = locate_answer(context, text, start)
        answers.append(GoldAnswer(text=text, answer_start=start, span=span, located=located))
    unanswerable = bool(qa.get("is_impossible", False))
    if not answers and not unanswerable:
        raise ValueError("no gold answer (and not marked is_impossible)")
    return Question(id=str(qid).strip(), question=question.strip(), answers=() if unanswerable else tuple(answers),
                    article=None if unanswerable else passage_id, unanswerable=unanswerable)


def _checked(qs: QuestionSet) -> QuestionSet:
    if not qs.questions:
        shown = "; ".join(qs.problems[:3]) or "the file holds no question"
        raise QuestionSetError(f"{qs.name}: no valid question ({shown})")
    return qs


# -- locating gold answers in their passage -------------------------------------------


def _is_ignorable(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def locate_answer(context: str, text: str, answer_start: int | None) -> tuple[tuple[int, int] | None, str]:
    """Where a gold answer lies in its passage: ``(span, how)``, how being a LOCATED_* value.

    The given offset wins when it reproduces the text; otherwise the occurrence
    nearest to it; otherwise a match that ignores whitespace and punctuation
    (CMRC annotators sometimes typed 「，」 where the passage has 「、」).

    >>> locate_answer("甲乙丙乙丙", "乙丙", 3)
    ((3, 5), 'exact')
    >>> locate_answer("甲乙丙乙丙", "乙丙", 4)
    ((3, 5), 'nearest')
    >>> locate_answer("甲，乙丙", "甲乙", -1)
    ((0, 3), 'normalized')
    """
    if answer_start is not None and answer_start >= 0 and context[answer_start : answer_start + len(text)] == text:
        return (answer_start, answer_start + len(text)), LOCATED_EXACT
    target = max(answer_start or 0, 0)
    best: int | None = None
    pos = context.find(text)
    while pos != -1:
        if best is None or abs(pos - target) < abs(best - target):
            best = pos
        pos = context.find(text, pos + 1)
    if best is not None:
        return (best, best + len(text)), LOCATED_NEAREST
    # Compare with whitespace and punctuation removed, then map back to offsets.
    kept = [i for i, ch in enumerate(context) if not _is_ignorable(ch)]
    squeezed = "".join(context[i] for i in kept)
    needle = "".join(ch for ch in text if not _is_ignorable(ch))
    if needle:
        best = None
        pos = squeezed.find(needle)
        while pos != -1:
            if best is None or abs(kept[pos] - target) < abs(kept[best] - target):
                best = pos
            pos = squeezed.find(needle, pos + 1)
        if best is not None:
            return (kept[best], kept[best + len(needle) - 1] + 1), LOCATED_NORMALIZED
    return None, LOCATED_MISSING


# -- choosing what to run -------------------------------------------------------------


def passage_articles(passages: list[Passage]) -> list[Article]:
    """Each passage as an article: path = passage id, one paragraph spanning the text exactly."""
    articles = []
    for p in passages:
        raw = p.text.encode("utf-8")
        articles.append(Article(
            path=p.id, title=f"{p.title} ({p.id})", text=p.text,
            paragraphs=(Paragraph(number=1, start=0, end=len(p.text), section=""),),
            sha256=hashlib.sha256(raw).hexdigest(), encoding="utf-8", size_bytes=len(raw),
        ))
    return articles


def split_of(key: str) -> str:
    """The half a passage (or question) belongs to: "tune" when the SHA-1 of ``key`` is even, else "test".

    >>> split_of("DEV_0"), split_of("DEV_2")
    ('tune', 'test')
    """
    return "tune" if int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "test"


def select_questions(qs: QuestionSet, split: str = "all", sample: int | None = None, seed: int = 0,
                     limit: int | None = None) -> QuestionSet:
    """The questions of one split, then a seeded random sample of them, then the first ``limit``.

    The passages stay all of the file's: the corpus does not shrink with the sample.
    """
    if split not in SPLITS:
        raise QuestionSetError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    for label, value in (("sample", sample), ("limit", limit)):
        if value is not None and value < 1:
            raise QuestionSetError(f"--{label} must be at least 1, got {value}")
    chosen = qs.questions if split == "all" else [q for q in qs.questions if split_of(q.split_key) == split]
    parts = [f"split={split}"]
    if sample is not None and sample < len(chosen):
        picked = set(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [q for i, q in enumerate(chosen) if i in picked]  # file order, for readable reports
        parts.append(f"sample={sample} seed={seed}")
    if limit is not None and limit < len(chosen):
        chosen = chosen[:limit]
        parts.append(f"limit={limit}")
    if not chosen:
        raise QuestionSetError(f"{qs.name}: no question in the {split} split")
    return replace(qs, questions=chosen, selection=" ".join(parts))


def hold_out_articles(qs: QuestionSet, count: int, seed: int = 0) -> QuestionSet:
    """Leave the gold articles (passages) of ``count`` random questions out of the search.

    Their questions become unanswerable: with CMRC, which has none, this measures
    refusal recall. The runner filters the articles out of every search.
    """
    candidates = sorted({q.article for q in qs.questions if q.article is not None})
    if not 1 <= count <= len(candidates):
        raise QuestionSetError(f"--hold-out must be between 1 and {len(candidates)} (the articles the chosen "
                               f"questions come from), got {count}")
    held = frozenset(random.Random(seed).sample(candidates, count))
    questions = [replace(q, answers=(), article=None, paragraph=None, unanswerable=True) if q.article in held else q
                 for q in qs.questions]
    moved = sum(1 for q in qs.questions if q.article in held)
    return replace(qs, questions=questions, held_out=qs.held_out | held,
                   selection=f"{qs.selection} hold-out={count} articles ({moved} questions)")


def questions_passages(qs: QuestionSet) -> list[Passage]:
    """Only the passages the set's questions come from (a small corpus for quick checks)."""
    wanted = {q.article for q in qs.questions} | qs.held_out
    return [p for p in qs.passages if p.id in wanted]
