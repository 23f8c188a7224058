"""Batteries: self-consumption dispatch and setpoint following.

The rule of a plain home storage system: charge from the building's PV surplus,
discharge to cover its load, within the power limit and the state-of-charge window,
with separate charge and discharge efficiencies. One compiled loop over time,
vectorised over batteries. A battery that follows a power setpoint step by step (the
simulated field's community battery) uses the same limits and the same energy update
(:func:`follow_setpoint`, :func:`advance_soc`), with one :class:`BatteryUnit` record per
device. Battery power is load-positive (charging > 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.core.errors import ConfigError
from twin.core.vocabulary import STEP_H

__all__ = [
    "BatteryDispatch",
    "BatteryParameters",
    "BatteryUnit",
    "advance_soc",
    "follow_setpoint",
    "self_consumption_dispatch",
    "with_standby_kw",
]


@dataclass(frozen=True)
class BatteryParameters:
    """Efficiencies and state-of-charge window shared by home batteries.

    Parameters
    ----------
    eta_charge_frac : float, default 0.935
        AC-to-stored efficiency while charging (power electronics and battery). [1]
    eta_discharge_frac : float, default 0.935
        Stored-to-AC efficiency while discharging: AC round trip 0.874, within the 80-92 %
        that the HTW Berlin Stromspeicher-Inspektion measures for AC-coupled home systems
        in the lab (inverter losses at part load included). [1]
    soc_min_frac : float, default 0.05
        Lowest state of charge used. [1]
    soc_max_frac : float, default 1.0
        Highest state of charge used. [1]
    soc_initial_frac : float, default 0.5
        State of charge at the start of the period. [1]
    standby_kw : float, default 0.01
        AC power the system draws while it neither charges nor discharges (inverter, battery
        management). The HTW Berlin Stromspeicher-Inspektion measures a few to some tens of
        watts and recommends under 5 W; 10 W is assumed. [kW]
    """

    eta_charge_frac: float = 0.935
    eta_discharge_frac: float = 0.935
    soc_min_frac: float = 0.05
    soc_max_frac: float = 1.0
    soc_initial_frac: float = 0.5
    standby_kw: float = 0.01

    def __post_init__(self) -> None:
        if not (0 < self.eta_charge_frac <= 1 and 0 < self.eta_discharge_frac <= 1):
            raise ConfigError("battery efficiencies must be in (0, 1]", field="eta_charge_frac/eta_discharge_frac")
        if not 0 <= self.soc_min_frac <= self.soc_initial_frac <= self.soc_max_frac <= 1:
            raise ConfigError(
                "need 0 <= soc_min_frac <= soc_initial_frac <= soc_max_frac <= 1", field="soc_initial_frac"
            )
        if not 0 <= self.standby_kw < 1:
            raise ConfigError("battery standby power must be in [0, 1) kW", field="standby_kw")


@dataclass(frozen=True, kw_only=True)
class BatteryUnit:
    """One battery: its ratings and its efficiencies and state-of-charge window.

    Parameters
    ----------
    capacity_kwh : float
        Usable energy content at ``soc_frac = 1``. [kW h]
    p_rated_kw : float
        Charge and discharge power limit (AC). [kW]
    params : BatteryParameters, optional
        Efficiencies, SOC window and the state of charge at the start.
    """

    capacity_kwh: float
    p_rated_kw: float
    params: BatteryParameters = field(default_factory=BatteryParameters)

    def __post_init__(self) -> None:
        if not (self.capacity_kwh > 0 and self.p_rated_kw >= 0):
            raise ConfigError("battery capacity_kwh must be > 0 and p_rated_kw >= 0", field="capacity_kwh")


@dataclass(frozen=True)
class BatteryDispatch:
    """Result of a dispatch, each (time x battery).

    Parameters
    ----------
    p_kw : pandas.DataFrame
        AC power of the battery, load-positive: charging > 0, discharging < 0. [kW]
    soc_frac : pandas.DataFrame
        State of charge at the *end* of each interval. [1]
    """

    p_kw: pd.DataFrame
    soc_frac: pd.DataFrame


def self_consumption_dispatch(
    net_load_kw: pd.DataFrame,
    capacity_kwh: npt.ArrayLike,
    p_max_kw: npt.ArrayLike,
    *,
    params: BatteryParameters | None = None,
) -> BatteryDispatch:
    """Dispatch home batteries for self-consumption.

    Parameters
    ----------
    net_load_kw : pandas.DataFrame
        (time x battery) net load of each battery's building without the battery
        (loads + PV), load-positive: < 0 is PV surplus. Regular index. [kW]
    capacity_kwh : array_like
        Usable energy content at ``soc_frac = 1``, per battery. [kW h]
    p_max_kw : array_like
        Charge and discharge power limit (AC), per battery. [kW]
    params : BatteryParameters, optional
        Efficiencies and SOC window.

    Returns
    -------
    dispatch : BatteryDispatch
        Battery power (load-positive) and state of charge.

    Notes
    -----
    Per step ``dt``: with surplus ``s = -net > 0`` the battery charges
    ``min(s, p_max, (soc_max - soc) * C / (eta_c * dt))``; with load ``net > 0`` it
    discharges ``min(net, p_max, (soc - soc_min) * C * eta_d / dt)``. Stored energy
    changes by ``p_charge * eta_c * dt`` or ``-p_discharge / eta_d * dt``. The standby draw
    of a home system is added by :func:`with_standby_kw`.
    """
    params = params or BatteryParameters()
    n_steps, n_batteries = net_load_kw.shape
    capacity = np.broadcast_to(np.asarray(capacity_kwh, dtype=float), (n_batteries,)).copy()
    p_max = np.broadcast_to(np.asarray(p_max_kw, dtype=float), (n_batteries,)).copy()
    if (capacity <= 0).any() or (p_max < 0).any():
        raise ConfigError("battery capacity_kwh must be > 0 and p_max_kw >= 0", field="capacity_kwh")
    dt_h = (net_load_kw.index[1] - net_load_kw.index[0]) / pd.Timedelta(hours=1) if n_steps > 1 else STEP_H
    net = np.ascontiguousarray(net_load_kw.to_numpy(dtype=float))
    p_kw, soc = _dispatch(
        net,
        capacity,
        p_max,
        float(dt_h),
        params.eta_charge_frac,
        params.eta_discharge_frac,
        params.soc_min_frac,
        params.soc_max_frac,
        params.soc_initial_frac,
    )
    index, columns = net_load_kw.index, net_load_kw.columns
    return BatteryDispatch(
        p_kw=pd.DataFrame(p_kw, index=index, columns=columns),
        soc_frac=pd.DataFrame(soc, index=index, columns=columns),
    )


def with_standby_kw(p_kw: pd.DataFrame, params: BatteryParameters | None = None) -> pd.DataFrame:
    """Battery power with the system's standby draw in the steps where it neither charges nor discharges.

    Parameters
    ----------
    p_kw : pandas.DataFrame
        (time x battery) AC power of a dispatch, load-positive. [kW]
    params : BatteryParameters, optional
        Its ``standby_kw`` is drawn from the building (load-positive, not stored).

    Returns
    -------
    p_kw : pandas.DataFrame
        A copy with ``standby_kw`` in every idle step. [kW]
    """
    standby_kw = (params or BatteryParameters()).standby_kw
    return p_kw.mask(p_kw == 0.0, standby_kw) if standby_kw > 0 else p_kw.copy()


def follow_setpoint(battery: BatteryUnit, setpoint_kw: float, soc_frac: float, dt_h: float) -> float:
    """The power a battery delivers for a setpoint over the next ``dt_h`` hours.

    Parameters
    ----------
    battery : BatteryUnit
        Ratings and parameters.
    setpoint_kw : float
        Requested power, load-positive (charging > 0). [kW]
    soc_frac : float
        State of charge now. [1]
    dt_h : float
        Length of the step the power is held for (> 0). [h]

    Returns
    -------
    p_kw : float
        The setpoint within the rated power and within what the SOC window allows over
        the step, with the limits of :func:`self_consumption_dispatch`. [kW]
    """
    params, capacity_kwh = battery.params, battery.capacity_kwh
    p_kw = min(max(setpoint_kw, -battery.p_rated_kw), battery.p_rated_kw)
    energy_kwh = soc_frac * capacity_kwh
    if p_kw > 0:
        return min(p_kw, _charge_limit_kw(energy_kwh, capacity_kwh, params.soc_max_frac, params.eta_charge_frac, dt_h))
    if p_kw < 0:
        return max(
            p_kw, -_discharge_limit_kw(energy_kwh, capacity_kwh, params.soc_min_frac, params.eta_discharge_frac, dt_h)
        )
    return 0.0


def advance_soc(battery: BatteryUnit, soc_frac: float, p_kw: float, dt_h: float) -> float:
    """The state of charge after holding ``p_kw`` (load-positive) for ``dt_h`` hours, within [0, 1].

    The stored energy changes as in :func:`self_consumption_dispatch`: by ``p_kw * eta_c * dt_h``
    while charging and by ``p_kw / eta_d * dt_h`` while discharging.
    """
    params = battery.params
    energy_kwh = soc_frac * battery.capacity_kwh + _stored_change_kwh(
        p_kw, dt_h, params.eta_charge_frac, params.eta_discharge_frac
    )
    return min(max(energy_kwh / battery.capacity_kwh, 0.0), 1.0)


@numba.njit(cache=True)
def _charge_limit_kw(energy_kwh: float, capacity_kwh: float, soc_max: float, eta_c: float, dt_h: float) -> float:
    """Largest charging power (>= 0) over ``dt_h`` that keeps the energy at or below ``soc_max``."""
    return max((soc_max * capacity_kwh - energy_kwh) / (eta_c * dt_h), 0.0)


@numba.njit(cache=True)
def _discharge_limit_kw(energy_kwh: float, capacity_kwh: float, soc_min: float, eta_d: float, dt_h: float) -> float:
    """Largest discharging power (>= 0) over ``dt_h`` that keeps the energy at or above ``soc_min``."""
    return max((energy_kwh - soc_min * capacity_kwh) * eta_d / dt_h, 0.0)


@numba.njit(cache=True)
def _stored_change_kwh(p_kw: float, dt_h: float, eta_c: float, eta_d: float) -> float:
    """Change of the stored energy while the AC power ``p_kw`` (load-positive) is held for ``dt_h``."""
    return p_kw * eta_c * dt_h if p_kw > 0.0 else p_kw / eta_d * dt_h


@numba.njit(cache=True)
def _dispatch(
    net: npt.NDArray[np.float64],
    capacity: npt.NDArray[np.float64],
    p_max: npt.NDArray[np.float64],
    dt_h: float,
    eta_c: float,
    eta_d: float,
    soc_min: float,
    soc_max: float,
    soc_initial: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Greedy self-consumption loop (see :func:`self_consumption_dispatch`)."""
    n_steps, n_batteries = net.shape
    p_kw = np.zeros((n_steps, n_batteries))
    soc = np.zeros((n_steps, n_batteries))
    energy = soc_initial * capacity.copy()
    for t in range(n_steps):
        for b in range(n_batteries):
            demand = net[t, b]
            if demand < 0.0:
                p = min(-demand, p_max[b], _charge_limit_kw(energy[b], capacity[b], soc_max, eta_c, dt_h))
                energy[b] += _stored_change_kwh(p, dt_h, eta_c, eta_d)
                p_kw[t, b] = p
            elif demand > 0.0:
                p = min(demand, p_max[b], _discharge_limit_kw(energy[b], capacity[b], soc_min, eta_d, dt_h))
                energy[b] += _stored_change_kwh(-p, dt_h, eta_c, eta_d)
                p_kw[t, b] = -p
            soc[t, b] = energy[b] / capacity[b]
    return p_kw, soc
