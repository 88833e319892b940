"""Damage to the index folder, done on purpose, on a real build of the default article.

Each kind ends in one line that names the fix (never a traceback), the fix it
names works, and the previous index keeps answering where the damage allows:
a damaged CURRENT, a damaged embedding cache, a read-only index folder, damaged
version files, builds killed part-way, an article that cannot be read for a while.

Permission cases run the command line in a child process. Tests run as root in
CI, and root ignores file permissions; so, as root, the child gives up the
capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER)
and chmod binds it as it binds any user. Where even that cannot be arranged,
those tests skip and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.embed.encoder import Encoder
from rag.errors import IndexCorruptError
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.faults import EXIT_CODE, FAULT_ENV
from rag.store.format import CURRENT, MANIFEST, PREVIOUS, VERSIONS, manifest_checksum
from rag.store.versions import current_version
from tests.helpers import MODELS_DIR, ROOT, copy_index, make_settings

QUESTION = "2025年深圳人工智能核心产业营收约多少？"
ARTICLE = "shenzhen-ai-industry.txt"
NEW_ARTICLE = "# 东莞制造\n\n东莞松山湖的机器人企业在2025年突破了三百家。它们主要生产工业机器人。\n"
REBUILD = "`rag index --rebuild`"


def snapshot(kb: KnowledgeBase) -> tuple[str, list[tuple[str, int]]]:
    """The known question's answer as it matters to a user: its text and what it cites."""
    answer = kb.ask(QUESTION)
    return answer.text, [(c.article, c.paragraph) for c in answer.citations]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> tuple[KnowledgeBase, Any]:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("damage")), encoder)
    kb.build()
    return kb, snapshot(kb)


@pytest.fixture()
def kb(built: tuple[KnowledgeBase, Any], tmp_path: Path) -> KnowledgeBase:
    """A fresh copy of the built corpus and index (with its embedding cache), to damage."""
    return copy_index(built[0], tmp_path)


@pytest.fixture()
def before(built: tuple[KnowledgeBase, Any]) -> Any:
    return built[1]


