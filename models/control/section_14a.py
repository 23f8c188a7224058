"""Section 14a EnWG: how far a grid operator may dim controllable consumers, and what they pay.

Pure functions after the Bundesnetzagentur's determination **BK6-22-300** of 27 November 2023
(in force since 1 January 2024), cited below by the numbers of its annex 1 (``A1``); the
grid-fee modules after the determination on the fees that goes with it (BK8-22/010-A).

Which devices are controllable (A1 2.4)
    Heat pumps, air conditioning (room cooling), non-public wallboxes and batteries charging
    from the grid, each with a rated power above 4.2 kW (A1 2.4.1). Heat pumps behind one
    connection count as *one* device of their summed power, so do air conditioners
    (A1 2.4.2); wallboxes and batteries count one by one.
The minimum power a dimmed device keeps (A1 4.5.1)
    4.2 kW per device (sentence 1); a heat pump or air conditioning above 11 kW keeps 0.4 times
    its rated power instead (sentences 2 and 3).
Several devices behind one energy management system (A1 4.4 b, 4.5.2)
    One limit for all of them: ``P_min = base + (n - 1) * GZF(n) * 4.2 kW`` with ``n`` the number
    of controllable devices and the simultaneity factor ``GZF`` 0.8 for two devices, 0.05 less
    for each further one, and 0.45 from nine on; ``base`` is 4.2 kW, or
    ``max(0.4 * sum P_heat_pumps, 0.4 * sum P_air_conditioning)`` when a heat-pump or
    air-conditioning group above 11 kW is among them. A wallbox and a battery keep 7.56 kW
    together; with a heat pump as well, 10.5 kW.
Grid-fee modules (BK8-22/010-A)
    Module 1: a flat yearly reduction of the grid fee per connection, the amount the grid
    operator publishes (never below zero). Module 2: the energy price of the separately metered
    controllable devices reduced by 60 %, without a base price for that meter. Module 3 (only
    with module 1): a time-variable energy price, a low and a high rate in the operator's
    windows and the standard rate otherwise.

The limit is what the controllable devices may draw from the grid together while dimmed;
what they draw of the connection's own PV is not limited (grid-effective power, A1 2.3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from twin.core.errors import ConfigError

__all__ = [
    "CONTROLLABLE_KINDS",
    "GZF_BY_COUNT",
    "P_CONTROLLABLE_ABOVE_KW",
    "P_LIMIT_14A_MIN_KW",
    "P_SCALED_ABOVE_KW",
    "SCALING_FACTOR",
    "ControllableDevice",
    "GridFeeTariff",
    "controllable_devices",
    "device_minimum_kw",
    "dimmed_limit_kw",
    "grid_fee_eur",
    "simultaneity_factor",
]

#: Lowest power a dimmed controllable device keeps, A1 4.5.1 sentence 1. [kW]
P_LIMIT_14A_MIN_KW: Final[float] = 4.2
#: A device is controllable above this rated power, A1 2.4.1 (a summed group, A1 2.4.2). [kW]
P_CONTROLLABLE_ABOVE_KW: Final[float] = 4.2
#: Heat pumps and air conditioning above this rated power keep a share of it, A1 4.5.1 sentence 2. [kW]
P_SCALED_ABOVE_KW: Final[float] = 11.0
#: The share they keep, A1 4.5.1 sentence 3. [1]
SCALING_FACTOR: Final[float] = 0.4
#: Simultaneity factor by the number of controllable devices behind one system, A1 4.5.2 (9 and more: 0.45).
GZF_BY_COUNT: Final[dict[int, float]] = {2: 0.8, 3: 0.75, 4: 0.7, 5: 0.65, 6: 0.6, 7: 0.55, 8: 0.5, 9: 0.45}
#: Device kinds of A1 2.4.1; the first two are summed per connection (A1 2.4.2).
CONTROLLABLE_KINDS: Final[tuple[str, ...]] = ("heat_pump", "air_conditioning", "wallbox", "battery")
_SUMMED: Final[tuple[str, ...]] = ("heat_pump", "air_conditioning")


@dataclass(frozen=True)
class ControllableDevice:
    """A consumer behind a connection that section 14a may dim.

    Parameters
    ----------
    kind : str
        One of :data:`CONTROLLABLE_KINDS`.
    p_rated_kw : float
        Rated (connection) power, >= 0. [kW]
    """

    kind: str
    p_rated_kw: float

    def __post_init__(self) -> None:
        if self.kind not in CONTROLLABLE_KINDS:
            raise ConfigError(
                f"unknown controllable device kind {self.kind!r}", field="kind", allowed=", ".join(CONTROLLABLE_KINDS)
            )
        if not self.p_rated_kw >= 0.0 or math.isinf(self.p_rated_kw):
            raise ConfigError(f"p_rated_kw = {self.p_rated_kw}; must be finite and >= 0", field="p_rated_kw")


def controllable_devices(devices: Iterable[ControllableDevice]) -> list[ControllableDevice]:
    """The devices as section 14a counts them behind one connection (A1 2.4.1, 2.4.2).

    Heat pumps are summed into one device, air conditioners into another; wallboxes and
    batteries stay one by one. Only what then lies above 4.2 kW is controllable.

    Parameters
    ----------
    devices : iterable of ControllableDevice
        The consumers behind the connection.

    Returns
    -------
    list of ControllableDevice
        The controllable devices: a summed heat-pump group, a summed air-conditioning group,
        then the wallboxes and batteries in their order.
    """
    devices = list(devices)
    grouped = [ControllableDevice(kind, sum(d.p_rated_kw for d in devices if d.kind == kind)) for kind in _SUMMED]
    singles = [d for d in devices if d.kind not in _SUMMED]
    return [d for d in (*grouped, *singles) if d.p_rated_kw > P_CONTROLLABLE_ABOVE_KW]


def simultaneity_factor(count: int) -> float:
    """Return the simultaneity factor GZF for ``count`` controllable devices (A1 4.5.2); 1 for one device."""
    if count < 1:
        raise ValueError(f"count = {count}; at least one device")
    if count == 1:
        return 1.0
    return GZF_BY_COUNT[min(count, 9)]


def device_minimum_kw(device: ControllableDevice) -> float:
    """Return the power [kW] one dimmed device keeps under direct control (A1 4.5.1).

    4.2 kW, or 0.4 times the rated power for a heat pump or air conditioning above 11 kW.
    """
    if device.kind in _SUMMED and device.p_rated_kw > P_SCALED_ABOVE_KW:
        return SCALING_FACTOR * device.p_rated_kw
    return P_LIMIT_14A_MIN_KW


def dimmed_limit_kw(devices: Iterable[ControllableDevice], *, control: Literal["ems", "direct"] = "ems") -> float:
    """Return what the controllable devices behind one connection may draw while dimmed.

    Parameters
    ----------
    devices : iterable of ControllableDevice
        The consumers behind the connection (grouped by :func:`controllable_devices`).
    control : {"ems", "direct"}, default "ems"
        ``"ems"``: one energy management system takes one limit for all of them (A1 4.4 b,
        4.5.2). ``"direct"``: each device is dimmed on its own to its minimum (A1 4.4 a, 4.5.1);
        the sum of those minimums is returned.

    Returns
    -------
    float
        Grid-effective power the controllable devices keep together; ``inf`` when none is
        controllable (nothing is dimmed). [kW]

    Examples
    --------
    >>> wallbox, battery = ControllableDevice("wallbox", 11.0), ControllableDevice("battery", 5.0)
    >>> round(dimmed_limit_kw([wallbox, battery]), 2)
    7.56
    """
    units = controllable_devices(devices)
    if not units:
        return math.inf
    if control == "direct":
        return sum(device_minimum_kw(d) for d in units)
    if control != "ems":
        raise ConfigError(f"unknown section 14a control {control!r}", field="control", allowed="ems, direct")
    scaled = [d.p_rated_kw for d in units if d.kind in _SUMMED and d.p_rated_kw > P_SCALED_ABOVE_KW]
    base = SCALING_FACTOR * max(_summed_kw(units, kind) for kind in _SUMMED) if scaled else P_LIMIT_14A_MIN_KW
    n = len(units)
    return base + (n - 1) * simultaneity_factor(n) * P_LIMIT_14A_MIN_KW


def _summed_kw(units: Sequence[ControllableDevice], kind: str) -> float:
    return sum(d.p_rated_kw for d in units if d.kind == kind)


@dataclass(frozen=True)
class GridFeeTariff:
    """A grid operator's low-voltage grid fee with its section 14a modules (BK8-22/010-A).

    Parameters
    ----------
    energy_price_eur_per_kwh : float
        Energy price (the standard rate). [EUR/kWh]
    base_price_eur_per_year : float
        Base price per meter. [EUR/a]
    flat_reduction_eur_per_year : float
        Module 1: the flat reduction the operator publishes per connection. [EUR/a]
    module_2_reduction_frac : float, default 0.6
        Module 2: the share of the energy price the controllable devices do not pay. [1]
    low_price_eur_per_kwh, high_price_eur_per_kwh : float
        Module 3: the low and the high rate of the operator's windows. [EUR/kWh]
    """

    energy_price_eur_per_kwh: float
    base_price_eur_per_year: float = 0.0
    flat_reduction_eur_per_year: float = 0.0
    module_2_reduction_frac: float = 0.6
    low_price_eur_per_kwh: float = math.nan
    high_price_eur_per_kwh: float = math.nan


def grid_fee_eur(
    module: Literal[0, 1, 2, 3],
    tariff: GridFeeTariff,
    *,
    household_kwh: float,
    device_kwh: float,
    low_kwh: float = 0.0,
    high_kwh: float = 0.0,
    years: float = 1.0,
) -> float:
    """Return a connection's grid fee [EUR] over ``years`` under a section 14a module.

    Parameters
    ----------
    module : {0, 1, 2, 3}
        0: no section 14a (one meter, the plain fee); 1: flat reduction; 2: separately metered
        devices at the reduced energy price, no base price for their meter; 3: module 1 with the
        time-variable energy price.
    tariff : GridFeeTariff
        The operator's prices.
    household_kwh, device_kwh : float
        Energy drawn from the grid by the rest of the connection and by the controllable
        devices over the period. [kWh]
    low_kwh, high_kwh : float, optional
        Module 3: the part of all the energy drawn in the low and in the high window. [kWh]
    years : float, default 1
        Length of the period, for the yearly prices. [a]

    Returns
    -------
    float
        The grid fee; a flat reduction never takes it below zero. [EUR]
    """
    t = tariff
    total_kwh = household_kwh + device_kwh
    base = t.base_price_eur_per_year * years
    if module == 0:
        return total_kwh * t.energy_price_eur_per_kwh + base
    if module == 2:
        device = device_kwh * t.energy_price_eur_per_kwh * (1.0 - t.module_2_reduction_frac)
        return household_kwh * t.energy_price_eur_per_kwh + base + device
    if module == 1:
        energy = total_kwh * t.energy_price_eur_per_kwh
    elif module == 3:
        if math.isnan(t.low_price_eur_per_kwh) or math.isnan(t.high_price_eur_per_kwh):
            raise ConfigError("module 3 needs the low and the high rate", field="low_price_eur_per_kwh")
        if low_kwh < 0 or high_kwh < 0 or low_kwh + high_kwh > total_kwh * (1 + 1e-12):
            raise ConfigError(
                f"low_kwh + high_kwh = {low_kwh + high_kwh} must lie within the {total_kwh} kWh drawn", field="low_kwh"
            )
        standard_kwh = total_kwh - low_kwh - high_kwh
        energy = (
            standard_kwh * t.energy_price_eur_per_kwh
            + low_kwh * t.low_price_eur_per_kwh
            + high_kwh * t.high_price_eur_per_kwh
        )
    else:
        raise ConfigError(f"unknown section 14a module {module!r}", field="module", allowed="0, 1, 2, 3")
    return max(0.0, energy + base - t.flat_reduction_eur_per_year * years)
