"""Loading articles: decoding, headings, paragraphs, exact spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ArticleError
from rag.ingest.articles import find_article_files, load_article, parse_article
from rag.ingest.decode import decode_bytes

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTICLE = ROOT / "corpus" / "shenzhen-ai-industry.txt"
LIMIT = 20 * 1024 * 1024

TRADITIONAL = "深圳人工智慧產業發展迅速，華為與騰訊持續釋放技術動能。\n\n臺灣的半導體產業舉世聞名。\n"


def load(path: Path) -> object:
    return load_article(path, path.parent, LIMIT, 10_000_000)


def test_default_article_title_sections_and_rejoined_paragraph() -> None:
    article = load_article(DEFAULT_ARTICLE, DEFAULT_ARTICLE.parent, LIMIT, 10_000_000)
    assert article.title == "全栈创新+全域应用 深圳「雁阵梯队」AI产业图景正加速成型"
    assert [p.number for p in article.paragraphs] == list(range(1, 18))
    assert article.paragraphs[0].section == ""
    assert article.paragraphs[2].section == "产业集聚,头部企业引领全栈创新"
    # The paragraph broken mid-sentence is one paragraph spanning both blocks.
    broken = next(p for p in article.paragraphs if "打造百个垂直行业模型及" in article.text[p.start:p.end])
    text = article.text[broken.start:broken.end]
    assert text.endswith("工业智能体,推广百个示范应用。")
    assert "\n\n" in text
    for p in article.paragraphs:
        span = article.text[p.start:p.end]
        assert span == span.strip() and span
        assert not span.startswith("#")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_simplified_encodings_load_like_utf8(tmp_path: Path, encoding: str) -> None:
    text = DEFAULT_ARTICLE.read_text(encoding="utf-8")
    path = tmp_path / "a.txt"
    path.write_bytes(text.encode(encoding))
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    reference = load_article(DEFAULT_ARTICLE, DEFAULT_ARTICLE.parent, LIMIT, 10_000_000)
    assert article.text == reference.text
    assert article.paragraphs == reference.paragraphs


def test_big5_is_detected_not_misread_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "tw.txt"
    path.write_bytes(TRADITIONAL.encode("big5"))
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert article.encoding == "big5"
    assert article.text == TRADITIONAL


def test_decode_rejects_invalid_bytes_with_offset() -> None:
    data = "深圳".encode() + b"\xff\xfe\xfa\x80\x81" * 3 + "产业".encode()
    with pytest.raises(ArticleError, match=r"bad\.txt.*UTF-8"):
        decode_bytes(data, "bad.txt")


def test_crlf_line_endings_are_kept_and_spans_exact(tmp_path: Path) -> None:
    path = tmp_path / "crlf.md"
    path.write_bytes("# 标题\r\n\r\n## 一节\r\n\r\n第一段。\r\n\r\n第二段，\r\n续行。\r\n".encode())
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert article.title == "标题"
    assert [article.text[p.start:p.end] for p in article.paragraphs] == ["第一段。", "第二段，\r\n续行。"]
    assert article.paragraphs[0].section == "一节"


def test_plain_text_headings_and_title_fallbacks() -> None:
    text = "深圳产业报告\n\n一、总体要求\n\n坚持创新驱动。\n\n(据深圳发布)\n"
    article = parse_article(text, "report.txt", "h", "utf-8", len(text))
    assert article.title == "深圳产业报告"
    assert article.paragraphs[0].section == "一、总体要求"
    assert [text[p.start:p.end] for p in article.paragraphs] == ["坚持创新驱动。", "(据深圳发布)"]
    untitled = parse_article("这是一个句子。\n", "notes/草稿.txt", "h", "utf-8", 10)
    assert untitled.title == "草稿"


def test_markdown_does_not_treat_short_lines_as_headings(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("# 题目\n\n短行\n\n正文。\n", encoding="utf-8")
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert [article.text[p.start:p.end] for p in article.paragraphs] == ["短行\n\n正文。"]


def test_find_files_skips_outside_symlink_and_unsupported(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "好文章 一.txt").write_text("内容。", encoding="utf-8")
    (corpus / "image.png").write_bytes(b"\x89PNG")
    outside = tmp_path / "secret.txt"
    outside.write_text("外部。", encoding="utf-8")
    (corpus / "link.txt").symlink_to(outside)
    files, warnings = find_article_files(corpus)
    assert [f.name for f in files] == ["好文章 一.txt"]
    assert any("link.txt" in w and "outside" in w for w in warnings)
    assert any("image.png" in w for w in warnings)


def test_os_errors_are_the_files_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()  # listed by name, but not a file: open() fails
    with pytest.raises(ArticleError, match=r"^folder\.txt: cannot be read \(Is a directory\); check"):
        load_article(tmp_path / "folder.txt", tmp_path, LIMIT, 10_000_000)
    with pytest.raises(ArticleError, match=r"^gone\.md: cannot be read \(No such file or directory\)"):
        load_article(tmp_path / "gone.md", tmp_path, LIMIT, 10_000_000)
