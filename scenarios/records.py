"""The records of a scenario file and a sweep file: pydantic v2, frozen, unknown keys rejected.

A scenario names the district, the weather, the calendar year and period, the step (15 min),
the seed, the output level and the changes against the district as it is today; then the CO2
and primary-energy factors and the prices and investment costs of the cost KPI. A sweep names
a base scenario and parameters with value lists. Reading and validating the files with
one-line errors is :mod:`scenarios.scenario_files` (scenarios) and :mod:`scenarios.sweep`.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.core.config_loader import LocatedError
from twin.core.vocabulary import STEP_FREQ, STEP_MIN

__all__ = [
    "OUTPUT_LEVELS",
    "SCENARIO_FILE_KEYS",
    "BatteryStrategy",
    "CommunityBatteryChange",
    "Control",
    "Costs",
    "EvChange",
    "Factors",
    "FeedInLimit",
    "GridChange",
    "GridFee",
    "HeatPumpChange",
    "HomeBatteryChange",
    "LocatedError",
    "OutputLevel",
    "Preheat",
    "PvChange",
    "RetrofitChange",
    "Scenario",
    "ScenarioChanges",
    "Sweep",
    "Thresholds",
    "is_scenario_data",
]

#: Keys that make a ``--control FILE`` a scenario file rather than a ``control:`` block alone
#: (``twin field --control``, ``twin live --control``).
SCENARIO_FILE_KEYS: Final[frozenset[str]] = frozenset({"name", "district", "control", "changes", "year", "seed"})


def is_scenario_data(data: Any) -> bool:
    """True when a file's data is a scenario (it has one of :data:`SCENARIO_FILE_KEYS`), not a control block."""
    return isinstance(data, dict) and bool(set(data) & SCENARIO_FILE_KEYS)


OutputLevel = Literal["kpis", "grid", "full"]
#: What ``result.nc`` holds: ``kpis`` (KPIs and the substation), ``grid`` (plus every bus
#: and branch), ``full`` (plus every asset and meter).
OUTPUT_LEVELS: Final[tuple[str, ...]] = get_args(OutputLevel)
BatteryStrategy = Literal["self_consumption", "peak_shaving"]
_NAME_PATTERN: Final[str] = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME_ALLOWED: Final[str] = "letters, digits, '_', '.', '-'"


class _Config(BaseModel):
    """Base of every scenario record: unknown keys rejected, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PvChange(_Config):
    """PV on roofs: every suitable face of the chosen buildings, sized from its usable area.

    Suitable faces are flat or face east to west (:mod:`models.building_estimates`);
    kWp = area x usable share / m2 per kWp (5.5 pitched, 8 flat). Faces that carry PV
    today keep it.
    """

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of buildings with a suitable roof. [1]")
    buildings: tuple[str, ...] = Field(default=(), description="Building ids; overrides share_frac when given.")
    usable_frac: float | None = Field(default=None, gt=0, le=1, description="Overrides each roof's usable share. [1]")
    min_kwp: float = Field(default=1.0, ge=0, le=100, description="Smallest system worth building. [kWp]")


class HomeBatteryChange(_Config):
    """Home batteries in buildings with PV that have none (self-consumption dispatch)."""

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of PV buildings without a battery. [1]")
    kwh_per_kwp: float | None = Field(default=1.0, gt=0, le=10, description="Capacity per kWp of the building's PV.")
    capacity_kwh: float | None = Field(default=None, gt=0, le=1000, description="Fixed capacity instead. [kW h]")
    c_rate_per_h: float = Field(default=0.5, gt=0, le=4, description="Power = capacity x C-rate. [h-1]")


class CommunityBatteryChange(_Config):
    """A battery at a bus of the grid, dispatched on the district's net load at the substation."""

    capacity_kwh: float = Field(gt=0, le=100000, description="Usable capacity. [kW h]")
    p_rated_kw: float = Field(gt=0, le=50000, description="Charge and discharge power limit. [kW]")
    bus: str | None = Field(default=None, description="Bus name; default the transformer's LV busbar.")
    strategy: BatteryStrategy = Field(default="self_consumption", description="self_consumption or peak_shaving.")
    peak_limit_kw: float | None = Field(
        default=None, ge=0, le=50000, description="peak_shaving: import held below this. [kW]"
    )
    export_limit_kw: float | None = Field(
        default=None, ge=0, le=50000, description="peak_shaving: export held below this. [kW]"
    )
    target_soc_frac: float = Field(
        default=0.5, ge=0, le=1, description="peak_shaving: state of charge kept between peaks. [1]"
    )

    @model_validator(mode="after")
    def _limit_for_peak_shaving(self) -> CommunityBatteryChange:
        if self.strategy == "peak_shaving" and self.peak_limit_kw is None and self.export_limit_kw is None:
            raise ValueError("strategy peak_shaving needs peak_limit_kw, export_limit_kw or both")
        return self


