"""An ensemble's answer: P10/P50/P90 of every KPI, the probabilities that matter, the member table.

The percentiles are taken over the members with linear interpolation
(:func:`numpy.percentile`), so P10 <= P50 <= P90 for every KPI: P50 is the member in the
middle, and 10 % of the members lie below P10 and 10 % above P90. They describe the spread
the ensemble's uncertain inputs make (weather year, stochastic draws, model parameters), not a
forecast of any one year. The probabilities are shares of members:

* ``energy_neutral``: the all-carrier balance ``energy_balance_kwh`` (electricity import
  plus gas, oil and wood minus export at the substation, losses included) is <= 0;
* ``electricity_neutral``: the electricity balance alone is <= 0;
* ``trafo_over_100``: the transformer's highest loading exceeds 100 %;
* ``line_over_100``: any line's highest loading exceeds 100 %;
* ``outside_voltage_band``: at least one step has a bus outside 1 +- 0.1 p.u.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from scenarios.ensemble import MemberRecord
from scenarios.ensemble_settings import EnsembleSettings
from scenarios.results import ENSEMBLE_JSON, ENSEMBLE_SUFFIX, MEMBERS_CSV
from twin.core.errors import ConfigError

__all__ = [
    "PERCENTILES",
    "PROBABILITIES",
    "EnsembleSummary",
    "read_ensemble",
    "summarise",
    "write_ensemble",
]

#: The percentiles reported, as (column, percent).
PERCENTILES: Final[tuple[tuple[str, float], ...]] = (("p10", 10.0), ("p50", 50.0), ("p90", 90.0))
#: The probabilities reported: name -> (KPI, test, threshold, what it means).
PROBABILITIES: Final[dict[str, tuple[str, str, float, str]]] = {
    "energy_neutral": ("energy_balance_kwh", "<=", 0.0, "all-carrier balance <= 0"),
    "electricity_neutral": ("electricity_balance_kwh", "<=", 0.0, "electricity balance <= 0"),
    "trafo_over_100": ("trafo_loading_max_percent", ">", 100.0, "transformer above 100 %"),
    "line_over_100": ("line_loading_max_percent", ">", 100.0, "a line above 100 %"),
    "outside_voltage_band": ("outside_band_h", ">", 0.0, "hours outside 1 +- 0.1 p.u."),
}


@dataclass(frozen=True)
class EnsembleSummary:
    """The summary of an ensemble.

    Attributes
    ----------
    scenario : str
        The scenario's name.
    percentiles : pandas.DataFrame
        Index KPI, columns ``p10``, ``p50``, ``p90``.
    probabilities : dict of str to float
        Share of members (0-1) per :data:`PROBABILITIES` name.
    members : pandas.DataFrame
        One row per member: its record, then its KPIs.
    settings : dict
        The ensemble settings (JSON-able).
    """

    scenario: str
    percentiles: pd.DataFrame
    probabilities: dict[str, float]
    members: pd.DataFrame
    settings: dict[str, Any]


def summarise(
    scenario: str, settings: EnsembleSettings, records: Sequence[MemberRecord], kpis: Sequence[dict[str, Any]]
) -> EnsembleSummary:
    """Percentiles, probabilities and the member table of the members' KPIs."""
    table = pd.DataFrame([dataclasses.asdict(r) | dict(k) for r, k in zip(records, kpis, strict=True)])
    values = pd.DataFrame(list(kpis))
    numeric = [c for c in values.columns if values[c].dtype != bool and pd.api.types.is_numeric_dtype(values[c])]
    rows = {}
    for name in numeric:
        column = values[name].to_numpy(dtype=float)
        finite = column[np.isfinite(column)]
        rows[name] = [float(np.percentile(finite, q)) if len(finite) else math.nan for _, q in PERCENTILES]
    percentiles = pd.DataFrame.from_dict(rows, orient="index", columns=[c for c, _ in PERCENTILES])
    percentiles.index.name = "kpi"
    probabilities = {}
    for name, (kpi, test, threshold, _meaning) in PROBABILITIES.items():
        if kpi in values:
            column = values[kpi].to_numpy(dtype=float)
            hit = column <= threshold if test == "<=" else column > threshold
            probabilities[name] = float(np.mean(hit))
    return EnsembleSummary(scenario, percentiles, probabilities, table, settings.model_dump(mode="json"))


def write_ensemble(summary: EnsembleSummary, out_dir: str | Path) -> Path:
    """Write ``members.csv`` and ``ensemble.json`` into ``out_dir/NAME-ensemble/``; return the folder."""
    folder = Path(out_dir) / f"{summary.scenario}{ENSEMBLE_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=True)
    summary.members.to_csv(folder / MEMBERS_CSV, index=False)
    document = {
        "scenario": summary.scenario,
        "members": len(summary.members),
        "member_table": MEMBERS_CSV,
        "settings": summary.settings,
        "probabilities": summary.probabilities,
        "probability_definitions": {name: spec[3] for name, spec in PROBABILITIES.items()},
        "percentiles": {
            kpi: {c: (None if math.isnan(v) else v) for c, v in row.items()}
            for kpi, row in summary.percentiles.to_dict(orient="index").items()
        },
    }
    (folder / ENSEMBLE_JSON).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return folder


def read_ensemble(folder: str | Path) -> EnsembleSummary:
    """Read an ensemble folder written by :func:`write_ensemble`.

    Raises
    ------
    ConfigError
        If the folder holds no ensemble.
    """
    folder = Path(folder)
    path = folder / ENSEMBLE_JSON
    if not path.is_file():
        raise ConfigError(f"no {ENSEMBLE_JSON} in this folder", file=str(folder), allowed="an ensemble folder")
    document = json.loads(path.read_text(encoding="utf-8"))
    percentiles = pd.DataFrame.from_dict(document["percentiles"], orient="index").astype(float)
    percentiles.index.name = "kpi"
    members = pd.read_csv(folder / MEMBERS_CSV, float_precision="round_trip")
    return EnsembleSummary(
        document["scenario"], percentiles, dict(document["probabilities"]), members, document["settings"]
    )
