from __future__ import annotations

import itertools
import math

import pytest

from models.control.signal import (
    P_LIMIT_14A_MIN_KW,
    GridStress,
    SignalConfig,
    SignalMachine,
    SignalReason,
    SignalState,
    limit_14a_kw,
)

CALM = GridStress(trafo_loading_max_percent=40.0, line_loading_max_percent=30.0, vm_min_pu=0.98, vm_max_pu=1.03)


def run(machine: SignalMachine, steps: list[tuple[float, float, GridStress]]) -> list[SignalState]:
    return [machine.update(t, p_surplus_kw=surplus, stress=stress).state for t, surplus, stress in steps]


def test_signal_surplus_waits_for_the_dwell_time() -> None:
    machine = SignalMachine()
    states = run(machine, [(0, 80, CALM), (60, 80, CALM), (299, 80, CALM), (300, 80, CALM)])
    assert states == [SignalState.NORMAL] * 3 + [SignalState.RECOMMENDED_ON]


def test_signal_hysteresis_keeps_state_between_thresholds() -> None:
    machine = SignalMachine()
    run(machine, [(0, 80, CALM), (300, 80, CALM)])
    # 30 kW: below the enter threshold (50) but above the leave threshold (20): stays on
    states = run(machine, [(t, 30.0, CALM) for t in range(600, 3600, 60)])
    assert set(states) == {SignalState.RECOMMENDED_ON}
    # a fresh machine at 30 kW never turns on
    assert set(run(SignalMachine(), [(t, 30.0, CALM) for t in range(0, 3600, 60)])) == {SignalState.NORMAL}


def test_signal_does_not_flap_on_noisy_surplus() -> None:
    machine = SignalMachine()
    noisy = [(float(t), 50.0 + (10.0 if t % 2 else -40.0), CALM) for t in range(0, 7200, 10)]
    states = run(machine, noisy)
    changes = sum(1 for a, b in itertools.pairwise(states) if a != b)
    # the surplus swings between 10 and 60 kW every 10 s: the dwell allows one change per 300 s
    assert changes <= 7200 / 300