class HeatPumpChange(_Config):
    """Air/water heat pumps replacing gas boilers (and, if asked, the other heating: oil, wood...)."""

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of the buildings they may replace. [1]")
    replaces: tuple[Literal["gas_boiler", "oil_boiler", "wood_boiler", "other"], ...] = Field(
        default=("gas_boiler",), min_length=1, description="Heating systems they replace."
    )
    sizing: Literal["design", "full_load_hours"] = Field(
        default="design", description="design: sized at the norm outside temperature; full_load_hours: heat / hours."
    )
    full_load_hours_h: float = Field(default=2000.0, gt=0, le=8760, description="For sizing full_load_hours. [h]")


class SolarParkChange(_Config):
    """A ground-mounted PV park on its own connection (:func:`models.solar_park.add_solar_park`)."""

    p_peak_kw: float = Field(gt=0, le=50000, description="DC peak power. [kW]")
    tilt_deg: float = Field(default=20.0, ge=0, le=90, description="Tilt of the rows. [deg]")
    azimuth_deg: float = Field(default=180.0, ge=0, lt=360, description="Azimuth, clockwise from north. [deg]")
    bus: str | None = Field(default=None, description="Bus name; default the transformer's high-voltage bus.")


class RetrofitChange(_Config):
    """Building envelope refurbishment (TABULA states) of residential buildings not yet at the target."""

    share_frac: float = Field(default=1.0, ge=0, le=1, description="Share of buildings below the target state. [1]")
    state: Literal["usual_refurbishment", "advanced_refurbishment"] = Field(default="advanced_refurbishment")
    built_before: int = Field(default=1995, ge=1500, le=2100, description="Only buildings built before this year.")


class EvChange(_Config):
    """Electric cars with a wallbox at residential buildings (one car per chosen building)."""

    count: int | None = Field(default=None, ge=0, le=5000, description="Number of new cars; overrides share_frac.")
    share_frac: float = Field(default=0.0, ge=0, le=1, description="Share of residential buildings. [1]")
    charger_kw: float = Field(default=11.0, gt=0, le=350, description="Wallbox power. [kW]")
    capacity_kwh: float = Field(default=60.0, gt=0, le=300, description="Car battery. [kW h]")
    distance_km_per_a: float = Field(default=12300.0, gt=0, le=100000, description="Annual distance (KBA mean). [km]")
    charging: Literal["uncontrolled", "pv_surplus"] = Field(
        default="uncontrolled", description="Charging rule of every car in the district."
    )


class GridChange(_Config):
    """Grid reinforcements (:class:`models.grid.GridChanges`)."""

    transformer_s_rated_kva: float | None = Field(default=None, gt=0, le=10000, description="New rating. [kVA]")
    line_std_type: str | None = Field(default=None, description="pandapower cable type, e.g. NAYY 4x240 SE.")
    parallel_cables: int | None = Field(default=None, ge=1, le=4, description="Cables in parallel.")
    lines: tuple[str, ...] = Field(default=(), description="Line names to upgrade; empty = all.")


