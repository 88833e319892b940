"""Stream filters for a generative answer: each takes text deltas and passes on what may be shown.

``ThinkFilter`` drops a leading ``<think>…</think>`` reasoning block;
``MarkerFilter`` rewrites citation markers as they stream (``【2】`` → ``[2]``,
``[1, 2]`` → ``[1][2]``, a number that is no passage dropped). Both hold back
only what may still turn out to be part of a tag or a marker, and ``flush`` the
rest at the end, so the streamed text and the final answer agree.
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_MARKER_OPEN, _MARKER_CLOSE = "[［【", "]］】"
_MARKER_INNER = frozenset("0123456789０１２３４５６７８９ ,，、;；")
_MARKER_MAX = 24  # a longer bracket is text, not a citation marker
_NUMBER = re.compile(r"\d+")


class ThinkFilter:
    """Drops a leading ``<think>…</think>`` block (reasoning models put it in the content).

    >>> f = ThinkFilter(); f.feed("<think>嗯[3]") + f.feed("</think>答案[1]") + f.flush()
    '答案[1]'
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._state = "start"  # start → thinking → pass, or start → pass

    def feed(self, delta: str) -> str:
        """Text to pass on from this delta (held back while it may still be reasoning)."""
        if self._state == "pass":
            return delta
        self._buffer += delta
        if self._state == "start":
            head = self._buffer.lstrip()
            if len(head) < len(THINK_OPEN) and THINK_OPEN.startswith(head):
                return ""
            if not head.startswith(THINK_OPEN):
                self._state = "pass"
                out, self._buffer = self._buffer, ""
                return out
            self._state = "thinking"
        end = self._buffer.find(THINK_CLOSE)
        if end < 0:
            # Keep only a tail that may hold the start of the closing tag.
            self._buffer = self._buffer[-len(THINK_CLOSE):]
            return ""
        self._state = "pass"
        out, self._buffer = self._buffer[end + len(THINK_CLOSE):], ""
        return out

    def flush(self) -> str:
        """Whatever is still held at the end of the stream (unfinished reasoning is dropped)."""
        out = self._buffer if self._state == "start" else ""
        self._buffer = ""
        return out


class MarkerFilter:
    """Rewrites citation markers as they stream: keeps ``[n]`` for passages 1..k, drops the rest.

    >>> f = MarkerFilter(passages=2); f.feed("甲[1]乙[9]丙【2】丁[1, 2]") + f.flush()
    '甲[1]乙丙[2]丁[1][2]'
    """

    def __init__(self, passages: int) -> None:
        self.passages = passages
        self._pending = ""

    def feed(self, delta: str) -> str:
        """Text to pass on from this delta (a marker is held back until its bracket closes)."""
        return "".join(self._char(ch) for ch in delta)

    def flush(self) -> str:
        """An unclosed bracket at the end of the stream, as it was."""
        out, self._pending = self._pending, ""
        return out

    def _char(self, ch: str) -> str:
        if self._pending:
            if ch in _MARKER_CLOSE:
                marker, self._pending = self._pending + ch, ""
                return self._rewrite(marker)
            if ch in _MARKER_INNER and len(self._pending) < _MARKER_MAX:
                self._pending += ch
                return ""
            text, self._pending = self._pending, ""
            return text + self._char(ch)  # ch may open a marker of its own
        if ch in _MARKER_OPEN:
            self._pending = ch
            return ""
        return ch

    def _rewrite(self, marker: str) -> str:
        numbers = _NUMBER.findall(marker[1:-1])
        # "[]" or "[2025]" is text in brackets, not a citation.
        if not numbers or any(len(x) > 3 for x in numbers):
            return marker
        valid = (n for n in dict.fromkeys(int(x) for x in numbers) if 1 <= n <= self.passages)
        return "".join(f"[{n}]" for n in valid)
