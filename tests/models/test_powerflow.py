"""The batch power flow against pandapower's own Newton-Raphson."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from models.grid_source import load_simbench_net
from models.powerflow import BatchPowerFlow, PowerFlowOptions, net_bus_injections
from models.powerflow_zbus import solve_zbus
from twin.core.errors import ConfigError, ConvergenceError, TwinWarning
from twin.core.kpi import grid_kpis

STEPS = 96  # one day at 15 minutes


@pytest.fixture(scope="module")
def net() -> Any:
    return load_simbench_net("1-LV-semiurb5--0-sw")


@pytest.fixture(scope="module")
def flow(net: Any) -> BatchPowerFlow:
    return BatchPowerFlow(net)


@pytest.fixture(scope="module")
def heavy_case(net: Any, flow: BatchPowerFlow) -> dict[str, Any]:
    """A heat pump (up to 6 kW) and an 11 kW wallbox at every load, PV at the sgens, no reinforcement."""
    rng = np.random.default_rng(42)
    n_load, n_sgen = len(net.load), len(net.sgen)
    hour = np.arange(STEPS) / 4
    household_kw = 0.4 + 0.8 * rng.random((STEPS, n_load))
    heat_pump_kw = 6.0 * rng.random((STEPS, n_load))
    evening = ((hour >= 17) & (hour < 22))[:, None]
    ev_kw = np.where(evening & (rng.random((STEPS, n_load)) < 0.6), 11.0, 0.0)
    load_kw = household_kw + heat_pump_kw + ev_kw
    pv_shape = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None)[:, None]
    sgen_kw = pv_shape * net.sgen["p_mw"].to_numpy()[None, :] * 1000.0 * 3
    load_q_kvar = load_kw * np.tan(np.arccos(0.95))
    p_bus = pd.DataFrame(0.0, index=range(STEPS), columns=flow.bus_index)
    q_bus = p_bus.copy()
    for j, bus in enumerate(net.load["bus"]):
        p_bus[bus] += load_kw[:, j]
        q_bus[bus] += load_q_kvar[:, j]
    for j, bus in enumerate(net.sgen["bus"]):
        p_bus[bus] -= sgen_kw[:, j]
    time = pd.date_range("2025-01-15", periods=STEPS, freq="15min", tz="UTC")
    result = flow.run(time, p_bus, q_bus)
    return {"load_kw": load_kw, "load_q_kvar": load_q_kvar, "sgen_kw": sgen_kw, "result": result, "n_sgen": n_sgen}


def test_heavy_case_agrees_with_pandapower_newton_raphson(net: Any, heavy_case: dict[str, Any]) -> None:
    result = heavy_case["result"]
    check = copy.deepcopy(net)
    worst_step = int(result["vm_pu"].min("bus").argmin("time"))
    for step in sorted({0, 30, 72, 80, worst_step}):
        check.load["p_mw"] = heavy_case["load_kw"][step] / 1000.0
        check.load["q_mvar"] = heavy_case["load_q_kvar"][step] / 1000.0
        check.sgen["p_mw"] = heavy_case["sgen_kw"][step] / 1000.0
        pp.runpp(check, lightsim2grid=False, tolerance_mva=1e-10)
        vm = result["vm_pu"].isel(time=step).sel(bus=check.res_bus.index).to_numpy()
        np.testing.assert_allclose(vm, check.res_bus["vm_pu"].to_numpy(), atol=1e-6, rtol=0)
        p_grid_kw = float(check.res_ext_grid["p_mw"].sum() * 1000.0)
        assert float(result["p_grid_kw"][step]) == pytest.approx(p_grid_kw, abs=0.1)
        n_line = len(check.line)
        loading = result["loading_percent"].isel(time=step).to_numpy()
        np.testing.assert_allclose(loading[:n_line], check.res_line["loading_percent"], atol=1e-3)
        np.testing.assert_allclose(loading[n_line:], check.res_trafo["loading_percent"], atol=1e-3)
    # the case is heavy indeed: the transformer is overloaded in the evening
    assert float(result["loading_percent"].sel(branch="trafo 0").max()) > 100.0


def test_conservation_at_every_step(heavy_case: dict[str, Any]) -> None:
    result = heavy_case["result"]
    demand_plus_losses = result["p_bus_kw"].astype(np.float64).sum("bus") + result["p_loss_kw"]
    np.testing.assert_allclose(demand_plus_losses, result["p_grid_kw"], atol=0.01)
    assert bool((result["p_loss_kw"] > 0).all())


def test_result_layout(net: Any, heavy_case: dict[str, Any]) -> None:
    result = heavy_case["result"]
    assert list(result["bus"].values) == sorted(net.bus.index)
    assert result.sizes["branch"] == len(net.line) + len(net.trafo)
    assert result["branch_kind"].to_series().value_counts().to_dict() == {"line": len(net.line), "trafo": 1}
    assert bool(result["converged"].all())
    assert result["p_grid_kw"].attrs["sign_convention"] == "import_positive"
    assert result["time"].dtype == np.dtype("datetime64[ns]")


def test_grid_kpis_from_results(net: Any, heavy_case: dict[str, Any]) -> None:
    result = heavy_case["result"]
    busbar = int(net.trafo["lv_bus"].iloc[0])
    kpis = grid_kpis(result["vm_pu"], result["loading_percent"], reference_bus=busbar)
    assert float(kpis["trafo_loading_max_percent"]) == pytest.approx(
        float(result["loading_percent"].sel(branch="trafo 0").max())
    )
    assert float(kpis["vm_min_pu"]) < 1.0 < float(kpis["vm_max_pu"])


def test_net_bus_injections_matches_elements(net: Any) -> None:
    p, q = net_bus_injections(net)
    expected = net.load["p_mw"].sum() * 1000.0 - net.sgen["p_mw"].sum() * 1000.0
    assert p.sum() == pytest.approx(expected)
    assert q.sum() == pytest.approx(net.load["q_mvar"].sum() * 1000.0 - net.sgen["q_mvar"].sum() * 1000.0)


def test_divergence_is_reported_never_silent(net: Any, flow: BatchPowerFlow) -> None:
    time = pd.date_range("2025-01-15", periods=3, freq="15min")
    p = np.zeros((3, len(flow.bus_index)))
    p[1, :] = 2_000.0  # 2 MW at every bus: far beyond the 630 kVA transformer
    with pytest.raises(ConvergenceError, match=r"did not converge in 1 of 3 steps \(2025-01-15 00:15:00\)"):
        flow.run(time, p, p * 0.0)
    flagging = BatchPowerFlow(net, PowerFlowOptions(on_divergence="flag"))
    with pytest.warns(TwinWarning, match="did not converge in 1 of 3 steps"):
        result = flagging.run(time, p, p * 0.0)
    assert result["converged"].values.tolist() == [True, False, True]
    assert np.isnan(result["vm_pu"].isel(time=1)).all()
    assert np.isnan(float(result["p_grid_kw"][1]))
    assert float(result["p_grid_kw"][0]) == pytest.approx(float(result["p_loss_kw"][0]), abs=1e-3)


def test_bad_input_names_the_field(flow: BatchPowerFlow) -> None:
    time = pd.date_range("2025-01-15", periods=2, freq="15min")
    with pytest.raises(ConfigError, match="p_bus_kw: bus 99999 is not a bus of the net"):
        flow.run(time, pd.DataFrame({99999: [1.0, 1.0]}), pd.DataFrame({99999: [0.0, 0.0]}))
    with pytest.raises(ConfigError, match=r"q_bus_kvar: has shape \(2, 3\)"):
        flow.run(time, np.zeros((2, len(flow.bus_index))), np.zeros((2, 3)))
    bad = np.zeros((2, len(flow.bus_index)))
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="p_bus_kw: contains NaN"):
        flow.run(time, bad, np.zeros_like(bad))


def test_fixed_point_path_agrees_with_a_tight_pandapower_flow(
    net: Any, flow: BatchPowerFlow, heavy_case: dict[str, Any]
) -> None:
    """The radial fast path converges far below Newton-Raphson's 1e-8 MVA: 1e-10 p.u. of a tight pandapower flow."""
    system = flow._prepared.zbus
    assert system is not None  # a SimBench LV feeder takes the fast path
    result = heavy_case["result"]
    p_mw = result["p_bus_kw"].to_numpy().astype(np.float64) / 1000.0
    q_mvar = result["q_bus_kvar"].to_numpy().astype(np.float64) / 1000.0
    check = copy.deepcopy(net)
    worst_step = int(result["vm_pu"].min("bus").argmin("time"))
    steps = [0, 80, worst_step]
    voltages, converged = solve_zbus(system, p_mw[steps], q_mvar[steps])
    assert converged.all()
    for row, step in enumerate(steps):
        check.load.drop(check.load.index, inplace=True)
        check.sgen.drop(check.sgen.index, inplace=True)
        pp.create_loads(check, buses=flow.bus_index, p_mw=p_mw[step], q_mvar=q_mvar[step])
        pp.runpp(check, lightsim2grid=False, tolerance_mva=1e-11)
        vm = np.abs(voltages[row])[np.searchsorted(flow.bus_index, check.res_bus.index)]
        np.testing.assert_allclose(vm, check.res_bus["vm_pu"].to_numpy(), atol=1e-10, rtol=0)