class FeedInLimit(_Config):
    """Export limit as a share of the PV peak power (e.g. 0.6 without a smart meter gateway).

    ``at: building`` limits each PV building's meter to ``frac x`` its kWp (the rule of
    the grid connection); ``at: district`` limits the substation's export to ``frac x``
    the district's kWp. PV is curtailed by the excess; the energy is a KPI.
    """

    frac_of_kwp: float = Field(ge=0, le=1, description="Largest export per kWp installed. [1]")
    at: Literal["building", "district"] = Field(default="building")


class ScenarioChanges(_Config):
    """What a scenario changes against today's district; each block is optional."""

    pv: PvChange | None = None
    home_batteries: HomeBatteryChange | None = None
    community_battery: CommunityBatteryChange | None = None
    solar_park: SolarParkChange | None = None
    heat_pumps: HeatPumpChange | None = None
    retrofit: RetrofitChange | None = None
    evs: EvChange | None = None
    grid: GridChange | None = None
    feed_in_limit: FeedInLimit | None = None


class GridFee(_Config):
    """A grid operator's low-voltage grid fee and the section 14a module the buildings choose (BK8-22/010-A).

    Module 1: flat yearly reduction per connection; 2: the controllable devices' energy price
    reduced by ``module_2_reduction_frac`` on their own meter, no base price for it; 3: module 1
    with the low rate in ``low_hours`` and the high rate in ``high_hours`` (hours of the day, UTC).
    """

    module: Literal[1, 2, 3] = Field(description="Section 14a grid-fee module.")
    energy_price_eur_per_kwh: float = Field(default=0.0862, ge=0, le=1, description="Standard rate. [EUR/kWh]")
    base_price_eur_per_year: float = Field(default=60.0, ge=0, le=10000, description="Per meter. [EUR/a]")
    flat_reduction_eur_per_year: float = Field(default=131.88, ge=0, le=10000, description="Module 1. [EUR/a]")
    module_2_reduction_frac: float = Field(default=0.6, ge=0, le=1)
    low_price_eur_per_kwh: float = Field(default=0.0345, ge=0, le=1, description="Module 3 low rate. [EUR/kWh]")
    high_price_eur_per_kwh: float = Field(default=0.1084, ge=0, le=1, description="Module 3 high rate. [EUR/kWh]")
    low_hours: tuple[int, ...] = Field(default=(0, 1, 2), description="Module 3 low window, hours of the day (UTC).")
    high_hours: tuple[int, ...] = Field(default=(16, 17), description="Module 3 high window, hours of the day (UTC).")

    @model_validator(mode="after")
    def _hours(self) -> GridFee:
        for name, hours in (("low_hours", self.low_hours), ("high_hours", self.high_hours)):
            if any(not 0 <= h <= 23 for h in hours):
                raise LocatedError([name], f"hours {list(hours)} outside 0-23", allowed="hours of the day 0..23")
        if set(self.low_hours) & set(self.high_hours):
            raise LocatedError(["high_hours"], "the low and the high window overlap", allowed="disjoint hours")
        return self


class Thresholds(_Config):
    """The signal's thresholds (:class:`models.control.signal.SignalConfig`); unset: the live twin's.

    A grid operator acts on its measurement with a margin: a controller that sees only the last
    step misses an episode's first quarter, so thresholds below 100 % hold the grid within it.
    """

    loading_enter_percent: float | None = Field(default=None, gt=0, le=200)
    loading_leave_percent: float | None = Field(default=None, gt=0, le=200)
    vm_low_enter_pu: float | None = Field(default=None, gt=0.5, lt=1.5)
    vm_low_leave_pu: float | None = Field(default=None, gt=0.5, lt=1.5)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        pairs = (
            ("loading_leave_percent", self.loading_leave_percent, 85.0, self.loading_enter_percent, 95.0, False),
            ("vm_low_leave_pu", self.vm_low_leave_pu, 0.95, self.vm_low_enter_pu, 0.93, True),
        )
        for name, leave, leave_default, enter, enter_default, low in pairs:
            leave = leave_default if leave is None else leave
            enter = enter_default if enter is None else enter
            if (leave <= enter) if low else (leave >= enter):
                side = "above" if low else "below"
                raise LocatedError(
                    [name], f"{leave} must lie {side} the enter threshold {enter}", allowed=f"{side} {enter}"
                )
        return self


