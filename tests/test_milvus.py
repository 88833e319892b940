"""The Milvus store (Milvus Lite by file path, in tmp folders) beside FAISS on the real default article.

The retrieval, answer and lifecycle checks that both stores share are parametrised
over ``STORES`` where they live (tests/test_index.py, test_answering.py,
test_crash.py, test_browser_milvus.py); here are Milvus's own: the same hits as
FAISS, its server by URI, locks, atomic rebuilds, refusing a foreign collection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.milvus_scale import start_server
from rag.cli import main
from rag.embed.encoder import Encoder
from rag.errors import IndexMismatchError, StoreError
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.faults import EXIT_CODE, FAULT_ENV
from rag.store.milvus.store import connect, disconnect, display_uri, filter_literal
from tests.helpers import QUESTION_SET, answerable_questions, make_settings

pytest.importorskip("pymilvus")

ANSWERABLE = answerable_questions()
TOKEN = "tok-3f9c2a7e-never-shown"
EXTRA = "extra.txt"
EXTRA_V1 = "# 海洋牧场\n\n青岛的海洋牧场今年投放了三万个人工鱼礁，养殖海参和鲍鱼。\n"
EXTRA_V2 = "# 海洋牧场\n\n青岛的海洋牧场今年改为养殖扇贝，年产量达到五千吨。\n"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[tuple[KnowledgeBase, KnowledgeBase]]:
    """The default article indexed with FAISS, then copied into Milvus from the cache."""
    settings = make_settings(tmp_path_factory.mktemp("pair"))
    faiss_kb = KnowledgeBase(settings, encoder)
    first = faiss_kb.build()
    assert first.embedded > 0
    milvus_kb = KnowledgeBase(settings.replace(store="milvus"), encoder)
    report = milvus_kb.build()
    # Switching stores embeds nothing: the FAISS index is up to date, Milvus is filled from the cache.
    assert report.up_to_date and report.embedded == 0
    assert report.store_inserted == first.chunks
    yield faiss_kb, milvus_kb
    disconnect(milvus_kb.settings)


# -- Milvus only -------------------------------------------------------------------------------

def _group_ids(kb: KnowledgeBase, article: str) -> list[int]:
    conn = connect(kb.settings)
    rows = conn.client.query(kb.settings.milvus_collection, filter=f"article == {filter_literal(article)}",
                             output_fields=["id"], limit=1000)
    return sorted(int(r["id"]) for r in rows)


def test_dense_leg_identical(pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    faiss_kb, milvus_kb = pair
    for q in ANSWERABLE[:10]:
        a = [h.chunk.id for h in faiss_kb.search(q["question"], k=5, mode="dense").hits]
        b = [h.chunk.id for h in milvus_kb.search(q["question"], k=5, mode="dense").hits]
        assert a == b, q["question"]  # both exact (FLAT) inner product over the same vectors


def test_same_top_hits_and_answers(pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    faiss_kb, milvus_kb = pair
    same_first, misses, same_answer = 0, [], 0
    for q in ANSWERABLE:
        a = faiss_kb.search(q["question"], k=5).hits
        b = milvus_kb.search(q["question"], k=5).hits
        same_first += a[0].chunk.id == b[0].chunk.id
        if q["paragraph"] not in b[0].chunk.paragraphs:
            misses.append(q["id"])
    for q in ANSWERABLE[:8]:
        same_answer += faiss_kb.ask(q["question"]).text == milvus_kb.ask(q["question"]).text
    # Milvus's BM25 (its jieba analyzer, no stopword list) ranks a little differently from
    # bm25s; RRF keeps the fused first hit nearly always the same.
    assert same_first >= len(ANSWERABLE) - 3, same_first
    assert len(misses) <= 2, misses
    assert same_answer >= 7, same_answer


def test_eval_on_milvus_scores_like_faiss(pair: tuple[KnowledgeBase, KnowledgeBase], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`rag eval` on each store over the own question set: its report names the store, the figures agree."""
    reports = {}
    for kb in pair:
        s = kb.settings
        out = tmp_path / s.store
        assert main(["eval", str(QUESTION_SET), "--index-dir", str(s.index_dir), "--store", s.store,
                     "--output", str(out)]) == 0
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["index"]["store"].startswith(s.store) and report["index"]["embedded"] == 0
        reports[s.store] = report
    capsys.readouterr()
    assert reports["milvus"]["index"]["store"] == f"milvus {pair[1].settings.milvus_address} (rag_chunks)"
    faiss, milvus = (reports[s]["summary"] for s in ("faiss", "milvus"))
    assert milvus["hit@5"] >= 0.95 and abs(milvus["hit@1"] - faiss["hit@1"]) <= 0.07, (faiss, milvus)
    assert abs(milvus["containment"] - faiss["containment"]) <= 0.07, (faiss, milvus)
    assert milvus["refusal_recall"] is not None and milvus["refusal_recall"] >= 0.7, milvus


