"""Build throughput of `rag index`, pooled sentence vectors beside the separate pass (issue 27, item 2).

Usage: python benchmarks/build_speed.py [--passages N] [--rounds R]

CMRC 2018 dev passages are written as .txt files (``# title`` then the text) and
indexed by ``build_index`` as ``rag index`` runs it, the default encoder loaded
once beforehand: a fresh index folder and an empty embedding cache for every
build. The two settings of ``sentence_vectors`` alternate in one run (separate,
pooled, pooled, separate per round), so a change in the machine's load falls on
both; chunks per second is the chunks of the corpus over the build's wall time.
Then, on each mode's index: an unchanged re-index, and a re-index after one new
article (the project's default article, corpus/shenzhen-ai-industry.txt) against
the encoder's time for exactly that article's work alone (``embedding_work``),
each the best of three, taken in turn. The table goes into BENCHMARKS.md between its own markers.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.data import load_cmrc, write_passage_files  # noqa: E402
from benchmarks.machine import git_commit, library_versions, load_average, machine_info  # noqa: E402
from benchmarks.pipeline import embedding_work, warm_up_pipeline  # noqa: E402
from benchmarks.report import write_block  # noqa: E402
from rag.embed.encoder import Encoder  # noqa: E402
from rag.settings import SENTENCE_VECTORS, Settings, load_settings  # noqa: E402
from rag.store.build import BuildReport, build_index  # noqa: E402

START, END = "<!-- bench:build-speed:start -->", "<!-- bench:build-speed:end -->"
AFTER = "<!-- bench:performance:end -->"
NEW_ARTICLE = ROOT / "corpus" / "shenzhen-ai-industry.txt"
TARGET_SPEED_UP = 2.0
PLUS_ONE_LIMIT = 1.5


@dataclass
class ModeBuilds:
    """One mode's full builds, and its re-index figures on the last of them."""

    mode: str
    seconds: list[float] = field(default_factory=list)
    chunks: int = 0
    sentences: int = 0
    embedded: int = 0
    stages: list[dict[str, float]] = field(default_factory=list)
    unchanged_s: float = 0.0
    unchanged_embedded: int = -1
    plus_one_s: float = 0.0
    plus_one_embed_s: float = 0.0
    plus_one_embedded: int = 0
    alone_s: float = 0.0

    @property
    def chunks_per_s(self) -> float:
        """Chunks over the mean wall time of the full builds."""
        return self.chunks / statistics.mean(self.seconds)


def full_build(settings: Settings, encoder: Encoder, into: ModeBuilds) -> BuildReport:
    """One build from nothing: the index folder and its embedding cache removed first."""
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    t0 = time.perf_counter()
    report = build_index(settings, lambda: encoder)
    into.seconds.append(time.perf_counter() - t0)
    into.chunks, into.sentences, into.embedded = report.chunks, report.sentences, report.embedded
    into.stages.append(report.timings)
    print(f"  {into.mode}: {report.chunks} chunks in {into.seconds[-1]:.1f} s, {report.embedded} texts embedded",
          file=sys.stderr, flush=True)
    return report


def re_index(settings: Settings, encoder: Encoder, into: ModeBuilds, repeat: int = 3) -> None:
    """An unchanged re-index; then, ``repeat`` times, the new article added (timed) and removed again.

    Removing it prunes its vectors from the private cache, so every addition embeds
    it anew. Each addition alternates with one encoding of its work alone; the best
    of each is kept, so both figures are taken alike.
    """
    t0 = time.perf_counter()
    unchanged = build_index(settings, lambda: encoder)
    into.unchanged_s, into.unchanged_embedded = time.perf_counter() - t0, unchanged.embedded
    new = settings.corpus_dir / NEW_ARTICLE.name
    alone, added = [], []
    for _ in range(repeat):
        shutil.copy(NEW_ARTICLE, new)
        work = embedding_work(settings, NEW_ARTICLE.name)
        t0 = time.perf_counter()
        work.run(encoder)
        alone.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plus_one = build_index(settings, lambda: encoder)
        added.append((time.perf_counter() - t0, plus_one.timings["embed"], plus_one.embedded))
        new.unlink()
        assert build_index(settings, lambda: encoder).embedded == 0
    into.alone_s = min(alone)
    into.plus_one_s, into.plus_one_embed_s, into.plus_one_embedded = min(added)


