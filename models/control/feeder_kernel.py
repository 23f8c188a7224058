"""The SG-Ready state machine of :mod:`models.control.signal` for many signals at once, compiled.

:func:`advance` takes the grid state of one step, reduces it per feeder (highest line loading,
lowest and highest voltage) and advances one state machine per feeder plus one on the whole
grid, with the rule, hysteresis, dwell time and staleness of
:class:`models.control.signal.SignalMachine`, condition by condition in the same order.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["advance"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@numba.njit(cache=True)
def advance(
    state: Ints,
    since: Floats,
    reasons: Ints,
    t_s: float,
    surplus_kw: float,
    trafo_percent: float,
    p_grid_kw: float,
    line_percent: Floats,
    feeder_of_line: Ints,
    vm_pu: Floats,
    feeder_of_bus: Ints,
    thresholds: Floats,
    stale: bool,
    binding: npt.NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    """:class:`models.control.signal.SignalMachine` for every machine at once (same rule, same order).

    Machine ``m`` reads the lines and buses whose feeder is ``m``; a machine beyond the feeders
    (the busbar's) reads every line and bus.
    """
    n = state.shape[0]
    last = n - 1
    binding_any = bool(binding.any())
    line_max = np.full(n, np.nan)
    vm_min = np.full(n, np.nan)
    vm_max = np.full(n, np.nan)
    for i in range(line_percent.shape[0]):
        value = line_percent[i]
        if np.isnan(value):
            continue
        for m in (feeder_of_line[i], last):
            if (0 <= m < last or m == last) and (np.isnan(line_max[m]) or value > line_max[m]):
                line_max[m] = value
            if m == last:
                break
    for i in range(vm_pu.shape[0]):
        value = vm_pu[i]
        if np.isnan(value):
            continue
        for m in (feeder_of_bus[i], last):
            if 0 <= m < last or m == last:
                if np.isnan(vm_min[m]) or value < vm_min[m]:
                    vm_min[m] = value
                if np.isnan(vm_max[m]) or value > vm_max[m]:
                    vm_max[m] = value
            if m == last:
                break
    for m in range(n):
        _step_one(
            m,
            state,
            since,
            reasons,
            t_s,
            surplus_kw,
            trafo_percent,
            p_grid_kw,
            line_max[m],
            vm_min[m],
            vm_max[m],
            thresholds,
            stale,
            binding[m],
            binding_any,
        )


@numba.njit(cache=True)
def _step_one(
    m: int,
    state: Ints,
    since: Floats,
    reasons: Ints,
    t_s: float,
    surplus_kw: float,
    trafo: float,
    p_grid_kw: float,
    line: float,
    vm_min: float,
    vm_max: float,
    th: Floats,
    stale: bool,
    binding: bool,
    binding_any: bool,
) -> None:  # pragma: no cover - compiled
    normal, block, recommended, forced = 2, 1, 3, 4
    if stale:
        reasons[m] = 32
        if state[m] != normal or np.isnan(since[m]):
            state[m] = normal
            since[m] = t_s
        return
    if reasons[m] & 32:
        reasons[m] = 0
        state[m] = normal
        since[m] = t_s
    if np.isnan(since[m]) or t_s < since[m]:
        since[m] = t_s
    held = reasons[m]
    now = 0
    if _beyond(surplus_kw, th[0], th[1], held & 1):
        now |= 1
    if _beyond(trafo, th[2], th[3], held & 2):
        now |= 2
    if _beyond(line, th[2], th[3], held & 4):
        now |= 4
    if _beyond(vm_max, th[4], th[5], held & 16):
        now |= 16
    if _beyond(-vm_min, th[6], th[7], held & 8):
        now |= 8
    if state[m] == block:
        # the relief the limits give is still needed: the stress holds (the transformer's while
        # any feeder's limits bind, a feeder's own lines and voltages while its limits bind)
        if binding_any:
            now |= held & 2
        if binding:
            now |= held & 12
    reasons[m] = now
    loading = (now & 6) != 0
    exporting = p_grid_kw < 0.0
    if now & 8 or (loading and not exporting):
        target = block
    elif now & 16 or (loading and exporting):
        target = forced
    elif now & 1:
        target = recommended
    else:
        target = normal
    if target != state[m] and (t_s - since[m] >= th[8] or target == block):
        state[m] = target
        since[m] = t_s


@numba.njit(cache=True)
def _beyond(value: float, enter: float, leave: float, held: int) -> bool:  # pragma: no cover - compiled
    if np.isnan(value):
        return False
    if held:
        return value > leave
    return value >= enter