class Preheat(_Config):
    """Pre-heating before a forecast peak (:mod:`models.control.preheat`): SG-Ready state 3 raises the set point.

    The forecast is the transformer loading measured at the same time of day on the last
    ``forecast_days`` days; where it exceeds ``peak_percent`` (default the signal's enter threshold)
    within the next ``lookahead_h`` hours, heat pumps raise their set point by ``boost_k`` (default
    2 K: 22 degC, inside EN 16798-1 category II), as many as the headroom the step before measured
    below ``fill_to_percent`` takes (default the signal's leave threshold).
    """

    boost_k: float = Field(default=2.0, gt=0.0, le=4.0)
    peak_percent: float | None = Field(default=None, gt=0, le=200)
    lookahead_h: float = Field(default=12.0, gt=0.0, le=24.0)
    forecast_days: int = Field(default=2, ge=1, le=14)
    fill_to_percent: float | None = Field(default=None, gt=0, le=200)


class Control(_Config):
    """The ``control:`` block: the controllers of the control library acting in the year.

    The controller signal (:mod:`models.control.signal`) follows the state measured in the
    previous step (the last power flow), as in the live twin; the controllers act on it:

    ``battery``
        The community battery's strategy: ``self_consumption`` or ``peak_shaving`` on the net
        load, or ``signal`` (charge at rated power while the signal recommends or forces
        consumption, discharge while it blocks, hold otherwise); default the battery's own.
    ``ev``
        ``uncontrolled`` or ``pv_surplus`` (overriding ``changes.evs.charging``), or ``dimmed``
        (uncontrolled, the wallboxes dimmed under section 14a).
    ``heat_pump``
        ``sg_ready``: heat pumps are off while the signal blocks; ``uncontrolled``: they ignore it.
    ``section_14a``
        Every controllable device (heat pumps, wallboxes, batteries charging) of a building is
        dimmed to the limit of BK6-22-300 while the signal blocks for grid stress.
    ``section_14a_control``
        ``direct``: each controllable device (a building's heat pumps together) keeps its own
        minimum, 4.2 kW or 0.4 x the rating above 11 kW, as the live twin's per-device limit
        register says; ``ems``: one energy management system per building keeps the limit for
        all its devices together (``4.2 + (n - 1) x GZF x 4.2`` kW).
    ``grid_fee``
        The grid fee of the buildings with a controllable device under a section 14a module
        (:class:`GridFee`), against the plain fee.
    ``signal``
        ``district``: one flat district-wide value, as the live twin's district register: while it
        blocks every building's heat pumps are off (``heat_pump: sg_ready``) and every 14a limit
        is the minimum; ``district_needed`` (default): one signal for every building, but the block
        takes off only as many heat pumps as the grid needs by the buildings' mean effect;
        ``per_feeder``: each building follows the loading and voltage of its own feeder and the
        transformer, heat pumps off and 14a limits only as far as the relief needs
        (:mod:`models.control.feeder`).
    ``thresholds``
        The signal's enter and leave thresholds (:class:`Thresholds`).
    ``comfort_low_k``
        How far below its set point a building may cool before its heat pump overrides a block
        (and the shortfall counts as a comfort violation); default -1 K.
    ``preheat``
        With ``heat_pump: sg_ready``: the heat pumps pre-heat before a peak the measured past
        forecasts (:class:`Preheat`); default none.
    ``count_rebound``
        With ``heat_pump: sg_ready``: the block's relief counts the rebound of the heat pumps it
        lets back (what they want now beyond what they wanted when held off); default off.
    ``release_kw_per_h``
        A building's section 14a limit rises back by at most this much per hour once its signal
        no longer needs it (:mod:`models.control.release`), instead of at once; default none.

    Heat pumps serve their building's thermal store (:mod:`models.control.thermal`): heat
    blocked or dimmed is delivered later; dimmed wallboxes charge later (:mod:`models.control.ev`).
    """

    battery: Literal["self_consumption", "peak_shaving", "signal"] | None = None
    ev: Literal["uncontrolled", "pv_surplus", "dimmed"] = "uncontrolled"
    heat_pump: Literal["uncontrolled", "sg_ready"] = "uncontrolled"
    section_14a: bool = False
    section_14a_control: Literal["direct", "ems"] = "direct"
    grid_fee: GridFee | None = None
    signal: Literal["district", "district_needed", "per_feeder"] = "district_needed"
    thresholds: Thresholds | None = None
    comfort_low_k: float = Field(default=-1.0, ge=-5.0, le=0.0)
    preheat: Preheat | None = None
    count_rebound: bool = False
    release_kw_per_h: float | None = Field(default=None, gt=0.0, le=1000.0)

    @model_validator(mode="after")
    def _preheat_needs_sg_ready(self) -> Control:
        if self.preheat is not None and self.heat_pump != "sg_ready":
            raise LocatedError(["preheat"], "pre-heating needs heat_pump: sg_ready", allowed="heat_pump: sg_ready")
        return self


