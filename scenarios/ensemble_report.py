"""An ensemble's report and the comparison of ensembles: KPI intervals (P10-P90 around P50) and probabilities.

:func:`interval_table` turns an ensemble into rows of the KPI catalogue shown as
``P50 (P10 - P90)`` in their display units, followed by the probabilities;
:func:`compare_ensembles` puts several ensembles side by side (``twin scenario compare`` on
ensemble folders); :func:`write_ensemble_report` writes a self-contained ``report.html`` into
the ensemble's folder with the table and the members' distribution of the all-carrier balance
and the transformer's highest loading.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io

from scenarios.ensemble_summary import PROBABILITIES, EnsembleSummary, read_ensemble
from scenarios.results import ENSEMBLE_JSON, REPORT_HTML
from twin.core.vocabulary import KPI_CATALOGUE

__all__ = ["compare_ensembles", "interval_table", "is_ensemble_folder", "write_compare_page", "write_ensemble_report"]


def is_ensemble_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds an ensemble's summary."""
    return (Path(folder) / ENSEMBLE_JSON).is_file()


def interval_table(summary: EnsembleSummary) -> pd.Series:
    """The catalogue's KPIs as ``P50 (P10 - P90)`` text and the probabilities as percentages."""
    rows = {}
    for spec in KPI_CATALOGUE:
        if spec.name in summary.percentiles.index:
            row = summary.percentiles.loc[spec.name]
            rows[spec.display_heading] = (
                f"{spec.display(row['p50'])} ({spec.display(row['p10'])} - {spec.display(row['p90'])})"
            )
    for name, probability in summary.probabilities.items():
        rows[f"P({PROBABILITIES[name][3]})"] = f"{probability:.0%}"
    rows["members"] = str(len(summary.members))
    return pd.Series(rows, name=summary.scenario)


def compare_ensembles(folders: Sequence[str | Path]) -> pd.DataFrame:
    """Ensembles side by side: one column per ensemble, rows as :func:`interval_table`."""
    return pd.concat([interval_table(read_ensemble(folder)) for folder in folders], axis=1)


def write_compare_page(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a :func:`compare_ensembles` table as a self-contained page (plotly.js embedded)."""
    cells = {"values": [list(table.index)] + [list(table[c]) for c in table.columns], "align": "right"}
    fig = go.Figure(go.Table(header={"values": ["KPI", *table.columns]}, cells=cells))
    fig.update_layout(title="Ensembles side by side: P50 (P10 - P90)", height=80 + 26 * len(table))
    Path(path).write_text(plotly.io.to_html(fig, full_html=True, include_plotlyjs=True), encoding="utf-8")
    return Path(path)


def write_ensemble_report(summary: EnsembleSummary, folder: str | Path) -> Path:
    """Write ``report.html`` (plotly.js embedded) into the ensemble's folder and return its path."""
    table = interval_table(summary)
    header = {"values": ["KPI", "P50 (P10 - P90)"]}
    cells = {"values": [list(table.index), list(table.values)], "align": ["left", "right"]}
    figures = [go.Figure(go.Table(header=header, cells=cells)).update_layout(height=60 + 26 * len(table))]
    members = summary.members
    for column, label, threshold in (
        ("energy_balance_kwh", "all-carrier balance [MWh] (<= 0: energy-neutral)", 0.0),
        ("trafo_loading_max_percent", "transformer highest loading [%]", 100.0),
    ):
        if column in members:
            scale = 1e-3 if column.endswith("_kwh") else 1.0
            fig = go.Figure(go.Histogram(x=members[column] * scale, nbinsx=20))
            fig.add_vline(x=threshold, line_dash="dash")
            fig.update_layout(title=f"{label}: members", xaxis_title=label, yaxis_title="members", height=320)
            figures.append(fig)
    body = "\n".join(
        plotly.io.to_html(fig, full_html=False, include_plotlyjs=number == 0) for number, fig in enumerate(figures)
    )
    title = f"{summary.scenario}: ensemble of {len(members)} members"
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:sans-serif;margin:1em 2em;max-width:1100px}</style></head>"
        f"<body><h1>{title}</h1><p>P10/P50/P90 over the members; probabilities are shares of members "
        f"(members.csv holds every member's record and KPIs).</p>{body}</body></html>"
    )
    path = Path(folder) / REPORT_HTML
    path.write_text(page, encoding="utf-8")
    return path
