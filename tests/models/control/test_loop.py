"""The year step by step: stateful controllers on the previous step's grid state."""

from __future__ import annotations

import numpy as np

from models.control.loop import DistrictSource, GridState, Plant, PlantState, Relief, Resume, run_steps, step
from models.control.thermal import thermal_parameters
from twin.core.signal import SignalState

N = 288


def _plant() -> Plant:
    """Two buildings: a heat pump each, a wallbox at the second; one 14a group each (4.2 kW, 7.56 kW)."""
    t = np.arange(N)
    hp = 2.0 + np.sin(t / 10.0)
    base = np.stack([hp, hp * 1.2, np.where((t > 30) & (t < 60), 11.0, 0.0)], axis=1)
    return Plant(
        n_building=2,
        building=np.array([0, 1, 1]),
        kind=np.array(["heat_pump", "heat_pump", "ev"]),
        dimmable=np.array([True, True, True]),
        group=np.array([0, 1, 1]),
        group_min_kw=np.array([4.2, 7.56]),
        base_kw=base,
        heat_demand_kw=base[:, :2] * 3.0,
        cop=np.full((N, 2), 3.0),
        thermal=thermal_parameters([8.0, 10.0], [140.0, 160.0], ["radiator", "radiator"]),
        p_rated_kw=np.array([8.0, 10.0, 11.0]),
        p_max_kw=base.max(axis=0),
    )


def _grid(stressed: slice) -> GridState:
    trafo = np.full(N, 60.0)
    trafo[stressed] = 99.0
    return GridState(trafo, np.full((N, 3), 50.0), np.full((N, 4), 0.99), np.full(N, 100.0))


def test_a_block_defers_heat_and_the_rebound_follows() -> None:
    plant = _plant()
    result = run_steps(plant, DistrictSource(_grid(slice(10, 18)), 2), plant.base_kw, 900.0, sg_ready=True)
    block = (result.state == int(SignalState.BLOCK)).all(axis=1)
    # the signal reads the step before: steps 11 .. 18 block (and hold the 5-minute dwell)
    assert block[11:19].all() and not block[:11].any()
    assert (result.p_kw[11:14, :2] == 0.0).all()
    # a store at its comfort bound (1 K below the set point) overrides the block: comfort holds within a step
    assert (result.p_kw[11:19, :2] > 0.0).any() and result.dt_k.min() > -1.5
    assert result.blocked_kwh.sum() > 0.0
    assert (result.p_kw[11:40, :2] > plant.base_kw[11:40, :2] + 0.3).any(axis=0).all()  # the rebound
    assert not result.dt_k[-1].any()  # the heat came back
    # what the heat pumps delivered is what was demanded plus the store's extra loss (it ends at rest)
    params = plant.thermal
    assert params is not None
    on = result.active
    delivered = (result.p_kw[on, :2] * plant.cop[on]).sum(axis=0) * 0.25
    before = np.vstack([np.zeros((1, 2)), result.dt_k[:-1]])[on]
    loss = (params.h_kw_per_k * before).sum(axis=0) * 0.25
    np.testing.assert_allclose(delivered, plant.heat_demand_kw[on].sum(axis=0) * 0.25 + loss, atol=1e-9)


def test_dimming_keeps_the_groups_minimum_and_the_car_charges_later() -> None:
    plant = _plant()
    result = run_steps(plant, DistrictSource(_grid(slice(35, 40)), 2), plant.base_kw, 900.0, sg_ready=False)
    dimmed = result.limited.any(axis=1)
    assert dimmed[36:41].all()
    np.testing.assert_allclose(result.p_kw[dimmed][:, 1:].sum(axis=1), 7.56)
    assert np.clip(plant.base_kw[:, 2] - result.p_kw[:, 2], 0.0, None).sum() * 0.25 > 5.0
    assert not result.backlog_kwh[-1].any()
    np.testing.assert_allclose(result.p_kw[:, 2].sum(), plant.base_kw[:, 2].sum())