def fresh(kb: KnowledgeBase) -> KnowledgeBase:
    """A new knowledge base on the same folders (nothing loaded yet), sharing the encoder."""
    return KnowledgeBase(kb.settings, kb.encoder())


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(err: str, *parts: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in err, (part, err)


def where(kb: KnowledgeBase) -> list[str]:
    return ["--index-dir", str(kb.settings.index_dir)]


def version_dir(kb: KnowledgeBase) -> Path:
    name = current_version(kb.settings.index_dir)
    assert name is not None
    return kb.settings.index_dir / VERSIONS / name


# -- 1. CURRENT ---------------------------------------------------------------------------------
CURRENT_DAMAGE: dict[str, bytes | None] = {
    "not UTF-8": b"\xff\xfe\xfa\x80 version\n",
    "a NUL byte": b"20261127T000000000000Z\x00-1\n",
    "empty": b"",
    "whitespace only": b" \n\t \n",
    "a version that does not exist": b"20990101T000000000000Z-1\n",
    "a folder": None,
}


@pytest.mark.parametrize("damage", CURRENT_DAMAGE)
def test_damaged_current_is_named_and_rebuild_recovers(kb: KnowledgeBase, before: Any, damage: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    s = kb.settings
    current = s.index_dir / CURRENT
    content = CURRENT_DAMAGE[damage]
    if content is None:
        current.unlink()
        current.mkdir()
        (current / "note.txt").write_text("not ours to delete", encoding="utf-8")
    else:
        current.write_bytes(content)
    with pytest.raises(IndexCorruptError, match=rf"CURRENT.*{REBUILD}"):
        fresh(kb).ask(QUESTION)
    for command in (["ask", QUESTION], ["status"], ["index", str(s.corpus_dir)]):
        code, _, err = cli(capsys, *command, *where(kb))
        assert code == 2, (command, err)
        assert_one_error(err, str(current), REBUILD)
    code, out, err = cli(capsys, "index", str(s.corpus_dir), "--rebuild", "--json", *where(kb))
    assert code == 0 and "Traceback" not in err, err
    report = json.loads(out)
    assert report["embedded"] == 0 and any("CURRENT" in w for w in report["warnings"]), report
    assert snapshot(fresh(kb)) == before
    assert fresh(kb).status()["health"] == "ok"
    if content is None:  # the folder was moved aside with what it held, not deleted
        (moved,) = s.index_dir.glob(f"{CURRENT}.folder-*")
        assert (moved / "note.txt").read_text(encoding="utf-8") == "not ours to delete"


# -- 2. the embedding cache ---------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["overwritten with garbage", "truncated", "garbage in the middle"])
def test_damaged_embedding_cache_is_moved_aside_and_the_rebuild_embeds_again(
    kb: KnowledgeBase, before: Any, damage: str
) -> None:
    s = kb.settings
    cache = s.embedding_cache_path
    data = cache.read_bytes()
    if damage == "overwritten with garbage":
        cache.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        cache.write_bytes(data[: len(data) // 3])
    else:  # the header intact, so the damage is met only when rows are read
        cache.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    report = fresh(kb).build(rebuild=True)
    assert report.embedded > 0 and report.from_cache == 0
    (aside,) = cache.parent.glob("embeddings.sqlite.corrupt-*")
    assert any("embedding cache" in w and aside.name in w for w in report.warnings), report.warnings
    assert snapshot(fresh(kb)) == before
    # The new cache works: the next rebuild embeds nothing and says nothing.
    again = fresh(kb).build(rebuild=True)
    assert again.embedded == 0 and again.warnings == []


# -- 3. a read-only index folder -----------------------------------------------------------------
PR_CAPBSET_DROP = 24
# Capabilities that let root read, write and chmod files whatever their permissions say.
OVERRIDE_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


# A fresh Python that drops, as root, the capabilities that ignore file permissions (the bounding
# set stays dropped across exec), then runs the command. subtle: not a ``preexec_fn``: forking a
# process that has loaded gRPC (pymilvus, used by other tests of the session) and running Python in
# the child before exec can abort in gRPC's fork handlers (seen: SIGABRT, "epoll_wait error").
_BOUND = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    f"for cap in {OVERRIDE_CAPS!r}:\n"
    f"    if os.geteuid() == 0 and libc.prctl({PR_CAPBSET_DROP}, cap, 0, 0, 0) != 0:\n"
    "        raise OSError(ctypes.get_errno(), 'prctl(PR_CAPBSET_DROP)')\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def bound_by_permissions(command: list[str]) -> list[str]:
    """``command`` run bound by file permissions even as root (see ``_BOUND``)."""
    return [sys.executable, "-c", _BOUND, *command]


def run_cli(*args: str, env: dict[str, str] | None = None, bound: bool = False) -> subprocess.CompletedProcess[str]:
    """``rag ARGS`` in a child process (bound by file permissions when ``bound``)."""
    command = [sys.executable, "-m", "rag.cli", *args]
    return subprocess.run(
        bound_by_permissions(command) if bound else command, cwd=str(ROOT), capture_output=True, text=True,
        timeout=300, env={**os.environ, "RAG_MODELS_DIR": str(MODELS_DIR), **(env or {})},
    )


@pytest.fixture(scope="module")
def permissions_bind(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless a child process can be kept from writing a read-only file."""
    probe = tmp_path_factory.mktemp("probe") / "read-only.txt"
    probe.write_text("x", encoding="utf-8")
    probe.chmod(0o444)
    try:
        wrote = subprocess.run(bound_by_permissions([sys.executable, "-c", f"open({str(probe)!r}, 'a')"]),
                               capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run a child bound by file permissions here: {exc}")
    if wrote:
        pytest.skip("file permissions do not bind a child process here (root without capabilities to drop)")


def set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if writable else mode & ~0o222)


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.usefixtures("permissions_bind")
def test_read_only_index_answers_and_index_says_so_in_one_line(kb: KnowledgeBase, before: Any) -> None:
    s = kb.settings
    index = str(s.index_dir)
    set_writable(s.index_dir, False)
    try:
        untouched = listing(s.index_dir)
        ask = run_cli("ask", QUESTION, "--json", "--index-dir", index, bound=True)
        assert ask.returncode == 0, ask.stderr
        answer = json.loads(ask.stdout)
        assert (answer["answer"], [(c["article"], c["paragraph"]) for c in answer["citations"]]) == before
        status = run_cli("status", "--json", "--index-dir", index, bound=True)
        assert status.returncode == 0 and json.loads(status.stdout)["health"] == "ok", status.stderr
        assert listing(s.index_dir) == untouched  # answering wrote nothing
        for rebuild in ([], ["--rebuild"]):
            refused = run_cli("index", str(s.corpus_dir), "--index-dir", index, *rebuild, bound=True)
            assert refused.returncode == 2
            assert_one_error(refused.stderr, "read-only", f"`chmod -R u+w {index}`")
        assert listing(s.index_dir) == untouched
        # The fix the message names works (run as the same, permission-bound user).
        subprocess.run(bound_by_permissions(["chmod", "-R", "u+w", index]), check=True)
        again = run_cli("index", str(s.corpus_dir), "--index-dir", index, bound=True)
        assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    finally:
        set_writable(s.index_dir, True)


# -- 4. damaged version files --------------------------------------------------------------------
def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _recount(path: Path) -> None:
    """Edit a manifest's chunk count as a careful hand would: its checksum recomputed too."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["counts"]["chunks"] += 1
    data["checksum"] = manifest_checksum(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


VERSION_DAMAGE = {
    "chunks.jsonl truncated": ("chunks.jsonl", _cut),
    "dense.faiss truncated": ("dense.faiss", _cut),
    "sentences.f16.npy truncated": ("sentences.f16.npy", _cut),
    "a lexical file truncated": ("lexical/data.csc.index.npy", _cut),
    "a lexical file removed": ("lexical/vocab.index.json", Path.unlink),
    "dense.faiss removed": ("dense.faiss", Path.unlink),
    "a manifest count edited, checksum and all": (MANIFEST, _recount),
}


@pytest.mark.parametrize("damage", VERSION_DAMAGE)
def test_damaged_version_is_shown_by_status_and_rebuilt_by_index(kb: KnowledgeBase, before: Any, damage: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    s = kb.settings
    name, spoil = VERSION_DAMAGE[damage]
    damaged = version_dir(kb) / name
    spoil(damaged)
    with pytest.raises(IndexCorruptError, match=REBUILD):
        fresh(kb).ask(QUESTION)
    health = fresh(kb).status()["health"]
    assert str(damaged.parent) in health and REBUILD in health, health
    code, out, err = cli(capsys, "status", "--json", *where(kb))
    assert code == 2 and json.loads(out)["health"] == health
    assert_one_error(err, health)
    # A plain `rag index` does not call it up to date: it rebuilds the version (from the cache) and says so.
    code, out, err = cli(capsys, "index", str(s.corpus_dir), "--json", *where(kb))
    assert code == 0 and "Traceback" not in err, err
    report = json.loads(out)
    assert not report["up_to_date"] and report["embedded"] == 0, report
    assert any("damaged, so it was rebuilt" in w and Path(name).name in w for w in report["warnings"]), report
    assert "warning: the current index version was damaged" in err
    assert fresh(kb).status()["health"] == "ok"
    assert snapshot(fresh(kb)) == before
    assert fresh(kb).build().up_to_date


# -- 5. clean-up after killed builds ---------------------------------------------------------------
def _versions(kb: KnowledgeBase) -> set[str]:
    return {p.name for p in (kb.settings.index_dir / VERSIONS).iterdir()}


def _kill_a_rebuild(kb: KnowledgeBase, point: str) -> str | None:
    """Run ``rag index --rebuild`` killed at fault ``point``; return the version live before it."""
    s = kb.settings
    live = current_version(s.index_dir)
    killed = run_cli("index", str(s.corpus_dir), "--index-dir", str(s.index_dir), "--rebuild",
                     env={FAULT_ENV: point})
    assert killed.returncode == EXIT_CODE, killed.stderr
    return live


def test_a_killed_builds_tmp_folder_is_removed_by_the_next_build(kb: KnowledgeBase, before: Any) -> None:
    live = _kill_a_rebuild(kb, "while-writing")
    assert any(name.endswith(".tmp") for name in _versions(kb))
    report = fresh(kb).build()  # nothing changed: up to date, and it cleans up all the same
    assert report.up_to_date
    assert _versions(kb) == {live}
    assert snapshot(fresh(kb)) == before


def test_the_previous_live_version_survives_and_an_unswitched_one_goes(kb: KnowledgeBase, before: Any) -> None:
    s = kb.settings
    live = _kill_a_rebuild(kb, "before-switch")
    (unswitched,) = _versions(kb) - {live}
    assert live is not None and unswitched > live  # newer by name: "keep the newest two" would keep it
    (s.corpus_dir / "东莞.md").write_text(NEW_ARTICLE, encoding="utf-8")
    first = fresh(kb).build()
    assert _versions(kb) == {live, first.version}
    assert (s.index_dir / PREVIOUS).read_text(encoding="utf-8").strip() == live
    assert snapshot(fresh(kb)) == before
    (s.corpus_dir / "东莞.md").write_text(NEW_ARTICLE.replace("三百", "四百"), encoding="utf-8")
    second = fresh(kb).build()
    assert _versions(kb) == {first.version, second.version}


# -- 6. an article that cannot be read for a while ---------------------------------------------------
@pytest.mark.usefixtures("permissions_bind")
def test_an_unreadable_article_keeps_its_indexed_version(kb: KnowledgeBase, before: Any,
                                                         built: tuple[KnowledgeBase, Any]) -> None:
    s = kb.settings
    article = s.corpus_dir / ARTICLE
    (s.corpus_dir / "东莞.md").write_text(NEW_ARTICLE, encoding="utf-8")
    article.chmod(0)
    try:
        run = run_cli("index", str(s.corpus_dir), "--index-dir", str(s.index_dir), "--json", bound=True)
    finally:
        article.chmod(0o644)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    report = json.loads(run.stdout)
    assert report["added"] == ["东莞.md"] and report["removed"] == [] and report["articles"] == 2, report
    assert f"kept the indexed version of {ARTICLE}: cannot be read now (Permission denied)" in report["warnings"]
    assert not any(ARTICLE in line for line in report["errors"])  # kept, so not also "skipped"
    assert report["embedded"] == 3  # the new article's chunk and two sentences; the kept one from the cache
    after = fresh(kb)
    assert after.version().manifest.articles[ARTICLE] == built[0].version().manifest.articles[ARTICLE]
    assert snapshot(after) == before
    assert after.build().up_to_date  # readable again and unchanged: nothing to do

