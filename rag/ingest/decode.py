"""Bytes to text: a BOM, strict UTF-8, then GB18030 or Big5 as a detector decides."""

from __future__ import annotations

from rag.errors import ArticleError


def decode_bytes(data: bytes, name: str) -> tuple[str, str]:
    """Decode an article's bytes; return (text, encoding).

    A BOM wins; then strict UTF-8; then GB18030 or Big5 as charset-normalizer
    decides (Big5 bytes often decode without error as garbled GB18030, so a
    decode error is not a detector).

    >>> decode_bytes("深圳人工智能核心产业营收约两千二百亿元。".encode("gb18030"), "a.txt")
    ('深圳人工智能核心产业营收约两千二百亿元。', 'gb18030')

    (Two characters alone are too few for a detector: 「深圳」 in GB18030 reads as Big5 too.)
    """
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16-le"),
                          (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding.replace("-sig", "")), encoding
            except UnicodeDecodeError as exc:
                raise ArticleError(
                    f"{name}: starts with a {encoding} byte-order mark but is not valid "
                    f"{encoding} (byte {exc.start + len(bom)}); re-save it as UTF-8"
                ) from exc
    if b"\x00" in data:
        utf16 = _guess_utf16_without_bom(data)
        if utf16:
            return data.decode(utf16), utf16
        raise ArticleError(f"{name}: looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5"]).best()
    if best is not None:
        encoding = "big5" if "big5" in best.encoding else "gb18030"
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    raise ArticleError(
        f"{name}: cannot be decoded as UTF-8 (invalid byte at offset {first_bad}), GB18030 or Big5; "
        "re-save it as UTF-8"
    )


def _guess_utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM has NULs in every other byte for ASCII; CJK does not."""
    if len(data) % 2:
        return None
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text and control_ratio(text) < 0.01:
            return encoding
    return None


def control_ratio(text: str) -> float:
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\ufffd")
    return bad / max(len(text), 1)


