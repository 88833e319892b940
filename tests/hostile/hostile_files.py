"""Hostile files, built at test time (never committed): zip bombs, a PDF bomb, deep HTML, broken XML.

Each builder writes one file and returns its path. ``extract_in_child`` loads
it with ``load_article`` in a fresh Python process that reports its own peak
RSS (``ru_maxrss`` of RUSAGE_SELF, read inside the child: the figure of this
one extraction, not of some earlier child) and never loads an encoder.

Subtle: Linux carries a process's peak RSS across fork and exec, so a child
started straight from the test process (1.3 GB once the encoder is loaded)
reports at least that much. The child is therefore started by a small
intermediate Python process; it also reports VmHWM, the peak of its own address
space, which exec starts afresh.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

from tests.helpers import pdf_file

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
BODY_TEXT = "深圳人工智能核心产业营收约二千二百亿元，同比增长百分之三十。"

_CHILD = """
import json, resource, sys
from pathlib import Path
from rag.errors import ArticleError
from rag.ingest.articles import load_article
path = Path(sys.argv[1])
try:
    article = load_article(path, path.parent, 20 * 1024 * 1024, int(sys.argv[2]))
    result = {"title": article.title, "chars": len(article.text), "text": article.text[:5000],
              "paragraphs": len(article.paragraphs)}
