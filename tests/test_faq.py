"""FAQ pairs on the real default article and model: import, list, delete, and answers from the FAQ.

Each test works on a copy of one built index (``copy_index``) with an FAQ of
its own in the copy's curation folder.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from rag.cli import main
from rag.embed.encoder import Encoder
from rag.errors import CurationError
from rag.kb.bases import KnowledgeBases
from rag.kb.knowledge_base import KnowledgeBase
from rag.search.faq import faq_score, lexical_similarity
from rag.settings import Settings
from tests.helpers import copy_index, make_settings, on_store

PAIRS = Path(__file__).parent / "data" / "faq_pairs.jsonl"
FAQ_CSV = ("question,answer,source\n"
           "深圳的人工智能企业有多少家？,深圳有人工智能企业2600多家，居全国前列。,深圳市工信局\n"
           "怎样申请人才补贴？,登录深圳人才网在线申请，审核约需20个工作日。,\n")
PARAPHRASE = "请问深圳人工智能企业有多少家"  # entry 1 asked another way
UNRELATED = "深圳的算力规模是多少？"  # the article answers it; no FAQ entry does


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("faq")), encoder)
    kb.build()
    return kb


@pytest.fixture
def kb(built: KnowledgeBase, tmp_path: Path) -> KnowledgeBase:
    return copy_index(built, tmp_path)


def cli(kb: KnowledgeBase, *args: str) -> int:
    """``rag ARGS`` on ``kb``'s folders (a settings file names them)."""
    config = kb.settings.index_dir.parent / "rag.toml"
    config.write_text(f"corpus_dir = {str(kb.settings.corpus_dir)!r}\nindex_dir = {str(kb.settings.index_dir)!r}\n",
                      encoding="utf-8")
    return main([*args, "--config", str(config)])


