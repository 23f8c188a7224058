"""The twin's vocabulary: the names and constants every layer shares, defined once.

The step of profiles, meter data and the 15-minute store table; the district's default time
zone (a district file names its own); the quality flags; the kinds of device, asset and load;
the terms of a boundary's power balance and of its energy flows; and the KPI catalogue (name,
label, unit, display scale) that the command line, the scenario reports and the dashboard render
from. Every other module imports these; none re-declares them (a test scans the sources for
step and time-zone literals outside this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ASSET_KINDS",
    "BALANCE_TERMS",
    "CONTROL_KPI_CATALOGUE",
    "COUNTED_FLOW_TERMS",
    "DEFAULT_TIMEZONE",
    "DEVICE_KINDS",
    "EARLIER_BALANCE_TERMS",
    "FLOW_TERMS",
    "KPI_CATALOGUE",
    "LOAD_KINDS",
    "QUALITY_FLAGS",
    "STEPS_PER_DAY",
    "STEP_FREQ",
    "STEP_H",
    "STEP_MIN",
    "STEP_S",
    "SUBSTATION_TERMS",
    "AssetKind",
    "DeviceKind",
    "KpiSpec",
    "Quality",
    "check_timezone",
    "kpi",
]

#: The step of profiles and scenarios, of imported meter data and of the 15-minute store table. [s]
STEP_S: Final[int] = 900
#: The step in minutes. [min]
STEP_MIN: Final[int] = STEP_S // 60
#: The step in hours. [h]
STEP_H: Final[float] = STEP_S / 3600.0
#: The step as a pandas frequency string.
STEP_FREQ: Final[str] = f"{STEP_MIN}min"
#: Steps in a day.
STEPS_PER_DAY: Final[int] = 86_400 // STEP_S

#: The IANA time zone of the quarter, used where no district file names one (local days and
#: years of KPIs, BDEW profiles, the dashboard's display). The store keeps UTC.
DEFAULT_TIMEZONE: Final[str] = "Europe/Berlin"


def check_timezone(value: str) -> str:
    """Return ``value`` if it names an IANA time zone; raise :class:`ValueError` naming the allowed values."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {value!r} (allowed: an IANA name such as {DEFAULT_TIMEZONE})") from err
    return value


class Quality(IntEnum):
    """Data-quality flag (CF ``flag_values``; DESIGN.md section 3).

    ``ESTIMATED``: not measured for this interval but derived (the energy a counter gained over
    a gap, spread over the gap's quarters). ``PARTIAL``: a sum over several inputs with some of
    them missing (the live balance's district sums, the controller's quality); the snapshot
    counts the missing inputs, the store never holds this flag. The controller register map
    serves 0-3 and 5.
    """

    OK = 0
    STALE = 1
    MISSING = 2
    INVALID = 3
    ESTIMATED = 4
    PARTIAL = 5


#: Stored quality flag meanings and their int8 values, in value order (CF ``flag_meanings``).
QUALITY_FLAGS: Final[dict[str, int]] = {flag.name.lower(): int(flag) for flag in Quality if flag is not Quality.PARTIAL}

AssetKind = Literal["pv", "load", "heat_pump", "ev", "battery", "gas_boiler"]
#: The kinds of asset, in the order summaries list them.
ASSET_KINDS: Final[tuple[str, ...]] = AssetKind.__args__  # type: ignore[attr-defined]
#: Asset kinds whose energy is E_load (loads, heat pumps, EV charging).
LOAD_KINDS: Final[tuple[str, ...]] = ("load", "heat_pump", "ev")

DeviceKind = Literal[
    "substation_meter",
    "building_meter",
    "pv_inverter",
    "battery",
    "community_battery",
    "heat_pump_meter",
    "ev_charger_meter",
    "household_meter",
    "gas_meter",
    "weather_station",
]
#: Every device kind a site file may list.
DEVICE_KINDS: Final[tuple[str, ...]] = DeviceKind.__args__  # type: ignore[attr-defined]

