"""The simulated field's modules stay readable: no module over 600 lines, no function over 80."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FIELD_DIR = Path(__file__).resolve().parents[2] / "twin" / "field"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


@pytest.mark.parametrize("path", sorted(FIELD_DIR.glob("*.py")), ids=lambda p: p.name)
def test_module_and_function_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name} has more than {MAX_MODULE_LINES} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"
