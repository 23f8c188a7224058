"""EV charging under the signal, step by step: what a dimmed wallbox holds back is charged later.

The cars' charging schedules (uncontrolled from arrival, or following the PV surplus) come from the
mobility model (:func:`models.ev.ev_charging_kw`); this module is what a wallbox does with its
schedule while section 14a dims it: it draws at most its limit, keeps the energy it could not
charge as a backlog, and charges the backlog at up to its rated power as soon as it may
(the car stays plugged in until its energy is in: the departure is not moved; a simplification
stated here). Per wallbox (:func:`want_one`) for the compiled step of the devices
(:mod:`models.control.plant_kernel`), and vectorised over wallboxes (:func:`charge_step`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["ChargeBacklog", "account_kernel", "charge_step", "want_one"]

Array = npt.NDArray[np.float64]


@dataclass
class ChargeBacklog:
    """The energy each wallbox still owes its car.

    Attributes
    ----------
    p_rated_kw : numpy.ndarray
        Rated power of each wallbox. [kW]
    backlog_kwh : numpy.ndarray
        Energy scheduled but not yet charged. [kWh]
    deferred_kwh : numpy.ndarray
        Energy moved to later, summed over the steps. [kWh]
    """

    p_rated_kw: Array
    backlog_kwh: Array = field(init=False)
    deferred_kwh: Array = field(init=False)

    def __post_init__(self) -> None:
        self.backlog_kwh = np.zeros(len(self.p_rated_kw))
        self.deferred_kwh = np.zeros(len(self.p_rated_kw))

    @property
    def empty(self) -> bool:
        """Return True when no wallbox owes energy."""
        return not self.backlog_kwh.any()


def charge_step(backlog: ChargeBacklog, p_schedule_kw: Array, p_kw: Array, step_h: float) -> None:
    """Account a step in which the wallboxes drew ``p_kw`` against their schedule ``p_schedule_kw`` (kW)."""
    backlog.backlog_kwh = account_kernel(
        backlog.backlog_kwh,
        backlog.deferred_kwh,
        np.asarray(p_schedule_kw, dtype=np.float64),
        np.asarray(p_kw, dtype=np.float64),
        step_h,
    )


@numba.njit(cache=True)
def want_one(rated_kw: float, backlog_kwh: float, schedule_kw: float, step_h: float) -> float:  # pragma: no cover
    """What a wallbox wants to draw [kW]: its schedule plus its backlog, up to its rating (NaN kept).

    ``min(schedule + backlog / step, max(rated, schedule))``, for the compiled step of the devices
    (:mod:`models.control.plant_kernel`).
    """
    rated, want = rated_kw, schedule_kw + backlog_kwh / step_h
    if np.isnan(rated) or np.isnan(schedule_kw):
        rated = np.nan
    elif schedule_kw > rated:
        rated = schedule_kw
    return np.nan if np.isnan(want) or np.isnan(rated) else (want if want <= rated else rated)


@numba.njit(cache=True)
def account_kernel(
    backlog_kwh: Array, deferred_kwh: Array, schedule_kw: Array, p_kw: Array, step_h: float
) -> Array:  # pragma: no cover
    """:func:`charge_step` per wallbox: adds what was short to ``deferred_kwh``; returns the new backlog."""
    out = np.empty(backlog_kwh.shape[0])
    for i in range(backlog_kwh.shape[0]):
        short = (schedule_kw[i] - p_kw[i]) * step_h
        deferred_kwh[i] += short if (short >= 0.0 or np.isnan(short)) else 0.0
        value = backlog_kwh[i] + short
        out[i] = 0.0 if value < 1e-9 else value
    return out