def test_milvus_own_hybrid_search(pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    _, milvus_kb = pair
    native = KnowledgeBase(milvus_kb.settings.replace(milvus_hybrid="milvus"), milvus_kb.encoder())
    hits = native.search("荣耀累计投入多少亿元用于AI研发", k=3).hits
    assert [h.rank for h in hits] == [1, 2, 3] and 4 in hits[0].chunk.paragraphs


def test_status_shows_store_never_token(pair: tuple[KnowledgeBase, KnowledgeBase], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, milvus_kb = pair
    monkeypatch.setenv("RAG_MILVUS_TOKEN", TOKEN)
    index_dir = str(milvus_kb.settings.index_dir)
    assert main(["status", "--json", "--store", "milvus", "--index-dir", index_dir]) == 0
    out = capsys.readouterr()
    status = json.loads(out.out)
    assert status["store"] == "milvus" and status["milvus_uri"].endswith("milvus.db")
    assert status["milvus_rows"] == status["chunks"]
    # A server that does not answer: one clear line naming it, without password or token.
    code = main(["status", "--json", "--store", "milvus", "--index-dir", index_dir,
                 "--milvus-uri", "http://root:pw-secret@127.0.0.1:1"])
    out2 = capsys.readouterr()
    assert code == 0
    status = json.loads(out2.out)
    assert "http://127.0.0.1:1" in status["milvus_error"]
    for text in (out.out, out.err, out2.out, out2.err):
        assert TOKEN not in text and "pw-secret" not in text
    assert "pw-secret" not in display_uri("http://root:pw-secret@127.0.0.1:1")


def test_second_process_stopped_by_store_lock(pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    _, milvus_kb = pair
    milvus_kb.search("深圳", k=1)  # this process holds the store
    s = milvus_kb.settings
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(s.corpus_dir), "--index-dir", str(s.index_dir),
         "--store", "milvus"], capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "open in another process" in proc.stderr
    assert "rebuild from the running app" in proc.stderr and "milvus-lite server --data-dir" in proc.stderr


@pytest.fixture()
def two_articles(tmp_path: Path, encoder: Encoder) -> Iterator[KnowledgeBase]:
    """The default article plus a small second one, indexed on Milvus only."""
    settings = make_settings(tmp_path, store="milvus")
    (settings.corpus_dir / EXTRA).write_text(EXTRA_V1, encoding="utf-8")
    kb = KnowledgeBase(settings, encoder)
    kb.build()
    yield kb
    disconnect(settings)


def test_incremental_update_replaces_only_changed_article(two_articles: KnowledgeBase) -> None:
    kb = two_articles
    main_article = "shenzhen-ai-industry.txt"
    before_main, before_extra = _group_ids(kb, main_article), _group_ids(kb, EXTRA)
    assert kb.search("海洋牧场投放了多少人工鱼礁", k=1).hits[0].chunk.article == EXTRA

    disconnect(kb.settings)  # as a new process would: Milvus Lite reopens with its collections released
    kb = KnowledgeBase(kb.settings, kb.encoder())
    (kb.settings.corpus_dir / EXTRA).write_text(EXTRA_V2, encoding="utf-8")
    report = kb.build()
    assert report.changed == [EXTRA] and report.store_deleted == 1
    assert report.store_inserted == len(before_extra)
    assert _group_ids(kb, main_article) == before_main  # untouched rows
    assert set(_group_ids(kb, EXTRA)).isdisjoint(before_extra)
    hit = kb.search("海洋牧场扇贝年产量", k=1).hits[0]
    assert hit.chunk.article == EXTRA and "扇贝" in hit.chunk.text

    (kb.settings.corpus_dir / EXTRA).unlink()
    report = kb.build()
    assert report.removed == [EXTRA] and report.store_deleted == 1 and report.store_inserted == 0
    assert _group_ids(kb, EXTRA) == []
    for mode in ("dense", "lexical"):
        assert all(h.chunk.article == main_article for h in kb.search("海洋牧场扇贝", k=5, mode=mode).hits)


def test_failed_rebuild_leaves_old_collection_serving(two_articles: KnowledgeBase,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kb = two_articles
    question = "荣耀累计投入多少亿元用于AI研发"
    before = [h.chunk.id for h in kb.search(question, k=3).hits]
    conn = connect(kb.settings)
    alias = kb.settings.milvus_collection
    target = conn.client.describe_alias(alias)["collection_name"]

    import rag.store.milvus.build as milvus_build

    def broken(*args: object, **kwargs: object) -> object:
        raise StoreError("insert failed on purpose")

    monkeypatch.setattr(milvus_build, "_rows", broken)
    with pytest.raises(StoreError):
        kb.build(rebuild=True)
    monkeypatch.undo()
    assert conn.client.describe_alias(alias)["collection_name"] == target
    assert [h.chunk.id for h in kb.search(question, k=3).hits] == before

    # Killed just before the switch (a real exit, in another process): the old collection still serves.
    s = kb.settings
    disconnect(s)
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", str(s.corpus_dir), "--index-dir", str(s.index_dir),
         "--store", "milvus", "--rebuild"], capture_output=True, text=True, timeout=300,
        env={**os.environ, FAULT_ENV: "before-switch"},
    )
    assert proc.returncode == EXIT_CODE, proc.stderr[-2000:]
    conn = connect(s)
    assert conn.client.describe_alias(alias)["collection_name"] == target
    fresh = KnowledgeBase(s, kb.encoder())
    assert [h.chunk.id for h in fresh.search(question, k=3).hits] == before

    # The next full build switches the alias and drops the leftover collections.
    fresh.build(rebuild=True)
    new_target = conn.client.describe_alias(alias)["collection_name"]
    assert new_target != target
    assert [c for c in conn.client.list_collections() if c.startswith(alias)] == [new_target]
    assert [h.chunk.id for h in fresh.search(question, k=3).hits] == before


def test_switch_back_to_faiss_embeds_nothing(two_articles: KnowledgeBase) -> None:
    kb = two_articles
    report = KnowledgeBase(kb.settings.replace(store="faiss"), kb.encoder()).build()
    assert report.up_to_date and report.embedded == 0


@pytest.mark.parametrize(("key", "value"), [("encoder", "other|torch-fp32"), ("schema", 1)])
def test_collection_of_another_model_or_schema_is_refused(two_articles: KnowledgeBase, key: str,
                                                         value: object) -> None:
    kb = two_articles
    conn = connect(kb.settings)
    target = conn.client.describe_alias(kb.settings.milvus_collection)["collection_name"]
    meta = json.loads(conn.client.describe_collection(target)["properties"]["rag.meta"])
    conn.client.alter_collection_properties(target, {"rag.meta": json.dumps({**meta, key: value})})
    with pytest.raises(IndexMismatchError, match=r"rag index --rebuild --store milvus"):
        KnowledgeBase(kb.settings, kb.encoder()).search("深圳", k=1)
    # The command it names fixes it: a new collection behind the alias, answering again.
    assert KnowledgeBase(kb.settings, kb.encoder()).build(rebuild=True).store_inserted > 0
    assert KnowledgeBase(kb.settings, kb.encoder()).search("深圳", k=1).hits


def test_milvus_server_by_uri(tmp_path: Path, encoder: Encoder) -> None:
    """The network code path a cluster uses: `milvus-lite server` reached by http://, with a token."""
    server, uri = start_server(tmp_path / "served.db")
    try:
        settings = make_settings(tmp_path, store="milvus", milvus_uri=uri, milvus_token=TOKEN)
        kb = KnowledgeBase(settings, encoder)
        report = kb.build()
        assert report.store_inserted == report.chunks > 0
        hits = kb.search("荣耀累计投入多少亿元用于AI研发", k=3).hits
        assert 4 in hits[0].chunk.paragraphs
        status = kb.status()
        assert status["milvus_uri"] == uri and TOKEN not in json.dumps(status)
        disconnect(settings)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_embedded_store_served_by_hand_keeps_its_data(two_articles: KnowledgeBase) -> None:
    """The README's way to share a Lite store: `milvus-lite server --data-dir index/milvus.db`, then its URI."""
    kb = two_articles
    question = "海洋牧场投放了多少人工鱼礁"
    before = [h.chunk.id for h in kb.search(question, k=3).hits]
    disconnect(kb.settings)
    server, uri = start_server(Path(kb.settings.milvus_address))
    try:
        # While the server holds the folder, opening it embedded says what to do instead.
        with pytest.raises(StoreError, match=r"held by another program.*milvus-lite server --data-dir.*http://"):
            KnowledgeBase(kb.settings, kb.encoder()).search(question, k=3)
        served = KnowledgeBase(kb.settings.replace(milvus_uri=uri), kb.encoder())
        assert [h.chunk.id for h in served.search(question, k=3).hits] == before
        assert served.build().store_inserted == 0  # the same collection, up to date: nothing written
        disconnect(served.settings)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_search_limited_to_an_article(two_articles: KnowledgeBase) -> None:
    kb = two_articles
    native = KnowledgeBase(kb.settings.replace(milvus_hybrid="milvus"), kb.encoder())
    for searcher, mode in ((kb, "dense"), (kb, "lexical"), (kb, "hybrid"), (native, "hybrid")):
        hits = searcher.search("深圳人工智能企业有多少家", k=3, mode=mode, articles=[EXTRA]).hits
        assert hits and all(h.chunk.article == EXTRA for h in hits), mode


def test_milvus_bench_at_scale_smoke(pair: tuple[KnowledgeBase, KnowledgeBase], tmp_path: Path) -> None:
    """benchmarks/milvus_bench.py's scale part at a tiny size: every row, exact search agreeing, a table."""
    from benchmarks.milvus_scale import measure_size, render_scale
    from benchmarks.synthetic import base_from_index

    faiss_kb = pair[0]
    base = base_from_index(faiss_kb.settings.index_dir)
    size = 2 * len(base.chunks) + 3  # two synthetic copies after the real one, the last cut short
    questions = [q["question"] for q in ANSWERABLE[:6]]
    rows = measure_size(base, size, faiss_kb.settings.replace(cache_dir=tmp_path / "cache"), faiss_kb.encoder(),
                        questions, tmp_path, server=False)
    assert [r.store for r in rows] == ["faiss", "milvus-lite"]
    for row in rows:
        assert row.recall_at_10 == 1.0 and row.build_s > 0 and row.rss_mib > 0
        assert row.dense_ms.p50 > 0 and row.hybrid_ms.p50 > 0
    text = "\n".join(render_scale(rows, len(questions), False, [size]))
    assert "| faiss | flat |" in text and "| milvus-lite | FLAT |" in text
    assert "Not run here: Milvus over the network" in text and "1M chunks" in text


def test_milvus_bench_memory_estimate_extrapolates_the_two_largest_sizes() -> None:
    from benchmarks.milvus_scale import ScaleRow, milvus_memory_estimate
    from benchmarks.scale import Percentiles

    def row(size: int, store: str, peak: float, server_peak: float = float("nan")) -> ScaleRow:
        ms = Percentiles.of([1.0])
        return ScaleRow(size, store, "FLAT", 1.0, ms, ms, 1.0, 1.0, peak, peak, server_peak, server_peak)

    assert milvus_memory_estimate([row(10_000, "faiss", 700)], 1_000_000) is None
    one = [row(10_000, "faiss", 700), row(10_000, "milvus-lite", 1_200)]
    assert milvus_memory_estimate(one, 100_000) == pytest.approx(5_000)
    two = [*one, row(100_000, "faiss", 1_000), row(100_000, "milvus-lite", 2_900),
           row(100_000, "milvus-lite server (http)", 900, server_peak=2_000)]
    # held: 500 MiB at 10k, max(1900, 2000) = 2000 MiB at 100k; 1/60 MiB per row on from there
    assert milvus_memory_estimate(two, 1_000_000) == pytest.approx(2_000 + 1_500 / 90_000 * 900_000)


def test_hnsw_above_the_flat_limit(tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above EXACT_LIMIT chunks the dense field gets an HNSW graph: built, searched, same first hits as FAISS."""
    import rag.store.milvus.build as milvus_build

    monkeypatch.setattr(milvus_build, "EXACT_LIMIT", 3)  # Milvus's use of it only: FAISS stays flat
    settings = make_settings(tmp_path, store="milvus")
    kb = KnowledgeBase(settings, encoder)
    try:
        kb.build()
        conn = connect(settings)
        target = conn.client.describe_alias(settings.milvus_collection)["collection_name"]
        index = conn.client.describe_index(target, "dense")
        assert index["index_type"] == "HNSW" and index["state"] == "Finished"
        faiss_kb = KnowledgeBase(settings.replace(store="faiss"), encoder)
        for q in ANSWERABLE[:10]:
            got = [h.chunk.id for h in kb.search(q["question"], k=3, mode="dense").hits]
            assert got == [h.chunk.id for h in faiss_kb.search(q["question"], k=3, mode="dense").hits], q["id"]
    finally:
        disconnect(settings)
