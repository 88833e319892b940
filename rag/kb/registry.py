"""Knowledge bases by name: which exist, where their folders are, and their own settings.

The list is exactly: ``default`` (the settings' ``corpus_dir`` and ``index_dir``:
``corpus/`` and ``index/``, so a one-corpus installation is unchanged), every
``kbs/NAME/kb.toml`` (made by ``rag kb create NAME``; the folder holds ``corpus/``
and ``index/``), and every ``[kb.NAME]`` table of the settings file (folders of
the user's choosing). A knowledge base's settings are the global ones with its
own on top; its Milvus alias is ``<milvus_collection>_<name>`` (``default``
keeps today's) and its evaluation runs go to its own folder, so nothing of one
appears in another's results or lists.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from rag import filelock
from rag.errors import KnowledgeBaseError, RagError, SettingsError
from rag.files import write_atomically
from rag.kb.folders import Folder, check_folders, resolved
from rag.kb.status import BaseSummary
from rag.settings import Settings, settings_with
from rag.store.format import BUILD_LOCK
from rag.store.versions import read_manifest

DEFAULT = "default"
KB_FILE = "kb.toml"
NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
Origin = Literal["default", "created", "declared"]


@dataclass(frozen=True)
class KnowledgeBaseSpec:
    """One knowledge base: its name, folders, where it was declared and its own settings."""

    name: str
    corpus_dir: Path
    index_dir: Path
    origin: Origin
    folder: Path | None  # kbs/NAME for one made by `rag kb create` (deleted with it); else None
    own: dict[str, Any]  # its own settings (kb.toml or the [kb.NAME] table), folders excluded


def check_name(name: str) -> str:
    """``name`` when it is a valid knowledge-base name; KnowledgeBaseError naming the rule otherwise.

    >>> check_name("news_2025")
    'news_2025'
    >>> check_name("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rag.errors.KnowledgeBaseError: '../etc' is not a knowledge-base name: use 1-40 lower-case letters, ...
    """
    if not NAME_RULE.fullmatch(name):
        raise KnowledgeBaseError(f"{name!r} is not a knowledge-base name: use 1-40 lower-case letters, digits and "
                                 "underscores, starting with a letter or digit")
    return name


def list_bases(settings: Settings) -> list[KnowledgeBaseSpec]:
    """Every knowledge base: ``default``, then the created ones and the declared ones, by name.

    Their folders are checked each time (``rag.kb.folders``): none a system folder, no two overlapping.
    """
    found: dict[str, KnowledgeBaseSpec] = {}
    for name, table in settings.kb_tables.items():
        found[name] = _declared(settings, name, table)
    if settings.kbs_dir.is_dir():
        for kb_file in sorted(settings.kbs_dir.glob(f"*/{KB_FILE}")):
            name = kb_file.parent.name
            if name in found:
                raise SettingsError(f"knowledge base {name!r} is both declared in the settings file ([kb.{name}]) "
                                    f"and made by `rag kb create` ({kb_file.parent}); remove one of them")
            if NAME_RULE.fullmatch(name) and name != DEFAULT:  # a stray folder is not a knowledge base
                found[name] = _created(kb_file)
    default = KnowledgeBaseSpec(DEFAULT, settings.corpus_dir, settings.index_dir, "default", None, {})
    bases = [default, *(found[n] for n in sorted(found))]
    check_folders([Folder(b.name, kind, resolved(path)) for b in bases
                   for kind, path in (("corpus_dir", b.corpus_dir), ("index_dir", b.index_dir))])
    return bases


def find_base(settings: Settings, name: str) -> KnowledgeBaseSpec:
    """One knowledge base by name; KnowledgeBaseError listing the names there are."""
    bases = list_bases(settings)
    for spec in bases:
        if spec.name == name:
            return spec
    hint = f" (create one with `rag kb create {name}`)" if NAME_RULE.fullmatch(name) else ""
    raise KnowledgeBaseError(f"no knowledge base named {name!r}; there are: {', '.join(b.name for b in bases)}{hint}")


def settings_for(settings: Settings, spec: KnowledgeBaseSpec) -> Settings:
    """The settings a knowledge base runs with: the global ones, its folders and its own settings on top."""
    if spec.origin == "default":
        return settings.replace(kb=(DEFAULT,))
    source = f"{spec.folder / KB_FILE}" if spec.folder else f"[kb.{spec.name}] of the settings file"
    own = settings_with(settings, spec.own, source)
    changes: dict[str, Any] = {"corpus_dir": spec.corpus_dir, "index_dir": spec.index_dir, "kb": (spec.name,)}
    if "milvus_collection" not in spec.own:
        changes["milvus_collection"] = f"{settings.milvus_collection}_{spec.name}"
    if "eval_dir" not in spec.own:
        changes["eval_dir"] = (settings.eval_dir / spec.name if settings.eval_dir is not None
                               else spec.folder / "eval-runs" if spec.folder is not None
                               else spec.index_dir.parent / "eval-runs" / spec.name)
    if "curation_dir" not in spec.own:
        changes["curation_dir"] = (spec.folder / "curation" if spec.folder is not None
                                   else spec.index_dir.parent / "curation" / spec.name)
    if "cache_dir" not in spec.own and settings.cache_dir is not None:
        changes["cache_dir"] = settings.cache_dir / spec.name
    return own.replace(**changes)


def summary(settings: Settings, name: str) -> BaseSummary:
    """What ``rag kb list`` shows of one knowledge base (``settings``: its own), read from its manifest alone.

    ``error`` says why the manifest cannot be read, when it cannot.
    """
    row = BaseSummary(name, str(settings.corpus_dir), str(settings.index_dir), store=settings.store)
    try:
        manifest = read_manifest(settings.index_dir)
    except RagError as exc:
        return replace(row, error=str(exc))
    if manifest is None:
        return row
    return replace(row, articles=manifest.counts.articles, chunks=manifest.counts.chunks,
                   built_at=manifest.created_at)


def create_base(settings: Settings, name: str) -> KnowledgeBaseSpec:
    """Make ``kbs/NAME/`` with its ``corpus/``, ``index/`` and ``kb.toml``; KnowledgeBaseError if the name is taken."""
    check_name(name)
    if name in {b.name for b in list_bases(settings)}:
        raise KnowledgeBaseError(f"a knowledge base named {name!r} exists already (`rag kb list` shows them)")
    folder = settings.kbs_dir / name
    if folder.exists():
        raise KnowledgeBaseError(f"{folder} exists but holds no {KB_FILE}; move it away or choose another name")
    (folder / "corpus").mkdir(parents=True)
    (folder / "index").mkdir()
    write_atomically(folder / KB_FILE, f"# Knowledge base {name}: made by `rag kb create {name}`.\n"
                      "# Its articles go in corpus/ beside this file; its index is index/.\n"
                      "# Settings of its own (any setting of rag.toml but the folders), e.g.:\n"
                      '# store = "milvus"\n# chunk_size = 300\n')
    return _created(folder / KB_FILE)


def delete_base(settings: Settings, name: str) -> KnowledgeBaseSpec:
    """Remove a knowledge base made by ``rag kb create`` with its folder; others are refused with the reason.

    The base's build lock is held while its folder goes: a build running on it makes the deletion a
    one-line refusal (deleting under it let the build recreate ``index/`` without a ``kb.toml``). A
    folder that is a symbolic link loses the link only; the folder it points to is left as it is.
    """
    spec = find_base(settings, name)
    if spec.origin == "default":
        raise KnowledgeBaseError("the knowledge base default cannot be deleted (it is corpus/ and index/)")
    if spec.origin == "declared" or spec.folder is None:
        raise KnowledgeBaseError(f"knowledge base {name!r} is declared in the settings file ([kb.{name}]) with "
                                 "folders of your choosing: remove the declaration there; its folders are left alone")
    folder = spec.folder
    with _not_building(spec):
        try:
            if folder.is_symlink():
                folder.unlink()
            else:
                (folder / KB_FILE).unlink(missing_ok=True)  # first: a command started now finds no such base
                shutil.rmtree(folder)
        except OSError as exc:
            raise KnowledgeBaseError(f"cannot delete {folder} ({exc.strerror or exc}): check its permissions, "
                                     f"then run `rag kb delete {name}` again") from exc
    return spec


@contextmanager
def _not_building(spec: KnowledgeBaseSpec) -> Iterator[None]:
    """Hold the knowledge base's build lock for the block; KnowledgeBaseError while a build holds it."""
    if not spec.index_dir.is_dir():
        yield
        return
    try:
        held = filelock.acquire(spec.index_dir / BUILD_LOCK)
    except filelock.LockHeldError as busy:
        raise KnowledgeBaseError(f"knowledge base {spec.name!r} is being indexed (pid {busy.holder}); delete it "
                                 "when the build ends") from busy
    except OSError as exc:
        raise KnowledgeBaseError(f"cannot delete {spec.folder} ({exc.strerror or exc}): check its permissions") \
            from exc
    try:
        yield
    finally:
        filelock.release(held)


def _created(kb_file: Path) -> KnowledgeBaseSpec:
    folder = kb_file.parent
    try:
        own = tomllib.loads(kb_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{kb_file} cannot be read as TOML ({exc}); fix or delete it") from exc
    for key in ("corpus_dir", "index_dir"):
        if key in own:
            raise SettingsError(f"{kb_file}: {key} is fixed for a knowledge base made by `rag kb create` "
                                f"({folder / key.split('_')[0]}); declare one in rag.toml ([kb.NAME]) to choose "
                                "its folders")
    return KnowledgeBaseSpec(folder.name, folder / "corpus", folder / "index", "created", folder, own)


def _declared(settings: Settings, name: str, table: dict[str, Any]) -> KnowledgeBaseSpec:
    if not NAME_RULE.fullmatch(name) or name == DEFAULT:
        raise SettingsError(f"[kb.{name}] in the settings file: {name!r} is not a knowledge-base name (1-40 lower-case "
                            "letters, digits and underscores; `default` is corpus/ and index/)")
    own = dict(table)
    try:
        corpus, index = Path(own.pop("corpus_dir")).expanduser(), Path(own.pop("index_dir")).expanduser()
    except KeyError as exc:
        raise SettingsError(f"[kb.{name}] in the settings file needs corpus_dir and index_dir") from exc
    return KnowledgeBaseSpec(name, corpus, index, "declared", None, own)
