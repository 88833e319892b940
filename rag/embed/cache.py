"""The embedding cache: one SQLite file beside the index, keyed by encoder and text.

SQLite gives transactions and survives kill -9; vectors are raw float32 bytes,
never pickled. Rows not used by the latest build of an encoder are deleted, so
the text of a deleted article does not linger.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np


def text_key(kind: str, text: str) -> str:
    """Cache key of a text embedded as ``kind`` ('passage' or 'query')."""
    return hashlib.sha256(f"{kind}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors by (encoder identity, text key)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (encoder TEXT NOT NULL, key TEXT NOT NULL, "
            "dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (encoder, key))"
        )
        self._db.commit()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def get_many(self, encoder: str, keys: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the keys that have one."""
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            batch = keys[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE encoder = ? AND key IN ({marks})",
                [encoder, *batch],
            )
            for key, blob in rows:
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, encoder: str, items: list[tuple[str, np.ndarray]]) -> None:
        """Store vectors in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (encoder, key, dim, vector) VALUES (?, ?, ?, ?)",
                [(encoder, key, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for key, v in items],
            )

    def keep_only(self, encoder: str, keys: set[str]) -> int:
        """Delete this encoder's rows whose key is not in ``keys``; return how many."""
        with self._db:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS live (key TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM live")
            self._db.executemany("INSERT OR IGNORE INTO live (key) VALUES (?)", [(k,) for k in keys])
            cursor = self._db.execute(
                "DELETE FROM vectors WHERE encoder = ? AND key NOT IN (SELECT key FROM live)", (encoder,)
            )
            return int(cursor.rowcount)

    def count(self, encoder: str | None = None) -> int:
        """Number of cached vectors (for one encoder, or all)."""
        if encoder is None:
            row = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()
        else:
            row = self._db.execute("SELECT COUNT(*) FROM vectors WHERE encoder = ?", (encoder,)).fetchone()
        return int(row[0])
