"""The ``control:`` block in the year: the controllers act on the previous step's power flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.control.feeder import Sensitivities
from models.control.relief import GridState
from models.control.section_14a import ControllableDevice, controllable_devices
from models.control.year import measured_grid, signal_series
from models.grid import run_power_flow
from scenarios.config import parse_scenario
from scenarios.controlled import relief_for
from scenarios.results import ScenarioResult
from scenarios.runner import SharedInputs, compute_scenario, prepare_shared
from tests.field.stressed import write_stressed
from twin.core.signal import SignalState

#: A cold January: every boiler replaced by a heat pump and a car at half the homes load the 630 kVA transformer.
WINTER = {"start": "2025-01-13", "end": "2025-01-15"}
CHANGES = {
    "heat_pumps": {"share_frac": 1.0, "sizing": "design"},
    "evs": {"share_frac": 0.5},
    "community_battery": {"capacity_kwh": 200.0, "p_rated_kw": 100.0},
}
MARGIN = {"loading_enter_percent": 80, "loading_leave_percent": 70, "vm_low_enter_pu": 0.95, "vm_low_leave_pu": 0.96}
ENERGY = ("import_kwh", "export_kwh", "losses_kwh", "trafo_loading_max_percent", "line_loading_max_percent")


def _run(shared: SharedInputs, control: dict[str, Any] | None) -> ScenarioResult:
    data: dict[str, Any] = {"name": "winter", **WINTER, "changes": CHANGES}
    if control is not None:
        data["control"] = control
    return compute_scenario(parse_scenario(data, file="t.yaml"), shared)


@pytest.fixture(scope="module")
def runs(shared: SharedInputs) -> dict[str, ScenarioResult]:
    return {
        "none": _run(shared, None),
        "empty": _run(shared, {}),
        "14a": _run(shared, {"section_14a": True, "grid_fee": {"module": 2}}),
        "14a_ems": _run(shared, {"section_14a": True, "section_14a_control": "ems"}),
        "sg_ready": _run(shared, {"heat_pump": "sg_ready", "battery": "signal"}),
        "per_feeder": _run(shared, {"section_14a": True, "signal": "per_feeder", "thresholds": MARGIN}),
        "district": _run(shared, {"section_14a": True, "thresholds": MARGIN}),
    }


def test_without_controllers_acting_the_year_is_unchanged(runs: dict[str, ScenarioResult]) -> None:
    none, empty = runs["none"].kpis, runs["empty"].kpis
    assert not any(k.startswith(("signal_", "control_")) for k in none)
    assert {k: empty[k] for k in ENERGY} == {k: none[k] for k in ENERGY}
    assert empty["control_dimmed_kwh"] == 0.0 and empty["control_hp_blocked_kwh"] == 0.0
    # the uncontrolled grid overloads, so the signal blocks
    assert none["trafo_loading_max_percent"] > 95.0 and empty["signal_block_h"] > 0.0
    hours = sum(empty[f"signal_{s.name.lower()}_h"] for s in SignalState)
    assert hours == pytest.approx(48.0)


def test_the_signal_is_that_of_the_previous_steps_power_flow(runs: dict[str, ScenarioResult]) -> None:
    for name in ("empty", "14a"):
        result = runs[name]
        again = signal_series(measured_grid(result.grid), 900.0)
        assert again.hours(0.25)["block"] == result.kpis["signal_block_h"], name
        assert result.kpis["control_steps_unsettled"] == 0, name
    # each step whose power the controllers changed is solved again before the next step reads it: one pass settles
    for name in ("empty", "14a", "14a_ems", "per_feeder", "district"):
        k = runs[name].kpis
        assert k["control_passes"] == 1 and k["control_steps_unsettled"] == 0, name
    # the battery that follows the signal moves after the pass, so a few passes more, and they settle too
    k = runs["sg_ready"].kpis
    assert 2 <= k["control_passes"] <= 4 and k["control_steps_unsettled"] == 0


def test_each_buildings_signal_state_is_published_with_the_result(runs: dict[str, ScenarioResult]) -> None:
    assert runs["none"].signal_state is None
    feeder = runs["per_feeder"]
    state = feeder.signal_state
    assert state is not None and state.dims == ("time", "building") and state.sizes["time"] == 192
    assert set(state["building"].values) <= set(feeder.assets["building"].values)
    # the KPI's hours per state are the mean over the buildings of the published states
    blocked_h = float((state == int(SignalState.BLOCK)).sum()) * 0.25 / state.sizes["building"]
    assert blocked_h == pytest.approx(feeder.kpis["signal_block_h"]) and blocked_h > 0.0
    # per feeder the buildings differ
    assert (state == int(SignalState.BLOCK)).any("time").sum() < state.sizes["building"] or (
        (state == int(SignalState.BLOCK)).sum("time").std() > 0
    )


def test_section_14a_dims_the_controllable_devices_while_blocked(runs: dict[str, ScenarioResult]) -> None:
    none, dimmed = runs["none"], runs["14a"]
    k = dimmed.kpis
    assert k["control_dimmed_kwh"] > 10.0
    # what is dimmed is moved, not lost: the cars charge later, the heat pumps refill their stores
    assert k["control_ev_deferred_kwh"] > 0.0 and k["control_heat_deferred_kwh"] > 0.0
    owed = k["control_ev_owed_kwh"] + k["control_heat_owed_kwh"]
    # the deferred heat comes back at another hour's COP, and a cooler building loses less heat
    # meanwhile: the heat pumps' electricity may differ by a few per cent of the deferred heat
    moved = 0.05 * k["control_heat_deferred_kwh"] + 0.01 * k["control_dimmed_kwh"]
    assert k["import_kwh"] == pytest.approx(none.kpis["import_kwh"], abs=owed + moved)
    state = signal_series(measured_grid(dimmed.grid), 900.0).state
    kinds = dimmed.assets["kind"].values
    controllable = np.isin(kinds, ["heat_pump", "ev", "battery"]) & (dimmed.assets["building"].values != "community")
    before = none.assets["p_kw"].values[:, controllable]
    after = dimmed.assets["p_kw"].values[:, controllable]
    free = state != int(SignalState.BLOCK)
    first = int(np.argmin(free))  # before the first block nothing is held back
    np.testing.assert_array_equal(after[:first], before[:first])
    assert (after[~free] < before[~free] - 1e-3).any()
    # after the blocks the held-back energy comes back: more drawn than scheduled (the rebound)
    assert (after[free] > before[free] + 1e-3).any()


def test_sg_ready_blocks_heat_pumps_and_the_battery_follows_the_signal(runs: dict[str, ScenarioResult]) -> None:
    result = runs["sg_ready"]
    k = result.kpis
    state = signal_series(measured_grid(result.grid), 900.0).state
    blocked = state == int(SignalState.BLOCK)
    assert blocked.any() and k["control_hp_blocked_kwh"] > 0.0
    hp = result.assets["kind"].values == "heat_pump"
    # only as many heat pumps go off as the grid needs, each until its store reaches the comfort bound;
    # none draws above its scheduled peak
    p_hp = result.assets["p_kw"].values[:, hp]
    off = p_hp[blocked] <= 0.0
    assert off.any(axis=1).all() and not off.all()
    assert (p_hp <= runs["none"].assets["p_kw"].values[:, hp].max(axis=0) + 1e-3).all()
    assert k["control_heat_deferred_kwh"] > 0.0 and k["control_indoor_min_delta_k"] > -1.5
    battery = (result.assets["kind"].values == "battery") & (result.assets["building"].values == "community")
    p_battery = result.assets["p_kw"].values[:, battery][:, 0]
    assert (p_battery[blocked] <= 0.0).mean() > 0.9 and (
        p_battery[state == int(SignalState.NORMAL)] == 0.0
    ).mean() > 0.9


def test_the_grid_is_the_power_flow_of_the_controlled_assets(
    shared: SharedInputs, runs: dict[str, ScenarioResult]
) -> None:
    # the passes solve only the steps whose power changed; the result is still one power flow
    result = runs["sg_ready"]
    again = run_power_flow(result.net, result.assets, shared.loaded.district.reactive_power)
    np.testing.assert_allclose(again["loading_percent"].values, result.grid["loading_percent"].values, atol=1e-3)
    np.testing.assert_allclose(again["p_grid_kw"].values, result.grid["p_grid_kw"].values, atol=1e-2)


def test_grid_fee_module_against_the_plain_fee(runs: dict[str, ScenarioResult]) -> None:
    result = runs["14a"]
    k = result.kpis
    kinds = result.assets["kind"].values
    buildings = result.assets["building"].values
    draw = np.clip(result.assets["p_kw"].values.astype(float), 0.0, None)
    # section 14a counts a heat pump's electric draw (its p_rated_kw is thermal): the largest in the period
    thermal = kinds == "heat_pump"
    listed = result.assets["p_rated_kw"].values
    rated = np.where(~thermal & (listed > 0), listed, draw.max(axis=0))
    kind_14a = {"heat_pump": "heat_pump", "ev": "wallbox", "battery": "battery"}
    devices = np.isin(kinds, list(kind_14a)) & (buildings != "community")
    chosen = [
        b
        for b in np.unique(buildings[devices])
        if controllable_devices(
            ControllableDevice(kind_14a[kd], float(r))
            for kd, r in zip(kinds[devices & (buildings == b)], rated[devices & (buildings == b)], strict=True)
        )
    ]
    # the homes with a heat pump or a wallbox above 4.2 kW; small heat pumps alone are not controllable (A1 2.4.1)
    assert 0 < len(chosen) < len(np.unique(buildings[devices])) and k["grid_fee_14a_buildings"] == len(chosen)
    in_chosen = np.isin(buildings, chosen)
    device_kwh = draw[:, devices & in_chosen].sum() * 0.25
    household_kwh = draw[:, (kinds == "load") & in_chosen].sum() * 0.25
    per_year, n = 8760.0 / 48.0, len(chosen)
    plain = (device_kwh + household_kwh) * 0.0862 * per_year + n * 60.0
    module_2 = (household_kwh * 0.0862 + device_kwh * 0.0862 * 0.4) * per_year + n * 60.0
    assert k["grid_fee_plain_eur_per_year"] == pytest.approx(plain, rel=1e-4)
    assert k["grid_fee_14a_eur_per_year"] == pytest.approx(module_2, rel=1e-4)
    assert "grid_fee_14a_eur_per_year" not in runs["empty"].kpis


def test_one_limit_per_building_with_an_energy_management_system(runs: dict[str, ScenarioResult]) -> None:
    # a heat pump and a wallbox keep 4.2 kW each under direct control, 7.56 kW together behind one EMS
    direct, ems = runs["14a"], runs["14a_ems"]
    assert direct.kpis["signal_block_h"] > 0.0 and ems.kpis["signal_block_h"] > 0.0
    assert 0.0 < ems.kpis["control_dimmed_kwh"] != direct.kpis["control_dimmed_kwh"] > 0.0
    kinds, buildings = direct.assets["kind"].values, direct.assets["building"].values
    state = signal_series(measured_grid(direct.grid), 900.0).state
    blocked = state == int(SignalState.BLOCK)
    hp = (kinds == "heat_pump") & (buildings != "community")
    p_hp = direct.assets["p_kw"].values[blocked][:, hp]
    # under direct control a heat pump drawing up to 11 kW electric draws at most 4.2 kW while dimmed;
    # its thermal rating (p_rated_kw) may lie above 11 kW without the 0.4 rule applying (A1 4.5.1)
    electric = runs["none"].assets["p_kw"].values[:, hp].max(axis=0)
    small = electric <= 11.0
    assert small.any() and blocked.any() and (direct.assets["p_rated_kw"].values[hp][small] > 11.0).any()
    assert (p_hp[:, small] <= 4.2 + 1e-3).all()


def test_per_feeder_signals_limit_each_building_only_as_low_as_needed(runs: dict[str, ScenarioResult]) -> None:
    # with the operator's margin the per-feeder limits hold the transformer within 100 % on these two
    # winter days; the district-wide value (every building at its minimum while it blocks, all of them
    # back at once when it ends) lowers the peak less
    feeder, district, none = runs["per_feeder"].kpis, runs["district"].kpis, runs["none"].kpis
    assert none["trafo_loading_max_percent"] > district["trafo_loading_max_percent"] > 100.0
    assert feeder["trafo_loading_max_percent"] <= 100.0
    assert feeder["control_steps_unsettled"] == 0 == district["control_steps_unsettled"]
    # each building its own feeder's signal: the hours blocked differ between buildings (a mean, not whole quarters)
    assert (feeder["signal_block_h"] * 4.0) % 1.0 != 0.0
    assert (district["signal_block_h"] * 4.0) % 1.0 == 0.0
    # limits only as low as needed, never below the minimum: never more held back than every building at its minimum
    assert 0.0 < feeder["control_dimmed_kwh"] <= district["control_dimmed_kwh"] + 1e-6


#: Thirteen houses with a heat pump and two cars each; one feeder's head line is an overhead line
#: of 105 A, which its houses overload in January; the transformer (400 kVA) and the other feeders
#: hold.
LOCAL = {"grid": {"transformer_s_rated_kva": 400.0, "line_std_type": "15-AL1/3-ST1A 0.4", "lines": ["LV1.101 Line 3"]}}


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ScenarioResult]:
    path = write_stressed(Path(tmp_path_factory.mktemp("local")) / "stressed.yaml")
    shared = prepare_shared(str(path), None, 2025, threads=1)
    out = {}
    for signal in (None, "per_feeder", "district"):
        data: dict[str, Any] = {"name": "local", "district": str(path), "year": 2025, "changes": LOCAL}
        data.update({"start": "2025-01-01", "end": "2025-01-15"})
        if signal is not None:  # the heat pumps' SG-Ready block alone (section 14a's rebound: README, Control)
            data["control"] = {"heat_pump": "sg_ready", "signal": signal}
        out[str(signal)] = compute_scenario(parse_scenario(data, file="t.yaml"), shared)
    return out


def _overloaded(result: ScenarioResult) -> tuple[int, int]:
    """Quarter hours with the transformer and with a line above 100 %."""
    kinds = np.asarray(result.grid["branch_kind"].values).astype(str)
    loading = result.grid["loading_percent"].transpose("time", "branch").values
    over = loading > 100.0
    return int(over[:, kinds == "trafo"].any(axis=1).sum()), int(over[:, kinds == "line"].any(axis=1).sum())


def test_per_feeder_blocks_less_heat_pump_energy_than_the_flat_district_signal(
    local_runs: dict[str, ScenarioResult],
) -> None:
    none, feeder, district = (local_runs[k] for k in ("None", "per_feeder", "district"))
    # uncontrolled, one feeder's line overloads and the transformer holds
    assert _overloaded(none)[0] == 0 and _overloaded(none)[1] > 0
    # the flat district-wide value: while it blocks every heat pump of the district is off (until its store's bound)
    hp = np.asarray(district.assets["kind"].values) == "heat_pump"
    assert (district.assets["p_kw"].values[:, hp] <= 0.0).all(axis=1).any()
    # per feeder: the same grid relief or better (no more overloaded quarter hours, no higher maximum) ...
    for a, b in zip(_overloaded(feeder), _overloaded(district), strict=True):
        assert a <= b
    for name in ("trafo_loading_max_percent", "line_loading_max_percent"):
        assert feeder.kpis[name] <= district.kpis[name] + 1e-6
    # ... with at least 30 % less blocked heat-pump energy
    blocked = feeder.kpis["control_hp_blocked_kwh"], district.kpis["control_hp_blocked_kwh"]
    assert 0.0 < blocked[0] <= 0.7 * blocked[1]


def _relief(signal: str, trafo_percent: float) -> Any:
    """The heat pumps' relief of a ``control:`` block on a grid of one line and one bus, three buildings."""
    control = parse_scenario(
        {"name": "r", "control": {"heat_pump": "sg_ready", "signal": signal, "thresholds": MARGIN}}, file="t.yaml"
    ).control
    sens = Sensitivities(np.full(3, 0.5), np.full((1, 3), 0.5), np.full((1, 3), -0.001))
    state = GridState(np.array([trafo_percent]), np.array([[60.0]]), np.array([[0.98]]), np.array([400.0]))
    return relief_for(control, state, sens)


