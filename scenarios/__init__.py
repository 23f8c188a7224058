"""Planning scenarios: files, the runner, Dask fan-out, comparison and reports.

The public API, importable from here and loaded on first use (so that importing one
module, such as the result-folder readers of :mod:`scenarios.results`, costs only what
that module imports): :mod:`scenarios.config` (scenario and sweep files),
:mod:`scenarios.runner` (:func:`run_scenario` and the shared inputs of a sweep),
:mod:`scenarios.parallel` (many scenarios in-process or on Dask), the result folders in
:mod:`scenarios.results` (names, :class:`ScenarioResult`, readers) and
:mod:`scenarios.writer`, and the comparison in :mod:`scenarios.report`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from twin.core.lazy import lazy_exports

if TYPE_CHECKING:
    from scenarios.config import Scenario, Sweep, builtin_scenarios, load_scenario, load_sweep
    from scenarios.parallel import run_scenarios
    from scenarios.report import compare_table
    from scenarios.results import ResultFolder, ScenarioResult, list_results, read_kpis
    from scenarios.runner import SharedInputs, prepare_shared, run_scenario

#: Public name -> the module that defines it.
_EXPORTS: Final[dict[str, str]] = {
    "Scenario": "scenarios.config",
    "Sweep": "scenarios.config",
    "builtin_scenarios": "scenarios.config",
    "load_scenario": "scenarios.config",
    "load_sweep": "scenarios.config",
    "run_scenarios": "scenarios.parallel",
    "compare_table": "scenarios.report",
    "ResultFolder": "scenarios.results",
    "ScenarioResult": "scenarios.results",
    "list_results": "scenarios.results",
    "read_kpis": "scenarios.results",
    "SharedInputs": "scenarios.runner",
    "prepare_shared": "scenarios.runner",
    "run_scenario": "scenarios.runner",
}

__all__ = [
    "ResultFolder",
    "Scenario",
    "ScenarioResult",
    "SharedInputs",
    "Sweep",
    "builtin_scenarios",
    "compare_table",
    "list_results",
    "load_scenario",
    "load_sweep",
    "prepare_shared",
    "read_kpis",
    "run_scenario",
    "run_scenarios",
]


__getattr__, __dir__ = lazy_exports("scenarios", _EXPORTS, globals())