def test_signal_minimum_dwell_between_every_change() -> None:
    machine = SignalMachine()
    times: list[float] = []
    last = None
    for t in range(0, 20_000, 7):
        surplus = 100.0 if (t // 50) % 2 else 0.0
        step = machine.update(float(t), p_surplus_kw=surplus, stress=CALM)
        if step.state != last:
            times.append(step.since_s)
            last = step.state
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and min(gaps) >= 300.0


def test_signal_leaves_after_dwell_when_surplus_drops() -> None:
    machine = SignalMachine()
    run(machine, [(0, 80, CALM), (300, 80, CALM)])
    assert run(machine, [(400, 10, CALM)]) == [SignalState.RECOMMENDED_ON]
    assert run(machine, [(600, 10, CALM)]) == [SignalState.NORMAL]


@pytest.mark.parametrize(
    ("stress", "reason"),
    [
        (GridStress(trafo_loading_max_percent=96.0, p_grid_kw=500.0), SignalReason.TRANSFORMER),
        (GridStress(line_loading_max_percent=101.0, p_grid_kw=300.0), SignalReason.LINE),
        (GridStress(vm_min_pu=0.92, p_grid_kw=100.0), SignalReason.UNDERVOLTAGE),
    ],
)
def test_signal_import_stress_blocks_at_once(stress: GridStress, reason: SignalReason) -> None:
    machine = SignalMachine()
    machine.update(0.0, p_surplus_kw=0.0, stress=CALM)
    step = machine.update(10.0, p_surplus_kw=0.0, stress=stress)
    assert step.state is SignalState.BLOCK
    assert step.reasons & reason
    assert step.p_limit_14a_kw == P_LIMIT_14A_MIN_KW


@pytest.mark.parametrize(
    "stress",
    [
        GridStress(vm_max_pu=1.085, p_grid_kw=-300.0),
        GridStress(trafo_loading_max_percent=97.0, p_grid_kw=-600.0),
    ],
)
def test_signal_export_stress_forces_on_after_dwell(stress: GridStress) -> None:
    machine = SignalMachine()
    assert run(machine, [(0, 200, stress), (100, 200, stress), (300, 200, stress)]) == [
        SignalState.NORMAL,
        SignalState.NORMAL,
        SignalState.FORCED_ON,
    ]
    assert machine.update(400, p_surplus_kw=200, stress=stress).p_limit_14a_kw > P_LIMIT_14A_MIN_KW


def test_signal_block_releases_only_below_leave_threshold() -> None:
    machine = SignalMachine()
    hot = GridStress(trafo_loading_max_percent=96.0, p_grid_kw=500.0)
    warm = GridStress(trafo_loading_max_percent=90.0, p_grid_kw=500.0)
    cool = GridStress(trafo_loading_max_percent=80.0, p_grid_kw=500.0)
    machine.update(0.0, p_surplus_kw=0.0, stress=hot)
    assert run(machine, [(1000, 0, warm), (2000, 0, warm)]) == [SignalState.BLOCK] * 2
    assert run(machine, [(2100, 0, cool)]) == [SignalState.NORMAL]


def test_signal_stale_falls_back_to_normal_at_once() -> None:
    machine = SignalMachine()
    run(machine, [(0, 80, CALM), (300, 80, CALM)])
    step = machine.update(310.0, p_surplus_kw=80.0, stress=CALM, stale=True)
    assert step.state is SignalState.NORMAL
    assert step.reasons == SignalReason.STALE
    # fresh again: starts from normal and waits a full dwell from the return
    assert run(machine, [(320, 80, CALM), (619, 80, CALM), (620, 80, CALM)]) == [
        SignalState.NORMAL,
        SignalState.NORMAL,
        SignalState.RECOMMENDED_ON,
    ]


def test_signal_stale_overrides_block() -> None:
    machine = SignalMachine()
    machine.update(0.0, p_surplus_kw=0.0, stress=GridStress(vm_min_pu=0.9))
    assert (
        machine.update(5.0, p_surplus_kw=0.0, stress=GridStress(vm_min_pu=0.9), stale=True).state is SignalState.NORMAL
    )


def test_signal_time_going_backwards_restarts_the_dwell() -> None:
    machine = SignalMachine()
    run(machine, [(10_000, 80, CALM)])
    assert run(machine, [(100, 80, CALM), (399, 80, CALM), (400, 80, CALM)]) == [
        SignalState.NORMAL,
        SignalState.NORMAL,
        SignalState.RECOMMENDED_ON,
    ]


def test_signal_nan_inputs_mean_no_condition() -> None:
    machine = SignalMachine()
    nan = GridStress()
    assert run(machine, [(0, math.nan, nan), (1000, math.nan, nan)]) == [SignalState.NORMAL] * 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_dwell_s": 299.0},
        {"surplus_enter_kw": 10.0, "surplus_leave_kw": 20.0},
        {"vm_low_enter_pu": 0.96, "vm_low_leave_pu": 0.95},
        {"p_limit_free_kw": 4.0},
        {"stale_after_s": 0.0},
    ],
)
def test_signal_config_rejects_bad_thresholds(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SignalConfig(**kwargs)


@pytest.mark.parametrize("state", list(SignalState))
@pytest.mark.parametrize("reasons", [SignalReason.NONE, SignalReason.TRANSFORMER, SignalReason.STALE])
def test_limit_14a_kw_never_below_minimum(state: SignalState, reasons: SignalReason) -> None:
    assert limit_14a_kw(state, reasons) >= P_LIMIT_14A_MIN_KW


def test_the_machine_speaks_the_core_records() -> None:
    """The controller server reads the machine's records from the twin core, not from models."""
    from twin.core import signal as core

    step = SignalMachine().update(0.0, p_surplus_kw=0.0, stress=core.GridStress(vm_min_pu=0.9, p_grid_kw=10.0))
    assert type(step) is core.SignalStep and type(step.state) is core.SignalState
    assert step.state is core.SignalState.BLOCK and step.reasons == core.SignalReason.UNDERVOLTAGE
    assert step.p_limit_14a_kw == P_LIMIT_14A_MIN_KW
    assert (GridStress, SignalState, SignalReason) == (core.GridStress, core.SignalState, core.SignalReason)


def test_stale_after_s_is_the_configured_one() -> None:
    assert SignalMachine().stale_after_s == 10.0
    assert SignalMachine(SignalConfig(stale_after_s=3.0)).stale_after_s == 3.0
