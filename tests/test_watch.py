"""Watch mode: changes in the corpus folder trigger one debounced re-index."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rag.ingest.watch import watch_corpus


def test_burst_of_changes_triggers_one_reindex(tmp_path: Path) -> None:
    calls: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch_corpus, args=(tmp_path, lambda: calls.append(time.monotonic())),
                              kwargs={"debounce": 0.5, "stop": stop}, daemon=True)
    thread.start()
    time.sleep(0.5)  # let the observer start
    for i in range(5):
        (tmp_path / f"a{i}.txt").write_text("深圳人工智能。", encoding="utf-8")
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    assert len(calls) == 1
    # An atomic save: a hidden temporary file renamed to the article's name.
    (tmp_path / ".a5.txt.tmp").write_text("新文章。", encoding="utf-8")
    (tmp_path / ".a5.txt.tmp").rename(tmp_path / "a5.txt")
    deadline = time.monotonic() + 10
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) == 2
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_hidden_and_temporary_files_are_ignored(tmp_path: Path) -> None:
    calls: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch_corpus, args=(tmp_path, lambda: calls.append(1)),
                              kwargs={"debounce": 0.3, "stop": stop}, daemon=True)
    thread.start()
    time.sleep(0.5)
    (tmp_path / ".upload.tmp").write_text("x", encoding="utf-8")
    (tmp_path / "draft.txt~").write_text("x", encoding="utf-8")
    time.sleep(1.5)
    stop.set()
    thread.join(timeout=5)
    assert calls == []
