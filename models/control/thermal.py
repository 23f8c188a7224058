"""Heat that can wait: each heat-pump building's thermal store and the heat pump that serves it.

The store is the building's thermal mass plus its buffer tank as **one 1R1C node** (the simplified
hourly method of ISO 13790:2008, section 12.2, with one capacitance and one conductance), tracked as
the deviation ``dT`` of the indoor temperature from the set point the heat demand profile assumes:

    C * d(dT)/dt = q_heat_pump - q_demand - H * dT

``q_demand`` is the heat the building needs to stay at its set point (the scenario's space heat and
hot water), ``H`` its heat-loss coefficient and ``C`` its heat capacity. While the heat pump delivers
less (blocked or dimmed) the building cools (``dT < 0``) and loses less heat (``H * dT``); once free
it brings the store back with up to :data:`RECOVER_FRAC` of its rating beyond the demand, the
**rebound**. Energy balance over a period, exact by construction (explicit Euler per step):

    heat delivered = demand + (C * dT_end - C * dT_start) + sum(H * dT * dt)

Parameters per building class (:class:`ThermalParameters`, assumptions stated here):

- ``H`` [kW/K] from the heat pump's thermal rating at the norm outside temperature:
  ``H = P_design / (theta_set - theta_norm)``, with the set point 20 degC (DIN EN 12831-1 design
  indoor temperature of living rooms) and the norm outside temperature -14 degC
  (:data:`models.heating_curve.NORM_OUTSIDE_TEMP_DEGC`).
- ``C`` [kWh/K] = internal heat capacity ``kappa_m * A`` (ISO 13790:2008, table 12: *medium*
  165 kJ/(m2 K) for the radiator-heated stock of the TABULA classes (IWU, "Deutsche
  Wohngebaeudetypologie", 2015), *heavy* 260 kJ/(m2 K) where floor heating adds a screed) with the
  building's TABULA reference floor area ``A``, plus the buffer tank's water:
  ``V * 1.163 Wh/(l K)``, ``V`` = 30 l per kW of thermal rating within 300-800 l (the usual
  range of buffer tanks for heat pumps in homes). The tank is lumped into the node: its
  usable temperature band is counted as if it were the building's.
- Comfort: the indoor temperature may fall to 1 K below the set point (19 degC, the lowest
  operative temperature of EN 16798-1 category III for living spaces is 18 degC, category II 20 degC);
  below that, the shortfall is counted in kelvin hours (:attr:`ThermalStore.violation_kh`).

With the time constant ``tau = C / H`` of the classes (about 30 to 80 hours for a house) a block
of two hours at the design load cools a house by roughly half a kelvin.

:func:`heat_pump_step` is the controller of one step, vectorised over buildings, used by the
scenarios' year (:mod:`models.control.loop`) and usable by a simulated device step by step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numba
import numpy as np
import numpy.typing as npt

from models.control.comfort import SET_POINT_DEGC
from models.heating_curve import NORM_OUTSIDE_TEMP_DEGC

__all__ = [
    "COMFORT_LOW_K",
    "KAPPA_M_KJ_PER_M2K",
    "RECOVER_FRAC",
    "SET_POINT_DEGC",
    "TANK_L_PER_KW",
    "ThermalParameters",
    "ThermalStore",
    "heat_pump_step",
    "heat_pump_want_kw",
    "tank_l",
    "thermal_parameters",
]

Array = npt.NDArray[np.float64]

#: Lowest indoor temperature against the set point before comfort is violated. [K]
COMFORT_LOW_K: Final[float] = -1.0
#: Most heat beyond the demand while a store is brought back, as a share of the rating: a modulating
#: heat pump's heating curve raises the flow temperature with the deficit, it does not jump to full power. [1]
RECOVER_FRAC: Final[float] = 0.2
#: Internal heat capacity per floor area by emitter (ISO 13790:2008, table 12). [kJ/(m2 K)]
KAPPA_M_KJ_PER_M2K: Final[dict[str, float]] = {"radiator": 165.0, "floor": 260.0}
#: Buffer tank per kW of thermal rating, and its bounds. [l/kW], [l]
TANK_L_PER_KW: Final[float] = 30.0
_TANK_MIN_L: Final[float] = 300.0
_TANK_MAX_L: Final[float] = 800.0
#: Heat capacity of water. [kWh/(l K)]
_WATER_KWH_PER_L_K: Final[float] = 1.163e-3


def tank_l(p_design_kw: npt.ArrayLike) -> Array:
    """Return the buffer tank volume [l] of heat pumps of a thermal rating [kW]: 30 l/kW within 300-800 l."""
    return np.clip(np.asarray(p_design_kw, dtype=np.float64) * TANK_L_PER_KW, _TANK_MIN_L, _TANK_MAX_L)


@dataclass(frozen=True)
class ThermalParameters:
    """The 1R1C store of each heat-pump building (arrays over buildings).

    Parameters
    ----------
    c_kwh_per_k : numpy.ndarray
        Heat capacity of the building's mass and buffer tank. [kWh/K]
    h_kw_per_k : numpy.ndarray
        Heat-loss coefficient. [kW/K]
    q_max_kw : numpy.ndarray
        Thermal rating of the heat pump (the backup heater may add to cover the demand). [kW]
    comfort_low_k : float
        Lowest deviation from the set point within comfort. [K]
    recover_frac : float
        Most heat beyond the demand while bringing a store back, as a share of the rating. [1]
    boost_k : float
        Raised set point while SG-Ready recommends running (state 3); 0: state 3 is NORMAL
        (:mod:`models.control.preheat`). [K]
    """

    c_kwh_per_k: Array
    h_kw_per_k: Array
    q_max_kw: Array
    comfort_low_k: float = COMFORT_LOW_K
    recover_frac: float = RECOVER_FRAC
    boost_k: float = 0.0

    @property
    def tau_h(self) -> Array:
        """Return the time constant ``C / H`` of each building [h]."""
        return self.c_kwh_per_k / self.h_kw_per_k


def thermal_parameters(
    p_design_kw: npt.ArrayLike,
    floor_area_m2: npt.ArrayLike,
    emitters: list[str],
    *,
    tank: bool = True,
    comfort_low_k: float = COMFORT_LOW_K,
    boost_k: float = 0.0,
) -> ThermalParameters:
    """Return the stores of heat-pump buildings from their rating, floor area and emitter (module docstring).

    Parameters
    ----------
    p_design_kw : array-like
        Thermal rating at the norm outside temperature. [kW]
    floor_area_m2 : array-like
        TABULA reference floor area. [m2]
    emitters : list of str
        ``"radiator"`` or ``"floor"`` per building.
    tank : bool, default True
        Count a buffer tank (:func:`tank_l`).
    comfort_low_k : float, optional
        Lowest deviation from the set point within comfort. [K]
    boost_k : float, optional
        Raised set point while SG-Ready recommends running (state 3). [K]
    """
    rated = np.asarray(p_design_kw, dtype=np.float64)
    area = np.asarray(floor_area_m2, dtype=np.float64)
    kappa = np.array([KAPPA_M_KJ_PER_M2K[e] for e in emitters], dtype=np.float64)
    c = kappa * area / 3600.0
    if tank:
        c = c + tank_l(rated) * _WATER_KWH_PER_L_K
    h = np.maximum(rated, 0.1) / (SET_POINT_DEGC - NORM_OUTSIDE_TEMP_DEGC)
    return ThermalParameters(c, h, rated, comfort_low_k, boost_k=boost_k)


@dataclass
class ThermalStore:
    """The state of the stores and what they account (arrays over buildings).

    Attributes
    ----------
    params : ThermalParameters
    dt_k : numpy.ndarray
        Indoor temperature against the set point. [K]
    delivered_kwh, demand_kwh, loss_kwh : numpy.ndarray
        Heat delivered by the heat pump, heat demanded, and the store's extra loss ``sum(H dT dt)``
        (negative while cooler than the set point). [kWh]
    deferred_kwh : numpy.ndarray
        Heat the heat pump delivered less than demanded, summed over the steps it did. [kWh]
    violation_kh : numpy.ndarray
        Shortfall below the comfort bound. [K h]
    violation_h : numpy.ndarray
        Hours below the comfort bound. [h]
    """

    params: ThermalParameters
    dt_k: Array = field(init=False)
    delivered_kwh: Array = field(init=False)
    demand_kwh: Array = field(init=False)
    loss_kwh: Array = field(init=False)
    deferred_kwh: Array = field(init=False)
    violation_kh: Array = field(init=False)
    violation_h: Array = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.params.c_kwh_per_k)
        for name in ("dt_k", "delivered_kwh", "demand_kwh", "loss_kwh", "deferred_kwh", "violation_kh", "violation_h"):
            setattr(self, name, np.zeros(n))

    @property
    def at_rest(self) -> bool:
        """Return True when every store is at its set point."""
        return not self.dt_k.any()

    def stored_kwh(self) -> Array:
        """Return the heat stored against the set point, ``C * dT`` [kWh]."""
        return self.params.c_kwh_per_k * self.dt_k

    def advance(self, q_kw: Array, demand_kw: Array, step_h: float) -> None:
        """Advance one step with the heat ``q_kw`` delivered against ``demand_kw`` (both [kW])."""
        p = self.params
        self.dt_k = advance_kernel(
            self.dt_k,
            np.asarray(q_kw, dtype=np.float64),
            np.asarray(demand_kw, dtype=np.float64),
            step_h,
            (p.c_kwh_per_k, p.h_kw_per_k, p.comfort_low_k),
            (
                self.delivered_kwh,
                self.demand_kwh,
                self.loss_kwh,
                self.deferred_kwh,
                self.violation_kh,
                self.violation_h,
            ),
        )


def heat_pump_want_kw(
    store: ThermalStore, demand_kw: Array, cop: Array, step_h: float, target_k: Array | float = 0.0
) -> Array:
    """Return the electric power [kW] each heat pump wants this step.

    The demand and the store's loss, plus the heat that brings the store to ``target_k`` (the set
    point; the comfort bound while a block holds; a raised set point) within the step, but at most
    :attr:`ThermalParameters.recover_frac` of the rating beyond the demand (the rebound of a
    modulating heat pump whose heating curve raises the flow temperature with the deficit) and, for
    a store above its target (only after a raised set point), at most that share below it (the
    same heating curve lowers the flow temperature with the surplus); up to the rating (or the
    demand, where the backup heater covers more); over the step's COP.
    """
    p = store.params
    target = np.asarray(target_k, dtype=np.float64)
    if target.shape != store.dt_k.shape:
        target = np.broadcast_to(target, store.dt_k.shape).copy()
    return _want(
        store.dt_k,
        np.asarray(demand_kw, dtype=np.float64),
        np.asarray(cop, dtype=np.float64),
        step_h,
        target,
        p.c_kwh_per_k,
        p.h_kw_per_k,
        p.q_max_kw,
        p.recover_frac,
    )


def heat_pump_step(store: ThermalStore, demand_kw: Array, cop: Array, p_allowed_kw: Array, step_h: float) -> Array:
    """One step of the heat pumps: serve the demand, bring the store back, obey the limit; advance the store.

    Parameters
    ----------
    store : ThermalStore
        The stores; advanced in place.
    demand_kw : numpy.ndarray
        Heat demand at the set point. [kW]
    cop : numpy.ndarray
        Heat per electricity of this step (> 0). [1]
    p_allowed_kw : numpy.ndarray
        Most electric power each heat pump may draw: 0 while blocked, the section 14a limit while
        dimmed, ``inf`` when free. [kW]
    step_h : float
        Step length. [h]

    Returns
    -------
    numpy.ndarray
        Electric power drawn (:func:`heat_pump_want_kw` cut to ``p_allowed_kw``). [kW]
    """
    p_kw = np.minimum(heat_pump_want_kw(store, demand_kw, cop, step_h), p_allowed_kw)
    store.advance(p_kw * cop, demand_kw, step_h)
    return p_kw


@numba.njit(cache=True)
def _nan_min(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``numpy.minimum`` of two numbers (NaN if either is)."""
    if a != a or b != b:
        return np.nan
    return a if a < b else b


