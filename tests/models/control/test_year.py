"""The controllers over a period: the signal acts on the previous step, dimming and blocking by connection."""

from __future__ import annotations

import numpy as np
import pytest

from models.control.section_14a import ControllableDevice, dimmed_limit_kw
from models.control.year import (
    MeasuredGrid,
    block_devices,
    control_mode,
    dim_devices,
    signal_series,
    signal_setpoints_kw,
)
from twin.core.signal import SignalState

STEP_S = 900.0


def _grid(trafo: list[float], p_grid: list[float] | None = None) -> MeasuredGrid:
    n = len(trafo)
    return MeasuredGrid(
        trafo_loading_max_percent=np.array(trafo, dtype=float),
        line_loading_max_percent=np.full(n, 30.0),
        vm_min_pu=np.full(n, 0.98),
        vm_max_pu=np.full(n, 1.02),
        p_grid_kw=np.array(p_grid if p_grid is not None else [400.0] * n, dtype=float),
    )


def test_the_signal_follows_the_step_before_never_the_step_itself() -> None:
    series = signal_series(_grid([40, 40, 99, 99, 60, 40, 40]), STEP_S)
    block, normal = int(SignalState.BLOCK), int(SignalState.NORMAL)
    # overload measured in steps 2 and 3 -> block in steps 3 and 4; released below 85 % one step later
    assert series.state.tolist() == [normal, normal, normal, block, block, normal, normal]
    assert series.dimmed.tolist() == [False, False, False, True, True, False, False]
    assert series.hours(0.25) == {"block": 0.5, "normal": 1.25, "recommended_on": 0.0, "forced_on": 0.0}


def test_the_surplus_is_the_export_of_the_step_before() -> None:
    series = signal_series(_grid([30] * 4, p_grid=[-80.0, -80.0, 10.0, 10.0]), STEP_S)
    on, normal = int(SignalState.RECOMMENDED_ON), int(SignalState.NORMAL)
    assert series.state.tolist() == [normal, on, on, normal]


def test_the_closed_loop_reads_the_grid_of_the_mode_in_force() -> None:
    # uncontrolled the transformer stays overloaded; blocked and dimmed it is relieved
    uncontrolled = _grid([99.0] * 6)
    relieved = _grid([50.0] * 6)
    series = signal_series({0: uncontrolled, 1: relieved}, STEP_S)
    block, normal = int(SignalState.BLOCK), int(SignalState.NORMAL)
    # step 1 blocks on the overload of step 0; step 2 sees the relieved grid of step 1 and releases
    assert series.state.tolist() == [normal, block, normal, block, normal, block]
    assert series.mode.tolist() == [0, 1, 0, 1, 0, 1]
    assert control_mode(block, False) == 2 and control_mode(normal, True) == 0


def test_dim_devices_limits_each_connection_to_its_14a_limit() -> None:
    # building 0: heat pump 9 kW + wallbox 11 kW (limit 7.56 kW); building 1: one wallbox (4.2 kW)
    limits = [
        dimmed_limit_kw([ControllableDevice("heat_pump", 9.0), ControllableDevice("wallbox", 11.0)]),
        dimmed_limit_kw([ControllableDevice("wallbox", 11.0)]),
    ]
    p_kw = np.array([[6.0, 11.0, 11.0], [6.0, 11.0, 11.0], [2.0, 1.0, -3.0]])
    out = dim_devices(p_kw, [0, 0, 1], limits, [False, True, True])
    assert out[0].tolist() == [6.0, 11.0, 11.0]  # not dimmed
    assert out[1, :2].sum() == pytest.approx(7.56) and out[1, 0] / out[1, 1] == pytest.approx(6.0 / 11.0)
    assert out[1, 2] == pytest.approx(4.2)
    assert out[2].tolist() == [2.0, 1.0, -3.0]  # below the limit, and feed-in, unchanged


def test_block_devices_and_signal_setpoints() -> None:
    p_kw = np.array([[3.0, -1.0], [3.0, 2.0]])
    assert block_devices(p_kw, [True, False]).tolist() == [[0.0, -1.0], [3.0, 2.0]]
    states = [int(s) for s in SignalState]  # block, normal, recommended on, forced on
    assert signal_setpoints_kw(states, 100.0).tolist() == [-100.0, 0.0, 100.0, 100.0]
