from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scenarios.config import builtin_scenarios, load_scenario, load_sweep
from twin.core.errors import ConfigError

BAD_SCENARIOS: list[tuple[Any, str, str]] = [
    ("name: [unclosed", "", "malformed YAML"),
    ("", "", "empty"),
    ("- a\n- b\n", "", "mapping"),
    ({"name": "x", "colour": "red"}, "colour", "unknown field"),
    ({"name": "x", "changes": {"pv": {"share": 0.5}}}, "changes.pv.share", "unknown field"),
    ({"name": "x", "changes": {"pv": {"share_frac": 1.5}}}, "changes.pv.share_frac", "out of range"),
    ({"name": "x", "step_min": 60}, "step_min", "not supported"),
    ({"name": "x", "start": "yesterday"}, "start", "not a date"),
    ({"name": "x", "start": "2024-06-01"}, "start", "outside the year"),
    ({"name": "x", "start": "2025-06-02", "end": "2025-06-01"}, "end", "at least one hour"),
    ({"name": "x", "start": "2025-06-01 10:07"}, "start", "15-minute"),
    ({"name": "x", "output": "everything"}, "output", "not allowed"),
    (
        {
            "name": "x",
            "changes": {"community_battery": {"capacity_kwh": 100, "p_rated_kw": 50, "strategy": "peak_shaving"}},
        },
        "changes.community_battery",
        "peak_limit_kw",
    ),
    (
        {"name": "x", "changes": {"community_battery": {"p_rated_kw": 50}}},
        "changes.community_battery.capacity_kwh",
        "missing",
    ),
    ({"name": "bad name!"}, "name", "not a valid name"),
    ({"name": "x", "weather": "nowhere.epw"}, "weather", "not found"),
    ({"name": "x", "district": "nowhere/district.yaml"}, "district", "not found"),
    ({"name": "x", "district": "leipzig"}, "district", "not found"),
    ({"name": "x", "changes": {"evs": {"charging": "smart"}}}, "changes.evs.charging", "not allowed"),
    (
        {"name": "x", "changes": {"feed_in_limit": {"frac_of_kwp": -0.1}}},
        "changes.feed_in_limit.frac_of_kwp",
        "out of range",
    ),
    ({"name": "x", "costs": {"lifetime_a": 0}}, "costs.lifetime_a", "out of range"),
    ({"description": "no name"}, "name", "missing"),
    ({"name": "x", "control": {"ev": "smart"}}, "control.ev", "not allowed"),
    ({"name": "x", "control": {"heat_pump": "boost"}}, "control.heat_pump", "not allowed"),
    ({"name": "x", "control": {"section_14a": "sometimes"}}, "control.section_14a", "valid boolean"),
    ({"name": "x", "control": {"per_building": True}}, "control.per_building", "unknown field"),
    ({"name": "x", "control": {"battery": "signal"}}, "control.battery", "no community battery"),
    ({"name": "x", "control": {"grid_fee": {"module": 4}}}, "control.grid_fee.module", "not allowed"),
    ({"name": "x", "control": {"grid_fee": {"module": 3, "low_hours": [1, 24]}}}, "control.grid_fee.low_hours", "0-23"),
    (
        {"name": "x", "control": {"grid_fee": {"module": 3, "high_hours": [2]}}},
        "control.grid_fee.high_hours",
        "overlap",
    ),
]


