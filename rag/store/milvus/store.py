"""The second store: one index version's chunks in a Milvus collection (Lite, server or cluster).

One client API reaches three deployments: a local path (``index/milvus.db``)
runs Milvus Lite inside this process, ``http://host:19530`` a server or a
cluster. A collection (built by ``rag.store.milvus.build``) holds each chunk's fields,
its dense vector and Milvus's built-in BM25 over the chunk text (jieba
analyzer), script-folded to simplified Chinese as on the FAISS path. Fusion
stays the project's RRF (``Searcher``), so both stores answer alike; Milvus's
own ``hybrid_search`` is a setting.

The knowledge base is an alias (``milvus_collection``); rows are grouped by
(article, article hash), and a searcher keeps only rows whose hash matches its
own index version, so it never mixes two versions of an article.

Milvus Lite by file path is single-process: the process that opens it holds a
file lock beside it, and a second process is told what to do instead.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from rag import filelock
from rag.errors import IndexMismatchError, StoreError
from rag.records import Fused
from rag.settings import Settings
from rag.store.versions import IndexVersion
from rag.text import fold_text, lexical_tokens
from rag.urls import mask_url

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # with rag.store.milvus.build.ANALYZER; a collection of another schema is rebuilt
META_PROPERTY = "rag.meta"
HNSW_EF_SEARCH = 128
REBUILD_COMMAND = "rag index --rebuild --store milvus"


def is_lite(address: str) -> bool:
    """True when the address is a local path (Milvus Lite embedded), not a server URI.

    >>> is_lite("index/milvus.db"), is_lite("http://127.0.0.1:19530")
    (True, False)
    """
    return "://" not in address


def display_uri(address: str) -> str:
    """The address without any user name or password in it (for status, logs and errors).

    >>> display_uri("https://root:secret@milvus.example:19530/db")
    'https://milvus.example:19530/db'
    """
    return mask_url(address)  # a Lite path has no "://" and is kept as it is


def search_text(text: str) -> str:
    """What Milvus's BM25 indexes and is queried with: NFKC, lower case, folded to simplified.

    >>> search_text("臺灣ＡＩ產業")
    '台湾ai产业'
    """
    return fold_text(text)


def collection_meta(settings: Settings, dimension: int) -> dict[str, Any]:
    """What a collection must have been built with to serve these settings."""
    return {
        "schema": SCHEMA_VERSION, "encoder": settings.encoder_identity, "dimension": int(dimension),
        "chunking": settings.chunking,
    }


# -- connections ---------------------------------------------------------------------

class MilvusConnection:
    """One Milvus client for one address, and for Milvus Lite the lock that makes it this process's."""

    def __init__(self, address: str, token: str | None):
        self.address = address
        self.lite = is_lite(address)
        self._lock_file: IO[str] | None = None
        # Held while a sequence of calls must not interleave (a query iterator). Single
        # calls need no lock: the client speaks gRPC, to Milvus Lite's in-process server too.
        self.calls = threading.RLock()
        if self.lite:
            if not address.endswith(".db"):
                raise StoreError(f"milvus_uri {address!r}: a Milvus Lite file must end in .db "
                                 "(e.g. index/milvus.db), a server address starts with http://")
            Path(address).parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _take_store_lock(Path(address))
        from pymilvus import MilvusClient

        try:
            self.client = MilvusClient(uri=address, token=token or "", timeout=10)
        except Exception as exc:
            self.close()
            # Milvus Lite's own lock on its folder, held by a `milvus-lite server` serving it.
            if self.lite and filelock.is_held(Path(address) / "LOCK"):
                raise StoreError(
                    f"the Milvus Lite store {address} is held by another program, most likely a "
                    f"`milvus-lite server --data-dir {address}`: set milvus_uri to that server's http:// address "
                    "(e.g. http://127.0.0.1:19530), or stop it"
                ) from exc
            if self.lite:
                raise StoreError(
                    f"Milvus Lite cannot open {address} ({type(exc).__name__}: {_first_line(exc, token)}); "
                    "check the folder, or move it away and run `rag index` to fill a new one"
                ) from exc
            raise StoreError(
                f"cannot open Milvus at {display_uri(address)} ({type(exc).__name__}: "
                f"{_first_line(exc, token)}); check milvus_uri (and milvus_token), or start the server"
            ) from exc

    def close(self) -> None:
        """Close the client and give up the lock."""
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing must not hide the error that led here
                log.warning("closing Milvus at %s: %s", display_uri(self.address), type(exc).__name__)
            if self.lite:
                # Closing the client leaves Milvus Lite's in-process server (and its own
                # lock on the data) running until the program ends.
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.address)
        if self._lock_file is not None:
            filelock.release(self._lock_file)
            self._lock_file = None

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one client call; a failure becomes a StoreError naming the address (never the token)."""
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(
                f"Milvus at {display_uri(self.address)} failed to {what} ({type(exc).__name__}: "
                f"{_first_line(exc, None)}); check that it is running and reachable"
            ) from exc


def _first_line(exc: BaseException, secret: str | None) -> str:
    text = (str(exc).splitlines() or [""])[0][:200]
    return text.replace(secret, "***") if secret else text


def _take_store_lock(db: Path) -> IO[str]:
    """Lock ``<db>.lock`` for this process, or explain what to do when another process has it."""
    try:
        return filelock.acquire(db.with_name(db.name + ".lock"))
    except filelock.LockHeldError as held:
        raise StoreError(
            f"the Milvus Lite store {db} is open in another process (pid {held.holder}); Milvus Lite by file path "
            f"serves one process: rebuild from the running app (or stop it first), or serve the store with "
            f"`milvus-lite server --data-dir {db} --host 127.0.0.1 --port 19530` and set "
            f"milvus_uri to http://127.0.0.1:19530 in every process"
        ) from held


# One client per address per process: a Lite file can be opened once, and the
# searcher and a build in the same process (the app rebuilding) must share it.
_OPEN: dict[str, MilvusConnection] = {}
_OPEN_LOCK = threading.Lock()


def _address_key(address: str) -> str:
    return str(Path(address).resolve()) if is_lite(address) else address


def connect(settings: Settings) -> MilvusConnection:
    """The process's connection to the settings' Milvus store (opened, and for Lite locked, on first use)."""
    address = settings.milvus_address
    key = _address_key(address)
    with _OPEN_LOCK:
        conn = _OPEN.get(key)
        if conn is None:
            if not _OPEN:
                # An open client keeps gRPC threads (and Milvus Lite) alive past the end of the program.
                atexit.register(disconnect_all)
            conn = _OPEN[key] = MilvusConnection(address, settings.milvus_token)
        return conn


def disconnect_all() -> None:
    """Close every connection this process opened."""
    with _OPEN_LOCK:
        conns = list(_OPEN.values())
        _OPEN.clear()
    for conn in conns:
        conn.close()


def disconnect(settings: Settings) -> None:
    """Close this process's connection to the settings' store (and release a Lite lock)."""
    with _OPEN_LOCK:
        conn = _OPEN.pop(_address_key(settings.milvus_address), None)
    if conn is not None:
        conn.close()


# -- collections ---------------------------------------------------------------------

def alias_target(conn: MilvusConnection, alias: str) -> str | None:
    """The collection an alias points to, or None when the alias does not exist."""
    with conn.calls:
        aliases = conn.call("list aliases", conn.client.list_aliases).get("aliases", [])
        if alias not in aliases:
            return None
        return str(conn.call("describe an alias", conn.client.describe_alias, alias)["collection_name"])


def read_meta(conn: MilvusConnection, collection: str) -> dict[str, Any] | None:
    """The rag metadata stored on a collection (None when it has none)."""
    info = conn.call("describe a collection", conn.client.describe_collection, collection)
    raw = (info.get("properties") or {}).get(META_PROPERTY)
    try:
        meta = json.loads(raw) if raw else None
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def stored_article(path: str) -> str:
    r"""An article path as Milvus keeps it: VARCHAR must be valid UTF-8.

    A path whose file name is not UTF-8 (lone surrogates, as ``os.fsdecode``
    gives them) is kept with those bytes written as ``\xNN``; searchers map it
    back through their version's paths, so the file is still the one indexed.

    >>> stored_article("新闻.txt"), stored_article("\udcb0\udca1.txt")
    ('新闻.txt', '\\xb0\\xa1.txt')
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in path):
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def filter_literal(value: str) -> str:
    """A Milvus filter string literal."""
    return json.dumps(value, ensure_ascii=False)