def test_step_near_voltage_collapse_is_solved_by_newton_raphson(net: Any, flow: BatchPowerFlow) -> None:
    """25 kW at every bus: the fixed point stalls (voltage at 0.64 p.u.), Newton-Raphson still converges."""
    time = pd.date_range("2025-01-15", periods=2, freq="15min")
    p = np.full((2, len(flow.bus_index)), 25.0)
    p[0] = 1.0
    result = flow.run(time, p, p * 0.0)
    assert result["converged"].values.tolist() == [True, True]
    check = copy.deepcopy(net)
    check.load.drop(check.load.index, inplace=True)
    check.sgen.drop(check.sgen.index, inplace=True)
    pp.create_loads(check, buses=flow.bus_index, p_mw=0.025, q_mvar=0.0)
    pp.runpp(check, lightsim2grid=False, tolerance_mva=1e-10)
    vm = result["vm_pu"].isel(time=1).sel(bus=check.res_bus.index).to_numpy()
    np.testing.assert_allclose(vm, check.res_bus["vm_pu"].to_numpy(), atol=1e-6, rtol=0)
    assert float(result["vm_pu"].isel(time=1).min()) < 0.7


def test_grid_with_two_slacks_takes_newton_raphson(net: Any) -> None:
    """A second external grid is no radial one-slack grid: the fixed-point path is off, Newton-Raphson solves."""
    meshed = copy.deepcopy(net)
    far_bus = int(meshed.line["to_bus"].iloc[-1])
    pp.runpp(meshed, lightsim2grid=False)  # the second source at that bus's own voltage and angle
    vm, va = meshed.res_bus.at[far_bus, "vm_pu"], meshed.res_bus.at[far_bus, "va_degree"]
    pp.create_ext_grid(meshed, far_bus, vm_pu=vm, va_degree=va)
    flow = BatchPowerFlow(meshed)
    assert flow._prepared.zbus is None
    time = pd.date_range("2025-01-15", periods=2, freq="15min")
    p = np.full((2, len(flow.bus_index)), 3.0)
    result = flow.run(time, p, p * 0.1)
    assert bool(result["converged"].all())
    assert float(result["vm_pu"].isel(time=1).min()) < float(result["vm_pu"].isel(time=0).max())


