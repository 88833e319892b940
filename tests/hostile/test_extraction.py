"""Hostile documents: bombs, broken XML, deep and huge HTML. Each costs one line and little memory.

Every file is built at test time and loaded in a fresh process that reports
its own peak RSS (see ``hostile_files.extract_in_child``); before this suite a
340 KB .docx peaked at 628 MB and a 1.6 MB one at 3.1 GB. The last test puts
all of them beside good articles: the good ones are indexed, each bad one is a
line, and the command exits 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.errors import ArticleError
from rag.ingest.articles import load_article
from rag.kb.knowledge_base import KnowledgeBase
from tests.helpers import make_settings
from tests.hostile import hostile_files as hostile
from tests.test_extract import make_pdf

PEAK_LIMIT_MB = 500
LIMIT = 20 * 1024 * 1024

# (file name, builder, max_extracted_chars, what the one line says, or None when the text is kept)
CASES: list[tuple[str, Callable[[Path], Path], int, str | None]] = [
    ("bomb.docx", hostile.docx_bomb, 10_000_000, r"expands to 300 MB, over the limit of 50 MB"),
    ("lying-sizes.docx", hostile.docx_bomb_with_lying_sizes, 10_000_000, r"document\.xml .*cannot be read"),
    ("many-members.docx", hostile.docx_many_members, 10_000_000, r"holds 20,002 files, over the limit of 10,000"),
    ("broken-xml.docx", hostile.docx_broken_xml, 10_000_000, r"not well-formed XML"),
    ("laughs.docx", hostile.docx_billion_laughs, 10_000_000, r"not well-formed XML \(Maximum entity amplification"),
    ("long.docx", hostile.docx_varied_text, 1_000_000, r"over the limit of 1,000,000 \(setting max_extracted_chars\)"),
    ("bomb.pdf", hostile.pdf_bomb, 10_000_000, r"passes pypdf's safety limits"),
    ("deep.html", hostile.deep_html, 10_000_000, None),
    ("wide.html", hostile.wide_html, 10_000_000, None),
]


@pytest.mark.parametrize(("name", "build", "max_chars", "message"), CASES, ids=[c[0] for c in CASES])
def test_hostile_file_costs_one_line_and_little_memory(
    tmp_path: Path, name: str, build: Callable[[Path], Path], max_chars: int, message: str | None
) -> None:
    path = build(tmp_path / name)
    result = hostile.extract_in_child(path, max_chars)
    assert result["encoder"] == []  # the figure is the extraction's alone
    assert result["peak_mb"] < PEAK_LIMIT_MB, f"{name}: peak RSS {result['peak_mb']:.0f} MB"
    assert result["hwm_mb"] < PEAK_LIMIT_MB, f"{name}: VmHWM {result['hwm_mb']:.0f} MB"
    if message is None:
        assert hostile.BODY_TEXT in result["text"], result
    else:
        error = result.get("error", "")
        assert re.search(message, error), result
        assert error.startswith(f"{name}: ") and len(error.splitlines()) == 1


def test_deep_html_keeps_its_headings_and_title(tmp_path: Path) -> None:
    article = load_article(hostile.deep_html(tmp_path / "deep.html"), tmp_path, LIMIT, 10_000_000)
    assert article.title == "深层页面"
    paragraph = article.paragraphs[0]
    assert article.text[paragraph.start : paragraph.end] == hostile.BODY_TEXT
    assert paragraph.section == "产业概况"


def test_html_with_an_xml_declaration_is_read(tmp_path: Path) -> None:
    path = tmp_path / "x.html"
    path.write_text("<?xml version='1.0' encoding='utf-8'?><html><body><h1>标题</h1>"
                    f"<p>{hostile.BODY_TEXT}</p></body></html>", encoding="utf-8")
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert article.title == "标题" and hostile.BODY_TEXT in article.text


def test_pdf_pages_stop_once_the_text_passes_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "pages.pdf"
    path.write_bytes(make_pdf([["第一页的一句话。"], ["第二页的一句话。"], ["第三页的一句话。"]]))
    assert len(load_article(path, tmp_path, LIMIT, 10_000_000).paragraphs) == 3
    with pytest.raises(ArticleError, match=r"pages\.pdf: .*over the limit of 10 \(setting max_extracted_chars\)"):
        load_article(path, tmp_path, LIMIT, 10)


def test_a_pdf_glyph_mapped_to_a_lone_surrogate_becomes_a_replacement_character(tmp_path: Path) -> None:
    path = tmp_path / "odd.pdf"
    path.write_bytes(make_pdf([["深圳\ud800产业。"]]))  # pypdf gives the surrogate back as it is
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert article.text == "深圳\ufffd产业。\n"  # so it can be stored, hashed and tokenised


def test_password_protected_pdf_says_so(tmp_path: Path) -> None:
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(make_pdf([["加密的一页。"]])))
    writer = pypdf.PdfWriter()
    writer.append_pages_from_reader(reader)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    with pytest.raises(ArticleError, match=r"locked\.pdf: the PDF is password-protected"):
        load_article(path, tmp_path, LIMIT, 10_000_000)


def _hostile_corpus(corpus: Path) -> dict[str, str]:
    """Every hostile file of this suite in ``corpus``; returns name → what its line says."""
    expected = {}
    for name, build, _, message in CASES:
        if message is not None and name != "long.docx":  # long.docx is refused only under a lower limit
            build(corpus / name)
            expected[name] = message
    (corpus / "empty.md").write_bytes(b"")
    expected["empty.md"] = "empty"
    (corpus / "not-a-zip.docx").write_bytes(b"PK\x03\x04 not really a zip")
    expected["not-a-zip.docx"] = "not a readable .docx"
    return expected


def test_a_corpus_of_hostile_files_indexes_the_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoder: Any
) -> None:
    settings = make_settings(tmp_path)
    hostile.deep_html(settings.corpus_dir / "deep.html")
    (settings.corpus_dir / "good.md").write_text(f"# 好文章\n\n{hostile.BODY_TEXT}\n", encoding="utf-8")
    expected = _hostile_corpus(settings.corpus_dir)
    # The shared encoder embeds the good articles; the command below then finds nothing to embed.
    report = KnowledgeBase(settings, encoder).build()
    assert report.articles == 3 and len(report.errors) == len(expected)

    code = main(["index", str(settings.corpus_dir), "--index-dir", str(settings.index_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    assert printed["articles"] == 3 and printed["embedded"] == 0
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == len(expected) == len(printed["errors"]), captured.err
    for name, message in expected.items():
        line = next(line for line in skipped if line.startswith(f"skipped: {name}: "))
        assert re.search(message, line), line
    assert "Traceback" not in captured.err
    kb = KnowledgeBase(settings, encoder)
    assert {h.chunk.article for h in kb.search("深圳人工智能核心产业营收", k=5).hits} >= {"good.md", "deep.html"}


# -- issue 23: a broken font map, a page budget, a paragraph budget ----------------------------------------------
ENGLISH = ("Shenzhen artificial intelligence industry revenue reached about 220 billion yuan in 2025, "
           "with more than 2600 companies. ") * 3


def test_a_pdf_whose_font_map_is_broken_is_refused_as_not_language(tmp_path: Path) -> None:
    path = hostile.garbled_pdf(tmp_path / "garbled.pdf", ENGLISH)
    with pytest.raises(ArticleError) as info:
        load_article(path, tmp_path, LIMIT, 10_000_000)
    message = str(info.value)
    assert message.startswith("garbled.pdf: the text does not read as language: only ")
    assert "卨敮" in message and "ToUnicode" in message and len(message.splitlines()) == 1
    # the same words with a sound map are an article
    sound = tmp_path / "sound.pdf"
    sound.write_bytes(make_pdf([[ENGLISH[i:i + 60] for i in range(0, len(ENGLISH), 60)]]))
    assert "Shenzhen" in load_article(sound, tmp_path, LIMIT, 10_000_000).text


def test_a_pdf_past_the_page_budget_is_refused_before_a_page_is_read(tmp_path: Path) -> None:
    path = tmp_path / "long.pdf"
    path.write_bytes(make_pdf([[f"第{n}页的一句话。"] for n in range(1, 7)]))
    assert len(load_article(path, tmp_path, LIMIT, 10_000_000, max_pdf_pages=6).paragraphs) == 6
    with pytest.raises(ArticleError, match=r"^long\.pdf: 6 pages is over the limit of 5 \(setting max_pdf_pages\)"):
        load_article(path, tmp_path, LIMIT, 10_000_000, max_pdf_pages=5)


def test_the_page_budget_is_a_setting_of_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    (settings.corpus_dir / "long.pdf").write_bytes(make_pdf([[f"第{n}页。"] for n in range(1, 7)]))
    monkeypatch.setenv("RAG_MAX_PDF_PAGES", "5")
    monkeypatch.setenv("RAG_MODELS_DIR", str(settings.models_dir))
    assert main(["index", str(settings.corpus_dir), "--index-dir", str(settings.index_dir)]) == 0
    err = capsys.readouterr().err
    assert "skipped: long.pdf: 6 pages is over the limit of 5 (setting max_pdf_pages)" in err, err


def test_a_docx_of_countless_short_paragraphs_stops_at_the_paragraph_budget(tmp_path: Path) -> None:
    import time

    from rag.ingest.limits import MAX_PARAGRAPHS

    path = hostile.docx_short_paragraphs(tmp_path / "many.docx", MAX_PARAGRAPHS + 50_000)
    started = time.perf_counter()
    with pytest.raises(ArticleError, match=r"^many\.docx: more than 100,000 paragraphs"):
        load_article(path, tmp_path, LIMIT, 10_000_000)
    assert time.perf_counter() - started < 30  # stopped at the budget, not after reading all of it
    few = hostile.docx_short_paragraphs(tmp_path / "few.docx", 3)
    with pytest.raises(ArticleError, match=r"^few\.docx: no paragraph of text: every block of it is a heading"):
        load_article(few, tmp_path, LIMIT, 10_000_000)


@pytest.mark.parametrize("module", ["rag.ingest.garble", "rag.kb.folders", "rag.api.mcp_stdio", "rag.api.shapes",
                                    "rag.api.body_limit", "rag.ui.page_guard", "rag.store.current"])
def test_docstring_examples_of_the_hardening(module: str) -> None:
    import doctest
    import importlib

    failures, _ = doctest.testmod(importlib.import_module(module))
    assert failures == 0
