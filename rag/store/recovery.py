"""What a build does about damage it finds, so that `rag index --rebuild` (or `rag index`) always recovers.

- A current version whose files fail the checks loading makes (truncated,
  changed, missing) is rebuilt by the next ``rag index``: the warning says so.
- A manifest or CURRENT that cannot be read stops an incremental build with an
  error naming ``rag index --rebuild``; the rebuild goes on without them.
- An indexed article that is still in the corpus but cannot be read now
  (permissions, an I/O error) keeps its indexed version instead of vanishing.
- Clean-up deletes killed builds' ``.tmp`` folders and unswitched versions.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from rag.errors import IndexCorruptError, IndexMismatchError
from rag.records import Article
from rag.store.current import prune_versions, read_manifest
from rag.store.format import REBUILD_HINT, Manifest
from rag.store.versions import indexed_articles, verify_current

# What a build finds is said in its report's warnings (the command line prints them); the log says it at info.
log = logging.getLogger(__name__)


def without_hint(problem: object) -> str:
    """A load error's message without its closing ``: run `rag index --rebuild``` (the build is doing that).

    >>> without_hint("a.faiss is missing: run `rag index --rebuild`")
    'a.faiss is missing'
    """
    return str(problem).removesuffix(f": {REBUILD_HINT}")


def previous_manifest(index_dir: Path, rebuild: bool, warnings: list[str]) -> Manifest | None:
    """The current version's manifest (None before the first build).

    One that cannot be used (or a damaged CURRENT) stops an incremental build
    (its error names ``rag index --rebuild``); a full rebuild does not need it
    and goes on without, adding a line to ``warnings``.
    """
    try:
        return read_manifest(index_dir)
    except (IndexCorruptError, IndexMismatchError) as exc:
        if not rebuild:
            raise
        log.info("rebuilding without the current version's manifest: %s", exc)
        warnings.append(f"rebuilt the index from the corpus: {without_hint(exc)}")
        return None


def current_damaged(index_dir: Path, warnings: list[str]) -> bool:
    """True when the current version fails the checks loading makes; a line in ``warnings`` then says so."""
    health = verify_current(index_dir)
    if health == "ok":
        return False
    log.info("the current index version is damaged, rebuilding it: %s", health)
    warnings.append(f"the current index version was damaged, so it was rebuilt (embeddings from the cache): "
                    f"{without_hint(health)}")
    return True


def keep_unreadable(corpus_dir: Path, index_dir: Path, old: Manifest, articles: list[Article],
                    warnings: list[str]) -> list[Article]:
    """``articles`` plus the indexed version of each indexed article still in the corpus that cannot be read now.

    A file briefly unreadable (permissions, an I/O error) is not a deleted one:
    its chunks, sentences and vectors (from the current version's records and
    the embedding cache) stay in the new version, and a line in ``warnings``
    says so. ``old``: the current version's manifest.
    """
    loaded = {a.path for a in articles}
    reasons = {}
    for path in old.articles:
        if path not in loaded and (reason := read_error(corpus_dir / path)) is not None:
            reasons[path] = reason
    kept = indexed_articles(index_dir, old, reasons)
    if not kept:
        return articles
    for path in kept:
        log.info("%s cannot be read now (%s): keeping its indexed version", path, reasons[path])
        warnings.append(f"kept the indexed version of {path}: cannot be read now ({reasons[path]})")
    # In the corpus listing's order (by path parts), so chunk ids do not depend on what was kept.
    return sorted([*articles, *kept.values()], key=lambda a: PurePosixPath(a.path).parts)


def read_error(path: Path) -> str | None:
    """Why the file at ``path`` cannot be read right now; None when it reads, or is gone (deleted)."""
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            while fh.read(1 << 20):
                pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def clean_up(index_dir: Path) -> None:
    """Delete the folders of killed builds and of unswitched versions (``prune_versions``), logging what went."""
    deleted = prune_versions(index_dir)
    if deleted:
        log.info("deleted %d unfinished or unused index versions: %s", len(deleted), ", ".join(deleted))