@numba.njit(cache=True)
def _nan_max(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``numpy.maximum`` of two numbers (NaN if either is)."""
    if a != a or b != b:
        return np.nan
    return a if a > b else b


@numba.njit(cache=True)
def advance_kernel(
    dt_k: Array,
    q_kw: Array,
    demand_kw: Array,
    step_h: float,
    params: tuple[Array, Array, float],
    sums: tuple[Array, ...],
) -> Array:  # pragma: no cover - compiled
    """:meth:`ThermalStore.advance` per store, the same operations in the same order; returns the new ``dT``."""
    c, h, low = params
    delivered, demand, loss_kwh, deferred, violation_kh, violation_h = sums
    out = np.empty_like(dt_k)
    for i in range(dt_k.shape[0]):
        loss = h[i] * dt_k[i] * step_h
        new = dt_k[i] + ((q_kw[i] - demand_kw[i]) * step_h - loss) / c[i]
        if abs(new) < 1e-9:
            new = 0.0
        out[i] = new
        delivered[i] += q_kw[i] * step_h
        demand[i] += demand_kw[i] * step_h
        loss_kwh[i] += loss
        deferred[i] += _nan_max(demand_kw[i] - q_kw[i], 0.0) * step_h
        short = _nan_max(low - new, 0.0)
        violation_kh[i] += short * step_h
        violation_h[i] += (1.0 if short > 0.0 else 0.0) * step_h
    return out


@numba.njit(cache=True)
def _want(
    dt_k: Array,
    demand_kw: Array,
    cop: Array,
    step_h: float,
    target_k: Array,
    c: Array,
    h: Array,
    q_max: Array,
    recover_frac: float,
) -> Array:  # pragma: no cover - compiled
    """:func:`heat_pump_want_kw` per heat pump, the same operations in the same order."""
    out = np.empty_like(dt_k)
    for i in range(dt_k.shape[0]):
        out[i] = want_one(dt_k[i], demand_kw[i], cop[i], step_h, target_k[i], c[i], h[i], q_max[i], recover_frac)
    return out


@numba.njit(cache=True)
def want_one(
    dt_k: float,
    demand_kw: float,
    cop: float,
    step_h: float,
    target_k: float,
    c: float,
    h: float,
    q_max: float,
    recover_frac: float,
) -> float:  # pragma: no cover - compiled
    """:func:`heat_pump_want_kw` of one heat pump (for the compiled kernels that step many)."""
    refill = c * (target_k - dt_k) / step_h
    most = recover_frac * q_max
    want = demand_kw + h * dt_k + _nan_min(_nan_max(refill, -most), most)
    return _nan_min(_nan_max(want, 0.0), _nan_max(q_max, demand_kw)) / cop