def listed(kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert cli(kb, "faq", "list", "--json") == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def xlsx(rows: list[list[object]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_import_csv_xlsx_and_jsonl(kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text(FAQ_CSV, encoding="utf-8")
    (tmp_path / "b.xlsx").write_bytes(xlsx([["问题", "答案", "来源"], ["深圳有几个国家级创新平台？", "12个。", None],
                                            ["能源", 42, "年报"]]))
    (tmp_path / "c.jsonl").write_text(json.dumps({"问题": "龙岗区有什么产业？", "答案": "机器人产业。"},
                                                 ensure_ascii=False) + "\n", encoding="utf-8")
    for name in ("a.csv", "b.xlsx", "c.jsonl"):
        assert cli(kb, "faq", "import", str(tmp_path / name)) == 0
    # the same question again: its answer is replaced, its id kept
    (tmp_path / "d.csv").write_text("问题,答案\n怎样申请人才补贴？,在线申请。\n", encoding="utf-8")
    assert cli(kb, "faq", "import", str(tmp_path / "d.csv")) == 0
    entries = listed(kb, capsys)
    assert [(e["id"], e["question"]) for e in entries] == [
        ("1", "深圳的人工智能企业有多少家？"), ("2", "怎样申请人才补贴？"), ("3", "深圳有几个国家级创新平台？"),
        ("4", "能源"), ("5", "龙岗区有什么产业？")]
    assert entries[0]["source"] == "深圳市工信局" and "source" not in entries[1]
    assert entries[1]["answer"] == "在线申请。" and entries[3]["answer"] == "42"
    # a plain file the user can read: one JSON object a line
    lines = (kb.settings.curation_root / "faq.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["1", "2", "3", "4", "5"]
    assert cli(kb, "status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["curation"]["faq_entries"] == 5


def test_bad_rows_are_named_and_the_others_imported(kb: KnowledgeBase, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    big = "长" * 6000
    (tmp_path / "rows.csv").write_text(f"question,answer\n好问题？,好答案。\n,没有问题\n没有答案？,\n长答案？,{big}\n",
                                       encoding="utf-8")
    assert cli(kb, "faq", "import", str(tmp_path / "rows.csv")) == 0
    out = capsys.readouterr().out
    assert "rows.csv line 3: the question is empty" in out and "rows.csv line 4: the answer is empty" in out
    assert "line 5: the answer has 6,000 characters, over the limit of 5,000" in out
    assert [e["question"] for e in listed(kb, capsys)] == ["好问题？"]
    # an 11 MB cell: that row is refused, the file still read
    (tmp_path / "huge.csv").write_text("question,answer\n大？," + "大" * (11 * 1024 * 1024 // 3) + "\n小？,小。\n",
                                       encoding="utf-8")
    assert cli(kb, "faq", "import", str(tmp_path / "huge.csv")) == 0
    out = capsys.readouterr().out
    assert "huge.csv line 2: the answer has 3,844,778 characters, over the limit of 5,000" in out
    assert [e["question"] for e in listed(kb, capsys)] == ["好问题？", "小？"]
    (tmp_path / "bad.jsonl").write_text('{"question": "一？", "answer": "一。"}\nnot json\n[1]\n', encoding="utf-8")
    assert cli(kb, "faq", "import", str(tmp_path / "bad.jsonl")) == 0
    out = capsys.readouterr().out
    assert "bad.jsonl line 2: not JSON" in out and "bad.jsonl line 3: not a JSON object" in out


@pytest.mark.parametrize(("name", "content", "said"), [
    ("no_columns.csv", "问,答\n一,二\n", "no question and no answer column"),
    ("no_answer.csv", "question,source\n一,二\n", "no answer column"),
    ("empty.csv", "", "is empty"),
    ("latin1.csv", "question,answer\n\xe9,\xe9\n".encode("latin-1"), "is not UTF-8"),
    ("faq.txt", "question,answer\n", "is not an FAQ file"),
    ("not_a_zip.xlsx", b"PK\x03\x04 nothing", "is not an .xlsx file"),
    ("many.csv", "question,answer\n" + "问？,答。\n" * 10_001, "more than 10,000 rows"),
])
def test_a_bad_file_is_one_line_and_changes_nothing(kb: KnowledgeBase, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str], name: str,
                                                    content: str | bytes, said: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    assert cli(kb, "faq", "import", str(path)) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (kb.settings.curation_root / "faq.jsonl").exists()


def test_an_xlsx_zip_bomb_is_refused_before_openpyxl_opens_it(kb: KnowledgeBase, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    def never(*_: object, **__: object) -> None:
        raise AssertionError("openpyxl opened a zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))  # 60 MB -> about 60 KB
    assert zlib.crc32(b"") == 0 and path.stat().st_size < 1024 * 1024
    assert cli(kb, "faq", "import", str(path)) == 2
    err = capsys.readouterr().err
    assert "over the limit of 50 MB for a .xlsx's contents (a zip bomb?)" in err and "Traceback" not in err


def test_a_paraphrase_is_answered_from_the_faq_and_an_unrelated_question_is_not(
        kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text(FAQ_CSV, encoding="utf-8")
    assert cli(kb, "faq", "import", str(tmp_path / "a.csv")) == 0
    capsys.readouterr()
    assert cli(kb, "ask", PARAPHRASE, "--json", "--explain") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "深圳有人工智能企业2600多家，居全国前列。[1]" and not data["refused"]
    assert data["short_answer"]["text"] == "深圳有人工智能企业2600多家"  # the answer's first clause
    [cited] = data["citations"]
    assert cited["kind"] == "faq" and cited["article"] == "faq:1" and cited["title"] == "深圳的人工智能企业有多少家？"
    assert cited["text"] == "深圳有人工智能企业2600多家，居全国前列。" and cited["section"] == "深圳市工信局"
    assert data["hits"] == []  # answered before the articles were read
    faq = data["explain"]["faq"]
    assert faq["matched"] and faq["entry_id"] == "1" and faq["score"] >= faq["threshold"] == 0.8699
    assert data["explain"]["refusal"]["rule"] == "faq"
    assert cli(kb, "ask", PARAPHRASE, "--explain") == 0
    said = capsys.readouterr().out
    assert "常见问题：最接近的是第 1 条「深圳的人工智能企业有多少家？」" in said and "结论：按常见问题回答" in said

    assert cli(kb, "ask", UNRELATED, "--json", "--explain") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hits"] and all(c["kind"] == "article" for c in data["citations"]) and data["citations"]
    faq = data["explain"]["faq"]
    assert not faq["matched"] and faq["score"] < faq["threshold"]
    # an answer limited to an article never comes from the FAQ
    article = kb.version().chunks[0].article
    assert cli(kb, "ask", PARAPHRASE, "--json", "--article", article) == 0
    assert all(c["kind"] == "article" for c in json.loads(capsys.readouterr().out)["citations"])


def test_the_api_and_mcp_list_import_delete_and_answer_from_the_faq(kb: KnowledgeBase) -> None:
    from fastapi.testclient import TestClient

    from rag.api.app import create_api

    bases = KnowledgeBases(kb.settings, opened={"default": kb})
    with TestClient(create_api(bases, kb.settings)) as http:
        assert http.get("/api/faq").json() == []
        added = http.post("/api/faq", json={"entries": [
            {"question": "深圳的人工智能企业有多少家？", "answer": "深圳有人工智能企业2600多家，居全国前列。"},
            {"question": "", "answer": "没有问题"}]}).json()
        assert [e["id"] for e in added["added"]] == ["1"]
        assert added["problems"] == ["the request entry 2: the question is empty; the row was skipped"]
        assert http.post("/api/faq", json={"entries": [{"question": 1, "answer": "x"}]}).status_code == 400
        assert [e["question"] for e in http.get("/api/faq").json()] == ["深圳的人工智能企业有多少家？"]
        answer = http.post("/api/ask", json={"question": PARAPHRASE}).json()
        assert answer["citations"][0]["kind"] == "faq"
        assert answer["short_answer"]["text"] == "深圳有人工智能企业2600多家"
        chat = http.post("/v1/chat/completions", json={"model": "default", "messages": [
            {"role": "user", "content": PARAPHRASE}]}).json()
        assert [r["kind"] for r in chat["choices"][0]["message"]["references"]] == ["faq"]
        assert http.delete("/api/faq/1").json()["id"] == "1"
        gone = http.delete("/api/faq/1")
        assert gone.status_code == 400 and "rag faq list" in gone.json()["error"]
        answer = http.post("/api/ask", json={"question": PARAPHRASE}).json()
        assert all(c["kind"] == "article" for c in answer["citations"])


def test_mcp_faq_list(kb: KnowledgeBase) -> None:
    import asyncio

    from rag.api.mcp_tools import build_mcp

    kb.faq.import_json([{"question": "怎样申请人才补贴？", "answer": "在线申请。", "source": "人才网"}])
    server = build_mcp(KnowledgeBases(kb.settings, opened={"default": kb}))
    result = asyncio.run(server.call_tool("faq_list", {}))
    text = result.content[0].text  # type: ignore[union-attr]
    assert json.loads(text) == [{"id": "1", "question": "怎样申请人才补贴？", "answer": "在线申请。",
                                 "source": "人才网"}]


def test_delete(kb: KnowledgeBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text(FAQ_CSV, encoding="utf-8")
    assert cli(kb, "faq", "import", str(tmp_path / "a.csv")) == 0
    assert cli(kb, "faq", "delete", "1") == 0
    assert [e["id"] for e in listed(kb, capsys)] == ["2"]
    assert cli(kb, "faq", "delete", "1") == 2
    assert "the FAQ has no entry '1': `rag faq list` shows the ids" in capsys.readouterr().err
    answer = kb.ask(PARAPHRASE)
    assert all(c.kind == "article" for c in answer.citations)
    with pytest.raises(CurationError, match="line 1"):
        (kb.settings.curation_root / "faq.jsonl").write_text("{}\n", encoding="utf-8")
        kb.faq.entries()


def test_a_generative_answer_from_the_faq_needs_no_endpoint(kb: KnowledgeBase) -> None:
    """The FAQ answers before the articles, and before any chat endpoint is called (none is set here)."""
    kb.faq.import_json([{"question": "深圳的人工智能企业有多少家？", "answer": "深圳有人工智能企业2600多家。"}])
    *texts, answer = kb.ask_generative(PARAPHRASE)
    assert texts == ["深圳有人工智能企业2600多家。[1]"]
    assert not isinstance(answer, str) and answer.mode == "generative" and answer.citations[0].kind == "faq"


def test_the_faq_answers_on_the_milvus_store_too(kb: KnowledgeBase) -> None:
    """The FAQ's matrix is its own: the same entry answers whichever store holds the articles."""
    pytest.importorskip("pymilvus")
    kb.faq.import_json([{"question": "深圳的人工智能企业有多少家？", "answer": "深圳有人工智能企业2600多家。"}])
    with on_store(kb, "milvus") as twin:
        answer = twin.ask(PARAPHRASE)
        assert [c.kind for c in answer.citations] == ["faq"] and answer.hits == []
        assert all(c.kind == "article" for c in twin.ask(UNRELATED).citations)


def test_the_shipped_threshold_keeps_precision_on_cmrc_pairs(encoder: Encoder) -> None:
    """Report-half pairs of scripts/calibrate_faq.py: precision >= 0.95 at the shipped threshold, recall measured."""
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    assert sum(p["match"] for p in pairs) >= 100 and sum(not p["match"] for p in pairs) >= 100
    settings = Settings()
    texts = sorted({t for p in pairs for t in (p["a"], p["b"])})
    vectors = dict(zip(texts, encoder.encode_queries(texts), strict=True))
    scores = np.array([faq_score(float(vectors[p["a"]] @ vectors[p["b"]]), lexical_similarity(p["a"], p["b"]),
                                 settings.faq_lexical_weight) for p in pairs])
    match = np.array([p["match"] for p in pairs])
    chosen = scores >= settings.faq_threshold
    precision = (chosen & match).sum() / chosen.sum()
    recall = (chosen & match).sum() / match.sum()
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.9, (precision, recall)  # scripts/calibrate_faq.py measured 0.980 on the whole report half
