"""EV charging under the signal, step by step: what a dimmed wallbox holds back is charged later.

The cars' charging schedules (uncontrolled from arrival, or following the PV surplus) come from the
mobility model (:func:`models.ev.ev_charging_kw`); this module is what a wallbox does with its
schedule while section 14a dims it: it draws at most its limit, keeps the energy it could not
charge as a backlog, and charges the backlog at up to its rated power as soon as it may
(the car stays plugged in until its energy is in: the departure is not moved; a simplification
stated here). Vectorised over wallboxes, one call per step, for the scenarios' year
(:mod:`models.control.loop`) and for a simulated wallbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["ChargeBacklog", "charge_step", "charge_want_kw"]

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


def charge_want_kw(backlog: ChargeBacklog, p_schedule_kw: Array, step_h: float) -> Array:
    """Return what each wallbox wants to draw [kW]: its schedule plus its backlog, up to its rating."""
    rated = np.maximum(backlog.p_rated_kw, p_schedule_kw)
    return np.minimum(p_schedule_kw + backlog.backlog_kwh / step_h, rated)


def charge_step(backlog: ChargeBacklog, p_schedule_kw: Array, p_kw: Array, step_h: float) -> None:
    """Account a step in which the wallboxes drew ``p_kw`` against their schedule ``p_schedule_kw`` (kW)."""
    short = (p_schedule_kw - p_kw) * step_h
    backlog.deferred_kwh += np.clip(short, 0.0, None)
    backlog.backlog_kwh = backlog.backlog_kwh + short
    backlog.backlog_kwh[backlog.backlog_kwh < 1e-9] = 0.0
