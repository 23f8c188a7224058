"""Fault plans: validation with one-line errors naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.core.errors import ConfigError
from twin.field.plan import DEFAULT_RESTART_DOWN_S, FaultPlan, load_fault_plan


def _plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "faults.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_fault_plan_reads_every_kind(tmp_path: Path) -> None:
    plan = load_fault_plan(
        _plan(
            tmp_path,
            "faults:\n"
            "  - {device: a/meter, fault: stop, at_s: 5, duration_s: 10}\n"
            "  - {device: a/meter, fault: hang, at_s: 20}\n"
            "  - {device: b/meter, fault: exception, exception_code: 6, at_s: 3600, clock: simulated}\n"
            "  - {device: c/pv0, fault: not_implemented}\n"
            "  - {device: c/pv0, fault: absurd, at_s: 1}\n"
            "  - {device: d/meter, fault: restart, at_s: 2}\n",
        )
    )
    assert [entry.fault for entry in plan.faults] == [
        "stop",
        "hang",
        "exception",
        "not_implemented",
        "absurd",
        "restart",
    ]
    assert plan.faults[2].clock == "simulated"
    assert plan.faults[0].clock == "wall"
    assert plan.faults[5].down_s == DEFAULT_RESTART_DOWN_S
    assert plan.faults[1].down_s is None


def test_empty_fault_plan(tmp_path: Path) -> None:
    assert load_fault_plan(_plan(tmp_path, "")).faults == ()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("faults:\n  - {device: a, fault: explode}\n", r"faults\.0\.fault: .*allowed: stop, hang, exception"),
        ("faults:\n  - {device: a, fault: hang, at_s: -1}\n", r"faults\.0\.at_s: -1 is out of range \(allowed: >= 0\)"),
        (
            "faults:\n  - {device: a, fault: hang, exception_code: 3}\n",
            r"faults\.0\.exception_code: applies to fault 'exception', "
            r"not 'hang' \(allowed: exception\)",
        ),
        ("faults:\n  - {device: a, fault: hang, when: 3}\n", r"faults\.0\.when: unknown field 'when'"),
        ("faults:\n  - {device: a, fault: hang, clock: sundial}\n", r"allowed: wall, simulated"),
        ("- a\n", r"a fault plan must be a mapping"),
        ("faults: [\n", r"line 2, column 1: malformed YAML"),
    ],
)
def test_bad_fault_plan_is_one_line(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        load_fault_plan(_plan(tmp_path, text))
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "faults.yaml"))


def test_fault_plan_names_unknown_devices() -> None:
    plan = FaultPlan.model_validate({"faults": [{"device": "sfh1/meterr", "fault": "hang"}]})
    with pytest.raises(ConfigError, match=r"faults\.0\.device: no device 'sfh1/meterr'.*sfh1/meter") as info:
        plan.check_devices({"sfh1/meter", "sfh1/pv0", "sfh2/meter"}, file="plan.yaml")
    assert str(info.value).startswith("plan.yaml: ")


def test_missing_fault_plan_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the fault plan"):
        load_fault_plan(tmp_path / "nowhere.yaml")
