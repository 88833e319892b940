"""What the browser writes to disk: upload checks, atomic saves, deletions, the article list, ratings."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ArticleError
from rag.evaluation.datasets import parse_jsonl
from rag.kb.feedback import feedback_path, feedback_record, read_feedback, save_feedback
from rag.kb.uploads import (
    check_upload,
    corpus_changed,
    delete_article,
    list_articles,
    save_upload,
    upload_name,
)
from rag.records import Answer, Citation
from rag.settings import Settings
from rag.store.format import CURRENT, MANIFEST, VERSIONS, ArticleInfo, Counts, DenseInfo, Manifest, ModelInfo
from rag.text import TOKENIZER_VERSION, strip_citation_markers
from rag.ui.texts import error_text, upload_check_text
from tests.helpers import DEFAULT_ARTICLE, make_settings

NEW_TEXT = "# 深圳低空经济\n\n2025 年深圳低空经济产业规模突破 960 亿元。\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A corpus holding a copy of the default article; no index yet."""
    return make_settings(tmp_path)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def corpus_names(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.corpus_dir.iterdir())


def shown(caught: pytest.ExceptionInfo[ArticleError]) -> str:
    """The message the page shows for a refusal (the library's reason in the UI's words)."""
    return error_text(caught.value)


# -- names and checks -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("新闻.txt", "新闻.txt"),
    ("C:\\docs\\报告.MD", "报告.MD"),
    ("../../etc/notes.md", "notes.md"),
    ("  空格.txt ", "空格.txt"),
])
def test_upload_name_keeps_only_the_file_name(name: str, expected: str) -> None:
    assert upload_name(name) == expected


@pytest.mark.parametrize("name, reason", [
    (".hidden.txt", "隐藏"),
    ("notes.exe", "不支持的文件类型 .exe"),
    ("noextension", "不支持的文件类型"),
    ("README.md", "README"),
    ("bad\x07name.txt", "控制字符"),
    ("", "没有文件名"),
])
def test_upload_name_refuses_names_the_corpus_cannot_use(name: str, reason: str) -> None:
    with pytest.raises(ArticleError) as caught:
        upload_name(name)
    assert re.search(reason, shown(caught))


def test_new_article_passes_with_its_title(settings: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "low-altitude.md", NEW_TEXT)
    check = check_upload(src, src.name, settings)
    assert (check.status, check.name, check.title, check.paragraphs) == ("new", "low-altitude.md", "深圳低空经济", 1)
    assert "可以添加" in upload_check_text(check)


def test_too_large_is_refused_before_reading(settings: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "big.txt", "深圳。" * 200)
    with pytest.raises(ArticleError) as caught:
        check_upload(src, src.name, settings.replace(max_upload_bytes=100))
    assert re.search("超过上传上限", shown(caught))


@pytest.mark.parametrize("name, data, reason", [
    ("empty.txt", b"", "空"),
    ("blank.txt", "  \n\n \n", "empty"),
    ("binary.txt", bytes(range(256)) * 8, "binary"),
    ("random.txt", bytes([0xC3, 0x28, 0xA0, 0xA1, 0xFF, 0xFE, 0x80]) * 50, "decode|binary"),
])
def test_bad_content_is_refused_with_the_reason(settings: Settings, tmp_path: Path, name: str, data: bytes | str,
                                                reason: str) -> None:
    src = write(tmp_path / "in" / name, data)
    with pytest.raises(ArticleError) as caught:
        check_upload(src, name, settings)
    assert re.search(reason, shown(caught))
    assert corpus_names(settings) == [DEFAULT_ARTICLE.name]


def test_gbk_text_is_valid_input(settings: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "gbk.txt", NEW_TEXT.encode("gb18030"))
    assert check_upload(src, src.name, settings).title == "深圳低空经济"