class Factors(_Config):
    """CO2 and primary-energy factors (:class:`twin.core.kpi.CarrierFactors`); default GEG 2024."""

    co2_grid_g_per_kwh: float = Field(default=560.0, ge=0, le=2000)
    co2_gas_g_per_kwh: float = Field(default=240.0, ge=0, le=2000)
    primary_energy_factor_grid: float = Field(default=1.8, ge=0, le=5)
    primary_energy_factor_gas: float = Field(default=1.1, ge=0, le=5)
    co2_oil_g_per_kwh: float = Field(default=310.0, ge=0, le=2000)
    co2_wood_g_per_kwh: float = Field(default=20.0, ge=0, le=2000)
    primary_energy_factor_oil: float = Field(default=1.1, ge=0, le=5)
    primary_energy_factor_wood: float = Field(default=0.2, ge=0, le=5)


class Costs(_Config):
    """Prices and investment costs of the cost KPI (2025 German figures, assumptions).

    ``annual_cost_eur`` = energy cost of the period scaled to a year + the annuity of
    the investment (interest ``interest_frac``, ``lifetime_a`` years).
    """

    import_eur_per_kwh: float = Field(default=0.35, ge=0, le=5, description="Household tariff. [EUR/kWh]")
    export_eur_per_kwh: float = Field(default=0.08, ge=0, le=5, description="Feed-in payment. [EUR/kWh]")
    gas_eur_per_kwh: float = Field(default=0.11, ge=0, le=5, description="Gas tariff. [EUR/kWh]")
    pv_eur_per_kwp: float = Field(default=1400.0, ge=0, le=10000)
    solar_park_eur_per_kwp: float = Field(
        default=750.0, ge=0, le=10000, description="Ground-mounted PV park with its grid connection."
    )
    battery_eur_per_kwh: float = Field(default=700.0, ge=0, le=10000, description="Home battery.")
    community_battery_eur_per_kwh: float = Field(default=450.0, ge=0, le=10000)
    heat_pump_eur_per_kw: float = Field(default=1800.0, ge=0, le=20000, description="Per kW thermal, installed.")
    retrofit_eur_per_m2: float = Field(default=250.0, ge=0, le=5000, description="Per m2 floor area.")
    charger_eur: float = Field(default=1500.0, ge=0, le=100000, description="Per wallbox (cars not counted).")
    transformer_eur_per_kva: float = Field(default=60.0, ge=0, le=10000)
    cable_eur_per_km: float = Field(default=120000.0, ge=0, le=1e7)
    interest_frac: float = Field(default=0.03, ge=0, le=0.5)
    lifetime_a: int = Field(default=20, ge=1, le=100)


