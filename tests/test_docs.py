"""The docs hold what they promise: every setting and command documented, every path and name they cite there,
every figure they quote the same as BENCHMARKS.md's.

The README is a front page (at most 150 lines); the rest is docs/*.md, linked from it.
"""

from __future__ import annotations

import argparse
import importlib
import re
from dataclasses import fields
from pathlib import Path

import pytest

from rag.cli.main import build_parser
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
BENCHMARKS = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
PAGES = [README, *DOCS]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_readme_is_a_front_page_that_links_every_doc() -> None:
    text = _text(README)
    assert text.count("\n") <= 150, f"README.md has {text.count(chr(10))} lines; move the rest to docs/"
    assert text.startswith("# ") and "make run" in text.split("\n## ")[0] and "make test" in text.split("\n## ")[0]
    for doc in DOCS:
        assert f"(docs/{doc.name})" in text, f"the README links no docs/{doc.name}"
    assert "![" in text, "the tour shows a picture"


def test_every_setting_is_documented_in_settings_md() -> None:
    text = _text(ROOT / "docs" / "settings.md")
    missing = [f.name for f in fields(Settings) if f"`{f.name}`" not in text]
    assert missing == [], f"docs/settings.md does not document {missing}"


def _commands(parser: argparse.ArgumentParser, prefix: str = "rag") -> list[str]:
    found = []
    for action in parser._actions:  # argparse keeps its subcommands here (no public accessor)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found.extend(_commands(sub, f"{prefix} {name}"))
    return found


def test_every_command_is_documented_in_cli_md() -> None:
    text = _text(ROOT / "docs" / "cli.md")
    commands = _commands(build_parser())
    assert {"rag index", "rag ask", "rag kb create"} <= set(commands)
    missing = [c for c in commands if f"{c}" not in text]
    assert missing == [], f"docs/cli.md does not document {missing}"
    headed = [c for c in commands if c.count(" ") == 1 and f"## {c}\n" not in text]
    assert headed == [], f"docs/cli.md has no section for {headed}"


# A cited path: a project folder and a file or folder in it; a dotted name: a module of rag and an attribute.
CITED_PATH = re.compile(r"`((?:rag|tests|scripts|benchmarks|training|docs|deploy|questions|corpus)/[\w./-]*)`")
ROOT_FILE = re.compile(r"`([\w-]+\.(?:py|md|toml|txt))`")
CITED_NAME = re.compile(r"`(rag(?:\.\w+)+)`")
LINK = re.compile(r"\]\(([^)#:]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_and_name_a_page_cites_exists(page: Path) -> None:
    text = _text(page)
    missing = [p for p in CITED_PATH.findall(text) if not (ROOT / p.rstrip("/")).exists()]
    missing += [p for p in ROOT_FILE.findall(text) if p in ("app.py", "pyproject.toml", "Makefile") and
                not (ROOT / p).exists()]
    missing += [link for link in LINK.findall(text) if not (page.parent / link).exists()]
    assert missing == [], f"{page.name} cites what is not there: {missing}"
    for name in CITED_NAME.findall(text):
        if name.endswith((".toml", ".md", ".json", ".jsonl", ".py")):  # a file (rag.toml), not a module
            continue
        assert _resolves(name), f"{page.name} cites {name}, which does not exist"


def _resolves(name: str) -> bool:
    """True when ``name`` is a module of rag, or an attribute (a chain of them) of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


# Ratios the docs quote ("1.74× the speed of fp32"): each must be BENCHMARKS.md's.
RATIO = re.compile(r"(\d+(?:\.\d+)?)×")
# Figures quoted with where BENCHMARKS.md states them: (page, the figure in the page, the line in BENCHMARKS.md).
CLAIMS = [
    ("docs/settings.md", r"`onnx-int8` for the bundled model \((\d+\.\d+)× the speed of fp32",
     r"\| onnx-int8 ≥ 2× torch fp32 \(chunks/s, each at its best batch\) \| (\d+\.\d+)× \|"),
    ("docs/settings.md", r"`batch_size` \| (\d+) \|", r"\| onnx-int8 \| 1: [\d.]+, 8: [\d.]+, 32: [\d.]+ \| (\d+) \|"),
    ("docs/milvus.md", r"recall@10 (0\.\d+)", r"\| 300k \| milvus-lite \| HNSW \|[^\n]*?\| (0\.\d+) \|"),
]


def test_every_ratio_the_docs_quote_is_benchmarks_md_s() -> None:
    stated = set(RATIO.findall(BENCHMARKS))
    wrong = [(page.name, figure) for page in PAGES for figure in RATIO.findall(_text(page)) if figure not in stated]
    assert wrong == [], f"ratios that BENCHMARKS.md does not state: {wrong}"


@pytest.mark.parametrize("page, quoted, measured", CLAIMS, ids=lambda c: str(c)[:40])
def test_figures_in_the_docs_agree_with_benchmarks_md(page: str, quoted: str, measured: str) -> None:
    in_page = re.search(quoted, _text(ROOT / page))
    in_benchmarks = re.search(measured, BENCHMARKS)
    assert in_page and in_benchmarks, (page, quoted, measured)
    quoted_figure, measured_figure = in_page.group(1), in_benchmarks.group(1)
    decimals = len(quoted_figure.partition(".")[2])  # the docs may round BENCHMARKS.md's figure, never change it
    assert float(quoted_figure) == round(float(measured_figure), decimals), \
        f"{page} says {quoted_figure}, BENCHMARKS.md {measured_figure}"


def test_each_how_do_i_question_has_its_answer_in_architecture_md() -> None:
    text = _text(ROOT / "docs" / "architecture.md")
    for question, must_name in (("add a file format", "rag/ingest/extract.py"), ("add an API route", "rag/api/app.py"),
                                ("where refusal is decided", "is_refusal"),
                                ("where a citation's offsets come from", "Citation.of")):
        heading = next((h for h in re.findall(r"^### (.+)$", text, re.M) if question.split()[-1] in h), None)
        assert heading is not None, f"no answer to: how do I {question}"
        section = text.split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
        assert must_name in section, f"the answer to {question!r} does not name {must_name}"