def test_the_loop_never_reads_the_future() -> None:
    plant = _plant()
    grid = _grid(slice(10, 18))
    first = run_steps(plant, DistrictSource(grid, 2), plant.base_kw, 900.0, sg_ready=True)
    for t in (5, 12, 20):
        trafo = grid.trafo_percent.copy()
        trafo[t:] = 130.0
        base = plant.base_kw.copy()
        base[t:] *= 1.5
        perturbed = Plant(**{**plant.__dict__, "base_kw": base})
        grid_t = GridState(trafo, grid.line_percent, grid.vm_pu, grid.p_grid_kw)
        again = run_steps(perturbed, DistrictSource(grid_t, 2), base, 900.0, sg_ready=True)
        np.testing.assert_array_equal(again.p_kw[:t], first.p_kw[:t])
        np.testing.assert_array_equal(again.state[: t + 1], first.state[: t + 1])  # step t reads t - 1
        assert (again.state[t + 1 :] != first.state[t + 1 :]).any() or (again.p_kw[t:] != first.p_kw[t:]).any()


def test_the_estimate_follows_the_change_of_load_by_the_sensitivities() -> None:
    # the iterate saw the grid calm; with the controllers' extra load and a steep sensitivity the estimate blocks
    class Sens:
        trafo_percent_per_kw = np.array([20.0, 20.0])
        line_percent_per_kw = np.zeros((3, 2))
        vm_pu_per_kw = np.zeros((4, 2))

    plant = _plant()
    calm = _grid(slice(0, 0))
    lower = plant.base_kw * 0.5  # the iterate drew less than the plant will
    plain = run_steps(plant, DistrictSource(calm, 2), lower, 900.0, sg_ready=True)
    steep = run_steps(plant, DistrictSource(calm, 2), lower, 900.0, sg_ready=True, sens=Sens())
    assert not (plain.state == int(SignalState.BLOCK)).any()
    assert (steep.state == int(SignalState.BLOCK)).any()


def test_relief_blocks_only_as_many_heat_pumps_as_needed_and_per_feeder_fewer() -> None:
    # two feeders of three buildings; a line of feeder A is 6 %-points over its target
    rows = np.array(
        [
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # transformer
            [2.0, 2.0, 2.0, 0.0, 0.0, 0.0],  # line of feeder A
            [0.0, 0.0, 0.0, 2.0, 2.0, 2.0],  # line of feeder B
        ]
    )
    grid = GridState(np.full(1, 70.0), np.array([[81.0, 60.0]]), np.zeros((1, 0)), np.full(1, 300.0))
    targets = np.array([75.0, 75.0, 75.0])
    building, p_kw, stored = np.arange(6), np.full(6, 2.0), np.array([0.0, -0.2, 0.0, 0.0, 0.0, 0.0])
    located = Relief(grid, rows, targets, located=True)
    excess = located.excess(0, None)
    np.testing.assert_allclose(excess, [-5.0, 6.0, -15.0])
    off = located.choose(excess, building, p_kw, stored)
    # 6 %-points at 4 %/heat pump: two heat pumps of feeder A, the ones with the most heat in store first
    assert off.tolist() == [True, False, True, False, False, False]
    district = Relief(grid, rows, targets, located=False).choose(excess, building, p_kw, stored)
    # knowing only the mean effect (2 %/kW over six buildings is 1 %/kW: 2 %/heat pump), three go off
    assert district.sum() == 3 and district.sum() > off.sum()
    assert not located.choose(np.array([-1.0, -2.0, -3.0]), building, p_kw, stored).any()