def test_fixed_point_path_in_two_halves_is_one_pass_to_the_bit(
    flow: BatchPowerFlow, heavy_case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import models.powerflow_zbus as zbus

    system = flow._prepared.zbus
    assert system is not None
    result = heavy_case["result"]
    p_mw = result["p_bus_kw"].to_numpy().astype(np.float64) / 1000.0
    q_mvar = result["q_bus_kvar"].to_numpy().astype(np.float64) / 1000.0
    p_mw[7] *= 40.0  # one step that does not converge: reported in its place
    monkeypatch.setattr(zbus, "PARALLEL_MIN_STEPS", 10**9)
    one_pass = zbus.solve_zbus(system, p_mw, q_mvar)
    flows = zbus.branch_results(system, one_pass[0], *_branch_ratings(flow))
    threads: set[str] = set()
    kernel = zbus._iterate

    def recording(*args: Any) -> None:
        threads.add(threading.current_thread().name)
        kernel(*args)

    monkeypatch.setattr(zbus, "PARALLEL_MIN_STEPS", 10)
    monkeypatch.setattr(zbus, "_iterate", recording)
    halves = zbus.solve_zbus(system, p_mw, q_mvar)
    assert len(threads) == 2  # the halves ran on two threads
    assert not one_pass[1][7] and one_pass[1].sum() == STEPS - 1
    assert np.array_equal(halves[0], one_pass[0]) and np.array_equal(halves[1], one_pass[1])
    for again, first in zip(zbus.branch_results(system, halves[0], *_branch_ratings(flow)), flows, strict=True):
        assert np.array_equal(again, first)


def _branch_ratings(flow: BatchPowerFlow) -> tuple[np.ndarray, ...]:
    n_branch = len(flow._prepared.zbus.f_bus)  # type: ignore[union-attr]
    rng = np.random.default_rng(3)
    return tuple(rng.uniform(0.3, 1.0, n_branch) for _ in range(4))


def test_steps_solved_one_at_a_time_equal_the_batch_to_the_bit(
    flow: BatchPowerFlow, heavy_case: dict[str, Any]
) -> None:
    # the controlled year solves a changed step on its own before the next step reads it
    result = heavy_case["result"]
    p_kw = result["p_bus_kw"].to_numpy().astype(np.float64)
    q_kvar = result["q_bus_kvar"].to_numpy().astype(np.float64)
    p_kw[7] *= 2.0  # a heavier step
    batch = flow.run(result["time"].values, p_kw, q_kvar)
    for t in (0, 7, 20, STEPS - 1):
        solved = flow.solve_arrays(p_kw[t : t + 1], q_kvar[t : t + 1])
        vm, loading, p_loss, p_grid, q_grid, converged = solved
        assert bool(converged[0]) == bool(batch["converged"].values[t])
        np.testing.assert_array_equal(loading[0], batch["loading_percent"].values[t])
        np.testing.assert_array_equal(np.float32(p_grid[0]), batch["p_grid_kw"].values[t])
        np.testing.assert_array_equal(np.float32(q_grid[0]), batch["q_grid_kvar"].values[t])
        np.testing.assert_array_equal(np.float32(p_loss[0]), batch["p_loss_kw"].values[t])
        # the dataset of the steps solved one at a time is the batch's, variable by variable
        alone = flow.results(result["time"].values[t : t + 1], p_kw[t : t + 1], q_kvar[t : t + 1], solved)
        for name, values in alone.data_vars.items():
            np.testing.assert_array_equal(values.values, batch[name].isel(time=[t]).values, err_msg=name)
        if converged[0]:
            np.testing.assert_array_equal(vm[0].astype(np.float32), batch["vm_pu"].values[t])
