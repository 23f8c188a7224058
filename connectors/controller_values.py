"""What the controller registers hold: the values of the district and building blocks.

:class:`~connectors.controller_server.ControllerServer` encodes, at every refresh, the
district block from the map's header, the signal and the snapshot's district, and each
building block from the building's signal (its feeder's, carried in the snapshot; the
district's where the snapshot has none or the data is stale) and the building's snapshot;
this module computes those values (percent points from fractions, the forecast hours, the
quality of a block) and a point's registers.
"""

from __future__ import annotations

import math
from typing import Any, Final, Protocol

from connectors.codec import encode_point
from connectors.controller_map import ControllerMap, ControllerPoint
from connectors.controller_snapshot import BuildingSnapshot, ControllerSnapshot, Quality
from twin.core.signal import GridStress, SignalReason, SignalState, SignalStep

__all__ = ["ImageState", "building_values", "district_values", "encode_value", "grid_stress"]

_FORECAST_HOURS: Final[int] = 6
_STATES: Final[frozenset[int]] = frozenset(int(s) for s in SignalState)


class ImageState(Protocol):
    """What the block values read of the server: its map, refresh count, quality and signal."""

    map: ControllerMap
    heartbeat: int
    quality: Quality
    signal: SignalStep | None

    @property
    def n_buildings(self) -> int:
        """Building blocks served."""
        ...


def encode_value(cpoint: ControllerPoint, value: float | str) -> list[int]:
    """The registers of a point's value: non-finite integers as 0, strings cut to the point's size."""
    point = cpoint.point
    if point.data_type in {"uint16", "int16", "uint32", "int32"}:
        number = float(value) if not isinstance(value, str) else math.nan
        if not math.isfinite(number):
            number = 0.0
        return encode_point(point, number)
    if point.data_type == "string":
        text = str(value) if isinstance(value, str) else ""
        encoded = text.encode("utf-8")[: 2 * point.size].decode("utf-8", "ignore")
        return encode_point(point, encoded)
    return encode_point(point, value if not isinstance(value, str) else math.nan)


def grid_stress(snapshot: ControllerSnapshot | None) -> GridStress:
    """The grid state the signal sees (calm without a snapshot; a missing exchange as 0 kW)."""
    if snapshot is None:
        return GridStress()
    return GridStress(
        trafo_loading_max_percent=snapshot.trafo_loading_max_percent,
        line_loading_max_percent=snapshot.line_loading_max_percent,
        vm_min_pu=snapshot.vm_min_pu,
        vm_max_pu=snapshot.vm_max_pu,
        p_grid_kw=snapshot.p_grid_kw if math.isfinite(snapshot.p_grid_kw) else 0.0,
    )


def _percent(frac: float) -> float:
    return frac * 100.0


def district_values(server: ImageState, snapshot: ControllerSnapshot | None, age_s: float) -> dict[str, float]:
    """The district block's values: the map's header, the signal, then the snapshot's district."""
    cm = server.map
    signal = server.signal
    assert signal is not None
    values: dict[str, float] = {
        "map_version": cm.version,
        "building_count": server.n_buildings,
        "building_base": cm.building_base,
        "building_stride": cm.building_stride,
        "heartbeat": server.heartbeat % 65536,
        "quality": int(server.quality),
        "inputs_missing": 0,
        "sg_ready_state": int(signal.state),
        "signal_reasons": int(signal.reasons),
        "signal_since_s": max(0.0, signal.since_s),
        "p_limit_14a_kw": signal.p_limit_14a_kw,
        "data_age_s": age_s,
    }
    if snapshot is None:
        return values
    s = snapshot
    forecast = {
        f"p_surplus_forecast_{hour}h_kw": s.p_surplus_forecast_kw[hour - 1]
        if hour <= len(s.p_surplus_forecast_kw)
        else math.nan
        for hour in range(1, _FORECAST_HOURS + 1)
    }
    values.update(
        sim_time_s=max(0.0, s.sim_time_s),
        inputs_missing=s.inputs_missing if server.quality is Quality.PARTIAL else 0,
        p_pv_kw=s.p_pv_kw,
        p_load_kw=s.p_load_kw,
        p_battery_kw=s.p_battery_kw,
        soc_battery_percent=_percent(s.soc_battery_frac),
        p_grid_kw=s.p_grid_kw,
        p_surplus_kw=s.p_surplus_kw,
        energy_import_year_kwh=s.energy_import_year_kwh,
        energy_export_year_kwh=s.energy_export_year_kwh,
        energy_balance_year_kwh=s.energy_import_year_kwh - s.energy_export_year_kwh,
        self_sufficiency_today_percent=_percent(s.self_sufficiency_today_frac),
        loading_trafo_max_percent=s.trafo_loading_max_percent,  # register names of the published map
        loading_line_max_percent=s.line_loading_max_percent,
        vm_min_pu=s.vm_min_pu,
        vm_max_pu=s.vm_max_pu,
        clear_sky_index=s.clear_sky_index,
        **forecast,
    )
    return values


def building_values(server: ImageState, number: int, building: BuildingSnapshot | None) -> dict[str, Any]:
    """A building block's values: its signal, then the building's snapshot (quality: the server's unless usable).

    The signal is the building's feeder's when the snapshot carries one and the data is not
    stale; otherwise the district's (stale data: ``NORMAL``, not limited).
    """
    signal = server.signal
    assert signal is not None
    quality = server.quality
    values: dict[str, Any] = {
        "building_number": number,
        "sg_ready_state": int(signal.state),
        "signal_reasons": int(signal.reasons),
        "p_limit_14a_kw": signal.p_limit_14a_kw,
        "feeder_number": 0,
    }
    if building is None:
        values["quality"] = int(Quality.MISSING)
        return values
    values["feeder_number"] = building.feeder_number
    if building.sg_ready_state in _STATES and not signal.reasons & SignalReason.STALE:
        values.update(
            sg_ready_state=building.sg_ready_state,
            signal_reasons=building.signal_reasons,
            feeder_relief_kw=building.feeder_relief_kw,
        )
        if math.isfinite(building.p_limit_14a_kw):
            values["p_limit_14a_kw"] = building.p_limit_14a_kw
    if quality in (Quality.OK, Quality.PARTIAL):  # a partial district says nothing about this building
        quality = Quality(building.quality)
    b = building
    values.update(
        quality=int(quality),
        building_id=b.building_id,
        p_meter_kw=b.p_meter_kw,
        p_pv_kw=b.p_pv_kw,
        p_battery_kw=b.p_battery_kw,
        soc_battery_percent=_percent(b.soc_battery_frac),
        p_heat_pump_kw=b.p_heat_pump_kw,
        p_ev_kw=b.p_ev_kw,
        energy_balance_year_kwh=b.energy_balance_year_kwh,
        self_sufficiency_today_percent=_percent(b.self_sufficiency_today_frac),
        vm_pu=b.vm_pu,
    )
    return values
