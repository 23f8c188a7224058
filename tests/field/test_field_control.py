"""The field's devices obey the signal as the control library says, and agree with the scenario runner.

A stressed district (:mod:`tests.field.stressed`) with SG-Ready heat pumps and section 14a
dimming: the scenario runner's controlled year and the field at high speed over the same
hours, with the field computing the signal itself, give every building the same signal state
in every quarter hour and the same transformer loading.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from models.control.section_14a import ControllableDevice, dimmed_limit_kw
from models.control.year import measured_grid, signal_series
from models.district import load_district
from scenarios.config import parse_scenario
from scenarios.runner import compute_scenario, prepare_shared
from tests.field.stressed import STRESSED_DISTRICT, write_stressed
from twin.core.signal import SignalState
from twin.field import Field, FieldOptions
from twin.field.layout import AssetPower

#: The README's example block: SG-Ready and section 14a.
EXAMPLE: dict[str, Any] = {"heat_pump": "sg_ready", "section_14a": True, "section_14a_control": "ems"}
#: Section 14a alone: the runner's year settles (no step still moving), so each step's signal is
#: that of the real power flow of the step before, as in the field.
CONTROL: dict[str, Any] = {"section_14a": True, "section_14a_control": "ems"}
HOURS = 8
SPEED = 10000.0
YEAR_START_S = pd.Timestamp("2025-01-01", tz="UTC").timestamp()


@pytest.fixture(scope="module")
def district_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stressed(tmp_path_factory.mktemp("stressed") / "stressed.yaml")


@pytest.fixture(scope="module")
def shared(district_file: Path) -> Any:
    """The district's shared scenario inputs (profiles' inputs, grid)."""
    return prepare_shared(str(district_file), None, 2025, threads=1)


def _runner(shared: Any, district_file: Path, control: dict[str, Any]) -> tuple[Any, Any]:
    """The runner's controlled year and its scenario."""
    data = {"name": "controlled", "district": str(district_file), "year": 2025, "control": control}
    scenario = parse_scenario(data, file="t.yaml")
    result = compute_scenario(scenario, shared)
    assert result.kpis["signal_block_h"] > 10.0  # the district is stressed enough to test anything
    return result, scenario


@pytest.fixture(scope="module")
def runner(shared: Any, district_file: Path) -> tuple[Any, Any]:
    result, scenario = _runner(shared, district_file, CONTROL)
    assert result.kpis["control_steps_unsettled"] == 0
    return result, scenario


