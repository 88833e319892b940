"""Do gold answers keep the word that qualifies a number (约, 超过, …)? Counted on CMRC 2018 train.

    python scripts/qualifier_counts.py --train PATH/TO/cmrc2018_train.json

For every gold answer that starts with a number (digits or Chinese numerals), right after
one of the candidate words in its passage, it counts "left out"; for every gold answer that
starts with the word and then a number, "kept". The words kept more often than left out are
``rag.answer.short_answer.QUALIFIERS``: the reader's span takes them in (「约 2200 亿元」).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

CANDIDATES = ("大约", "超过", "将近", "约为", "约", "超", "近", "逾", "达", "共", "仅", "不足", "至少", "多达", "高达")
NUMBER = re.compile(r"[\d一二两三四五六七八九十百千万]")


def count(data: dict) -> tuple[Counter[str], Counter[str]]:
    """(kept, left out) per candidate word, over the answers of a SQuAD-format file."""
    kept: Counter[str] = Counter()
    left: Counter[str] = Counter()
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                text, start = answer["text"], answer["answer_start"]
                if context[start:start + len(text)] != text:
                    continue
                word = next((w for w in CANDIDATES if text.startswith(w) and NUMBER.match(text[len(w):].lstrip())),
                            None)
                if word:
                    kept[word] += 1
                elif NUMBER.match(text):
                    before = context[max(0, start - 3):start].rstrip()
                    word = next((w for w in CANDIDATES if before.endswith(w)), None)
                    if word:
                        left[word] += 1
    return kept, left


def main(argv: list[str] | None = None) -> int:
    """Print the counts per word and in all for the words the reader keeps."""
    parser = argparse.ArgumentParser(prog="python scripts/qualifier_counts.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="CMRC 2018 train (SQuAD format)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from rag.answer.short_answer import QUALIFIERS

    kept, left = count(json.loads(args.train.read_text(encoding="utf-8")))
    print("| word | kept | left out |\n|---|---:|---:|")
    for word in CANDIDATES:
        print(f"| {word}{' (kept by the reader)' if word in QUALIFIERS else ''} | {kept[word]} | {left[word]} |")
    print(f"| the reader's words in all | {sum(kept[w] for w in QUALIFIERS)} | {sum(left[w] for w in QUALIFIERS)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
