"""Random damage to a built index version: loading names it or is unharmed, and a rebuild always restores.

Hypothesis picks the damage (a file of the version cut short, lengthened, with
bytes flipped or deleted; garbage in CURRENT or in the manifest), in process, on
a copy of a real build of the default article. Loading must then either raise
one of the named index errors or answer exactly as before, never anything else;
``build(rebuild=True)`` must then give a working index that answers as before.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rag.embed.encoder import Encoder
from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.kb.knowledge_base import KnowledgeBase
from rag.store.format import CURRENT, MANIFEST, VERSIONS
from rag.store.versions import current_version, verify_current
from tests.helpers import make_settings

QUESTION = "2025年深圳人工智能核心产业营收约多少？"
NAMED_ERRORS = (IndexCorruptError, IndexMismatchError, IndexMissingError)


def snapshot(kb: KnowledgeBase) -> tuple[str, list[tuple[str, int]], list[int]]:
    answer = kb.ask(QUESTION)
    return answer.text, [(c.article, c.paragraph) for c in answer.citations], [h.chunk.id for h in answer.hits]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> tuple[KnowledgeBase, Any, list[str]]:
    kb = KnowledgeBase(make_settings(tmp_path_factory.mktemp("properties")), encoder)
    kb.build()
    folder = kb.settings.index_dir / VERSIONS / str(current_version(kb.settings.index_dir))
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return kb, snapshot(kb), files


# One damage: (kind, file of the version or None, a position 0..1, bytes).
DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 99), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("extend"), st.integers(0, 99), st.just(0.0), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("flip"), st.integers(0, 99), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.integers(0, 99), st.just(0.0), st.just(b"")),
    st.tuples(st.just("current"), st.just(0), st.just(0.0), st.binary(max_size=64)),
    st.tuples(st.just("manifest"), st.just(0), st.floats(0, 1), st.binary(max_size=256)),
)


def damage_version(index_dir: Path, files: list[str], kind: str, which: int, where: float, data: bytes) -> None:
    """Apply one damage to the current version of ``index_dir`` (``which`` picks the file)."""
    folder = index_dir / VERSIONS / str(current_version(index_dir))
    if kind == "current":
        (index_dir / CURRENT).write_bytes(data)
        return
    path = folder / (MANIFEST if kind == "manifest" else files[which % len(files)])
    content = path.read_bytes()
    at = int(where * len(content))
    if kind == "truncate":
        path.write_bytes(content[:at])
    elif kind == "extend":
        path.write_bytes(content + data)
    elif kind == "flip":  # each byte XORed with a non-zero one, so it always changes
        spoilt = bytearray(content)
        for i, b in enumerate(data):
            if spoilt:
                spoilt[(at + i) % len(spoilt)] ^= b or 0xFF
        path.write_bytes(bytes(spoilt))
    elif kind == "manifest":  # garbage spliced into the manifest
        path.write_bytes(content[:at] + data + content[at + len(data):])
    else:
        path.unlink()


@settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage=DAMAGE)
def test_damage_is_named_or_harmless_and_a_rebuild_restores(built: tuple[KnowledgeBase, Any, list[str]],
                                                             damage: tuple[str, int, float, bytes]) -> None:
    base, before, files = built
    with tempfile.TemporaryDirectory(prefix="rag-damage-") as tmp:
        root = Path(tmp)
        shutil.copytree(base.settings.corpus_dir, root / "corpus")
        shutil.copytree(base.settings.index_dir, root / "index")
        s = make_settings(root)
        damage_version(s.index_dir, files, *damage)
        try:
            answered = snapshot(KnowledgeBase(s, base.encoder()))
        except NAMED_ERRORS as exc:  # named, with its fix: the property holds
            event(f"{damage[0]}: {type(exc).__name__}")
        else:
            event(f"{damage[0]}: harmless")
            assert answered == before, damage
        report = KnowledgeBase(s, base.encoder()).build(rebuild=True)
        assert report.embedded == 0, report  # the embedding cache was not damaged
        assert verify_current(s.index_dir) == "ok"
        assert not [p for p in (s.index_dir / VERSIONS).iterdir() if p.name.endswith(".tmp")]
        assert snapshot(KnowledgeBase(s, base.encoder())) == before