except ArticleError as exc:
    result = {"error": str(exc)}
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open("/proc/self/status") as status:
    result["hwm_mb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
result["encoder"] = sorted(m for m in ("torch", "onnxruntime", "sentence_transformers") if m in sys.modules)
print(json.dumps(result, ensure_ascii=True))
"""

# Runs the command in a child of its own: a small process to fork from (see the module's docstring).
_INTERMEDIATE = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def extract_in_child(path: Path, max_chars: int = 10_000_000) -> dict[str, Any]:
    """``load_article(path)`` in a fresh process: its title and text, or its error; and the process's peak RSS (MB)."""
    command = [sys.executable, "-c", _CHILD, str(path), str(max_chars)]
    proc = subprocess.run([sys.executable, "-c", _INTERMEDIATE, *command], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _docx_with(path: Path, document_chunks: Any, styles: bytes | None = None) -> Path:
    """A .docx whose document.xml is the concatenation of ``document_chunks``, deflated as it is written."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        if styles is not None:
            archive.writestr("word/styles.xml", styles)
        with archive.open("word/document.xml", "w") as member:
            for chunk in document_chunks:
                member.write(chunk)
    return path


def _document(paragraphs: int, text: str = BODY_TEXT) -> Any:
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'.encode()
    paragraph = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode()
    yield head
    block = paragraph * 1000
    for _ in range(paragraphs // 1000):
        yield block
    yield b"</w:body></w:document>"


def docx_bomb(path: Path, megabytes: int = 300) -> Path:
    """A .docx of a few hundred KB whose document.xml expands to ``megabytes`` MB of repeated paragraphs."""
    paragraph_bytes = len(f"<w:p><w:r><w:t>{BODY_TEXT}</w:t></w:r></w:p>".encode())
    return _docx_with(path, _document(megabytes * MB // paragraph_bytes))


def docx_bomb_with_lying_sizes(path: Path, megabytes: int = 300) -> Path:
    """The bomb above with its member list claiming document.xml holds 1 KB: only reading it can tell."""
    docx_bomb(path, megabytes)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("word/document.xml")
    # The central directory entry of document.xml: its uncompressed size is at offset 24.
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if bytes(data[entry + 46 : entry + 46 + name_length]) == info.filename.encode():
            struct.pack_into("<I", data, entry + 24, 1024)
            break
        entry = data.find(b"PK\x01\x02", entry + 4)
    path.write_bytes(bytes(data))
    return path


def docx_many_members(path: Path, members: int = 20_000) -> Path:
    """A .docx holding ``members`` empty files beside a small document."""
    _docx_with(path, _document(1000))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        for i in range(members):
            archive.writestr(f"word/media/{i}.bin", b"")
    return path


def docx_broken_xml(path: Path) -> Path:
    """A .docx whose document.xml stops in the middle of a paragraph."""
    return _docx_with(path, [f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>{BODY_TEXT}'.encode()])


def docx_billion_laughs(path: Path) -> Path:
    """A .docx whose document.xml declares entities that would expand to 10 GB of text (ten levels of ten)."""
    entities = '<!ENTITY e0 "dddddddddd">' + "".join(
        f'<!ENTITY e{n} "{f"&e{n - 1};" * 10}">' for n in range(1, 10))
    return _docx_with(path, [f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]><w:document '
                             f'xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&e9;</w:t></w:r></w:p></w:body>'
                             "</w:document>".encode()])


def docx_long_text(path: Path, paragraphs: int = 100_000) -> Path:
    """A .docx under every zip limit whose text runs to ``paragraphs`` × 30 characters."""
    return _docx_with(path, _document(paragraphs))


def pdf_bomb(path: Path, megabytes: int = 400) -> Path:
    """A PDF of a few hundred KB whose page content is one FlateDecode stream of ``megabytes`` MB of zeros."""
    deflate = zlib.compressobj(9)
    zeros = b"\0" * MB
    stream = b"".join(deflate.compress(zeros) for _ in range(megabytes)) + deflate.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(pdf_file(objects, root=1))
    return path


def deep_html(path: Path, depth: int = 10_000) -> Path:
    """An HTML page whose body text lies ``depth`` <div>s deep."""
    html = ("<html><head><meta charset='utf-8'><title>深层页面</title></head><body>" + "<div>" * depth
            + f"<h2>产业概况</h2><p>{BODY_TEXT}</p>" + "</div>" * depth + "</body></html>")
    path.write_text(html, encoding="utf-8")
    return path


def wide_html(path: Path, elements: int = 300_000) -> Path:
    """An HTML page of ``elements`` tiny elements around one real paragraph."""
    html = f"<html><body><p>{BODY_TEXT}</p>" + "<a>x</a>" * elements + "</body></html>"
    path.write_text(html, encoding="utf-8")
    return path


def docx_varied_text(path: Path, characters: int = 1_200_000) -> Path:
    """A .docx under every zip limit (varied text deflates about 2 fold) holding ``characters`` of text."""
    import random

    rng = random.Random(0)
    alphabet = [chr(c) for c in range(0x4E00, 0x9FA5)]

    def chunks() -> Any:
        yield f'<w:document xmlns:w="{W_NS}"><w:body>'.encode()
        for _ in range(characters // 1000):
            yield f"<w:p><w:r><w:t>{''.join(rng.choices(alphabet, k=999))}。</w:t></w:r></w:p>".encode()
        yield b"</w:body></w:document>"

    return _docx_with(path, chunks())


def garbled_pdf(path: Path, text: str) -> Path:
    """A PDF whose ToUnicode map is broken as the issue met it: ``text``'s bytes shown two at a time as code points.

    The page's content draws ``text`` (ASCII) as two-byte character codes, and the
    font's ToUnicode map sends each code to the code point of the same number, so
    "Sh" comes out as U+5368 (卨): pypdf reads 「卨敮穨敮⁁䤠…」 without complaint.
    """
    data = text.encode("ascii")
    data += b" " * (len(data) % 2)
    codes = sorted({data[i:i + 2] for i in range(0, len(data), 2)})
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Broken def "
            "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
            f"{len(codes)} beginbfchar\n" + "\n".join(f"<{c.hex()}> <{c.hex()}>" for c in codes)
            + "\nendbfchar endcmap CMapName currentdict /CMap defineresource pop end end").encode()
    lines = [data[i:i + 60] for i in range(0, len(data), 60)]
    ops = "BT /F1 12 Tf 14 TL 50 780 Td\n" + "\n".join(f"<{line.hex()}> Tj T*" for line in lines) + "\nET"
    stream = ops.encode()
    objects = [
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Broken /Encoding /Identity-H /DescendantFonts [2 0 R] "
        b"/ToUnicode 3 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Broken "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Page /Parent 6 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 1 0 R >> >> >>",
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        b"<< /Type /Catalog /Pages 6 0 R >>",
    ]
    path.write_bytes(pdf_file(objects, root=7))
    return path


def docx_short_paragraphs(path: Path, paragraphs: int) -> Path:
    """A .docx of ``paragraphs`` one-word paragraphs (each reads as a heading: short, no punctuation)."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'.encode()

    def chunks() -> Any:
        yield head
        for start in range(0, paragraphs, 1000):
            yield b"".join(b"<w:p><w:r><w:t>%d</w:t></w:r></w:p>" % n
                           for n in range(start, min(start + 1000, paragraphs)))
        yield b"</w:body></w:document>"

    return _docx_with(path, chunks())
