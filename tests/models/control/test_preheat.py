"""Pre-heating before a forecast peak (SG-Ready state 3 from the measured past); the rebound the relief counts."""

from __future__ import annotations

import numpy as np
import pytest

from models.control.loop import DistrictSource, GridState, LoopResult, Plant, PlantState, Relief, run_steps, step
from models.control.preheat import PreheatConfig, PreheatSource
from models.control.thermal import thermal_parameters
from scenarios.config import parse_scenario
from twin.core.errors import ConfigError
from twin.core.signal import SignalState

DAY = 96
N = 3 * DAY
#: The evening peak of every day: 17:00 to 19:00.
PEAK = slice(68, 76)
_ON = int(SignalState.RECOMMENDED_ON)


def _plant(boost_k: float) -> Plant:
    """Two heat-pump buildings (8 and 10 kW thermal) drawing 1.5 and 1.8 kW all along."""
    base = np.tile([1.5, 1.8], (N, 1))
    return Plant(
        n_building=2,
        building=np.array([0, 1]),
        kind=np.array(["heat_pump", "heat_pump"]),
        dimmable=np.array([False, False]),
        group=np.array([0, 1]),
        group_min_kw=np.array([np.inf, np.inf]),
        base_kw=base,
        heat_demand_kw=base * 3.0,
        cop=np.full((N, 2), 3.0),
        thermal=thermal_parameters([8.0, 10.0], [140.0, 160.0], ["radiator", "radiator"], boost_k=boost_k),
        p_rated_kw=np.array([8.0, 10.0]),
        p_max_kw=np.array([3.0, 3.6]),
    )


def _grid(trafo: np.ndarray | None = None) -> GridState:
    if trafo is None:
        trafo = np.full(N, 60.0)
        for day in range(3):
            trafo[day * DAY + PEAK.start : day * DAY + PEAK.stop] = 99.0
    return GridState(trafo, np.zeros((N, 0)), np.zeros((N, 0)), np.full(N, 100.0))


def _headroom(grid: GridState, fill_to_percent: float) -> Relief:
    """The transformer only, 1 %/kW at each building."""
    return Relief(grid, np.array([[1.0, 1.0]]), np.array([fill_to_percent]), located=True)


def _run(grid: GridState, preheat: bool, fill_to_percent: float = 70.0) -> LoopResult:
    plant = _plant(2.0 if preheat else 0.0)
    source = DistrictSource(grid, 2)
    if preheat:
        config = PreheatConfig(step_s=900.0, peak_percent=80.0, lookahead_h=12.0, fill_to_percent=fill_to_percent)
        headroom = _headroom(grid, fill_to_percent)
        source = PreheatSource(source, config, grid.trafo_percent, np.array([0.6, 0.72]), headroom)  # type: ignore[assignment]
    return run_steps(plant, source, plant.base_kw, 900.0, sg_ready=True)


def test_the_heat_pumps_pre_heat_before_the_peak_yesterday_measured() -> None:
    result = _run(_grid(), preheat=True)
    on = (result.state == _ON).all(axis=1)
    assert not on[:DAY].any()  # nothing measured a day before: no forecast
    day2 = on[DAY : 2 * DAY]
    assert day2[PEAK.start - 40 : PEAK.start].all()  # the hours before the peak (12 h lookahead)
    # the signal reads the step before: from the peak's second step on the block, after it no peak ahead
    assert not day2[PEAK.start + 1 : PEAK.stop].any() and not day2[PEAK.stop + 4 :].any()
    # the stores rise to the raised set point, never beyond it
    assert result.dt_k[DAY + PEAK.start - 1].min() > 1.0
    assert result.dt_k.max() <= 2.0 + 1e-9


def test_a_pre_heated_store_carries_the_block_through_the_peak() -> None:
    plain, heated = _run(_grid(), preheat=False), _run(_grid(), preheat=True)
    peak = slice(DAY + PEAK.start + 1, DAY + PEAK.stop + 1)  # the signal reads the step before
    assert (plain.state[peak] == int(SignalState.BLOCK)).all()
    assert (heated.state[peak] == int(SignalState.BLOCK)).all()
    # without pre-heating the stores reach their comfort bound and the heat pumps override the block
    assert plain.p_kw[peak].sum() > 1.0 and plain.dt_k[peak].min() < -0.9
    assert heated.p_kw[peak].sum() == 0.0 and heated.dt_k[peak].min() > -0.5


