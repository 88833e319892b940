"""A reader's figures on the reads the chat gives it: a passage's chunks, and the chunks retrieval found.

    python -m training.evaluate_reads --dataset TRAIN.json --held-out \\
        --retrieval retrieval.jsonl --chunks 1 [--reader-dir DIR]       # the held-out training passages
    python -m training.evaluate_reads --latency                          # 1-3 chunks of the default article

``retrieval.jsonl``: a header line, then one JSON line per question, ``{"id", "hits": [[passage id,
start, end], ...]}``, the chunks a search over an index of the held-out passages returned, best first
(written for issue 26 by the ``reader-experiment`` branch's ``training/retrieve.py``).

Each question is read against its own passage cut into the index's chunks (the
default chunk settings), all given to the reader at once ("gold paragraph"),
and, with ``--retrieval``, against the top ``--chunks`` chunks retrieval found
for it ("retrieved"). The best span is scored with the official CMRC 2018
scorer; figures are split by the gold answer's length and by the question's
kind (``rag.evaluation.kinds``). ``--held-out`` keeps the training file's
passages that every reader was held out from (``training.train_reader``).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rag.answer.reader import Reader
from rag.evaluation.cmrc_scorer import exact_match, f1_score
from rag.evaluation.kinds import bucket_names, kind_names, length_bucket, question_kind
from rag.settings import default_models_dir

_log = logging.getLogger("training")
DEV = Path("rag/data/cmrc2018_dev.json")


def chunk_texts(passage_id: str, text: str, chunk_size: int = 200, overlap: int = 40) -> list[str]:
    """A passage cut into the index's chunks (as ``rag index`` would cut it)."""
    from rag.evaluation.datasets import passage_articles
    from rag.evaluation.questions import Passage
    from rag.ingest.chunking import chunk_article

    article = passage_articles([Passage(id=passage_id, title="", text=text)])[0]
    return [c.text for c in chunk_article(article, chunk_size, overlap)[1]]


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Official F1/EM (x100) overall, by gold length and by question kind, and the answers' mean length."""
    def summary(part: list[dict[str, Any]]) -> dict[str, Any]:
        if not part:
            return {"questions": 0}
        return {"questions": len(part), "f1": round(100 * statistics.mean(r["f1"] for r in part), 2),
                "em": round(100 * statistics.mean(r["em"] for r in part), 2)}

    by_length, by_kind = defaultdict(list), defaultdict(list)
    for row in rows:
        by_length[row["bucket"]].append(row)
        by_kind[row["kind"]].append(row)
    return {**summary(rows), "mean_answer_chars": round(statistics.mean(len(r["answer"]) for r in rows), 2),
            "by_length": {b: summary(by_length[b]) for b in bucket_names()},
            "by_kind": {k: summary(by_kind[k]) for k in kind_names()}}


def evaluate(reader: Reader, dataset: Path, retrieval: Path | None, held_out: bool, traditional: bool,
             chunks: int, limit: int) -> dict[str, Any]:
    """Read every chosen question against its chunked passage (and its retrieved chunks); return the figures."""
    convert = _s2t() if traditional else (lambda text: text)
    data = json.loads(dataset.read_text(encoding="utf-8"))
    passages = [(str(p.get("id") or f"{a.get('id', a.get('title', ''))}-{n}"), p)
                for a in data["data"] for n, p in enumerate(a["paragraphs"])]
    keep = {pid for pid, _ in passages}
    if held_out:
        keep = held_out_passages([pid for pid, _ in passages], 0.1, 0)
    hits = _hits(retrieval) if retrieval else {}
    texts = {pid: p["context"] for pid, p in passages}
    rows: dict[str, list[dict[str, Any]]] = {"gold": [], "retrieved": []}
    began = time.perf_counter()
    for pid, paragraph in passages:
        if pid not in keep:
            continue
        gold_chunks = [convert(t) for t in chunk_texts(pid, paragraph["context"])]
        for qa in paragraph["qas"]:
            question, golds = convert(qa["question"]), [convert(a["text"]) for a in qa["answers"]]
            reads = {"gold": gold_chunks}
            if qa["id"] in hits:
                reads["retrieved"] = [convert(texts[a][s:e]) for a, s, e in hits[qa["id"]][:chunks]]
            for name, read in reads.items():
                spans = reader.read(question, read)
                answer = spans[0].text if spans else ""
                rows[name].append({"id": qa["id"], "answer": answer, "f1": f1_score(answer, golds),
                                   "em": exact_match(answer, golds), "bucket": length_bucket(golds[0]),
                                   "kind": question_kind(question)})
        if limit and len(rows["gold"]) >= limit:
            break
        if len(rows["gold"]) % 200 < len(paragraph["qas"]):
            _log.info("%d questions, %.0f s", len(rows["gold"]), time.perf_counter() - began)
    return {"dataset": dataset.name, "held_out": held_out, "script": "traditional (OpenCC s2t)" if traditional
            else "as given", "reader": reader.identity, "seconds": round(time.perf_counter() - began, 1),
            **{name: figures(part) for name, part in rows.items() if part},
            "retrieved_chunks": chunks if hits else None}


def _hits(path: Path) -> dict[str, list[tuple[str, int, int]]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return {row["id"]: [tuple(h) for h in row["hits"]] for row in map(json.loads, lines)}  # type: ignore[misc]


def _s2t():  # type: ignore[no-untyped-def]
    import opencc

    converter = opencc.OpenCC("s2t")
    return converter.convert


def latency(reader: Reader, runs: int = 40) -> dict[str, Any]:
    """Milliseconds to read 1, 2 and 3 chunks of the default article for a question (p50, p95)."""
    text = Path("corpus/shenzhen-ai-industry.txt").read_text(encoding="utf-8")
    pieces = chunk_texts("article", text)
    out: dict[str, Any] = {}
    for count in (1, 2, 3):
        times = []
        for i in range(runs):
            began = time.perf_counter()
            reader.read("2025年深圳人工智能核心产业营收约多少？", pieces[i % 5: i % 5 + count])
            times.append(1000 * (time.perf_counter() - began))
        times.sort()
        out[f"{count} chunks"] = {"p50_ms": round(times[len(times) // 2], 1),
                                  "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}
    return out


def held_out_passages(passage_ids, fraction, seed):
    import random
    order = list(range(len(passage_ids)))
    random.Random(seed).shuffle(order)
    return {passage_ids[i] for i in order[: round(len(order) * fraction)]}


def main(argv: list[str] | None = None) -> int:
    """Run the command; print the figures as JSON."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m training.evaluate_reads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEV, help="SQuAD-format file (default: CMRC 2018 dev)")
    parser.add_argument("--retrieval", type=Path, default=None, help="retrieval.jsonl of training.retrieve")
    parser.add_argument("--held-out", action="store_true", help="only the passages every reader was held out from")
    parser.add_argument("--chunks", type=int, default=3, help="retrieved chunks read (default 3)")
    parser.add_argument("--traditional", action="store_true", help="an OpenCC s2t copy of the set")
    parser.add_argument("--reader-dir", type=Path, default=None, help="the model's folder (default: shipped)")
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument("--limit", type=int, default=0, help="stop after about N questions")
    parser.add_argument("--latency", action="store_true", help="time reads of the default article instead")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    reader = Reader.load(args.models_dir, args.reader_dir)
    result = latency(reader) if args.latency else evaluate(reader, args.dataset, args.retrieval, args.held_out,
                                                          args.traditional, args.chunks, args.limit)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