def test_field_signal_and_transformer_agree_with_the_runner(runner: tuple[Any, Any], district_file: Path) -> None:
    result, scenario = runner
    measured = measured_grid(result.grid)
    series = signal_series(measured, 900.0)
    # from an hour before the year's first block: the runner's stores and backlogs are at rest there
    first = int(np.flatnonzero(series.state == int(SignalState.BLOCK))[0]) - 4
    start = pd.Timestamp(YEAR_START_S + first * 900.0, unit="s", tz="UTC")
    truth = district_file.parent / "truth.csv"
    options = FieldOptions(
        speed=SPEED,
        start_utc=start,
        control=scenario.control,
        truth_path=truth,
        community_battery=None,
        weather_station=False,
    )
    field = Field(load_district(district_file), options)
    field.start_background()
    try:
        deadline = time.monotonic() + 60.0
        while field.sim_time_s < start.timestamp() + HOURS * 3600 + 900 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        field.stop()
    frame = pd.read_csv(truth)
    frame = frame[(frame["kind"] == "boundary") & (frame["seconds"] == 900)]
    steps = ((pd.to_datetime(frame["time_utc"]).astype("int64") // 10**9 - YEAR_START_S) // 900).to_numpy().astype(int)
    frame = frame[steps < first + 4 * HOURS]
    steps = steps[steps < first + 4 * HOURS]
    assert len(set(steps.tolist())) == 4 * HOURS
    houses = frame["id"] != "substation"
    field_state = frame.loc[houses, "signal_state"].to_numpy().astype(int)
    # the runner's own state per building (as its controllers read it), not one re-read from its grid
    column = {str(b): i for i, b in enumerate(result.signal_state["building"].values)}
    runner_state = result.signal_state.values[steps[houses.to_numpy()], frame.loc[houses, "id"].map(column).to_numpy()]
    assert (runner_state == series.state[steps[houses.to_numpy()]]).mean() > 0.9  # one feeder: mostly the district's
    assert (field_state == int(SignalState.BLOCK)).sum() >= 13 * 4  # at least an hour of blocking in every house
    agree = field_state == runner_state
    per_house = pd.Series(agree).groupby(frame.loc[houses, "id"].to_numpy()).mean()
    assert per_house.min() >= 0.99, per_house
    substation = frame[~houses]
    field_trafo = substation["trafo_loading_percent"].to_numpy()
    runner_trafo = measured.trafo_loading_max_percent[steps[~houses.to_numpy()]]
    assert field_trafo.max() == pytest.approx(runner_trafo.max(), rel=0.01)
    np.testing.assert_allclose(field_trafo, runner_trafo, rtol=1e-4)


def test_devices_obey_the_block_in_the_field(shared: Any, district_file: Path) -> None:
    """While the field's signal blocks, heat pumps go off and wallboxes keep the 14a share, as in the runner's year."""
    result, scenario = _runner(shared, district_file, EXAMPLE)
    plain = compute_scenario(parse_scenario({"name": "plain", "district": str(district_file)}, file="t.yaml"), shared)
    series = signal_series(measured_grid(result.grid), 900.0)
    step = int(np.flatnonzero(series.state == int(SignalState.BLOCK))[0])
    start = pd.Timestamp(YEAR_START_S + step * 900.0 - 60.0, unit="s", tz="UTC")
    options = FieldOptions(
        speed=60.0, start_utc=start, control=scenario.control, community_battery=None, weather_station=False
    )
    field = Field(load_district(district_file), options)
    field.start_background()
    try:
        assert field.control is not None
        deadline = time.monotonic() + 30.0
        while field.sim_time_s < start.timestamp() + 120.0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (field.control.state == int(SignalState.BLOCK)).all()
        values = dict(zip(field.devices, field.values.values(), strict=True))
        table, now = field.values.step_of(field.sim_time_s)
        uncontrolled = {
            d: {"p_kw": float(sum(table.sources[now, c] for c in field.values.asset_columns(served.spec)))}
            for d, served in field.devices.items()
        }
        pumps = [d for d in field.devices if d.endswith("/heat_pump_meter")]
        # the block switched heat pumps off that would have run (SG-Ready only as far as the grid needs)
        assert any(values[d]["p_kw"] == 0.0 and uncontrolled[d]["p_kw"] > 0.5 for d in pumps)
        controlled = result.assets["p_kw"].isel(time=step)
        for device in [d for d in field.devices if d.endswith("/heat_pump_meter") or "/charger" in d]:
            names = [t.source.asset for t in field.devices[device].spec.power if isinstance(t.source, AssetPower)]
            expected = float(sum(float(controlled.sel(asset=name)) for name in names))
            assert values[device]["p_kw"] == pytest.approx(expected, abs=1e-3), device
        for house in sorted({d.split("/")[0] for d in pumps}):
            chargers = [d for d in field.devices if d.startswith(f"{house}/charger")]
            # one EMS per house: the heat pump (its electric rating, the year's largest draw; above 11 kW
            # it keeps 0.4 x that, above 4.2 kW it counts) and two wallboxes (A1 4.5.1, 4.5.2)
            rated = field.devices[f"{house}/heat_pump_meter"].spec.p_rated_kw
            pump = f"{house}/heat_pump"
            assert rated == pytest.approx(float(plain.assets["p_kw"].sel(asset=pump).max()), rel=1e-6)
            limit_kw = dimmed_limit_kw(
                [ControllableDevice("heat_pump", rated), *[ControllableDevice("wallbox", 11.0)] * len(chargers)]
            )
            n = len(chargers) + (rated > 4.2)
            base = 0.4 * rated if rated > 11.0 else 4.2
            assert limit_kw == pytest.approx(base + (n - 1) * {2: 0.8, 3: 0.75}[n] * 4.2)
            assert sum(values[d]["p_kw"] for d in chargers) <= limit_kw + 1e-6
            assert all(values[d]["signal_state"] == 1.0 for d in chargers)
            assert all(values[d]["p_limit_14a_kw"] == pytest.approx(min(11.0, limit_kw)) for d in chargers)
    finally:
        field.stop()


def test_the_readme_example_district_is_the_tests() -> None:
    """The README's closed-loop session runs the district these tests run."""
    example = Path(__file__).parents[2] / "docs" / "examples" / "stressed-feeder.yaml"
    assert yaml.safe_load(example.read_text(encoding="utf-8")) == STRESSED_DISTRICT
    control = yaml.safe_load((example.parent / "control-14a.yaml").read_text(encoding="utf-8"))["control"]
    assert control == EXAMPLE
