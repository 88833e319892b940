"""Gold-paragraph figures of the shipped reader: each question read against its own passage, official CMRC scorer.

    python -m training.evaluate_reader                       # CMRC 2018 dev, simplified
    python -m training.evaluate_reader --traditional         # an OpenCC s2t copy of it
    python -m training.evaluate_reader --latency             # 5 short passages of the default article

Runs the shipped files exactly as ``rag.answer.reader.Reader`` does at question
time (each passage encoded once, then read for each of its questions). EM and
F1 are averaged over all questions, x100; a question with no span scores 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

from rag.answer.reader import Reader
from rag.evaluation.cmrc_scorer import exact_match, f1_score
from rag.settings import default_models_dir

_log = logging.getLogger("training")
DEV = Path("rag/data/cmrc2018_dev.json")


def gold_paragraph(reader: Reader, dataset: Path, traditional: bool = False, limit: int = 0) -> dict[str, object]:
    """Official EM/F1 (x100) of the reader's best span per question, given the gold passage."""
    convert = _s2t() if traditional else (lambda text: text)
    data = json.loads(dataset.read_text(encoding="utf-8"))
    f1s, ems, lengths, seconds = [], [], [], 0.0
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            context = convert(paragraph["context"])
            began = time.perf_counter()
            encoded = reader.encode_passages([context])
            for qa in paragraph["qas"]:
                spans = reader.read_encoded(convert(qa["question"]), encoded)
                text = spans[0].text if spans else ""
                golds = [convert(a["text"]) for a in qa["answers"]]
                f1s.append(f1_score(text, golds))
                ems.append(exact_match(text, golds))
                lengths.append(len(text))
            seconds += time.perf_counter() - began
            if limit and len(f1s) >= limit:
                break
            if len(f1s) % 500 < len(paragraph["qas"]):
                _log.info("%d questions: F1 %.2f EM %.2f", len(f1s), 100 * statistics.mean(f1s),
                          100 * statistics.mean(ems))
        if limit and len(f1s) >= limit:
            break
    return {"dataset": str(dataset), "script": "traditional (OpenCC s2t)" if traditional else "as given",
            "questions": len(f1s), "f1": round(100 * statistics.mean(f1s), 2),
            "em": round(100 * statistics.mean(ems), 2),
            "mean_answer_chars": round(statistics.mean(lengths), 2), "seconds": round(seconds, 1)}


def _s2t():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("s2t").convert


def latency(reader: Reader, sentences_each: int = 3, runs: int = 40) -> dict[str, object]:
    """p50/p95 ms of ``read`` on 5 short passages (``sentences_each`` sentences each) of the default article."""
    text = Path("corpus/shenzhen-ai-industry.txt").read_text(encoding="utf-8")
    sentences = [s + "。" for s in text.replace("\n", "").split("。") if len(s) > 20]
    k = sentences_each
    passages = ["".join(sentences[i: i + k]) for i in range(0, 5 * k, k)]
    question = "2025年深圳人工智能核心产业营收约多少？"
    reader.read(question, passages)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        reader.read(question, passages)
        times.append(1000 * (time.perf_counter() - began))
    times.sort()
    return {"passages": len(passages), "chars": [len(p) for p in passages], "runs": runs,
            "p50_ms": round(times[len(times) // 2], 1), "p95_ms": round(times[int(len(times) * 0.95)], 1)}


def main(argv: list[str] | None = None) -> int:
    """Print the requested figures as JSON."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m training.evaluate_reader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEV, help="SQuAD-format file (default: CMRC 2018 dev)")
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument("--reader-dir", type=Path, default=None, help="head folder (default: the shipped one)")
    parser.add_argument("--traditional", action="store_true", help="read an OpenCC s2t copy")
    parser.add_argument("--no-fold", action="store_true", help="do not fold scripts (to measure what folding buys)")
    parser.add_argument("--keep-echoes", action="store_true",
                        help="keep a best span that only repeats the question (to measure what skipping it buys)")
    parser.add_argument("--limit", type=int, default=0, help="stop after about this many questions")
    parser.add_argument("--latency", action="store_true", help="time read() on 5 short passages instead")
    parser.add_argument("--sentences", type=int, default=3, help="sentences per passage for --latency")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    reader = Reader.load(args.models_dir, args.reader_dir, threads=args.threads)
    reader.fold = not args.no_fold
    reader.skip_echoes = not args.keep_echoes
    if args.latency:
        figures = latency(reader, args.sentences)
    else:
        figures = gold_paragraph(reader, args.dataset, args.traditional, args.limit)
    record = {**figures, "fold": reader.fold, "skip_echoes": reader.skip_echoes, "head": reader.identity}
    print(json.dumps(record, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
