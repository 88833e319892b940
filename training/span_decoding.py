"""How long a span the reader may give, and what a long one costs: a copy of a reader folder with other settings.

    python -m training.span_decoding --reader-dir rag/data/reader --out DIR --max-span 60 --penalty 0.05 --after 21

The head's weights do not change; reader.json's ``max_span`` and ``length_prior``
do. The prior is linear: a span of n tokens scores ``-penalty x max(0, n - after)``
(n counted from 1, so ``--after 21`` leaves spans of up to 21 tokens unpenalised).
Each candidate is measured with ``python -m training.evaluate_reads --dataset
cmrc2018_train.json --held-out --retrieval retrieval.jsonl --chunks 1 --reader-dir
DIR`` on the training passages the head never saw; the shipped setting is the one
with the best F1 whose every gold-length bucket stays at or above the previous
head's (BENCHMARKS.md, rag/data/reader/MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def linear_prior(max_span: int, penalty: float, after: int) -> list[float]:
    """The additive score of a span of 1..max_span tokens.

    >>> linear_prior(5, 0.5, 3)
    [0.0, 0.0, 0.0, -0.5, -1.0]
    """
    return [round(-penalty * max(0, n - after), 6) + 0.0 for n in range(1, max_span + 1)]


def write_copy(reader_dir: Path, out: Path, max_span: int, penalty: float, after: int) -> Path:
    """Copy ``reader_dir`` to ``out`` with the span settings changed; returns the new reader.json."""
    if out.resolve() != reader_dir.resolve():
        shutil.copytree(reader_dir, out, dirs_exist_ok=True)
    path = out / "reader.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["max_span"] = max_span
    config["length_prior"] = linear_prior(max_span, penalty, after)
    config["span_decoding"] = {"max_span": max_span, "penalty": penalty, "after": after,
                               "command": "python -m training.span_decoding"}
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the copy."""
    parser = argparse.ArgumentParser(prog="python -m training.span_decoding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader-dir", type=Path, required=True, help="the reader folder to start from")
    parser.add_argument("--out", type=Path, required=True, help="where the copy goes (the same folder: in place)")
    parser.add_argument("--max-span", type=int, default=60, help="longest span in tokens (default 60)")
    parser.add_argument("--penalty", type=float, default=0.05, help="score lost per token past --after")
    parser.add_argument("--after", type=int, default=21, help="spans up to this many tokens lose nothing")
    args = parser.parse_args(argv)
    if args.max_span < 1 or args.penalty < 0 or args.after < 0:
        print("error: --max-span must be at least 1, --penalty and --after at least 0", file=sys.stderr)
        return 2
    print(write_copy(args.reader_dir, args.out, args.max_span, args.penalty, args.after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
