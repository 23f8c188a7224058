"""Sample ensembles for the dashboard tests, written by the ensemble engine's own writer."""

from __future__ import annotations

from pathlib import Path

from scenarios.ensemble import draw_members
from scenarios.ensemble_results import month_column
from scenarios.ensemble_settings import ensemble_settings
from scenarios.ensemble_summary import summarise, write_ensemble

#: Members of a sample ensemble; member i's balance is (i - 5) MWh in every month.
MEMBERS = 10


def write_ensemble_sample(results: Path, scenario: str, *, offset_mwh: float = 0.0) -> Path:
    """``results/SCENARIO-ensemble/``: member i imports i MWh and exports 5 MWh a month, no gas.

    Its year's all-carrier balance is 12 (i - 5) MWh + 12 ``offset_mwh``; its transformer peaks
    at 95 + 2 i % (above 100 % for i >= 3).
    """
    records = draw_members(ensemble_settings(members=MEMBERS, seed=0))
    kpis = []
    for i in range(MEMBERS):
        import_mwh, export_mwh = i + offset_mwh, 5.0
        row: dict[str, float] = {
            "energy_balance_kwh": 12_000.0 * (import_mwh - export_mwh),
            "electricity_balance_kwh": 12_000.0 * (import_mwh - export_mwh),
            "import_kwh": 12_000.0 * import_mwh,
            "export_kwh": 12_000.0 * export_mwh,
            "fuel_kwh": 0.0,
            "self_sufficiency_frac": 0.3 + 0.01 * i,
            "trafo_loading_max_percent": 95.0 + 2.0 * i,
            "line_loading_max_percent": 80.0,
            "outside_band_h": 0.0,
        }
        for month in range(1, 13):
            row[month_column(month, "import_kwh")] = 1000.0 * import_mwh
            row[month_column(month, "export_kwh")] = 1000.0 * export_mwh
            row[month_column(month, "fuel_kwh")] = 0.0
        kpis.append(row)
    summary = summarise(scenario, ensemble_settings(members=MEMBERS, seed=0), records, kpis)
    return write_ensemble(summary, results)
