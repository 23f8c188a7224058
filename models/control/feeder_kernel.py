"""The SG-Ready state machine of :mod:`models.control.signal` for many signals at once, compiled.

:func:`advance` takes the grid state of one step, reduces it per feeder (highest line loading,
lowest and highest voltage) and advances one state machine per feeder plus one on the whole
grid, with the rule, hysteresis, dwell time and staleness of
:class:`models.control.signal.SignalMachine`, condition by condition in the same order.
:func:`reductions` shares each stressed quantity's excess (or headroom) among the buildings
that act on it (:class:`models.control.feeder.FeederSignals`).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["advance", "as_draw", "buildings_step", "limits_and_relief", "reductions"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@numba.njit(cache=True)
def advance(
    state: Ints,
    since: Floats,
    reasons: Ints,
    t_s: float,
    surplus_kw: float,
    trafo_percent: Floats,
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

    Machine ``m`` reads the transformer loading ``trafo_percent[m]`` and the lines and buses whose
    feeder is ``m``; a machine beyond the feeders (the busbar's) reads every line and bus.
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
            trafo_percent[m],
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


@numba.njit(cache=True)
def reductions(
    row_ptr: Ints,
    cols: Ints,
    vals: Floats,
    excess: Floats,
    block: npt.NDArray[np.bool_],
    spare_kw: Floats,
    grant_kw: Floats,
) -> Floats:  # pragma: no cover - compiled
    """Return the largest reduction [kW] any quantity asks of each building (-inf: none).

    Quantity ``q`` acts through buildings ``cols[row_ptr[q]:row_ptr[q + 1]]`` with sensitivities
    ``vals`` (its unit per kW). Over its target (``excess > 0``) it asks the blocked ones among
    them for the excess in proportion to ``spare_kw`` (at most all of it); under its target it
    grants the headroom in proportion to ``grant_kw`` (a negative reduction). NaN excess: unknown.
    """
    cut = np.full(spare_kw.shape[0], -np.inf)
    for q in range(excess.shape[0]):
        e = excess[q]
        if np.isnan(e):
            continue
        over = e > 0.0
        effect = 0.0
        acting = False
        for k in range(row_ptr[q], row_ptr[q + 1]):
            b = cols[k]
            if block[b]:
                acting = True
                effect += vals[k] * (spare_kw[b] if over else grant_kw[b])
        if not acting:
            continue
        if over:
            share = min(e / effect, 1.0) if effect > 0.0 else 1.0
        elif effect > 0.0:
            share = e / effect
        else:
            continue
        for k in range(row_ptr[q], row_ptr[q + 1]):
            b = cols[k]
            if block[b]:
                c = share * (spare_kw[b] if over else grant_kw[b])
                if c > cut[b]:
                    cut[b] = c
    return cut


@numba.njit(cache=True)
def as_draw(p_kw: Floats) -> Floats:  # pragma: no cover - compiled
    """The controllable draw [kW]: NaN as 0, feed-in as 0 (``numpy.nan_to_num`` then clipped at 0)."""
    out = np.empty(p_kw.shape[0])
    for i in range(p_kw.shape[0]):
        v = p_kw[i]
        if np.isnan(v):
            v = 0.0
        elif v == np.inf:
            v = np.finfo(np.float64).max
        out[i] = v if v >= 0.0 else 0.0
    return out


@numba.njit(cache=True)
def limits_and_relief(
    rows: tuple[Ints, Ints, Floats],
    measured: tuple[float, Floats, Floats],
    sign: Floats,
    targets: Floats,
    block: npt.NDArray[np.bool_],
    draw: Floats,
    p_min_kw: Floats,
    building_feeder: Ints,
    relief: Floats,
) -> Floats:  # pragma: no cover - compiled
    """Each building's limit [kW] (``inf``: none) from :func:`reductions`; adds what each gives to ``relief``.

    The quantities' values are the transformer's loading, then the lines' loadings, then the
    buses' voltages (``measured``); their excess is ``sign * value - target``. A blocked
    building's limit is its draw minus the largest reduction asked of it, not below its minimum.
    """
    trafo, line, vm = measured
    n_line = line.shape[0]
    excess = np.empty(targets.shape[0])
    excess[0] = sign[0] * trafo - targets[0]
    for q in range(n_line):
        excess[1 + q] = sign[1 + q] * line[q] - targets[1 + q]
    for q in range(vm.shape[0]):
        excess[1 + n_line + q] = sign[1 + n_line + q] * vm[q] - targets[1 + n_line + q]
    n = draw.shape[0]
    spare = np.empty(n)
    grant = np.empty(n)
    for b in range(n):
        s = draw[b] - p_min_kw[b]
        spare[b] = s if s >= 0.0 else 0.0
        grant[b] = draw[b] + p_min_kw[b]
    cut = reductions(rows[0], rows[1], rows[2], excess, block, spare, grant)
    limit = np.full(n, np.inf)
    for b in range(n):
        if block[b] and np.isfinite(cut[b]):
            value = draw[b] - cut[b]
            limit[b] = value if value > p_min_kw[b] else p_min_kw[b]
    for b in range(n):
        if building_feeder[b] >= 0:
            given = draw[b] - limit[b]
            relief[building_feeder[b]] += given if given >= 0.0 else 0.0
    return limit


@numba.njit(cache=True)
def buildings_step(
    machines: tuple[Ints, Ints, Floats],
    building_machine: Ints,
    codes: tuple[int, int],
    draw: Floats,
    rows: tuple[Ints, Ints, Floats],
    measured: tuple[float, Floats, Floats],
    quantities: tuple[Floats, Floats],
    p_min_kw: Floats,
    building_feeder: Ints,
    n_feeders: int,
) -> tuple[npt.NDArray[np.int8], Ints, Floats, Floats, Floats, bool]:  # pragma: no cover - compiled
    """Each building's state, reasons and since from its machine's (``machines``), and its limit.

    ``codes`` are the blocking state and the grid reasons' bits. No building blocks: no limit; a
    ``draw`` of length 0 (not known): a blocked building for grid stress at its minimum; else
    :func:`limits_and_relief`. Returns the states (int8), reasons, since, limits (``inf``: none),
    each feeder's relief and whether any limit is in force.
    """
    state_m, reasons_m, since_m = machines
    block_state, grid_reasons = codes
    n = building_machine.shape[0]
    state = np.empty(n, dtype=np.int8)
    reasons = np.empty(n, dtype=np.int64)
    since = np.empty(n)
    block = np.zeros(n, dtype=np.bool_)
    blocking = False
    for b in range(n):
        m = building_machine[b]
        state[b], reasons[b], since[b] = state_m[m], reasons_m[m], since_m[m]
        if state[b] == block_state:
            block[b] = blocking = True
    relief = np.zeros(n_feeders)
    limit = np.full(n, np.inf)
    if blocking and draw.shape[0] == 0:
        for b in range(n):
            if block[b] and (reasons[b] & grid_reasons) != 0:
                limit[b] = p_min_kw[b]
    elif blocking:
        sign, targets = quantities
        limit = limits_and_relief(rows, measured, sign, targets, block, draw, p_min_kw, building_feeder, relief)
    limited = False
    for b in range(n):
        if np.isfinite(limit[b]):
            limited = True
    return state, reasons, since, limit, relief, limited
