"""The scenario report and the side-by-side comparison, drawn by plotly.js (offline).

``report.html`` holds a KPI table, the monthly energy balance, the load duration
curve at the transformer, the voltage band (daily minimum and maximum over all
buses), the energy flows (Sankey) and the costs. A controlled run whose buildings the
occupants would not accept (:mod:`models.control.comfort`) carries the warning above
its KPIs. Each figure is plotly's HTML fragment, written from the figure's JSON by
:mod:`scenarios.plotly_html` (a scenario run does not import plotly); the page around
them is a small :class:`string.Template`. plotly.js is never fetched from a CDN:
reports refer to one shared ``plotly.min.js`` in the results folder (written once by
:func:`write_plotly_js`); the comparison page embeds it, so it can be mailed on its own.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from models.control.comfort import comfort_warning
from scenarios.plotly_html import Figure, dates, figure, figure_div, hline, plotly_min_js, typed_array
from scenarios.results import PLOTLY_JS, SHARED_PLOTLY_JS, read_kpis
from twin.core.vocabulary import CONTROL_KPI_CATALOGUE, KPI_CATALOGUE, LOAD_KINDS, kpi

if TYPE_CHECKING:
    from scenarios.results import ScenarioResult

__all__ = [
    "COMPARE_KPIS",
    "CONTROL_KPIS",
    "compare_table",
    "display_table",
    "format_kpi",
    "format_value",
    "write_compare_html",
    "write_plotly_js",
    "write_report",
]

#: KPIs in the comparison, in order, with their display names (the catalogue's, stored units).
COMPARE_KPIS: Final[dict[str, str]] = {spec.name: spec.heading for spec in KPI_CATALOGUE}
#: The control KPIs, shown after :data:`COMPARE_KPIS` where a run has a ``control:`` block.
CONTROL_KPIS: Final[dict[str, str]] = {spec.name: spec.heading for spec in CONTROL_KPI_CATALOGUE}

_PAGE: Final[Template] = Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<script src="$plotly_js"></script>
<style>body{font-family:sans-serif;margin:1em 2em;max-width:1100px}
.warning{border:2px solid #b00020;background:#fdecea;color:#7a0014;padding:0.6em 1em;font-weight:bold}</style></head>
<body><h1>$title</h1><p>$description</p>
$warning$figures
</body></html>
"""
)


def write_plotly_js(folder: Path) -> Path:
    """Write ``plotly.min.js`` into a folder once (atomically) and return its path."""
    path = folder / PLOTLY_JS
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{PLOTLY_JS}.{os.getpid()}.tmp")
        tmp.write_text(plotly_min_js(), encoding="utf-8")
        tmp.replace(path)
    return path


