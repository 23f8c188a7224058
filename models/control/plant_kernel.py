"""The compiled kernels of :mod:`models.control.plant`'s step: what the devices want, dimming, the stores.

Each does per device what the step did with numpy, the same operations in the same order, so
the controlled year is the same to the bit.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from models.control.ev import account_kernel
from models.control.ev import want_one as charge_want_one
from models.control.thermal import advance_kernel, want_one
from twin.core.signal import SignalState

__all__ = ["dim_kernel", "free_want_kernel", "raised_kernel", "settle_kernel", "want_kernel"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_BLOCK = int(SignalState.BLOCK)
_ON = int(SignalState.RECOMMENDED_ON)


@numba.njit(cache=True)
def raised_kernel(
    signal_state: npt.NDArray[np.int8], hp_building: IntArray, dt_k: Array, boost_k: float, raised: Array
) -> bool:  # pragma: no cover - compiled
    """:func:`_raised_k` per heat pump into ``raised``; returns whether any is raised."""
    any_raised = False
    for j in range(hp_building.shape[0]):
        st = signal_state[hp_building[j]]
        if st == _ON:
            raised[j] = boost_k
            any_raised = True
        elif st == _BLOCK and dt_k[j] > 0.0:
            raised[j] = dt_k[j]
            any_raised = True
        else:
            raised[j] = np.nan
    return any_raised


@numba.njit(cache=True)
def want_kernel(
    p: Array,
    held: Array,
    off: npt.NDArray[np.bool_],
    hp: IntArray,
    ev: IntArray,
    stores: tuple[Array, Array, Array, Array],
    raised_k: Array,
    heat: tuple[Array, Array],
    limits: tuple[float, float, float],
    p_max_kw: Array,
    rated_kw: Array,
    backlog_kwh: Array,
) -> None:  # pragma: no cover - compiled
    """What the devices want at an active step (:func:`_act`), in place: ``p`` (the schedule on entry), ``held``.

    Heat pumps with a store (``stores``: ``dT``, C, H, most heat; empty: none) want what their
    store asks (:func:`models.control.thermal.want_one`) towards the set point, the comfort bound
    where a blocked one holds it (it leaves ``off``), or a raised set point (``raised_k``; NaN:
    not; empty: none); wallboxes their schedule plus backlog; a heat pump ``off`` draws nothing
    and what it wanted goes to ``held`` (it stays in ``off``). The same operations in the same order as numpy did.
    """
    dt, c, h, q_max = stores
    demand, cop = heat
    low, recover, step_h = limits
    if dt.shape[0]:
        for j in range(hp.shape[0]):
            at_bound = off[j] and dt[j] <= low
            if at_bound:
                off[j] = False
            target = low if at_bound else 0.0
            rest = dt[j] == 0.0 and not at_bound
            if raised_k.shape[0] and np.isfinite(raised_k[j]) and not at_bound:
                target, rest = raised_k[j], False
            if not rest:
                want = want_one(dt[j], demand[j], cop[j], step_h, target, c[j], h[j], q_max[j], recover)
                p[hp[j]] = _minimum(want, p_max_kw[hp[j]])
    for i in range(ev.shape[0]):
        p[ev[i]] = charge_want_one(rated_kw[i], backlog_kwh[i], p[ev[i]], step_h)
    for j in range(hp.shape[0]):
        if off[j]:
            held[hp[j]] = p[hp[j]]
            p[hp[j]] = 0.0


@numba.njit(cache=True)
def free_want_kernel(
    stores: tuple[Array, Array, Array, Array],
    raised_k: Array,
    heat: tuple[Array, Array],
    rates: tuple[float, float],
    hp: IntArray,
    p_max_kw: Array,
    schedule_kw: Array,
) -> Array:  # pragma: no cover - compiled
    """What each heat pump would draw if not held off (:func:`_needed`): its schedule at rest, else its store's want.

    The want towards the set point, or the raised one (``raised_k``; NaN: not; empty: none), up
    to the heat pump's most; the same operations in the same order as numpy did.
    """
    dt, c, h, q_max = stores
    demand, cop = heat
    recover, step_h = rates
    out = np.empty(hp.shape[0])
    for j in range(hp.shape[0]):
        if dt[j] == 0.0:
            out[j] = schedule_kw[hp[j]]
            continue
        target = raised_k[j] if raised_k.shape[0] and np.isfinite(raised_k[j]) else 0.0
        want = want_one(dt[j], demand[j], cop[j], step_h, target, c[j], h[j], q_max[j], recover)
        out[j] = _minimum(want, p_max_kw[hp[j]])
    return out


@numba.njit(cache=True)
def settle_kernel(
    p: Array,
    hp: IntArray,
    ev: IntArray,
    heat: tuple[Array, Array],
    step_h: float,
    stores: tuple[Array, Array, Array],
    comfort_low_k: float,
    sums: tuple[Array, Array, Array, Array, Array, Array],
    schedule_kw: Array,
    backlog: tuple[Array, Array],
) -> tuple[Array, Array]:  # pragma: no cover - compiled
    """The stores' new ``dT`` with the heat pumps drawing ``p`` and the wallboxes' new backlog (:func:`_act`).

    :meth:`ThermalStore.advance` and :func:`models.control.ev.charge_step` in one call, the same
    operations in the same order; their sums are added to in place.
    """
    demand, cop = heat
    dt, c, h = stores
    q_kw = np.empty(hp.shape[0])
    for j in range(hp.shape[0]):
        q_kw[j] = p[hp[j]] * cop[j]
    new_dt = advance_kernel(dt, q_kw, demand, step_h, (c, h, comfort_low_k), sums)
    scheduled, drawn = np.empty(ev.shape[0]), np.empty(ev.shape[0])
    for i in range(ev.shape[0]):
        scheduled[i], drawn[i] = schedule_kw[ev[i]], p[ev[i]]
    return new_dt, account_kernel(backlog[0], backlog[1], scheduled, drawn, step_h)


@numba.njit(cache=True)
def dim_kernel(
    p: Array,
    limit: Array,
    finite: npt.NDArray[np.bool_],
    group: IntArray,
    dimmable: npt.NDArray[np.bool_],
    group_min_kw: Array,
    group_building: IntArray,
    m_building: Array,
) -> Array:  # pragma: no cover - compiled
    """:func:`_dim` per device: each group's draw, its cap and share, the same operations in the same order."""
    n_group = group_building.shape[0]
    draw = np.zeros(n_group)
    for i in range(p.shape[0]):
        x = p[i]
        w = (0.0 if x < 0.0 else x) if dimmable[i] else 0.0
        draw[group[i]] += w
    share = np.ones(n_group)
    for g in range(n_group):
        b = group_building[g]
        m = m_building[b]
        raise_by = 1.0
        if m > 0:
            r = limit[b] / m
            raise_by = np.nan if r != r else (r if r > 1.0 else 1.0)
        cap = group_min_kw[g] * raise_by
        if finite[b] and draw[g] > cap:
            share[g] = cap / draw[g]
    out = p.copy()
    for i in range(p.shape[0]):
        if dimmable[i] and p[i] > 0.0:
            out[i] = p[i] * share[group[i]]
    return out


@numba.njit(cache=True)
def _minimum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``numpy.minimum`` of two numbers: NaN if either is, else the first where equal."""
    if a != a or b != b:
        return np.nan
    return a if a <= b else b
