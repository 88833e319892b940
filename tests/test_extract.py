"""Articles in .html, .docx and .pdf: main text, headings, paragraph and page numbers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from rag.errors import ArticleError
from rag.ingest.articles import load_article
from tests.helpers import pdf_file

LIMIT = 20 * 1024 * 1024


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a real text layer: a CID font whose ToUnicode map gives back each character."""
    chars = sorted({ch for page in pages for line in page for ch in line})
    cid = {ch: i + 1 for i, ch in enumerate(chars)}
    cmap_lines = "\n".join(f"<{cid[ch]:04X}> <{ord(ch):04X}>" for ch in chars)
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Custom def "
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        f"{len(chars)} beginbfchar\n{cmap_lines}\nendbfchar endcmap "
        "CMapName currentdict /CMap defineresource pop end end"
    ).encode()
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"")  # filled below
    descendant = add(b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
                     b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> >>")
    tounicode = add(b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream")
    objects[font - 1] = (b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
                         b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (descendant, tounicode))
    page_ids = []
    pages_id = add(b"")
    for lines in pages:
        ops = ["BT /F1 12 Tf 14 TL 50 780 Td"]
        for line in lines:
            ops.append("<" + "".join(f"{cid[ch]:04X}" for ch in line) + "> Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode()
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)))
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    return pdf_file(objects, root=catalog)


def test_html_main_text_headings_and_no_script(tmp_path: Path) -> None:
    html = (
        "<html><head><meta charset='utf-8'><title>深圳AI报道</title></head><body>"
        "<nav><a href='/'>首页</a></nav><article><h1>深圳人工智能产业</h1>"
        + "".join(f"<p>深圳人工智能核心产业营收约 2200 亿元,这是第{i}段的说明文字。</p>" for i in range(1, 4))
        + "<h2>产业集聚</h2><p>华为、腾讯、荣耀等企业持续释放技术动能。</p>"
        "<script>window.bad = 1;</script></article><footer>版权所有</footer></body></html>"
    )
    path = tmp_path / "news.html"
    path.write_text(html, encoding="utf-8")
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert article.title == "深圳人工智能产业"
    texts = [article.text[p.start:p.end] for p in article.paragraphs]
    assert texts[0].startswith("深圳人工智能核心产业营收约 2200 亿元")
    assert any("华为" in t for t in texts)
    assert next(p for p in article.paragraphs if "华为" in article.text[p.start:p.end]).section == "产业集聚"
    assert "window.bad" not in article.text


def test_docx_headings_and_paragraphs(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("南山区产业报告", level=0)
    document.add_heading("一、总体情况", level=1)
    document.add_paragraph("南山区集聚人工智能企业超过一千家。")
    document.add_paragraph("")
    document.add_paragraph("其中独角兽企业十二家。")
    path = tmp_path / "报告.docx"
    document.save(str(path))
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    assert article.title == "南山区产业报告"
    assert [article.text[p.start:p.end] for p in article.paragraphs] == [
        "南山区集聚人工智能企业超过一千家。", "其中独角兽企业十二家。"]
    assert article.paragraphs[0].section == "一、总体情况"
    assert article.encoding == "docx"


def test_pdf_text_layer_with_page_numbers(tmp_path: Path) -> None:
    path = tmp_path / "白皮书.pdf"
    path.write_bytes(make_pdf([
        ["第一页介绍算力集群的", "建设情况。"],
        ["第二页说明昇腾超节点的峰值算力。", "最后一句话。"],
    ]))
    article = load_article(path, tmp_path, LIMIT, 10_000_000)
    texts = [article.text[p.start:p.end] for p in article.paragraphs]
    assert texts[0] == "第一页介绍算力集群的建设情况。"  # a line broken mid-sentence is rejoined
    assert article.title == "白皮书"
    second = next(p for p in article.paragraphs if "昇腾" in article.text[p.start:p.end])
    assert second.page == 2
    assert next(p for p in article.paragraphs if "算力集群" in article.text[p.start:p.end]).page == 1


@pytest.mark.parametrize(("name", "data", "message"), [
    ("bad.docx", b"PK\x03\x04 not really a zip", "not a readable .docx"),
    ("bad.pdf", b"%PDF-1.4\n garbage", "PDF"),
    ("scan.pdf", None, "no text layer"),
])
def test_broken_documents_get_clear_errors(tmp_path: Path, name: str, data: bytes | None, message: str) -> None:
    if data is None:
        data = make_pdf([[]])
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ArticleError, match=message):
        load_article(path, tmp_path, LIMIT, 10_000_000)