def render(meta: dict[str, object], runs: dict[str, ModeBuilds]) -> str:
    """The section (without its markers) as Markdown."""
    machine = meta["machine"]
    assert isinstance(machine, dict)
    separate, pooled = runs["separate"], runs["pooled"]
    speed_up = pooled.chunks_per_s / separate.chunks_per_s
    lines = [
        "## Index build throughput: pooled sentence vectors beside the separate pass", "",
        f"Written by `{meta['command']}` on {meta['date']}, commit `{meta['commit']}`; {machine['cpu']}, "
        f"{machine['cores']} cores, {meta['threads']} encoder threads; load average (1/5/15 min) "
        f"{'/'.join(map(str, meta['load_start']))} at the start, {'/'.join(map(str, meta['load_end']))} at the end "
        "(above the core count other jobs share the CPU, and every timing is slower by about that much; the two "
        f"modes alternate, so both bear it). Corpus: {meta['passages']} CMRC 2018 dev passages as .txt files, "
        f"default settings, encoder {meta['encoder']}; `build_index` as `rag index` runs it (model loaded "
        "beforehand), each build into a fresh index folder with an empty embedding cache.", "",
        "| sentence vectors | chunks | sentences | texts embedded | builds s | chunks/s | × separate | "
        "stages s (mean) |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for mode in SENTENCE_VECTORS[::-1]:
        r = runs[mode]
        stages = ", ".join(f"{k} {statistics.mean(s.get(k, 0.0) for s in r.stages):.2f}" for k in r.stages[0])
        lines.append(f"| {mode} | {r.chunks} | {r.sentences} | {r.embedded} | "
                     f"{', '.join(f'{s:.1f}' for s in r.seconds)} | {r.chunks_per_s:.1f} | "
                     f"{r.chunks_per_s / separate.chunks_per_s:.2f} | {stages} |")
    lines += [
        "", f"Re-indexing (new article: {NEW_ARTICLE.name}):", "",
        "| sentence vectors | unchanged re-index s (texts embedded) | + 1 article s (texts embedded) | its embed "
        "stage s | embedding it alone s | whole re-index / alone | embed stage / alone |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for mode in SENTENCE_VECTORS[::-1]:
        r = runs[mode]
        lines.append(f"| {mode} | {r.unchanged_s:.3f} ({r.unchanged_embedded}) | {r.plus_one_s:.2f} "
                     f"({r.plus_one_embedded}) | {r.plus_one_embed_s:.2f} | {r.alone_s:.2f} | "
                     f"{r.plus_one_s / r.alone_s:.2f} | {r.plus_one_embed_s / r.alone_s:.2f} |")
    lines += [
        "", f"Pooled builds {speed_up:.2f}× the chunks per second of the separate pass (target ≥ "
        f"{TARGET_SPEED_UP:g}×: {'met' if speed_up >= TARGET_SPEED_UP else 'not met'}). An unchanged re-index embeds "
        f"{pooled.unchanged_embedded} texts; one new article costs {pooled.plus_one_s / pooled.alone_s:.2f}× "
        f"embedding it alone (its embed stage {pooled.plus_one_embed_s / pooled.alone_s:.2f}×; target ≤ "
        f"{PLUS_ONE_LIMIT:g}×).",
        "", "Versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()) + ".", "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build both modes side by side, print and write the section."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=0, help="the first N CMRC dev passages (default: all 848)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (separate, pooled, pooled, separate)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "benchmarks" / "results" / "build-speed")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    settings = load_settings()
    command = "python benchmarks/build_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta: dict[str, object] = {
        "command": command.strip(), "commit": git_commit(ROOT), "machine": machine_info(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_start": load_average(),
        "encoder": settings.encoder_identity, "threads": settings.threads or machine_info()["cores"]}
    passages = load_cmrc(settings, quick=False).passages
    passages = passages[: args.passages] if args.passages else passages
    meta["passages"] = len(passages)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    corpus = args.work_dir / "corpus"
    write_passage_files(passages, corpus)
    encoder = Encoder.from_settings(settings)
    warm_up_pipeline()
    encoder.encode_passages_pooled(["深圳的人工智能产业。"], [[(0, 5)]])  # first-call allocations
    runs = {mode: ModeBuilds(mode) for mode in SENTENCE_VECTORS}
    modes = {mode: settings.replace(corpus_dir=corpus, index_dir=args.work_dir / f"index-{mode}",
                                    sentence_vectors=mode) for mode in SENTENCE_VECTORS}
    for _ in range(args.rounds):
        for mode in ("separate", "pooled", "pooled", "separate"):
            full_build(modes[mode], encoder, runs[mode])
    for mode in SENTENCE_VECTORS[::-1]:
        re_index(modes[mode], encoder, runs[mode])
    meta["load_end"] = load_average()
    section = render(meta, runs)
    print(section)
    write_block(args.output, START, END, section, after=AFTER)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
