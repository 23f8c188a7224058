"""Planning scenarios: files, the runner, Dask fan-out, comparison and reports.

The public API, re-exported here: :mod:`scenarios.config` (scenario and sweep files),
:mod:`scenarios.runner` (:func:`run_scenario` and the shared inputs of a sweep),
:mod:`scenarios.parallel` (many scenarios in-process or on Dask) and the readers of
result folders in :mod:`scenarios.results` and :mod:`scenarios.report`.
"""

from scenarios.config import Scenario, Sweep, builtin_scenarios, load_scenario, load_sweep
from scenarios.parallel import run_scenarios
from scenarios.report import compare_table
from scenarios.results import read_kpis
from scenarios.runner import SharedInputs, prepare_shared, run_scenario

__all__ = [
    "Scenario",
    "SharedInputs",
    "Sweep",
    "builtin_scenarios",
    "compare_table",
    "load_scenario",
    "load_sweep",
    "prepare_shared",
    "read_kpis",
    "run_scenario",
    "run_scenarios",
]