def test_boosts_start_only_in_the_headroom() -> None:
    # 69.5 % measured and 70 % the fill level leave 0.5 kW: the first building's 0.6 kW does not fit
    grid = _grid()
    grid.trafo_percent[grid.trafo_percent < 90.0] = 69.5
    assert not (_run(grid, preheat=True).state == _ON).any()
    # 1 kW of headroom: the first building only starts (later steps read the grid without a
    # sensitivity here, so they see the same headroom again)
    grid.trafo_percent[grid.trafo_percent < 90.0] = 69.0
    on = _run(grid, preheat=True).state == _ON
    first = int(np.argmax(on.any(axis=1)))
    assert on[first, 0] and not on[first, 1]


def test_the_forecast_reads_only_the_measured_past() -> None:
    grid = _grid()
    first = _run(grid, preheat=True)
    for t in (DAY + 20, DAY + PEAK.start - 10, 2 * DAY + 5):
        trafo = grid.trafo_percent.copy()
        trafo[t:] = 130.0
        again = _run(_grid(trafo), preheat=True)
        np.testing.assert_array_equal(again.state[: t + 1], first.state[: t + 1])
        np.testing.assert_array_equal(again.p_kw[: t + 1], first.p_kw[: t + 1])


def test_pre_heating_needs_sg_ready() -> None:
    data = {"name": "x", "control": {"section_14a": True, "preheat": {}}}
    with pytest.raises(ConfigError, match="preheat"):
        parse_scenario(data, file="x.yaml")
    control = {"heat_pump": "sg_ready", "preheat": {"boost_k": 1.5}}
    parsed = parse_scenario({"name": "x", "control": control}, file="x.yaml")
    assert parsed.control is not None and parsed.control.preheat is not None
    assert parsed.control.preheat.boost_k == 1.5 and parsed.control.preheat.lookahead_h == 12.0


def test_a_source_rebuilt_each_quarter_from_its_saved_state_gives_the_same_signal() -> None:
    # the simulated field builds its source anew every quarter and restores the saved state
    grid = _grid()
    config = PreheatConfig(step_s=900.0, fill_to_percent=70.0)
    boost_kw = np.array([0.6, 0.72])
    whole = PreheatSource(DistrictSource(grid, 2), config, grid.trafo_percent, boost_kw, _headroom(grid, 70.0))
    saved = None
    boosted = 0
    for t in range(N):
        k = t - 1
        one_row = GridState(
            grid.trafo_percent[max(k, 0) : max(k, 0) + 1],
            grid.line_percent[max(k, 0) : max(k, 0) + 1],
            grid.vm_pu[max(k, 0) : max(k, 0) + 1],
            grid.p_grid_kw[max(k, 0) : max(k, 0) + 1],
        )
        headroom = _headroom(one_row, 70.0)
        quarter = PreheatSource(DistrictSource(one_row, 2), config, one_row.trafo_percent, boost_kw, headroom)
        if saved is not None:
            quarter.restore(saved)
        state, limit = quarter.step(t * 900.0, 0 if k >= 0 else -1, None, None)
        saved = quarter.save()
        expected_state, expected_limit = whole.step(t * 900.0, k, None, None)
        np.testing.assert_array_equal(state, expected_state)
        np.testing.assert_array_equal(limit, expected_limit)
        boosted += int((state == _ON).any())
    assert boosted > 20  # the comparison covers boosting steps


def test_counting_the_rebound_keeps_heat_pumps_off_that_would_come_back_with_more() -> None:
    # both buildings blocked; the grid measured with the held-off heat pumps added back lies 1 %
    # under the target, but their stores cooled meanwhile: they want 1.0 and 1.4 kW more than then
    grid = GridState(np.full(1, 89.0), np.zeros((1, 0)), np.zeros((1, 0)), np.full(1, 100.0))
    rows, targets = np.array([[1.0, 1.0]]), np.array([90.0])
    blocked = np.full(2, int(SignalState.BLOCK), dtype=np.int8)
    drawn = {}
    for rebound in (False, True):
        plant = _plant(0.0)
        devices = PlantState.initial(plant)
        assert devices.store is not None
        devices.store.dt_k = np.array([-0.5, -0.5])
        devices.held_kw = np.array([1.0, 1.0])
        relief = Relief(grid, rows, targets, located=True, rebound=rebound)
        done = step(plant, devices, 10, blocked, np.full(2, np.inf), 900.0, sg_ready=True, relief=relief, measured=0)
        drawn[rebound] = done.p_kw
    assert (drawn[False] > 1.9).all()  # both back, 2.0 and 2.4 kW
    assert (drawn[True] == 0.0).sum() == 1  # one kept off covers the 1.4 %-points