def python_docx_text(data: bytes) -> str:
    """The reference: the text python-docx gives (paragraphs, then table rows), as rag extracted it before."""
    import re

    import docx

    document = docx.Document(io.BytesIO(data))
    blocks: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        match = re.match(r"Heading (\d)", style)
        if style == "Title":
            blocks.append(f"# {text}")
        elif match:
            blocks.append(f"{'#' * (int(match.group(1)) + 1)} {text}")
        else:
            blocks.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(" | ".join(cells))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def rich_docx() -> bytes:
    """Headings of every level, tabs and breaks, a hyperlink, styles, and tables with merged and nested cells."""
    import docx
    from docx.enum.text import WD_BREAK
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def element(tag: str, text: str | None = None, **attrs: str) -> Any:
        el = OxmlElement(tag)
        if text is not None:
            el.text = text
        for key, value in attrs.items():
            el.set(qn(key.replace("_", ":")), value)
        return el

    document = docx.Document()
    for level in range(10):
        document.add_heading(f"标题{level}", level=level)
    p = document.add_paragraph("前\t中")
    run = p.add_run("行一")
    run.add_break()
    run.add_text("行二")
    run = p.add_run("页")
    run.add_break(WD_BREAK.PAGE)
    run.add_text("后")
    for style in ("Quote", "List Bullet", "Caption"):
        document.add_paragraph(f"{style}段落", style=style)
    p = document.add_paragraph("链接前")
    link = element("w:hyperlink", r_id="rId99")
    link_run = element("w:r")
    link_run.append(element("w:t", "超链接"))
    link.append(link_run)
    p._p.append(link)
    odd = element("w:r")
    for tag in ("w:noBreakHyphen", "w:cr", "w:ptab"):
        odd.append(element(tag))
    p._p.append(odd)
    inserted = element("w:ins")  # python-docx does not read tracked insertions
    inserted_run = element("w:r")
    inserted_run.append(element("w:t", "插入"))
    inserted.append(inserted_run)
    p._p.append(inserted)
    unknown = document.add_paragraph("未知样式")
    unknown._p.get_or_add_pPr().insert(0, element("w:pStyle", w_val="NoSuchStyle"))
    table = document.add_table(rows=4, cols=4)
    for i, row in enumerate(table.rows):
        for j, cell in enumerate(row.cells):
            cell.text = f"格{i}{j}"
    table.cell(0, 0).merge(table.cell(0, 1))
    table.cell(1, 0).merge(table.cell(3, 0))
    table.cell(1, 2).merge(table.cell(2, 3))
    table.cell(3, 3).text = ""
    table.cell(3, 2).add_paragraph("第二段")
    table.cell(3, 1).add_table(rows=1, cols=2).cell(0, 0).text = "嵌套"
    second = document.add_table(rows=2, cols=2)
    second.cell(1, 1).text = "乙"
    document.add_paragraph("表后段落。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_text_is_what_python_docx_gives(tmp_path: Path) -> None:
    from rag.ingest.docx_text import docx_text

    data = rich_docx()
    expected = python_docx_text(data)
    assert "格10\n格20\n格30 | 格11" in expected and "####### 标题6" in expected  # merges and levels covered
    assert docx_text(data, "rich.docx", 10_000_000) == expected
    path = tmp_path / "rich.docx"
    path.write_bytes(data)
    assert load_article(path, tmp_path, LIMIT, 10_000_000).text == expected