def collection_status(settings: Settings) -> dict[str, Any]:
    """The store part of ``rag status``: address (no credentials), alias, collection and rows."""
    out: dict[str, Any] = {"milvus_uri": display_uri(settings.milvus_address),
                           "milvus_collection": settings.milvus_collection}
    try:
        conn = connect(settings)
        target = alias_target(conn, settings.milvus_collection)
        out["milvus_target"] = target
        if target is not None:
            stats = conn.call("count rows", conn.client.get_collection_stats, target)
            out["milvus_rows"] = int(stats.get("row_count", 0))
    except StoreError as exc:
        out["milvus_error"] = str(exc)
    return out


# -- searching -------------------------------------------------------------------------

class MilvusStore:
    """The two legs of one index version, run on the Milvus collection behind the alias."""

    def __init__(self, settings: Settings, version: IndexVersion):
        """Open (or share) the connection and check the collection was built for this version's settings."""
        self.settings = settings
        self.version = version
        self.conn = connect(settings)
        self.alias = settings.milvus_collection
        self.own_fusion = settings.milvus_hybrid == "milvus"
        target = alias_target(self.conn, self.alias)
        where = f"{display_uri(settings.milvus_address)} collection {self.alias}"
        if target is None:
            raise IndexMismatchError(f"{where} does not exist yet: run `rag index` with store = milvus")
        meta = read_meta(self.conn, target)
        expected = collection_meta(settings, version.manifest.model.dimension)
        expected["encoder"] = version.encoder_identity
        if meta != expected:
            built = meta or {}
            differ = "; ".join(f"{key} {built.get(key)!r} (needed: {expected[key]!r})"
                               for key in expected if built.get(key) != expected[key])
            raise IndexMismatchError(f"{where} was built with other settings: {differ}; run `{REBUILD_COMMAND}`")
        # A collection is searchable once loaded; Milvus keeps it released after a restart.
        self.conn.call("load the collection", self.conn.client.load_collection, target)
        self._hashes = {stored_article(path): info.sha256 for path, info in version.manifest.articles.items()}
        self._paths = {stored_article(path): path for path in version.manifest.articles}

    def _filter(self, articles: list[str] | None) -> str:
        if not articles:
            return ""
        stored = sorted({stored_article(a) for a in articles})
        return "article in [" + ", ".join(filter_literal(a) for a in stored) + "]"

    def _to_ids(self, found: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids of this version for Milvus hits; rows of another version of an article are dropped."""
        ids: list[int] = []
        scores: list[float] = []
        seen: set[int] = set()
        for hit in found:
            entity = hit["entity"]
            stored = str(entity["article"])
            if self._hashes.get(stored) != entity["article_sha"]:
                continue
            span = self.version.chunk_range(self._paths[stored])
            if span is None or not 0 <= int(entity["seq"]) < span[1] - span[0]:
                continue
            cid = span[0] + int(entity["seq"])
            if cid in seen:
                continue
            seen.add(cid)
            ids.append(cid)
            scores.append(float(hit["distance"]))
        return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)

    def dense_search(self, query_vector: np.ndarray, k: int,
                     articles: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` chunk ids and inner products (Milvus FLAT or HNSW)."""
        params: dict[str, Any] = {"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, k)}}
        found = self.conn.call("search", self.conn.client.search, self.alias,
                               data=[np.asarray(query_vector, dtype=np.float32).tolist()], anns_field="dense",
                               limit=k, filter=self._filter(articles), search_params=params,
                               output_fields=["article", "article_sha", "seq"])
        return self._to_ids(list(found[0]))

    def lexical_search(self, query: str, k: int,
                       articles: list[str] | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Tokens (the project's, for answering) and the top ``k`` chunk ids by Milvus's BM25."""
        tokens = lexical_tokens(query)
        text = search_text(query).strip()
        if not text or not tokens:
            return tokens, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        found = self.conn.call("search", self.conn.client.search, self.alias, data=[text], anns_field="sparse",
                               limit=k, filter=self._filter(articles), search_params={"metric_type": "BM25"},
                               output_fields=["article", "article_sha", "seq"])
        ids, scores = self._to_ids(list(found[0]))
        # Milvus Lite reports BM25 as a negative distance (smaller is better); keep "higher is better".
        return tokens, ids, np.abs(scores)

    def fused_search(self, query: str, query_vector: np.ndarray, k: int, depth: int, rrf_k: int,
                     articles: list[str] | None) -> list[Fused]:
        """Milvus's own hybrid search: both legs fused by its RRFRanker inside Milvus."""
        from pymilvus import AnnSearchRequest, RRFRanker

        expr = self._filter(articles)
        dense = AnnSearchRequest(data=[np.asarray(query_vector, dtype=np.float32).tolist()], anns_field="dense",
                                 param={"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, depth)}},
                                 limit=depth, expr=expr or None)
        requests = [dense]
        text = search_text(query).strip()
        if text and lexical_tokens(query):
            requests.append(AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"},
                                             limit=depth, expr=expr or None))
        found = self.conn.call("search", self.conn.client.hybrid_search, self.alias, requests,
                               ranker=RRFRanker(rrf_k), limit=k, output_fields=["article", "article_sha", "seq"])
        ids, scores = self._to_ids(list(found[0]))
        return [Fused(int(c), float(s), None, None) for c, s in zip(ids, scores, strict=True)]