def write_report(result: ScenarioResult, path: Path, *, plotly_js: str = SHARED_PLOTLY_JS) -> Path:
    """Write a scenario's ``report.html``."""
    figures = [
        _kpi_table(result.kpis),
        _monthly_balance(result),
        _duration_curve(result),
        _voltage_band(result),
        _energy_flows(result.kpis),
        _costs(result),
    ]
    body = "\n".join(figure_div(fig) for fig in figures)
    page = _PAGE.substitute(
        title=html.escape(f"Scenario {result.scenario.name}"),
        description=html.escape(result.scenario.description),
        plotly_js=html.escape(plotly_js),
        warning=_comfort_warning_div(result.kpis),
        figures=body,
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def compare_table(folders: Sequence[str | Path]) -> pd.DataFrame:
    """KPIs of result folders side by side: one column per scenario, one row per KPI.

    Columns are named by the runs' scenario names; runs of one name in several folders are told
    apart by their folder (``name (folder)``).

    Where any of the runs has a ``control:`` block, the control KPIs (:data:`CONTROL_KPIS`: hours
    over 100 %, blocked and dimmed energy, deferred heat, comfort) follow; ``None`` where a run
    has none.
    """
    read = {str(folder): read_kpis(folder) for folder in folders}
    names = dict(COMPARE_KPIS)
    if any(key in kpis for kpis in read.values() for key in CONTROL_KPIS):
        names.update(CONTROL_KPIS)
    labels = {folder: str(kpis.get("scenario", Path(folder).name)) for folder, kpis in read.items()}
    shared = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    columns = {
        f"{labels[folder]} ({folder})" if labels[folder] in shared else labels[folder]: {
            key: kpis.get(key) for key in names
        }
        for folder, kpis in read.items()
    }
    return pd.DataFrame(columns, index=list(names)).rename(index=names)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`compare_table` as shown: rows by the catalogue's display heading, values as text in its display unit."""
    name_of = {heading: name for name, heading in (*COMPARE_KPIS.items(), *CONTROL_KPIS.items())}
    rows = {
        kpi(name_of[str(label)]).display_heading: [format_kpi(name_of[str(label)], v) for v in row.tolist()]
        for label, row in table.iterrows()
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(table.columns))


def format_kpi(name: str, value: Any) -> str:
    """A KPI value as the catalogue shows it (:meth:`~twin.core.vocabulary.KpiSpec.display`): ``54.3`` for 0.543.

    Booleans read yes/no, missing values ``-``, text stays text.
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.number):
        return kpi(name).display(value)
    return str(value)


def write_compare_html(table: pd.DataFrame, path: Path) -> Path:
    """Write the comparison as a self-contained page (plotly.js embedded)."""
    import plotly.graph_objects as go

    shown = display_table(table)
    cells = [[str(i) for i in shown.index]] + [list(shown[c]) for c in shown.columns]
    fig = go.Figure(go.Table(header={"values": ["KPI", *table.columns]}, cells={"values": cells, "align": "right"}))
    fig.update_layout(title="Scenarios side by side", height=60 + 28 * len(table))
    balance = table.loc[COMPARE_KPIS["energy_balance_kwh"]].astype(float) / 1000
    loading = table.loc[COMPARE_KPIS["trafo_loading_max_percent"]].astype(float)
    bars = go.Figure([go.Bar(x=list(table.columns), y=balance.to_numpy(), name="all-carrier balance [MWh]")])
    bars.add_trace(go.Scatter(x=list(table.columns), y=loading.to_numpy(), name="max trafo loading [%]", yaxis="y2"))
    bars.update_layout(
        title="All-carrier balance (<= 0: energy-neutral) and transformer loading",
        yaxis={"title": "MWh/period"},
        yaxis2={"title": "%", "overlaying": "y", "side": "right"},
    )
    body = fig.to_html(full_html=False, include_plotlyjs=True) + bars.to_html(full_html=False, include_plotlyjs=False)
    page = _PAGE.substitute(title="Scenario comparison", description="", plotly_js="data:,", warning="", figures=body)
    path.write_text(page, encoding="utf-8")
    return path


def format_value(value: Any) -> str:
    """A KPI value for tables: booleans as yes/no, small numbers with 3 decimals."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float) and 0 < abs(value) < 10:
        return f"{value:.3f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def _comfort_warning_div(kpis: dict[str, Any]) -> str:
    """The comfort warning above the KPI table of a controlled run that fails the verdict (``""``: none)."""
    line = comfort_warning(kpis)
    if line is None:
        return ""
    return f'<p class="warning" id="comfort-warning">Warning: {html.escape(line)}</p>\n'


def _kpi_table(kpis: dict[str, Any]) -> Figure:
    names = [key for key in (*COMPARE_KPIS, *CONTROL_KPIS) if key in kpis]
    table = {
        "cells": {
            "align": "right",
            "values": [[kpi(k).display_heading for k in names], [format_kpi(k, kpis[k]) for k in names]],
        },
        "header": {"values": ["KPI", "value"]},
        "type": "table",
    }
    return figure([table], "Key figures (substation, grid losses included)", height=60 + 26 * len(names))


def _monthly_balance(result: ScenarioResult) -> Figure:
    assets = result.assets
    time = pd.DatetimeIndex(assets["time"].values)
    dt_h = (time[1] - time[0]) / pd.Timedelta(hours=1)
    p = assets["p_kw"].values  # float32; sums in float64 without a float64 copy of the whole year
    kind = assets["kind"].values
    p_grid = result.grid["p_grid_kw"].fillna(0.0).values.astype(np.float64)
    frame = pd.DataFrame(
        {
            "load": np.clip(p[:, np.isin(kind, LOAD_KINDS)], 0, None).sum(axis=1, dtype=np.float64),
            "PV": np.clip(-p[:, kind == "pv"], 0, None).sum(axis=1, dtype=np.float64),
            "grid import": np.clip(p_grid, 0, None),
            "grid export": np.clip(-p_grid, 0, None),
            "gas": assets["p_fuel_kw"].values.sum(axis=1, dtype=np.float64),
        },
        index=time,
    )
    monthly = frame.resample("MS").sum() * dt_h / 1000.0
    months = monthly.index.strftime("%Y-%m").tolist()
    bars = []
    for name in monthly.columns:
        sign = -1.0 if name in ("grid export",) else 1.0
        bars.append({"name": name, "x": months, "y": typed_array(sign * monthly[name].to_numpy()), "type": "bar"})
    return figure(bars, "Monthly balance (export negative)", yaxis={"title": {"text": "MWh"}}, barmode="group")


def _duration_curve(result: ScenarioResult) -> Figure:
    grid = result.grid
    trafo = grid["loading_percent"].where(grid["branch_kind"] == "trafo").max("branch").values
    values = np.sort(np.nan_to_num(trafo))[::-1]
    step = max(1, len(values) // 2000)
    hours = np.arange(len(values)) * float((grid["time"].values[1] - grid["time"].values[0]) / np.timedelta64(1, "h"))
    curve = {"name": "transformer loading", "x": typed_array(hours[::step]), "y": typed_array(values[::step])}
    shape, annotations = hline(100, "rated")
    return figure(
        [{**curve, "type": "scatter"}],
        "Load duration curve at the transformer",
        shapes=[shape],
        annotations=annotations,
        xaxis={"title": {"text": "hours"}},
        yaxis={"title": {"text": "loading [%]"}},
    )


def _voltage_band(result: ScenarioResult) -> Figure:
    vm = result.grid["vm_pu"]
    daily = pd.DataFrame({"min": vm.min("bus").to_series(), "max": vm.max("bus").to_series()}).resample("D")
    low, high = daily["min"].min(), daily["max"].max()
    lines = [
        {"name": "highest bus voltage", "x": dates(high.index), "y": typed_array(high.to_numpy()), "type": "scatter"},
        {"name": "lowest bus voltage", "x": dates(low.index), "y": typed_array(low.to_numpy()), "type": "scatter"},
    ]
    shapes = [hline(level)[0] for level in (0.9, 1.1)]
    return figure(
        lines, "Voltage band (daily extremes, EN 50160 +-10 %)", shapes=shapes, yaxis={"title": {"text": "p.u."}}
    )


def _energy_flows(kpis: dict[str, Any]) -> Figure:
    mwh = {k: max(float(kpis.get(k) or 0.0), 0.0) / 1000.0 for k in kpis if k.endswith("_kwh")}
    labels = [
        "PV",
        "grid import",
        "gas",
        "district grid",
        "loads, heat pumps, EVs",
        "export",
        "grid losses",
        "storage",
        "gas boilers",
    ]
    links = [
        (0, 3, mwh.get("generation_kwh", 0.0)),
        (1, 3, mwh.get("import_kwh", 0.0)),
        (2, 8, mwh.get("fuel_kwh", 0.0)),
        (3, 4, mwh.get("load_kwh", 0.0)),
        (3, 5, mwh.get("export_kwh", 0.0)),
        (3, 6, mwh.get("losses_kwh", 0.0)),
        (3, 7, mwh.get("battery_net_charge_kwh", 0.0)),
    ]
    links = [link for link in links if link[2] > 0]
    sankey = {
        "link": {
            "source": [s for s, _, _ in links],
            "target": [t for _, t, _ in links],
            "value": [v for *_, v in links],
        },
        "node": {"label": labels},
        "type": "sankey",
    }
    return figure([sankey], "Energy flows over the period [MWh]")


def _costs(result: ScenarioResult) -> Figure:
    k, c = result.kpis, result.scenario.costs
    scale = k["energy_cost_per_year_eur"] / k["energy_cost_eur"] if k["energy_cost_eur"] else 1.0
    parts = {
        "grid import": k["import_kwh"] * c.import_eur_per_kwh * scale,
        "gas": k["fuel_kwh"] * c.gas_eur_per_kwh * scale,
        "export revenue": -k["export_kwh"] * c.export_eur_per_kwh * scale,
        "annuity of investment": k["annuity_eur"],
        "annual cost": k["annual_cost_eur"],
    }
    bar = {"x": list(parts), "y": [float(v) for v in parts.values()], "type": "bar"}
    title = f"Costs per year (investment {k['investment_eur']:,.0f} EUR, {c.lifetime_a} a at {c.interest_frac:.1%})"
    return figure([bar], title, yaxis={"title": {"text": "EUR/a"}})
