"""The site file: which Modbus devices the quarter has, where they answer, and how to read them.

``twin field`` writes it for the simulated quarter; for the real quarter an
integrator writes it by hand. ``twin live`` reads it. It is YAML, validated with
pydantic (unknown keys rejected); every problem is one line naming the file and
the field.

.. code-block:: yaml

    version: 1
    name: beucha (simulated field)
    clock:                      # optional: the simulated field's clock device
      host: 127.0.0.1
      port: 15020
      unit_id: 1
      map: field_clock
    start_utc: 2025-06-01T00:00:00Z   # optional: simulated start (also in the clock registers)
    speed: 60                          # optional: simulated seconds per wall second
    defaults: {interval_s: 1.0, timeout_s: 0.5, retries: 1}
    devices:
      - id: sfh01/meter
        kind: building_meter         # see DEVICE_KINDS
        building: sfh01              # the building it belongs to (none for the substation)
        bus: LV5.201 Bus 27          # the grid bus it sits at
        host: 127.0.0.1
        port: 15021
        unit_id: 1
        map: sunspec_meter           # a built-in map name or a map file (relative to the site file)

Device kinds and what they measure (the live twin derives the rest):

* ``substation_meter``: the district's grid connection (includes grid losses);
* ``building_meter``: one building's grid connection;
* ``pv_inverter``, ``battery``, ``community_battery``: an asset's own power;
* ``heat_pump_meter``, ``ev_charger_meter``: sub-meters of heat pumps and chargers;
* ``household_meter``: one household's meter behind a building meter (informative);
* ``gas_meter``: a gas boiler's gas counter;
* ``weather_station``: the district's weather (irradiance, temperatures, wind; no power).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twin.core.config_loader import LocatedError, load_config
from twin.core.vocabulary import DEFAULT_TIMEZONE, DEVICE_KINDS, DeviceKind, check_timezone

__all__ = [
    "ASSET_KIND_OF_DEVICE",
    "DEVICE_KINDS",
    "DeviceDefaults",
    "DeviceKind",
    "FieldClock",
    "Site",
    "SiteDevice",
    "dump_site",
    "load_site",
]

#: The asset kind (twin core) a device measures, where it measures one asset.
ASSET_KIND_OF_DEVICE: Final[dict[str, str]] = {
    "pv_inverter": "pv",
    "battery": "battery",
    "community_battery": "battery",
    "heat_pump_meter": "heat_pump",
    "ev_charger_meter": "ev",
    "gas_meter": "gas_boiler",
}

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceDefaults(_Record):
    """Polling settings that apply to every device unless it says otherwise."""

    interval_s: float = Field(default=1.0, gt=0, le=3600, description="Time between two reads. [s]")
    timeout_s: float = Field(default=0.5, gt=0, le=60, description="Time to wait for an answer. [s]")
    retries: int = Field(default=1, ge=0, le=10, description="Retries of a request before it counts as missing.")


class FieldClock(_Record):
    """Where the simulated field publishes its clock (generic map ``field_clock``)."""

    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    unit_id: int = Field(default=1, ge=1, le=247)
    map: str = "field_clock"


class SiteDevice(_Record):
    """One Modbus device of the quarter."""

    id: str = Field(
        pattern=_ID,
        max_length=80,
        description="Unique device id.",
        json_schema_extra={"allowed": "letters, digits, '_', '.', ':', '/', '-', starting with a letter or digit"},
    )
    kind: DeviceKind
    building: str | None = Field(default=None, description="Building id the device belongs to.")
    bus: str | None = Field(default=None, description="Name of the grid bus the device sits at.")
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    unit_id: int = Field(default=1, ge=1, le=247)
    map: str = Field(min_length=1, description="Built-in register map name or map file.")
    interval_s: float | None = Field(default=None, gt=0, le=3600)
    timeout_s: float | None = Field(default=None, gt=0, le=60)
    retries: int | None = Field(default=None, ge=0, le=10)
    capacity_kwh: float | None = Field(default=None, gt=0, description="Battery capacity. [kW h]")
    p_rated_kw: float | None = Field(default=None, gt=0, description="Rated power. [kW]")
    p_peak_kw: float | None = Field(default=None, gt=0, description="PV peak power. [kW]")
    meter_points: tuple[str, ...] = Field(
        default=(),
        description="Meter points (MeLo/MaLo) whose metering data are this meter's ('twin import').",
        json_schema_extra={"allowed": "ID (both directions), ID:import or ID:export"},
    )

    @model_validator(mode="after")
    def _building_where_needed(self) -> SiteDevice:
        if self.kind not in ("substation_meter", "community_battery", "weather_station") and not self.building:
            raise ValueError(f"a {self.kind} belongs to a building: give building")
        return self

    @field_validator("meter_points")
    @classmethod
    def _meter_point_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from connectors.meter_points import is_malo, is_melo

        for entry in value:
            point, _, direction = entry.partition(":")
            if not (is_melo(point) or is_malo(point)) or direction not in ("", "import", "export"):
                raise ValueError(
                    f"{entry!r} is not a meter point: a MeLo (DE and 31 digits/capitals) or a MaLo (11 digits"
                    " with their check digit), optionally with :import or :export"
                )
        return value


class Site(_Record):
    """A site file: the devices of a quarter and, for a simulated field, its clock."""

    version: Literal[1] = 1
    name: str = Field(default="site", max_length=120)
    start_utc: str | None = Field(default=None, description="Simulated start, ISO 8601 UTC.")
    speed: float | None = Field(default=None, gt=0, le=10000, description="Simulated seconds per wall second.")
    timezone: str = Field(
        default=DEFAULT_TIMEZONE, description="IANA time zone of the quarter: its local days and years (KPIs)."
    )
    clock: FieldClock | None = None
    defaults: DeviceDefaults = DeviceDefaults()
    devices: tuple[SiteDevice, ...] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _unique(self) -> Site:
        seen: dict[str, int] = {}
        endpoints: dict[tuple[str, int, int], str] = {}
        for index, device in enumerate(self.devices):
            if device.id in seen:
                raise LocatedError(
                    ["devices", index, "id"],
                    f"duplicate device id {device.id!r}, first used by devices.{seen[device.id]}",
                    allowed="an id no other device uses",
                )
            seen[device.id] = index
            endpoint = (device.host, device.port, device.unit_id)
            if endpoint in endpoints:
                raise LocatedError(
                    ["devices", index],
                    f"{device.id!r} answers at the same host, port and unit id as {endpoints[endpoint]!r}",
                )
            endpoints[endpoint] = device.id
        return self

    def setting(self, device: SiteDevice, name: str) -> Any:
        """A polling setting of a device: its own value or the site's default."""
        own = getattr(device, name)
        return own if own is not None else getattr(self.defaults, name)


def load_site(path: str | Path) -> Site:
    """Read and validate a site file.

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed.
    """
    site: Site = load_config(path, Site, what="site file")
    return site


def dump_site(site: Site, path: str | Path) -> Path:
    """Write a site file atomically (write, then rename)."""
    target = Path(path)
    data = site.model_dump(mode="json", exclude_none=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(target)
    return target