#: The terms of every boundary's live balance, each a power: grid exchange at the boundary's
#: meter (import-positive) and the assets' load-positive powers (PV and discharge < 0). In the
#: snapshot and the store as ``balance:BOUNDARY/TERM``. [kW]
BALANCE_TERMS: Final[tuple[str, ...]] = (
    "p_grid_kw",
    "p_pv_kw",
    "p_battery_kw",
    "p_heat_pump_kw",
    "p_ev_kw",
    "p_load_kw",
)
#: The district's further terms: the sum of the building meters, the community battery and the
#: grid losses (substation - buildings - community battery). [kW]
SUBSTATION_TERMS: Final[tuple[str, ...]] = ("p_buildings_kw", "p_community_battery_kw", "p_loss_kw")
#: Balance terms under the names of stores written before the terms carried the ``p_`` prefix:
#: earlier name -> name now. Readers of the store map them on read; writers use the names now.
EARLIER_BALANCE_TERMS: Final[dict[str, str]] = {
    "grid_kw": "p_grid_kw",
    "pv_kw": "p_pv_kw",
    "battery_kw": "p_battery_kw",
    "heat_pump_kw": "p_heat_pump_kw",
    "ev_kw": "p_ev_kw",
    "load_kw": "p_load_kw",
    "buildings_kw": "p_buildings_kw",
    "community_battery_kw": "p_community_battery_kw",
    "losses_kw": "p_loss_kw",
}
#: The energy flows per boundary and quarter, in the 15-minute store table as ``flow:BOUNDARY/FLOW``
#: and in the KPI code. [kW h]
FLOW_TERMS: Final[tuple[str, ...]] = ("import_kwh", "export_kwh", "load_kwh", "generation_kwh", "fuel_kwh")
#: The flows that come from meters' counters (live) and may be estimated over a gap. [kW h]
COUNTED_FLOW_TERMS: Final[tuple[str, ...]] = ("import_kwh", "export_kwh", "fuel_kwh")


@dataclass(frozen=True)
class KpiSpec:
    """How a KPI of ``kpis.json`` is named and shown.

    Parameters
    ----------
    name : str
        Key in ``kpis.json`` (unit-suffixed).
    label : str
        What tables call it, without unit.
    unit : str
        Unit of the stored value as people write it (``""`` for fractions, flags and counts).
    display_unit : str
        Unit shown after scaling (``""``: none).
    scale : float
        Shown value = stored value x scale.
    fmt : str
        Format of the shown value (``format(value * scale, fmt)``).
    short : str
        Label of narrow terminal tables (defaults to ``label``).
    """

    name: str
    label: str
    unit: str = ""
    display_unit: str = ""
    scale: float = 1.0
    fmt: str = ",.0f"
    short: str = ""

    @property
    def heading(self) -> str:
        """Label with the stored unit, e.g. ``grid import [kWh]``."""
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    @property
    def display_heading(self) -> str:
        """Label with the displayed unit, e.g. ``grid import [MWh]``."""
        return f"{self.label} [{self.display_unit}]" if self.display_unit else self.label

    @property
    def short_heading(self) -> str:
        """Short label with the displayed unit, e.g. ``trafo max [%]``."""
        short = self.short or self.label
        return f"{short} [{self.display_unit}]" if self.display_unit else short

    def display(self, value: object) -> str:
        """The stored value scaled and formatted (``"-"`` when it is not a number)."""
        try:
            return format(float(value) * self.scale, self.fmt)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "-"


def _energy(name: str, label: str, short: str = "") -> KpiSpec:
    return KpiSpec(name, label, "kWh", "MWh", 1e-3, ",.0f", short)


def _share(name: str, label: str, short: str = "") -> KpiSpec:
    return KpiSpec(name, label, "", "%", 100.0, ".1f", short)