@pytest.mark.parametrize(("content", "field", "message"), BAD_SCENARIOS)
def test_load_scenario_bad_file(write_yaml: Any, content: Any, field: str, message: str) -> None:
    path = write_yaml(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_scenario(path)
    assert info.value.file == str(path)
    assert (info.value.field or "") == field
    assert "\n" not in str(info.value)


def _sweep(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "s",
        "base": {"name": "b", "start": "2025-06-10", "end": "2025-06-11"},
        "parameters": {"changes.pv.share_frac": [0.0, 0.5]},
    }
    data.update(overrides)
    return data


BAD_SWEEPS: list[tuple[dict[str, Any], str, str]] = [
    (_sweep(parameters={}), "parameters", "at least 1"),
    (_sweep(mode="zip"), "mode", "not allowed"),
    (_sweep(parameters={"changes.pv.share_frac": [0.5, 2.0]}), "parameters (changes.pv.share_frac)", "out of range"),
    (_sweep(mode="list", parameters={"changes.pv.share_frac": [0.5], "seed": [1, 2]}), "parameters", "equal length"),
    (_sweep(parameters={"changes.pv.share_frac": []}), "parameters.changes.pv.share_frac", "at least one value"),
    (_sweep(parameters={"year": [2024, 2025]}), "parameters.year", "not name, district"),
    (_sweep(parameters={"seed.value": [1]}), "parameters.seed.value", "not a block"),
    (_sweep(base="no_such_scenario"), "", "no built-in scenario"),
    (_sweep(base={"name": "b", "colour": 1}), "colour", "unknown field"),
    (_sweep(parameters={"changes.pv.sharefrac": [1.0]}), "parameters.changes.pv.sharefrac", "unknown field"),
    ({"name": "s", "parameters": {"seed": [1]}}, "base", "missing"),
]


@pytest.mark.parametrize(("content", "field", "message"), BAD_SWEEPS)
def test_load_sweep_bad_file(write_yaml: Any, content: dict[str, Any], field: str, message: str) -> None:
    path = write_yaml(content, "sweep.yaml")
    with pytest.raises(ConfigError, match=message) as info:
        load_sweep(path)
    assert (info.value.field or "") == field
    assert "\n" not in str(info.value)


def test_load_sweep_product_and_list(write_yaml: Any) -> None:
    params = {"changes.pv.share_frac": [0.0, 0.5, 1.0], "changes.community_battery.capacity_kwh": [100.0, 200.0, 300.0]}
    base = {"name": "b", "changes": {"community_battery": {"capacity_kwh": 1.0, "p_rated_kw": 50.0}}}
    _, product = load_sweep(write_yaml({"name": "s", "base": base, "parameters": params}))
    _, zipped = load_sweep(write_yaml({"name": "s", "base": base, "mode": "list", "parameters": params}, "z.yaml"))
    assert len(product) == 9 and len(zipped) == 3
    assert [s.name for s in zipped] == ["s-000", "s-001", "s-002"]
    assert zipped[2].changes.pv is not None and zipped[2].changes.pv.share_frac == 1.0
    assert zipped[2].changes.community_battery is not None
    assert zipped[2].changes.community_battery.capacity_kwh == 300.0
    assert zipped[2].description == "s: community_battery.capacity_kwh=300, pv.share_frac=1"


def test_scenario_paths_relative_to_file(tmp_path: Path, write_yaml: Any, shared_dir: Path) -> None:
    weather = shared_dir / "data" / "weather" / "TRY2015_Leipzig_Jahr.epw"
    if not weather.exists():
        pytest.skip("shared weather file missing")
    (tmp_path / "w.epw").symlink_to(weather)
    scenario = load_scenario(write_yaml({"name": "x", "weather": "w.epw"}))
    assert scenario.weather == str((tmp_path / "w.epw").resolve())


def test_builtin_scenarios_are_valid() -> None:
    names = builtin_scenarios()
    for required in ("baseline", "pv_all_roofs", "heat_pumps", "ev_2030", "community_battery", "energy_neutral"):
        assert required in names
        assert load_scenario(required).name == required
    sweep, scenarios = load_sweep("pv_storage_sweep")
    assert len(scenarios) == 15 and sweep.mode == "product"
    assert scenarios[1].description.endswith("pv.share_frac=0, community_battery=1000/400/peak_shaving/500")


def test_sweep_varies_the_control_block(write_yaml: Any) -> None:
    params = {"control.section_14a": [False, True], "control.heat_pump": ["uncontrolled", "sg_ready"]}
    _, scenarios = load_sweep(write_yaml(_sweep(parameters=params), "sweep.yaml"))
    controls = [(s.control.section_14a, s.control.heat_pump) for s in scenarios if s.control is not None]
    expected = [(False, "sg_ready"), (False, "uncontrolled"), (True, "sg_ready"), (True, "uncontrolled")]
    assert sorted(controls) == expected
    with pytest.raises(ConfigError, match="not allowed") as info:
        load_sweep(write_yaml(_sweep(parameters={"control.ev": ["smart"]}), "bad.yaml"))
    assert info.value.field == "parameters (control.ev)"
