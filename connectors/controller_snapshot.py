"""What the controller server reads and what it hands on: the snapshot and write interfaces.

The controller server takes its data from a *snapshot provider*, a plain callable that returns
the latest :class:`ControllerSnapshot` (or ``None`` while there is none), and hands every
accepted client write to a *write sink*, a callable that takes a :class:`ControllerWrite`. The
live twin supplies both (reading its latest-snapshot file or state, and applying setpoints);
tests supply fakes. Values are in the twin's units and sign: kW, kWh, fractions 0-1, load-positive
(PV and discharge < 0), import-positive at the substation and the building meters; NaN where a
value is not known.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from twin.core.vocabulary import Quality

__all__ = [
    "BuildingSnapshot",
    "ControllerSnapshot",
    "ControllerWrite",
    "Quality",
    "SnapshotProvider",
    "WriteSink",
]

_NAN = math.nan


@dataclass(frozen=True)
class BuildingSnapshot:
    """One building's latest values.

    Parameters
    ----------
    building_id : str
        The district's building id (at most 16 UTF-8 bytes are served).
    p_meter_kw : float
        Building meter, import > 0. [kW]
    p_pv_kw, p_battery_kw, p_heat_pump_kw, p_ev_kw : float
        Asset powers, load-positive (PV < 0, battery charging > 0). [kW]
    soc_battery_frac : float
        Home battery state of charge, 0-1.
    energy_balance_year_kwh : float
        Import - export at the building meter, this year so far. [kWh]
    self_sufficiency_today_frac : float
        1 - import / load today, 0-1.
    vm_pu : float
        Voltage at the building's bus (latest power flow). [p.u.]
    quality : Quality
        ``OK`` or ``INVALID`` (some of its devices are missing or invalid).
    feeder_number : int
        The building's feeder, 1-based; 0 at the transformer's busbar or not known.
    sg_ready_state : int
        The SG-Ready state of the building's feeder (1-4); 0: not known, the building gets the
        district's signal.
    signal_reasons : int
        Why (:class:`twin.core.signal.SignalReason` bits), with ``sg_ready_state``.
    p_limit_14a_kw : float
        What the building's controllable devices may draw together (the unlimited value while
        not limited); NaN: the district's limit. [kW]
    feeder_relief_kw : float
        Reduction of the controllable draw the limits of the building's feeder ask for. [kW]
    """

    building_id: str
    p_meter_kw: float = _NAN
    p_pv_kw: float = _NAN
    p_battery_kw: float = _NAN
    soc_battery_frac: float = _NAN
    p_heat_pump_kw: float = _NAN
    p_ev_kw: float = _NAN
    energy_balance_year_kwh: float = _NAN
    self_sufficiency_today_frac: float = _NAN
    vm_pu: float = _NAN
    quality: Quality = Quality.OK
    feeder_number: int = 0
    sg_ready_state: int = 0
    signal_reasons: int = 0
    p_limit_14a_kw: float = _NAN
    feeder_relief_kw: float = _NAN


@dataclass(frozen=True)
class ControllerSnapshot:
    """The district's latest state as the controller server needs it.

    Parameters
    ----------
    sim_time_s : float
        Simulated time of the data, UNIX seconds (UTC). [s]
    updated_unix_s : float
        Wall-clock time (``time.time()``) the live twin produced this snapshot; the server calls
        the data stale when it is older than 10 s. [s]
    p_pv_kw, p_load_kw, p_battery_kw : float
        District PV (< 0), load incl. heat pumps and EVs (> 0), battery (charging > 0). [kW]
    soc_battery_frac : float
        District (community) battery state of charge, 0-1.
    p_grid_kw : float
        Exchange at the substation, import > 0. [kW]
    p_surplus_kw : float
        Surplus available now, >= 0 (export at the substation). [kW]
    energy_import_year_kwh, energy_export_year_kwh : float
        Substation counters since the start of the (simulated) year. [kWh]
    self_sufficiency_today_frac : float
        1 - import / load today (the site's local day), 0-1.
    p_surplus_forecast_kw : tuple of float
        Expected surplus, mean of each of the next hours (served: up to 6). [kW]
    clear_sky_index : float
        Measured clear-sky index behind the forecast.
    trafo_loading_max_percent, line_loading_max_percent : float
        Highest transformer and line loading of the latest power flow. [%]
    vm_min_pu, vm_max_pu : float
        Lowest and highest bus voltage of the latest power flow. [p.u.]
    quality : Quality
        ``OK``, ``PARTIAL`` (the grid exchange is good, some inputs of the sums over the
        buildings are missing: ``inputs_missing``) or ``INVALID`` (the substation meter is not
        good); the server adds stale and missing.
    inputs_missing : int
        Inputs of the district's sums that are missing or invalid (0 when complete).
    buildings : tuple of BuildingSnapshot
        One per building, in the district's building order (building n = index + 1).
    """

    sim_time_s: float
    updated_unix_s: float
    p_pv_kw: float = _NAN
    p_load_kw: float = _NAN
    p_battery_kw: float = _NAN
    soc_battery_frac: float = _NAN
    p_grid_kw: float = _NAN
    p_surplus_kw: float = _NAN
    energy_import_year_kwh: float = _NAN
    energy_export_year_kwh: float = _NAN
    self_sufficiency_today_frac: float = _NAN
    p_surplus_forecast_kw: tuple[float, ...] = ()
    clear_sky_index: float = _NAN
    trafo_loading_max_percent: float = _NAN
    line_loading_max_percent: float = _NAN
    vm_min_pu: float = _NAN
    vm_max_pu: float = _NAN
    quality: Quality = Quality.OK
    inputs_missing: int = 0
    buildings: tuple[BuildingSnapshot, ...] = ()


@dataclass(frozen=True)
class ControllerWrite:
    """A client write the server accepted (range-checked, from a writer certificate).

    Parameters
    ----------
    name : str
        The register point: ``battery_setpoint_kw``, ``battery_mode``, ``flexible_power_kw``
        or ``signal_ack``.
    value : float
        The value in the point's unit (kW load-positive; modes and states as numbers).
    building_number : int or None
        1-based building block for building points, ``None`` for district points.
    building_id : str or None
        The building's id as the current snapshot names it (``None`` if unknown).
    client : str
        The client certificate's subject, e.g. ``"CN=heat-pump-12,O=Beucha"``.
    sim_time_s : float
        Simulated time of the snapshot in force (NaN if none). [s]
    wall_time_s : float
        Wall-clock time of the write (``time.time()``). [s]
    """

    name: str
    value: float
    building_number: int | None
    building_id: str | None
    client: str
    sim_time_s: float
    wall_time_s: float


#: Returns the latest snapshot, or ``None`` while there is none. Called about once a second in
#: the server's event loop: keep it quick (read a file or a reference), never block for long.
SnapshotProvider = Callable[[], ControllerSnapshot | None]
#: Takes each accepted write, in the server's event loop. Raise ``ValueError`` to reject the write
#: (the client gets exception 3 and nothing changes); other exceptions answer exception 4.
WriteSink = Callable[[ControllerWrite], None]
