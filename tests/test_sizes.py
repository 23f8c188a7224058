"""The packages stay readable: no module over 600 lines, no function over 80 lines.

Data generators are exempt (they are tables written as code).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("twin", "models", "connectors", "scenarios", "dashboard")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# Modules allowed over MAX_MODULE_LINES, as paths relative to the repository root.
ALLOWED_LONG_MODULES: dict[str, str] = {}

# Functions allowed over MAX_FUNCTION_LINES, as "path:function".
ALLOWED_LONG_FUNCTIONS: dict[str, str] = {
    "models/data/make_beucha.py:build_district": "data generator (a table written as code)",
}


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _long_functions(path: Path, text: str) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and f"{rel}:{node.name}" not in ALLOWED_LONG_FUNCTIONS
    ]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_and_function_sizes(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    text = path.read_text(encoding="utf-8")
    if rel not in ALLOWED_LONG_MODULES:
        assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{rel} has more than {MAX_MODULE_LINES} lines"
    long = _long_functions(path, text)
    assert not long, f"{rel}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def test_allow_lists_name_existing_code() -> None:
    """An entry whose module or function is gone (or now short enough) must be dropped."""
    for rel in ALLOWED_LONG_MODULES:
        path = ROOT / rel
        assert path.is_file(), f"allow-listed module {rel} does not exist"
        assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_MODULE_LINES, f"{rel} is short now"
    for entry in ALLOWED_LONG_FUNCTIONS:
        rel, name = entry.split(":")
        path = ROOT / rel
        assert path.is_file(), f"allow-listed module {rel} does not exist"
        lengths = [
            node.end_lineno - node.lineno + 1
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == name
            and node.end_lineno is not None
        ]
        assert any(n > MAX_FUNCTION_LINES for n in lengths), f"{entry} is short now (or gone)"
