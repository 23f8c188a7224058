"""The vocabulary is defined once: no step or time-zone literal outside ``twin/core/vocabulary.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from twin.core import vocabulary
from twin.core.vocabulary import (
    KPI_CATALOGUE,
    QUALITY_FLAGS,
    STEP_H,
    STEP_MIN,
    STEP_S,
    STEPS_PER_DAY,
    Quality,
    kpi,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("twin", "connectors", "models", "scenarios", "dashboard")
VOCABULARY = ROOT / "twin" / "core" / "vocabulary.py"
TIMEZONE = "Europe/Berlin"
#: Pandas and ISO spellings of a 15-minute step.
STEP_STRINGS = frozenset({"15min", "15T", "15 min", "PT15M"})
#: Calls whose argument is a frequency (``stamp.floor("15min")``, ``pd.Timedelta("15min")``).
FREQ_CALLS = frozenset({"floor", "ceil", "round", "resample", "to_offset", "Timedelta", "date_range", "asfreq"})


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def step_and_timezone_literals(source: str) -> list[tuple[int, str]]:
    """(line, what) of every time-zone or step-length literal in a module's code (docstrings aside)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found: list[tuple[int, str]] = []

    def step_value(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value in (0.25,)

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in skip:
            value = node.value
            if isinstance(value, str) and TIMEZONE in value:
                found.append((node.lineno, f"time zone {value!r}"))
            if isinstance(value, int | float) and not isinstance(value, bool) and value == 900:
                found.append((node.lineno, f"step {value!r}"))
        elif isinstance(node, ast.keyword) and node.arg in ("minutes", "freq"):
            if isinstance(node.value, ast.Constant) and node.value.value in (15, *STEP_STRINGS):
                found.append((node.lineno, f"step {node.arg}={node.value.value!r}"))
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in FREQ_CALLS and any(isinstance(a, ast.Constant) and a.value in STEP_STRINGS for a in node.args):
                found.append((node.lineno, f"step {name}(...)"))
        elif isinstance(node, ast.IfExp) and step_value(node.orelse):
            found.append((node.lineno, "step fallback 0.25 h"))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if any("dt_h" in n.lower() or "step" in n.lower() for n in names):
                value = node.value
                if step_value(value) or (isinstance(value, ast.Constant) and value.value in (15, 900, *STEP_STRINGS)):
                    found.append((node.lineno, f"step constant {names[0]}"))
        elif isinstance(node, ast.arguments):
            params = [*node.posonlyargs, *node.args]
            pairs = list(zip(params[len(params) - len(node.defaults) :], node.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d is not None]
            for arg, default in pairs:
                is_step = step_value(default) or (isinstance(default, ast.Constant) and default.value in STEP_STRINGS)
                if is_step and (arg.arg in ("dt_h", "freq") or "step" in arg.arg):
                    found.append((default.lineno, f"step default {arg.arg}"))
    return found


def _sources() -> list[Path]:
    """The packages' modules; the vocabulary itself and the generators of data files (``*/data/``) aside."""
    paths = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return [path for path in paths if path != VOCABULARY and "data" not in path.relative_to(ROOT).parts[1:-1]]


def test_step_and_timezone_literals_only_in_the_vocabulary() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _sources()
        for line, what in step_and_timezone_literals(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "define these in twin/core/vocabulary.py and import them:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "code",
    [
        'LOCAL_TZ = "Europe/Berlin"',
        "STEP_S: int = 900",
        "STEP_MIN = 15",
        "dt_h = 0.25",
        "x = a if n > 1 else 0.25",
        "STEP = pd.Timedelta(minutes=15)",
        'def f(*, freq: str = "15min"): pass',
        "def f(dt_h: float = 0.25): pass",
        'ok = stamp == stamp.floor("15min")',
        'idx = pd.date_range(a, b, freq="15min")',
        'title = f"date ({x}, Europe/Berlin)"',
        "TABLES = {'15min': 900}",
    ],
)
def test_literal_scan_finds(code: str) -> None:
    assert step_and_timezone_literals(code)


@pytest.mark.parametrize(
    "code",
    [
        '"""Days are Europe/Berlin days."""',
        'table = MeanTable(store, "15min")',
        "share = 0.25",
        "n = 15",
        "def f():\n    '''A step of 900 s in Europe/Berlin.'''",
    ],
)
def test_literal_scan_leaves_names_and_docs(code: str) -> None:
    assert not step_and_timezone_literals(code)


def test_the_vocabulary_holds_the_literals() -> None:
    found = {what.split()[0] for _, what in step_and_timezone_literals(VOCABULARY.read_text(encoding="utf-8"))}
    assert found == {"time", "step"}
    assert (STEP_S, STEP_MIN, STEP_H, STEPS_PER_DAY) == (900, 15, 0.25, 96)
    assert vocabulary.DEFAULT_TIMEZONE == TIMEZONE


def test_quality_flags_are_the_enum() -> None:
    assert QUALITY_FLAGS == {"ok": 0, "stale": 1, "missing": 2, "invalid": 3, "estimated": 4}
    # every flag but partial (live sums only, never stored) is a stored flag
    assert [Quality[name.upper()] for name in QUALITY_FLAGS] == [q for q in Quality if q is not Quality.PARTIAL]


def test_one_definition_of_shared_names() -> None:
    from connectors.controller_snapshot import Quality as ServedQuality
    from connectors.site import DEVICE_KINDS
    from dashboard.data import BALANCE_TERMS as SHOWN_TERMS
    from dashboard.data import FLOW_TERMS as SHOWN_FLOWS
    from twin.core.balance import BALANCE_TERMS
    from twin.core.kpi import LOAD_KINDS
    from twin.core.schema import ASSET_KINDS
    from twin.core.schema import QUALITY_FLAGS as SCHEMA_FLAGS
    from twin.live_flows import FLOWS

    assert ServedQuality is Quality and SCHEMA_FLAGS is QUALITY_FLAGS
    assert BALANCE_TERMS is SHOWN_TERMS is vocabulary.BALANCE_TERMS
    assert FLOWS is SHOWN_FLOWS is vocabulary.FLOW_TERMS
    assert DEVICE_KINDS is vocabulary.DEVICE_KINDS and ASSET_KINDS is vocabulary.ASSET_KINDS
    assert LOAD_KINDS is vocabulary.LOAD_KINDS


def test_kpi_catalogue_renders_everywhere() -> None:
    from dashboard.pages.scenarios import KPI_ROWS
    from scenarios.report import COMPARE_KPIS

    names = [spec.name for spec in KPI_CATALOGUE]
    assert len(names) == len(set(names))
    assert all(spec.unit == "" or spec.heading.endswith(f"[{spec.unit}]") for spec in KPI_CATALOGUE)
    assert {spec.name: spec.heading for spec in KPI_CATALOGUE} == COMPARE_KPIS
    assert all(label == kpi(name).display_heading and scale == kpi(name).scale for name, label, scale, _ in KPI_ROWS)
    assert kpi("self_sufficiency_frac").display(0.3) == "30.0"
    assert kpi("energy_balance_kwh").display(None) == "-"
    with pytest.raises(KeyError):
        kpi("unknown_kwh")
