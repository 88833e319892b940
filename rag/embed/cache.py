"""The embedding cache: one SQLite file beside the index, keyed by encoder and text.

SQLite gives transactions and survives kill -9; vectors are raw float32 bytes,
never pickled. Rows not used by the latest build of an encoder are deleted, so
the text of a deleted article does not linger.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np

log = logging.getLogger(__name__)
R = TypeVar("R")


def text_key(kind: str, text: str) -> str:
    """Cache key of a text embedded as ``kind`` ('passage' or 'query'): SHA-256 of its UTF-8 bytes.

    A lone surrogate (a file name that is not UTF-8, kept by ``os.fsdecode``)
    is hashed as its surrogatepass bytes instead of failing; every valid text
    keeps the key it always had.

    >>> text_key("passage", "深圳") == hashlib.sha256("passage\\x00深圳".encode()).hexdigest()
    True
    >>> len(text_key("passage", "\\udcb0"))
    64
    """
    return hashlib.sha256(f"{kind}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


def span_key(text: str, start: int, end: int) -> str:
    """Cache key of the vector pooled over ``text[start:end]`` in one encoder pass over the passage ``text``.

    Its own kind ("span"): a sentence pooled inside its chunk never shares a key
    with the same sentence encoded alone ("passage").

    >>> span_key("深圳很大。它在广东。", 0, 5) == text_key("span", "0:5\\x00深圳很大。它在广东。")
    True
    """
    return text_key("span", f"{start}:{end}\x00{text}")


class EmbeddingCache:
    """Vectors by (encoder identity, text key).

    A cache file that SQLite finds damaged (overwritten, truncated) is moved
    aside as ``embeddings.sqlite.corrupt-<time>`` and an empty cache takes its
    place, when it is opened or when a read or write meets the damage; the build
    embeds those texts again. ``recovered`` then says what happened.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recovered: str | None = None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._db = self._start_over(exc)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (encoder TEXT NOT NULL, key TEXT NOT NULL, "
                "dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (encoder, key))"
            )
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    def _start_over(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move the damaged file (and its journal files) aside and open an empty cache in its place."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        # The write-ahead log belongs to the damaged file: left behind, SQLite would replay it into the new one.
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, Path(f"{aside}{suffix}"))
        self.recovered = (f"the embedding cache {self.path} was damaged ({exc}): moved it to {aside.name} "
                          "and started an empty one, so its texts are embedded again")
        log.info("%s", self.recovered)  # the build's report says it to the user
        return self._open()

    def _run(self, work: Callable[[sqlite3.Connection], R]) -> R:
        """``work(db)``; when it meets a damaged file, start over with an empty cache and run it once more."""
        try:
            return work(self._db)
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._db.close()
            self._db = self._start_over(exc)
            return work(self._db)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def get_many(self, encoder: str, keys: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the keys that have one (a row whose blob does not fit its dimension has none)."""
        def read(db: sqlite3.Connection) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            for i in range(0, len(keys), 500):
                batch = keys[i : i + 500]
                marks = ",".join("?" * len(batch))
                rows = db.execute(
                    f"SELECT key, dim, vector FROM vectors WHERE encoder = ? AND key IN ({marks})",
                    [encoder, *batch],
                )
                for key, dim, blob in rows:
                    if isinstance(blob, bytes) and len(blob) == 4 * dim > 0:
                        found[key] = np.frombuffer(blob, dtype=np.float32)
            return found

        return self._run(read)

    def put_many(self, encoder: str, items: list[tuple[str, np.ndarray]]) -> None:
        """Store vectors in one transaction."""
        rows = [(encoder, key, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for key, v in items]

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO vectors (encoder, key, dim, vector) VALUES (?, ?, ?, ?)", rows)

        self._run(write)

    def keep_only(self, encoder: str, keys: set[str]) -> int:
        """Delete this encoder's rows whose key is not in ``keys``; return how many."""
        def prune(db: sqlite3.Connection) -> int:
            with db:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS live (key TEXT PRIMARY KEY)")
                db.execute("DELETE FROM live")
                db.executemany("INSERT OR IGNORE INTO live (key) VALUES (?)", [(k,) for k in keys])
                cursor = db.execute(
                    "DELETE FROM vectors WHERE encoder = ? AND key NOT IN (SELECT key FROM live)", (encoder,)
                )
                return int(cursor.rowcount)

        return self._run(prune)

    def count(self, encoder: str | None = None) -> int:
        """Number of cached vectors (for one encoder, or all)."""
        def rows(db: sqlite3.Connection) -> int:
            if encoder is None:
                return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            return int(db.execute("SELECT COUNT(*) FROM vectors WHERE encoder = ?", (encoder,)).fetchone()[0])

        return self._run(rows)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """True when SQLite says the file is not a database or is malformed (not: locked, read-only, disk full)."""
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