def test_same_bytes_under_another_name_is_a_duplicate(settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "in" / "copy.txt"
    src.parent.mkdir()
    shutil.copyfile(DEFAULT_ARTICLE, src)
    check = check_upload(src, src.name, settings)
    assert (check.status, check.duplicate_of) == ("duplicate", DEFAULT_ARTICLE.name)
    assert "已在语料中" in upload_check_text(check)
    with pytest.raises(ArticleError) as caught:
        save_upload(src, check, settings)
    assert re.search("已在语料中", shown(caught))
    assert corpus_names(settings) == [DEFAULT_ARTICLE.name]


def test_existing_name_asks_before_replacing(settings: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / DEFAULT_ARTICLE.name, NEW_TEXT)
    check = check_upload(src, src.name, settings)
    assert check.status == "replace" and "替换" in upload_check_text(check)
    target = settings.corpus_dir / DEFAULT_ARTICLE.name
    before = target.read_bytes()
    with pytest.raises(ArticleError) as caught:
        save_upload(src, check, settings)
    assert re.search("同名文件", shown(caught))
    assert target.read_bytes() == before
    save_upload(src, check, settings, replace=True)
    assert target.read_text(encoding="utf-8") == NEW_TEXT


# -- writing and deleting ---------------------------------------------------------------------------
def test_save_writes_the_bytes_and_leaves_no_temporary_file(settings: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "low-altitude.md", NEW_TEXT)
    path = save_upload(src, check_upload(src, src.name, settings), settings)
    assert path == settings.corpus_dir / "low-altitude.md"
    assert path.read_bytes() == src.read_bytes()
    assert corpus_names(settings) == sorted([DEFAULT_ARTICLE.name, "low-altitude.md"])


def test_a_file_changed_after_its_check_is_refused(settings: Settings, tmp_path: Path) -> None:
    src = write(tmp_path / "in" / "low-altitude.md", NEW_TEXT)
    check = check_upload(src, src.name, settings)
    src.write_text(NEW_TEXT + "多了一句。\n", encoding="utf-8")
    with pytest.raises(ArticleError) as caught:
        save_upload(src, check, settings)
    assert re.search("改动", shown(caught))
    assert not (settings.corpus_dir / "low-altitude.md").exists()


def test_delete_removes_only_files_inside_the_corpus(settings: Settings, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside.txt", "不能删。")
    with pytest.raises(ArticleError) as caught:
        delete_article("../outside.txt", settings)
    assert re.search("不在语料文件夹", shown(caught))
    assert outside.exists()
    with pytest.raises(ArticleError) as caught:
        delete_article("missing.txt", settings)
    assert re.search("没有这个文件", shown(caught))
    delete_article(DEFAULT_ARTICLE.name, settings)
    assert corpus_names(settings) == []


# -- the article list -------------------------------------------------------------------------------
def write_manifest(settings: Settings, articles: dict[str, dict[str, Any]]) -> None:
    """An index manifest holding these articles (written as a build writes it; the article list reads no more)."""
    manifest = Manifest(
        version="v1", created_at="2026-01-01T00:00:00+00:00",
        model=ModelInfo(name="m", identity="m|torch", backend="torch", dimension=4), chunking={},
        tokenizer=TOKENIZER_VERSION, dense=DenseInfo(kind="flat", count=0), counts=Counts(len(articles), 0, 0),
        articles={path: ArticleInfo(**info) for path, info in articles.items()}, files={},
    )
    version = settings.index_dir / VERSIONS / "v1"
    version.mkdir(parents=True)
    (version / MANIFEST).write_text(manifest.to_text(), encoding="utf-8")
    (settings.index_dir / CURRENT).write_text("v1", encoding="utf-8")


def test_article_list_states(settings: Settings, tmp_path: Path) -> None:
    data = DEFAULT_ARTICLE.read_bytes()
    write_manifest(settings, {
        DEFAULT_ARTICLE.name: {"title": "默认文章", "sha256": hashlib.sha256(data).hexdigest(),
                               "size_bytes": len(data), "paragraphs": 17, "chunks": 14,
                               "indexed_at": "2026-01-01T00:00:00+00:00"},
        "gone.txt": {"title": "删掉的", "sha256": "0" * 64, "size_bytes": 10, "paragraphs": 1, "chunks": 1,
                     "indexed_at": "2026-01-01T00:00:00+00:00"},
    })
    write(settings.corpus_dir / "new.md", NEW_TEXT)
    rows = {r.path: r for r in list_articles(settings)}
    assert rows[DEFAULT_ARTICLE.name].state == "indexed"
    assert (rows[DEFAULT_ARTICLE.name].paragraphs, rows[DEFAULT_ARTICLE.name].chunks) == (17, 14)
    assert rows["new.md"].state == "new" and rows["new.md"].paragraphs is None
    assert rows["gone.txt"].state == "removed"
    assert corpus_changed(list(rows.values()))

    (settings.corpus_dir / DEFAULT_ARTICLE.name).write_bytes(data + "追加一段。\n".encode())
    assert {r.path: r.state for r in list_articles(settings)}[DEFAULT_ARTICLE.name] == "changed"


def test_article_list_without_an_index(settings: Settings) -> None:
    rows = list_articles(settings)
    assert [(r.path, r.state) for r in rows] == [(DEFAULT_ARTICLE.name, "new")]


# -- ratings ----------------------------------------------------------------------------------------
def answer(text: str = "营收约 2200 亿元[1]", refused: bool = False) -> Answer:
    paragraph = "数据显示,营收约 2200 亿元。"
    citation = Citation(n=1, article="a.txt", title="T", section="", paragraph=2, page=None,
                        paragraph_text=paragraph, paragraph_start=100, start=105, end=115)
    return Answer(question="营收多少？", query="营收多少？", text=text, refused=refused,
                  citations=[] if refused else [citation])


def test_answer_without_markers() -> None:
    assert strip_citation_markers("甲[1]乙[12]。") == "甲乙。"


def test_ratings_are_question_set_rows(settings: Settings) -> None:
    up = feedback_record("a1", answer(), "up", ["a.txt"])
    assert (up["answers"], up["unanswerable"], up["article"], up["paragraph"]) == (["营收约 2200 亿元"], False,
                                                                                  "a.txt", 2)
    refused_up = feedback_record("a2", answer("文章中没有找到相关信息。", refused=True), "up")
    assert (refused_up["answers"], refused_up["unanswerable"]) == ([], True)
    down = feedback_record("a3", answer(), "down")
    assert (down["answers"], down["rejected_answer"]) == ([], "营收约 2200 亿元")
    for row in (up, refused_up, down):
        save_feedback(settings, row, row["id"])
    path = feedback_path(settings)
    assert path.parent == settings.index_dir
    question_set = parse_jsonl(path.read_text(encoding="utf-8"), path.name)
    assert not question_set.problems
    by_id = {q.id: q for q in question_set.questions}
    assert by_id["a1"].answer_texts == ("营收约 2200 亿元",) and by_id["a1"].article == "a.txt"
    assert by_id["a2"].unanswerable
    assert by_id["a3"].answer_texts == ()


def test_a_second_rating_replaces_the_first_and_none_removes_it(settings: Settings) -> None:
    save_feedback(settings, feedback_record("a1", answer(), "up"), "a1")
    save_feedback(settings, feedback_record("b1", answer(), "up"), "b1")
    save_feedback(settings, feedback_record("a1", answer(), "down"), "a1")
    rows = read_feedback(feedback_path(settings))
    assert [(r["id"], r["rating"]) for r in rows] == [("b1", "up"), ("a1", "down")]
    save_feedback(settings, None, "a1")
    assert [r["id"] for r in read_feedback(feedback_path(settings))] == ["b1"]
    assert sorted(p.name for p in settings.index_dir.iterdir()) == ["feedback.jsonl"]


def test_unknown_rating_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        feedback_record("x", answer(), "meh")


def test_article_table_shows_each_articles_status_and_the_upload_statuses_escaped() -> None:
    """The 文章 tab's table: done, waiting, being indexed, failed with the reason; names shown as text."""
    from rag.kb.uploads import ArticleRow
    from rag.ui.articles_tab import FileStatus, article_table, file_status_html, progress_html

    rows = [ArticleRow("a.md", "甲", 10, 2, 1, "2026-01-02T03:04:05+00:00", "indexed"),
            ArticleRow("b.md", "乙", 10, None, None, None, "new"),
            ArticleRow("c.md", "丙", 10, None, None, None, "new")]
    states = [r[-1] for r in article_table(rows, {"c.md": "c.md: not a readable .docx"})]
    assert states == ["已完成", "新文件，待索引", "失败：c.md: not a readable .docx"]
    assert [r[-1] for r in article_table(rows, building=True)][:2] == ["已完成", "索引中…"]
    assert article_table(rows)[0][5] == "2026-01-02 03:04:05 UTC"
    html = file_status_html([FileStatus("<img src=x>.md", "failed", "✗ 失败：<b>")])
    assert "<img" not in html and "&lt;img src=x&gt;.md" in html and "&lt;b&gt;" in html
    assert 'value="3"' in progress_html("嵌入 3/8", 3, 8) and progress_html("") == ""