#: The KPIs that tables show, in order: the scenario report, ``twin scenario compare`` and
#: ``sweep`` and the dashboard's comparison.
KPI_CATALOGUE: Final[tuple[KpiSpec, ...]] = (
    _energy("energy_balance_kwh", "all-carrier balance", "balance all"),
    _energy("electricity_balance_kwh", "electricity balance", "electricity"),
    KpiSpec("energy_neutral", "energy-neutral"),
    _energy("import_kwh", "grid import"),
    _energy("export_kwh", "grid export"),
    _energy("fuel_kwh", "gas"),
    _energy("load_kwh", "load"),
    _energy("generation_kwh", "PV"),
    _energy("losses_kwh", "grid losses"),
    _energy("curtailed_kwh", "curtailed"),
    _share("self_sufficiency_frac", "self-sufficiency", "self-suff."),
    _share("self_consumption_frac", "self-consumption"),
    KpiSpec("peak_import_kw", "peak import", "kW", "kW"),
    KpiSpec("peak_export_kw", "peak export", "kW", "kW"),
    KpiSpec("trafo_loading_max_percent", "max trafo loading", "%", "%", 1.0, ".0f", "trafo max"),
    KpiSpec("trafo_loading_p99_percent", "p99 trafo loading", "%", "%", 1.0, ".0f"),
    KpiSpec("line_loading_max_percent", "max line loading", "%", "%", 1.0, ".0f"),
    KpiSpec("vm_min_pu", "min voltage", "pu", "pu", 1.0, ".3f", "V min"),
    KpiSpec("vm_max_pu", "max voltage", "pu", "pu", 1.0, ".3f", "V max"),
    KpiSpec("outside_band_h", "hours outside +-10 %", "", "h"),
    KpiSpec("rise_above_limit_h", "hours rise > 3 %", "", "h"),
    KpiSpec("co2_kg", "CO2", "kg", "t", 1e-3),
    KpiSpec("pv_kwp", "PV", "kWp", "kWp"),
    KpiSpec("home_battery_kwh", "home batteries", "kWh", "kWh"),
    KpiSpec("community_battery_kwh", "community battery", "kWh", "kWh"),
    KpiSpec("n_heat_pumps", "heat pumps"),
    _energy("hp_heat_kwh", "heat-pump heat", "HP heat"),
    _energy("hp_electricity_kwh", "heat-pump electricity", "HP el."),
    KpiSpec("hp_spf", "heat-pump SPF", fmt=".2f", short="SPF"),
    _share("hp_backup_frac", "backup heater share", "backup"),
    KpiSpec("n_evs", "EVs"),
    KpiSpec("investment_eur", "investment", "EUR", "kEUR", 1e-3, ",.1f"),
    KpiSpec("annual_cost_eur", "annual cost", "EUR", "kEUR/a", 1e-3, ",.1f", "cost"),
)

#: The KPIs of a run with a ``control:`` block, shown after :data:`KPI_CATALOGUE` where a run has
#: them: the grid relief (hours over 100 %) beside what it cost the devices and the buildings.
CONTROL_KPI_CATALOGUE: Final[tuple[KpiSpec, ...]] = (
    KpiSpec("control_trafo_over_100_h", "hours trafo > 100 %", "h", "h", 1.0, ",.1f", "trafo >100%"),
    KpiSpec("control_line_over_100_h", "hours a line > 100 %", "h", "h", 1.0, ",.1f", "line >100%"),
    KpiSpec("control_hp_blocked_kwh", "heat pumps blocked", "kWh", "MWh", 1e-3, ",.1f", "HP blocked"),
    KpiSpec("control_dimmed_kwh", "dimmed (section 14a)", "kWh", "MWh", 1e-3, ",.1f", "dimmed"),
    KpiSpec("control_heat_deferred_kwh", "heat deferred", "kWh", "MWh", 1e-3, ",.1f"),
    KpiSpec("control_ev_deferred_kwh", "EV charging deferred", "kWh", "MWh", 1e-3, ",.1f", "EV deferred"),
    KpiSpec("control_comfort_violation_kh", "comfort violation", "K h", "K h", 1.0, ",.1f"),
    KpiSpec("control_comfort_violation_h", "hours below comfort", "h", "h", 1.0, ",.1f"),
    KpiSpec("control_comfort_ok", "comfort acceptable (EN 16798-1 III)", short="comfort ok"),
    KpiSpec("control_comfort_coldest_degc", "coldest building", "degC", "degC", 1.0, ",.1f", "coldest"),
    KpiSpec("control_comfort_below_bound_max_h", "hours below category III", "h", "h", 1.0, ",.1f", "below III"),
    KpiSpec("signal_block_h", "hours blocked per building", "h", "h", 1.0, ",.1f", "blocked"),
)

_BY_NAME: Final[dict[str, KpiSpec]] = {spec.name: spec for spec in (*KPI_CATALOGUE, *CONTROL_KPI_CATALOGUE)}


def kpi(name: str) -> KpiSpec:
    """The catalogue entry of a KPI.

    Raises
    ------
    KeyError
        When the catalogue has no KPI of that name.
    """
    return _BY_NAME[name]
