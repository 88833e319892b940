"""File names the file system allows but text does not: bytes that are not UTF-8, newlines, symlink loops.

A name is kept as the file system gives it (``os.fsdecode``: undecodable bytes
as lone surrogates), so the article can be opened again; it is shown escaped
(``display_name``: ``\\xNN``) in titles, messages and the terminal, stored in
the index files as JSON escapes, and hashed as bytes in the embedding cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.embed.cache import text_key
from rag.errors import ArticleError
from rag.files import display_name
from rag.ingest.articles import find_article_files, load_article
from rag.kb.knowledge_base import KnowledgeBase
from tests.helpers import make_settings

GBK_NAME = b"\xb0\xa1.txt"  # 「啊」 in GBK: not UTF-8
ARTICLE = os.fsdecode(GBK_NAME)
TEXT = "武汉光谷的激光企业超过一千家，光通信产业规模全国领先。"


def write_bytes_named(folder: Path, name: bytes, data: bytes) -> Path:
    """Write ``data`` to the file called ``name`` (raw bytes) in ``folder``."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
        fh.write(data)
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), name)))


def test_a_name_that_is_not_utf8_is_kept_and_shown_escaped(tmp_path: Path) -> None:
    path = write_bytes_named(tmp_path, GBK_NAME, TEXT.encode())
    article = load_article(path, tmp_path, 1 << 20, 10_000_000)
    assert article.path == ARTICLE and (tmp_path / article.path).read_text(encoding="utf-8") == TEXT
    assert article.title == "\\xb0\\xa1"  # shown escaped; no lone surrogate reaches the tokenizer
    assert text_key("passage", article.path) != text_key("passage", "\\xb0\\xa1.txt")
    assert text_key("passage", "深圳") == text_key("passage", "深圳")  # valid text keeps its key


def test_errors_name_such_a_file_escaped(tmp_path: Path) -> None:
    path = write_bytes_named(tmp_path, b"\xff\n.txt", b"")
    with pytest.raises(ArticleError) as caught:
        load_article(path, tmp_path, 1 << 20, 10_000_000)
    assert str(caught.value) == "\\xff\\n.txt: the file is empty; add text or delete it"


def test_a_corpus_with_a_gbk_name_builds_and_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, encoder: Any
) -> None:
    settings = make_settings(tmp_path)
    write_bytes_named(settings.corpus_dir, GBK_NAME, TEXT.encode())
    report = KnowledgeBase(settings, encoder).build()
    assert report.errors == [] and report.articles == 2 and ARTICLE in report.added
    kb = KnowledgeBase(settings, encoder)
    assert kb.search("武汉光谷激光企业", k=1).hits[0].chunk.article == ARTICLE
    assert kb.search("深圳人工智能核心产业营收", k=1).hits[0].chunk.article == "shenzhen-ai-industry.txt"
    assert kb.build().up_to_date  # the name round-trips through the index files: nothing changed

    from rag.embed.encoder import Encoder

    monkeypatch.setattr(Encoder, "from_settings", classmethod(lambda cls, s: encoder))  # the shared one
    index = ["--index-dir", str(settings.index_dir)]
    assert main(["status", *index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["articles"] == 2
    assert main(["status", *index]) == 0
    assert "2" in capsys.readouterr().out
    assert main(["search", "武汉光谷激光企业", *index, "--json"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["article"] == ARTICLE and first["title"] == "\\xb0\\xa1"
    assert main(["search", "武汉光谷激光企业", *index]) == 0
    assert "\\xb0\\xa1.txt" in capsys.readouterr().out
    assert main(["index", str(settings.corpus_dir), *index]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_rating_that_names_such_an_article_is_saved_and_read_back(tmp_path: Path) -> None:
    from rag.kb.feedback import read_feedback, save_feedback

    settings = make_settings(tmp_path)
    path = save_feedback(settings, {"id": "a1", "question": "问题", "articles": [ARTICLE]}, "a1")
    path.read_text(encoding="utf-8")  # valid UTF-8: the name is stored as its JSON escape
    assert read_feedback(path)[0]["articles"] == [ARTICLE]


def test_a_symlink_loop_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "loop-a.txt").symlink_to(tmp_path / "loop-b.txt")
    (tmp_path / "loop-b.txt").symlink_to(tmp_path / "loop-a.txt")
    (tmp_path / "self.md").symlink_to(tmp_path / "self.md")
    files, warnings = find_article_files(tmp_path)
    assert files == [tmp_path / "good.txt"]
    assert sorted(w.split(":")[0] for w in warnings) == ["loop-a.txt", "loop-b.txt", "self.md"]
    assert all("skipped" in w and len(w.splitlines()) == 1 for w in warnings)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_folder_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(TEXT, encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "inside.txt").write_text(TEXT, encoding="utf-8")
    locked.chmod(0)
    try:
        files, warnings = find_article_files(tmp_path)
    finally:
        locked.chmod(0o755)
    assert files == [tmp_path / "good.txt"]
    assert warnings == ["locked: folder cannot be read (Permission denied); its articles are skipped"]


def test_display_name_escapes_only_what_cannot_be_shown() -> None:
    assert display_name("报告 2025.txt") == "报告 2025.txt"
    assert display_name(os.fsdecode(b"a\xb0\xa1b\x1b[31m.md")) == "a\\xb0\\xa1b\\x1b[31m.md"


def test_such_a_name_is_searchable_on_milvus_too(tmp_path: Path, encoder: Any) -> None:
    from tests.helpers import on_store

    settings = make_settings(tmp_path)
    write_bytes_named(settings.corpus_dir, GBK_NAME, TEXT.encode())
    kb = KnowledgeBase(settings, encoder)
    kb.build()
    with on_store(kb, "milvus") as milvus:
        hit = milvus.search("武汉光谷激光企业", k=1).hits[0]
        assert hit.chunk.article == ARTICLE
        limited = milvus.search("激光企业", k=3, articles=[ARTICLE]).hits
        assert limited and {h.chunk.article for h in limited} == {ARTICLE}
        again = milvus.build()
        assert again.up_to_date and again.store_inserted == 0  # the escaped group is found again: nothing twice
