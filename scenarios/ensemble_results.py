"""Ensemble folders as the dashboard reads them, and each member's energy per calendar month.

:func:`list_ensembles` finds the ensemble folders ``OUT/NAME-ensemble/`` under a results
folder and :class:`EnsembleFolder` reads their summary (``ensemble.json``) and member table
(``members.csv``) without importing the ensemble engine (no models, no Dask).

Each member also keeps the electricity imported and exported at the substation (grid losses
included, netted within each step, as the KPIs ``import_kwh`` and ``export_kwh``) and the gas
drawn (``fuel_kwh``) per local calendar month of the district's time zone, as columns
``month_01_import_kwh`` ... ``month_12_fuel_kwh`` of ``members.csv`` (:func:`monthly_energy`);
summed over the months they give the member's KPIs. The dashboard's Year page continues the
measured balance with each member's months still to come and shows the P10-P90 band over the
members (:func:`monthly_frame` reads them back).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pandas as pd

from scenarios.results import ENSEMBLE_JSON, ENSEMBLE_SUFFIX, MEMBERS_CSV

if TYPE_CHECKING:
    from scenarios.results import ScenarioResult

__all__ = [
    "MONTH_TERMS",
    "EnsembleFolder",
    "list_ensembles",
    "month_column",
    "monthly_energy",
    "monthly_frame",
]

#: The energy terms kept per month, named as the KPIs they sum to. [kW h]
MONTH_TERMS: Final[tuple[str, ...]] = ("import_kwh", "export_kwh", "fuel_kwh")
_COLUMN: Final[re.Pattern[str]] = re.compile(r"^month_(\d\d)_(import_kwh|export_kwh|fuel_kwh)$")


@dataclass(frozen=True)
class EnsembleFolder:
    """One ensemble folder ``OUT/NAME-ensemble/``.

    Attributes
    ----------
    folder : pathlib.Path
    name : str
        The folder's name (``NAME-ensemble``).
    scenario : str
        The scenario's name.
    members : int
        Number of members.
    percentiles : dict
        KPI -> ``{"p10": ..., "p50": ..., "p90": ...}`` (None where a KPI had no finite value).
    probabilities : dict
        Probability name -> share of members (0-1).
    definitions : dict
        Probability name -> what it means.
    """

    folder: Path
    name: str
    scenario: str
    members: int
    percentiles: dict[str, dict[str, float | None]]
    probabilities: dict[str, float]
    definitions: dict[str, str]

    @classmethod
    def at(cls, folder: str | Path) -> EnsembleFolder:
        """Read the summary of the ensemble folder ``folder`` (OSError or ValueError when unreadable)."""
        path = Path(folder)
        document = json.loads((path / ENSEMBLE_JSON).read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"{path / ENSEMBLE_JSON} holds no JSON object")
        return cls(
            folder=path,
            name=path.name,
            scenario=str(document.get("scenario", path.name.removesuffix(ENSEMBLE_SUFFIX))),
            members=int(document.get("members", 0)),
            percentiles=dict(document.get("percentiles", {})),
            probabilities={str(k): float(v) for k, v in dict(document.get("probabilities", {})).items()},
            definitions={str(k): str(v) for k, v in dict(document.get("probability_definitions", {})).items()},
        )

    @property
    def members_path(self) -> Path:
        """The member table (``members.csv``)."""
        return self.folder / MEMBERS_CSV

    def percentile(self, kpi: str, column: str) -> float:
        """P10, P50 or P90 (``column`` ``p10``/``p50``/``p90``) of ``kpi``; NaN when unknown."""
        value = self.percentiles.get(kpi, {}).get(column)
        return math.nan if value is None else float(value)

    def member_table(self) -> pd.DataFrame:
        """The member table: one row per member, its record and its KPIs."""
        return pd.read_csv(self.members_path, float_precision="round_trip")


def list_ensembles(results_dir: str | Path) -> list[EnsembleFolder]:
    """The readable ensemble folders under ``results_dir``, by name (unreadable ones left out)."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.glob(f"*{ENSEMBLE_SUFFIX}/{ENSEMBLE_JSON}")):
        try:
            out.append(EnsembleFolder.at(path.parent))
        except (OSError, ValueError, TypeError):
            continue
    return out


def month_column(month: int, term: str) -> str:
    """The member-table column of ``term`` in calendar month ``month`` (1-12): ``month_01_import_kwh``."""
    return f"month_{month:02d}_{term}"


def monthly_energy(result: ScenarioResult, *, timezone: str) -> dict[str, float]:
    """Import, export and gas of a run per local calendar month, as :func:`month_column` KPIs [kW h].

    Months outside the scenario's period are left out.
    """
    import numpy as np

    from scenarios.kpis import substation_assets
    from twin.core.kpi import boundary_flows

    flows = result.flows
    if flows is None:
        flows = boundary_flows(substation_assets(result.assets), p_loss_kw=result.grid["p_loss_kw"].fillna(0.0))
    times = pd.DatetimeIndex(flows["time"].values).tz_localize("UTC").tz_convert(timezone)
    frame = pd.DataFrame({term: np.asarray(flows[term].values, dtype=float) for term in MONTH_TERMS}, index=times)
    months = frame.groupby(frame.index.month).sum()
    return {
        month_column(int(month), term): float(row[term]) for month, row in months.iterrows() for term in MONTH_TERMS
    }


def monthly_frame(members: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The members' months from a member table: term -> frame (rows members, columns months 1-12) [kW h].

    Empty when the table holds no monthly columns (an ensemble written without them); a month
    without a column (outside the members' period) is 0.
    """
    found: dict[str, dict[int, pd.Series]] = {}
    for column in members.columns:
        match = _COLUMN.match(str(column))
        if match:
            found.setdefault(match.group(2), {})[int(match.group(1))] = members[column].astype(float)
    if not found:
        return {}
    zero = pd.Series(0.0, index=members.index)
    return {
        term: pd.DataFrame({m: found.get(term, {}).get(m, zero) for m in range(1, 13)}, index=members.index)
        for term in MONTH_TERMS
    }