def test_per_feeder_holds_no_heat_pump_off_while_the_grid_is_below_the_enter_threshold() -> None:
    building, p_kw, stored = np.arange(3), np.full(3, 2.0), np.zeros(3)
    # the transformer at 78 %: the signal (enter 80 %, leave 70 %) would not block for it
    relief = _relief("per_feeder", 78.0)
    assert not relief.choose(relief.excess(0, None), building, p_kw, stored).any()
    # at 82 % the excess over the enter threshold (2 %-points at 1 %/heat pump): two heat pumps, not three
    relief = _relief("per_feeder", 82.0)
    np.testing.assert_allclose(relief.excess(0, None)[0], 2.0)
    assert relief.choose(relief.excess(0, None), building, p_kw, stored).sum() == 2
    # district-wide, knowing only the mean effect, the block aims with a margin (half-way: 75 %)
    relief = _relief("district_needed", 78.0)
    assert relief.choose(relief.excess(0, None), building, p_kw, stored).sum() == 3


#: Three weeks of December: the transformer and the lines near their limits on most evenings.
DECEMBER = {"start": "2025-12-08", "end": "2025-12-29"}
HEAT_AND_CARS = {"heat_pumps": {"share_frac": 1.0, "sizing": "design"}, "evs": {"share_frac": 0.5, "charger_kw": 11.0}}


def test_per_feeder_blocks_less_than_the_flat_district_signal_for_the_same_relief(shared: SharedInputs) -> None:
    runs = {}
    for signal in ("district", "per_feeder"):
        control = {"section_14a": True, "heat_pump": "sg_ready", "thresholds": MARGIN, "signal": signal}
        data = {"name": signal, **DECEMBER, "changes": HEAT_AND_CARS, "control": control}
        runs[signal] = compute_scenario(parse_scenario(data, file="t.yaml"), shared).kpis
    feeder, district = runs["per_feeder"], runs["district"]
    # the same grid relief or better ...
    for name in ("control_trafo_over_100_h", "control_line_over_100_h", "trafo_loading_max_percent"):
        assert feeder[name] <= district[name], name
    assert feeder["line_loading_max_percent"] <= district["line_loading_max_percent"]
    # ... with less heat-pump energy blocked and fewer comfort violations
    assert 0.0 < feeder["control_hp_blocked_kwh"] < 0.95 * district["control_hp_blocked_kwh"]
    assert feeder["control_comfort_violation_kh"] < district["control_comfort_violation_kh"]
