"""Scenario and sweep files: the YAML schema a planner writes, validated with one-line errors.

A **scenario file** names the district (a built-in name or a district file relative
to the scenario file), the weather, the calendar year and period, the step (15 min),
the seed, the output level and the changes against the district as it is today:
PV on roofs, home batteries, a community battery, heat pumps replacing gas boilers,
retrofits, EVs and chargers, grid reinforcements and a feed-in limit; the controllers in the
loop (``control:``, :class:`Control`); then the CO2
and primary-energy factors and the prices and investment costs of the cost KPI.

A **sweep file** names a base scenario and parameters - dotted paths into the
scenario such as ``changes.pv.share_frac`` - with lists of values; their product
(``mode: product``) or their zip (``mode: list``) becomes the scenarios.

Every problem of a file - malformed YAML, an unknown or missing key, a value out of
range, a step other than 15 min, a period outside the year - is one
:class:`~twin.core.errors.ConfigError` naming the file, the dotted field and what is
allowed. The models are pydantic v2, frozen, unknown keys rejected.

This module gathers the public names of :mod:`scenarios.records` (the records),
:mod:`scenarios.scenario_files` (reading scenario files) and :mod:`scenarios.sweep` (sweeps).
"""

from __future__ import annotations

from scenarios.records import (
    OUTPUT_LEVELS,
    BatteryStrategy,
    CommunityBatteryChange,
    Control,
    Costs,
    EvChange,
    Factors,
    FeedInLimit,
    GridChange,
    GridFee,
    HeatPumpChange,
    HomeBatteryChange,
    OutputLevel,
    PvChange,
    RetrofitChange,
    Scenario,
    ScenarioChanges,
    Sweep,
)
from scenarios.scenario_files import (
    builtin_path,
    builtin_scenarios,
    check_districts,
    is_sweep_file,
    load_scenario,
    parse_scenario,
    scenario_source,
)
from scenarios.sweep import MAX_SWEEP_SCENARIOS, MAX_SWEEP_VALUES, expand_sweep, load_sweep

__all__ = [
    "MAX_SWEEP_SCENARIOS",
    "MAX_SWEEP_VALUES",
    "OUTPUT_LEVELS",
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
    "OutputLevel",
    "PvChange",
    "RetrofitChange",
    "Scenario",
    "ScenarioChanges",
    "Sweep",
    "builtin_path",
    "builtin_scenarios",
    "check_districts",
    "expand_sweep",
    "is_sweep_file",
    "load_scenario",
    "load_sweep",
    "parse_scenario",
    "scenario_source",
]
