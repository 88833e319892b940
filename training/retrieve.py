"""What the reader meets at question time, for every training question: the chunks retrieval returns.

    python -m training.retrieve --train PATH/TO/cmrc2018_train.json --work-dir WORK_DIR

Every passage of the training files is indexed as an article of its own (as
``rag eval`` indexes a SQuAD file: the project's chunking, encoder and hybrid
search with default settings), and each question is searched twice: over every
passage ("answerable": the reads the reader answers from) and over every
passage but its own ("held out": hard negatives, chunks retrieval ranks high for
the question that do not come from its passage). The chunks of the index and the
hits of both searches are written to ``WORK_DIR/retrieval.jsonl``; the reader's
training reads them (``training.reads``). The CMRC dev set is never read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

_log = logging.getLogger("training")
DEPTH = 5  # hits kept per search: the reader reads at most the top 3


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="python -m training.retrieve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="SQuAD-format file")
    parser.add_argument("--work-dir", type=Path, required=True, help="where retrieval.jsonl goes (outside the repo)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (smoke tests)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Path:
    """Index the passages, search every question twice, write ``retrieval.jsonl``; return its path."""
    from rag.evaluation.datasets import load_question_set, passage_articles
    from rag.evaluation.runner import EvalOptions, evaluation_settings
    from rag.kb.knowledge_base import KnowledgeBase
    from rag.settings import load_settings

    qs = load_question_set(args.train)
    settings = load_settings()
    run_settings = evaluation_settings(settings, qs, EvalOptions(index_cache=args.work_dir / "index"))
    kb = KnowledgeBase(run_settings)
    began = time.perf_counter()
    kb.build(articles=passage_articles(qs.passages))
    version = kb.version()
    _log.info("index of %d passages, %d chunks in %.0f s", len(version.articles), len(version.chunks),
              time.perf_counter() - began)
    everything = list(version.articles)
    out = args.work_dir / "retrieval.jsonl"
    tmp = out.with_suffix(".tmp")
    questions = qs.questions[: args.limit] if args.limit else qs.questions
    began = time.perf_counter()
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"chunks": [[c.article, c.start, c.end] for c in version.chunks],
                             "settings": run_settings.chunking, "version": version.name}) + "\n")
        for n, q in enumerate(questions, start=1):
            row: dict[str, object] = {"id": q.id, "article": q.article}
            for name, allowed in (("hits", everything), ("held_out", [a for a in everything if a != q.article])):
                result = kb.search(q.question, k=DEPTH, articles=allowed)
                row[name] = [[h.chunk.article, h.chunk.start, h.chunk.end] for h in result.hits[:DEPTH]]
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            if n % 500 == 0:
                _log.info("%d/%d questions searched, %.0f s", n, len(questions), time.perf_counter() - began)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(run(parse(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