def test_a_resumed_pass_equals_a_full_pass() -> None:
    plant = _plant()
    grid = _grid(slice(10, 18))
    first = run_steps(plant, DistrictSource(grid, 2), plant.base_kw, 900.0, sg_ready=True)
    # the second pass reads a grid changed only in steps 150 .. 155
    trafo = grid.trafo_percent.copy()
    trafo[150:156] = 97.0
    second_grid = GridState(trafo, grid.line_percent, grid.vm_pu, grid.p_grid_kw)
    iterate = first.p_kw.copy()
    full = run_steps(plant, DistrictSource(second_grid, 2), plant.base_kw, 900.0, sg_ready=True)
    resumed = run_steps(
        plant,
        DistrictSource(second_grid, 2),
        plant.base_kw,
        900.0,
        sg_ready=True,
        resume=Resume(first, np.arange(150, 156)),
    )
    for name in ("p_kw", "state", "limited", "active", "dt_k", "blocked_kwh"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    assert resumed.steps_run < full.steps_run <= N and iterate.shape == full.p_kw.shape


def test_the_public_step_called_step_by_step_gives_the_years_pass() -> None:
    # the field calls step() once per quarter hour on the signal it has; the year's pass is the same steps
    plant = _plant()
    grid = _grid(slice(10, 18))
    year = run_steps(plant, DistrictSource(grid, 2), plant.base_kw, 900.0, sg_ready=True)
    devices = PlantState.initial(plant)
    p_kw, blocked_kwh = np.empty_like(plant.base_kw), np.zeros(N)
    for t in range(N):
        limit_kw = np.where(year.limited[t], 0.0, np.inf)
        tried = step(plant, devices.copy(), t, year.state[t], limit_kw, 900.0, sg_ready=True)
        done = step(plant, devices, t, year.state[t], limit_kw, 900.0, sg_ready=True)
        p_kw[t], blocked_kwh[t] = done.p_kw, done.blocked_kwh
        assert done.active == year.active[t]
        # a trial on a copy leaves the state as it was: the same step again gives the same power
        np.testing.assert_array_equal(tried.p_kw, done.p_kw)
    np.testing.assert_array_equal(p_kw, year.p_kw)
    np.testing.assert_array_equal(blocked_kwh, year.blocked_kwh)
    assert blocked_kwh.sum() > 0.0 and devices.resting
    assert plant.cap_kw(0, 0.0) == 4.2 and plant.cap_kw(2, 15.12) == 15.12


def test_solving_each_changed_step_again_settles_in_one_pass_at_the_passes_fixed_point() -> None:
    # a grid whose transformer loading grows with the square of the devices' load (not linear)
    plant = _plant()

    def trafo_of(p_kw: np.ndarray) -> np.ndarray:
        total = p_kw.sum(axis=-1)
        return 55.0 + 2.0 * total + 0.08 * total**2

    def grid_of(p_kw: np.ndarray) -> GridState:
        return GridState(trafo_of(p_kw), np.full((N, 3), 50.0), np.full((N, 4), 0.99), np.full(N, 100.0))

    # passes without solving again: each reads the previous pass's grid, until nothing moves;
    # the front of the steps still moving advances by about one step a pass
    iterate, passes, resume = plant.base_kw, 0, None
    while passes < 100:
        result = run_steps(plant, DistrictSource(grid_of(iterate), 2), iterate, 900.0, sg_ready=True, resume=resume)
        passes += 1
        moved = np.flatnonzero((result.p_kw != iterate).any(axis=1))
        if not len(moved):
            break
        iterate, resume = result.p_kw, Resume(result, moved)
    assert 10 < passes < 100 and result.blocked_kwh.sum() > 0.0

    # one pass that solves every changed step again before the next step reads it
    grid = grid_of(plant.base_kw)
    solved: list[int] = []

    def reflow(k: int, p_kw: np.ndarray) -> None:
        solved.append(k)
        grid.trafo_percent[k] = trafo_of(p_kw)

    once = run_steps(plant, DistrictSource(grid, 2), plant.base_kw, 900.0, sg_ready=True, reflow=reflow)
    np.testing.assert_array_equal(once.p_kw, result.p_kw)
    np.testing.assert_array_equal(once.state, result.state)
    np.testing.assert_array_equal(grid.trafo_percent, trafo_of(once.p_kw))
    changed = np.flatnonzero((once.p_kw != plant.base_kw).any(axis=1))
    assert solved == [k for k in changed if k < N - 1]


class _Plain:
    """A district-wide source that does not tell when it is calm (every step is run)."""

    def __init__(self, source: DistrictSource) -> None:
        self.inner = source

    def step(self, t_s: float, k: int, delta: object, draw: object) -> object:
        return self.inner.step(t_s, k, delta, draw)  # type: ignore[arg-type]

    def save(self) -> object:
        return self.inner.save()

    def restore(self, saved: object) -> None:
        self.inner.restore(saved)  # type: ignore[arg-type]


def test_calm_steps_passed_over_in_bulk_give_the_same_pass() -> None:
    plant = _plant()
    grid = _grid(slice(10, 18))
    grid.trafo_percent[200:203] = 96.0  # a second, short episode after a calm stretch
    grid.vm_pu[250, 2] = 0.92  # and an undervoltage
    fast = run_steps(plant, DistrictSource(grid, 2), plant.base_kw, 900.0, sg_ready=True)
    every = run_steps(plant, _Plain(DistrictSource(grid, 2)), plant.base_kw, 900.0, sg_ready=True)  # type: ignore[arg-type]
    for name in ("p_kw", "state", "limited", "active", "dt_k", "backlog_kwh", "blocked_kwh", "dimmed_kwh"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(every, name), err_msg=name)
    assert every.steps_run == N and fast.steps_run < N // 2
    assert (fast.state[201:205] == int(SignalState.BLOCK)).any() and (fast.state[251] == int(SignalState.BLOCK)).all()
