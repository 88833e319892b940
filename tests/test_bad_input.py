"""Bad input, tried on purpose: each gets a clear message and costs nothing else."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from rag.cli import main
from rag.embed.encoder import Encoder
from rag.errors import ArticleError
from rag.ingest.articles import load_article
from rag.kb.knowledge_base import KnowledgeBase
from tests.helpers import make_settings

MB = 1024 * 1024


def test_oversized_article_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:  # 100 MB of real text, written in pieces
        block = ("深圳人工智能产业。" * 4000).encode()
        for _ in range(100 * MB // len(block) + 1):
            fh.write(block)
    assert path.stat().st_size >= 100 * MB
    tracemalloc.start()
    with pytest.raises(ArticleError, match=r"huge\.txt.*over the article size limit of 20 MB"):
        load_article(path, tmp_path, 20 * MB, 10_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * MB


def test_article_at_the_limit_is_chunked(tmp_path: Path) -> None:
    from rag.ingest.chunking import chunk_article

    path = tmp_path / "big.txt"
    sentence = "深圳正以雁阵之势在全球人工智能赛道上加速领跑。"
    text = "\n\n".join(sentence * 20 for _ in range(2 * MB // (len(sentence.encode()) * 20 + 2)))
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size <= 2 * MB
    article = load_article(path, tmp_path, 2 * MB, 10_000_000)
    _, chunks = chunk_article(article, 300, 60)
    assert chunks[-1].end == len(article.text)
    assert all(article.text[c.start:c.end] == c.text for c in chunks[::97])


BAD_FILES: dict[str, bytes] = {
    "empty.txt": b"",
    "blank.md": " \n\n\t\u3000\n".encode(),
    "program.txt": bytes(range(256)) * 64,
    "broken-utf8.txt": "深圳人工智能。".encode() + b"\xc3\x28\xa0\xa1\xff" * 50 + "产业。".encode(),
    "notes.xyz": "不支持的类型。".encode(),
}


def test_bad_files_are_named_and_the_rest_is_indexed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoder: Encoder
) -> None:
    settings = make_settings(tmp_path)
    for name, data in BAD_FILES.items():
        (settings.corpus_dir / name).write_bytes(data)
    (settings.corpus_dir / "繁體 文章.txt").write_bytes("臺北的人工智慧產業聚落發展迅速。".encode("big5"))
    (settings.corpus_dir / "utf16.txt").write_bytes("武汉光谷的激光企业超过一千家。".encode("utf-16"))
    (settings.corpus_dir / "script.html.txt").write_text(
        "<script>alert(1)</script>成都的<img src=x onerror=alert(2)>游戏产业很强。", encoding="utf-8")
    code = main(["index", str(settings.corpus_dir), "--index-dir", str(settings.index_dir), "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0  # some files were skipped, each named on a line; the rest is indexed
    errors = "\n".join(report["errors"])
    for name in ("empty.txt", "blank.md", "program.txt", "broken-utf8.txt"):
        assert name in errors
    assert "notes.xyz" in "\n".join(report["warnings"])
    assert "binary" in errors and "empty" in errors and "UTF-8" in errors
    assert report["articles"] == 4
    kb = KnowledgeBase(settings, encoder)
    assert kb.search("臺北人工智慧產業", k=1).hits[0].chunk.article == "繁體 文章.txt"
    assert kb.search("武汉光谷激光企业", k=1).hits[0].chunk.article == "utf16.txt"
    hit = kb.search("成都游戏产业", k=1).hits[0]
    assert "<script>alert(1)</script>" in hit.chunk.text  # kept as text; the UI escapes it


def test_bad_files_never_damage_the_previous_index(tmp_path: Path, encoder: Encoder) -> None:
    settings = make_settings(tmp_path)
    kb = KnowledgeBase(settings, encoder)
    kb.build()
    before = kb.ask("2025年深圳人工智能核心产业营收约多少？")
    for path in settings.corpus_dir.iterdir():
        path.unlink()
    (settings.corpus_dir / "empty.txt").write_bytes(b"")
    with pytest.raises(ArticleError, match=r"no article .* could be indexed.*previous index is unchanged"):
        kb.build()
    after = KnowledgeBase(settings, encoder).ask("2025年深圳人工智能核心产业营收约多少？")
    assert after.text == before.text and after.citations == before.citations


def test_unreadable_settings_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "rag.toml"
    bad.write_text("chunk_size = [", encoding="utf-8")
    assert main(["status", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    os.environ.pop("RAG_CHUNK_SIZE", None)
