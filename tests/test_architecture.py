"""The layout's size rules: no module over 400 lines, no function over 80, every package says what it owns.

A module may be longer only if it is data (a table, a generated map) and says so
in a comment holding ``size-exempt: data``; a function only if it is a flat
table, with ``size-exempt: flat table`` in its body. The import rules are
import-linter contracts (pyproject.toml), run as ``lint-imports`` by the test command.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rag"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
MODULES = sorted(PACKAGE.rglob("*.py"))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_and_function_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if "size-exempt: data" not in text:
        assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines; split it by job (at most {MAX_MODULE_LINES})"
    source = text.splitlines()
    for fn in _functions(ast.parse(text)):
        assert fn.end_lineno is not None
        length = fn.end_lineno - fn.lineno + 1
        body = "\n".join(source[fn.lineno - 1 : fn.end_lineno])
        if "size-exempt: flat table" in body:
            continue
        assert length <= MAX_FUNCTION_LINES, f"{path.name}:{fn.lineno} {fn.name} has {length} lines"


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 80, f"{init.parent.name}/__init__.py needs a docstring saying what it owns"
