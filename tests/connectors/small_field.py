"""A small simulated field for the live-twin tests: buildings whose meters add up, a substation with losses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.device_server import DeviceServer
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice
from connectors.site import Site, SiteDevice, dump_site

#: Grid losses the substation meter carries on top of the building meters. [kW]
LOSSES_KW = 0.4


@dataclass
class SmallField:
    """Devices, their servers (one port each) and the site file entries."""

    devices: dict[str, SimulatedDevice] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    servers: dict[str, DeviceServer] = field(default_factory=dict)
    household_kw: dict[str, float] = field(default_factory=dict)

    def add(self, device_id: str, kind: str, map_name: str, values: dict[str, float], building: str | None) -> None:
        device = SimulatedDevice(load_map(map_name), name=device_id)
        extra = {"v_l1_v": 230.0, "frequency_hz": 50.0}
        device.set_quantities({**{k: v for k, v in extra.items() if k in device.register_map.quantities}, **values})
        self.devices[device_id] = device
        self.servers[device_id] = DeviceServer([device], name=device_id)
        self.entries.append({"id": device_id, "kind": kind, "building": building, "map": map_name})

    def site(self, *, clock_port: int | None = None, **defaults: float) -> Site:
        devices = [SiteDevice(**{**entry, "port": self.servers[entry["id"]].port}) for entry in self.entries]
        data: dict[str, Any] = {"name": "test field", "devices": devices}
        if defaults:
            data["defaults"] = defaults
        if clock_port is not None:
            data["clock"] = {"port": clock_port}
        return Site(**data)

    def write_site(self, path: Path, **kwargs: Any) -> Path:
        return dump_site(self.site(**kwargs), path)


def small_field(buildings: int = 3) -> SmallField:
    """Buildings with PV, battery, heat pump and EV sub-meters; meters add up; substation = sum + losses."""
    f = SmallField()
    total = 0.0
    for index in range(buildings):
        b = f"b{index + 1:02d}"
        household, pv, battery, hp, ev = 1.5 + index, -3.0 - index, 0.5, 2.0, 3.5 if index == 0 else 0.0
        meter = household + pv + battery + hp + ev
        total += meter
        f.household_kw[b] = household
        f.add(
            f"{b}/meter",
            "building_meter",
            "sunspec_meter",
            {"p_meter_kw": meter, "energy_import_kwh": 1000.0 + index, "energy_export_kwh": 100.0},
            b,
        )
        f.add(f"{b}/pv", "pv_inverter", "sunspec_inverter", {"p_kw": pv, "energy_export_kwh": 500.0}, b)
        f.add(
            f"{b}/battery",
            "battery",
            "sunspec_battery",
            {"p_kw": battery, "soc_frac": 0.5, "energy_export_kwh": 10.0},
            b,
        )
        f.add(
            f"{b}/hp",
            "heat_pump_meter",
            "sdm630",
            {"p_kw": hp, "energy_import_kwh": 300.0, "energy_export_kwh": 0.0},
            b,
        )
        if ev:
            f.add(
                f"{b}/ev",
                "ev_charger_meter",
                "sdm630",
                {"p_kw": ev, "energy_import_kwh": 200.0, "energy_export_kwh": 0.0},
                b,
            )
    f.add(
        "substation/meter",
        "substation_meter",
        "sunspec_meter_substation",
        {"p_meter_kw": total + LOSSES_KW, "energy_import_kwh": 50_000.0, "energy_export_kwh": 9_000.0},
        None,
    )
    return f
