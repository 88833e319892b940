r"""Text from articles and file names as the terminal may show it: data, never escape codes.

An article or a file name can hold ESC sequences (colours, cursor moves, a
rewritten title bar), a carriage return that overwrites what was printed, Unicode
bidirectional overrides that reorder a name, or bytes that are not UTF-8 (kept
by the file system as lone surrogates, which cannot be printed at all). Everything
the CLI prints that comes from data goes through ``terminal_line`` (names,
titles, sections, one-line messages) or ``terminal_text`` (answers and passages,
whose line breaks are kept).

>>> terminal_line("a\x1b[31mb\nc\udcff")
'a\\x1b[31mb\\nc\\xff'
"""

from __future__ import annotations

import re
from typing import Any

from rag.serialize import json_text

# C0 and C1 controls, DEL, the bidirectional marks and overrides, and lone surrogates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                                  "\ud800-\udfff]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_line(text: str) -> str:
    r"""``text`` with every control character (newline too) shown as ``\xNN`` (``\n``, ``\r``, ``\t``): one line.

    >>> terminal_line("标题\r\n")
    '标题\\r\\n'
    """
    return _CONTROL.sub(_escaped, text)


def terminal_text(text: str) -> str:
    r"""``text`` with its line breaks kept and every other control character shown as ``\xNN``.

    >>> terminal_text("第一段\n\x1b]0;title\x07第二段")
    '第一段\n\\x1b]0;title\\x07第二段'
    """
    return _CONTROL_BUT_NEWLINE.sub(_escaped, text)


def json_line(data: Any) -> str:
    r"""``data`` as one line of JSON; a lone surrogate (a name that is not UTF-8) as its ``\udcNN`` JSON escape.

    >>> json_line({"article": "a\udcff.txt", "title": "标题"})
    '{"article": "a\\udcff.txt", "title": "标题"}'
    """
    return json_text(data)