class Scenario(_Config):
    """A scenario file."""

    name: str = Field(
        pattern=_NAME_PATTERN,
        max_length=80,
        description="Folder name of results.",
        json_schema_extra={"allowed": _NAME_ALLOWED},
    )
    description: str = Field(default="", max_length=500)
    district: str = Field(default="beucha", description="Built-in district or a file relative to the scenario.")
    calibration: str | None = Field(
        default=None,
        description="Calibration file of 'twin calibrate' applied to the district, relative to the scenario.",
    )
    weather: str | None = Field(
        default=None,
        description="Weather file relative to the scenario, or try2010, try2015, try2045; default try2010.",
    )
    year: int = Field(default=2025, ge=1990, le=2100, description="Calendar year (UTC).")
    start: str | None = Field(default=None, description="Period start, ISO date or time (UTC).")
    end: str | None = Field(default=None, description="Period end, exclusive (UTC).")
    step_min: int = Field(default=STEP_MIN, description="Step length; only 15. [min]")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    output: OutputLevel = Field(default="grid")
    changes: ScenarioChanges = Field(default_factory=ScenarioChanges)
    control: Control | None = Field(default=None, description="Controllers in the loop; none: no control.")
    factors: Factors = Field(default_factory=Factors)
    costs: Costs = Field(default_factory=Costs)
    ensemble: dict[str, Any] | None = Field(
        default=None,
        exclude=True,
        description="Ensemble settings for twin scenario ensemble (scenarios.ensemble_settings); not part of a run.",
    )

    @model_validator(mode="after")
    def _period(self) -> Scenario:
        if self.step_min != STEP_MIN:
            raise LocatedError(["step_min"], f"step {self.step_min} min is not supported", allowed=str(STEP_MIN))
        year_start = pd.Timestamp(f"{self.year}-01-01")
        year_end = pd.Timestamp(f"{self.year + 1}-01-01")
        stamps = {}
        for name, value, default in (("start", self.start, year_start), ("end", self.end, year_end)):
            try:
                stamp = default if value is None else pd.Timestamp(value)
            except (ValueError, TypeError):
                raise LocatedError(
                    [name], f"{value!r} is not a date or time", allowed="ISO 8601, e.g. 2025-06-01"
                ) from None
            if stamp.tzinfo is not None:
                stamp = stamp.tz_convert("UTC").tz_localize(None)
            if stamp != stamp.floor(STEP_FREQ):
                raise LocatedError([name], f"{value!r} is not on the 15-minute grid", allowed="a quarter hour")
            if not year_start <= stamp <= year_end:
                raise LocatedError(
                    [name], f"{value!r} lies outside the year {self.year}", allowed=f"within {self.year}"
                )
            stamps[name] = stamp
        if stamps["end"] - stamps["start"] < pd.Timedelta(hours=1):
            raise LocatedError(["end"], "the period must be at least one hour long", allowed="end > start + 1 h")
        return self

    @model_validator(mode="after")
    def _control(self) -> Scenario:
        if self.control is not None and self.control.battery is not None and self.changes.community_battery is None:
            raise LocatedError(
                ["control", "battery"], "the scenario has no community battery", allowed="changes.community_battery"
            )
        return self

    @property
    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``[start, end)`` in UTC (tz-naive)."""
        start = pd.Timestamp(self.start) if self.start else pd.Timestamp(f"{self.year}-01-01")
        end = pd.Timestamp(self.end) if self.end else pd.Timestamp(f"{self.year + 1}-01-01")
        return _naive_utc(start), _naive_utc(end)


class Sweep(_Config):
    """A sweep file: a base scenario and parameters with value lists."""

    name: str = Field(pattern=_NAME_PATTERN, max_length=60, json_schema_extra={"allowed": _NAME_ALLOWED})
    description: str = Field(default="", max_length=500)
    base: str | dict[str, Any] = Field(description="Built-in scenario name, scenario file, or an inline scenario.")
    mode: Literal["product", "list"] = Field(default="product", description="product or list (zip).")
    parameters: dict[str, list[Any]] = Field(min_length=1, description="Dotted path -> list of values.")
    ensemble: dict[str, Any] | None = Field(
        default=None,
        description="Ensemble settings (scenarios.ensemble_settings): every sweep point runs as an ensemble.",
    )


def _naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
