"""Scenarios page: two or more results side by side.

KPIs, monthly exchange and load duration curves, with downloads (CSV and NetCDF) through the
authenticated ``/download/NAME/FILE`` route, and beside them the measured data of the district
(``/api/v1/export``: the year so far at 15 minutes, and per day).
"""

from __future__ import annotations

import functools
from typing import Any, Final

import numpy as np
from dash import Dash, Input, Output, dcc, html

from dashboard.data import (
    DashboardConfig,
    DataCache,
    display_timezone,
    list_results,
    load_snapshot,
    open_result,
    sim_time,
)
from dashboard.figures import duration_figure, empty_figure, monthly_exchange, scenario_monthly_figure
from dashboard.history import download_links, period_bounds
from dashboard.pages.common import current, table
from scenarios.results import RESULT_NC
from twin.core.schema import SUBSTATION
from twin.core.vocabulary import STEP_H, kpi

__all__ = [
    "DOWNLOADS",
    "KPI_ROWS",
    "NAME",
    "PATH",
    "comparison_view",
    "layout",
    "measured_downloads",
    "register_callbacks",
]

PATH: Final[str] = "/scenarios"
NAME: Final[str] = "Scenarios"
LABEL_MEASURED: Final[str] = "Measured data of the district"
LABEL_YEAR: Final[str] = "the year so far"
LABEL_DAY: Final[str] = "the last 24 hours"
NO_MEASURED: Final[str] = "No live data yet."
#: Files offered for download per result: file name -> what it is.
DOWNLOADS: Final[dict[str, str]] = {
    RESULT_NC: "NetCDF result",
    "timeseries.csv": "substation time series (CSV)",
    "kpis.csv": "KPIs (CSV)",
}
#: The KPIs the comparison shows, in order (labels, units and scales from the catalogue).
_SHOWN_KPIS: Final[tuple[str, ...]] = (
    "energy_balance_kwh",
    "electricity_balance_kwh",
    "import_kwh",
    "export_kwh",
    "fuel_kwh",
    "self_sufficiency_frac",
    "self_consumption_frac",
    "pv_kwp",
    "peak_import_kw",
    "peak_export_kw",
    "trafo_loading_max_percent",
    "line_loading_max_percent",
    "vm_min_pu",
    "vm_max_pu",
    "outside_band_h",
    "co2_kg",
    "annual_cost_eur",
)
#: KPI rows of the comparison, from the catalogue: key in kpis.json, label with unit, scale, format.
KPI_ROWS: Final[tuple[tuple[str, str, float, str], ...]] = tuple(
    (spec.name, spec.display_heading, spec.scale, spec.fmt) for spec in (kpi(name) for name in _SHOWN_KPIS)
)


def layout() -> html.Div:
    """The page skeleton (no data: callbacks fill it)."""
    return html.Div(
        [
            html.H2("Compare scenarios"),
            html.Div(
                [html.Label("Results", htmlFor="scenario-select"), dcc.Dropdown(id="scenario-select", multi=True)],
                className="control wide",
            ),
            html.Div(id="scenario-kpis", className="panel"),
            html.Div(
                [
                    dcc.Graph(id="scenario-monthly", className="half"),
                    dcc.Graph(id="scenario-duration", className="half"),
                ],
                className="row",
            ),
            html.Div(id="scenario-downloads", className="panel"),
            html.Div(id="scenario-measured", className="panel"),
        ]
    )


def comparison_view(names: list[str] | None, config: DashboardConfig, cache: DataCache | None = None) -> dict[str, Any]:
    """``kpis`` (table), ``monthly`` and ``duration`` (figures) and ``downloads`` (links) of the chosen results."""
    results = {r.name: r for r in list_results(config.results_dir)}
    chosen = [name for name in names or [] if name in results]
    if not chosen:
        blank = empty_figure("choose two or more scenario results")
        return {"kpis": html.P("No result chosen."), "monthly": blank, "duration": blank, "downloads": []}
    kpis = {name: results[name].kpis() for name in chosen}
    rows = [
        [label] + [_format(kpis[name].get(key), scale, fmt) for name in chosen] for key, label, scale, fmt in KPI_ROWS
    ]
    monthly, series = {}, {}
    dt_h = STEP_H
    for name in chosen:
        if not results[name].has_dataset():
            continue
        ds = open_result(results[name].folder, cache=cache)
        if "p_grid_kw" in ds:
            stamp = results[name].dataset_stamp()
            build = functools.partial(monthly_exchange, ds["p_grid_kw"])
            monthly[name] = cache.get(("monthly", name, stamp), build) if cache is not None else build()
            series[name] = ds["p_grid_kw"].values
            if ds.sizes["time"] > 1:
                dt_h = float(np.diff(ds["time"].values[:2])[0] / np.timedelta64(1, "h"))
    downloads = [
        html.H3("Downloads"),
        html.Ul(
            [
                html.Li(
                    [
                        html.B(name),
                        " ",
                        *[
                            html.A(label, href=f"/download/{name}/{file}", className="download")
                            for file, label in DOWNLOADS.items()
                        ],
                    ]
                )
                for name in chosen
            ]
        ),
    ]
    return {
        "kpis": [html.H3("KPIs"), table(["KPI", *chosen], rows, table_id="scenario-kpi-table")],
        "monthly": scenario_monthly_figure(monthly),
        "duration": duration_figure(series, dt_h=dt_h),
        "downloads": downloads,
    }


def measured_downloads(config: DashboardConfig) -> list[Any]:
    """Links to the district's measured data (CSV and NetCDF at 15 minutes) of the year so far and the last day."""
    snapshot = load_snapshot(config.store_dir)
    now = sim_time(snapshot)
    if now is None:
        return [html.H3(LABEL_MEASURED), html.P(NO_MEASURED)]
    tz = display_timezone(snapshot)
    items = []
    for period, label in (("year", LABEL_YEAR), ("day", LABEL_DAY)):
        start, end = period_bounds(period, None, now, tz)
        items.append(html.Li([html.B(label), " ", *download_links(SUBSTATION, period, start, end)]))
    return [html.H3(LABEL_MEASURED), html.Ul(items, id="scenario-measured-links")]


def register_callbacks(app: Dash) -> None:
    """Attach the page's callbacks to ``app``."""

    @app.callback(
        Output("scenario-select", "options"), Output("scenario-select", "value"), Input("scenario-select", "id")
    )
    def _options(_id: str) -> tuple[Any, Any]:
        results = list_results(current()[0].results_dir)
        options = [
            {"label": f"{r.name} - {r.description}" if r.description else r.name, "value": r.name} for r in results
        ]
        return options, [r.name for r in results[:2]]

    @app.callback(
        Output("scenario-kpis", "children"),
        Output("scenario-monthly", "figure"),
        Output("scenario-duration", "figure"),
        Output("scenario-downloads", "children"),
        Input("scenario-select", "value"),
    )
    def _update(names: list[str] | None) -> tuple[Any, ...]:
        view = comparison_view(names, *current())
        return view["kpis"], view["monthly"], view["duration"], view["downloads"]

    @app.callback(Output("scenario-measured", "children"), Input("scenario-select", "id"))
    def _measured(_id: str) -> list[Any]:
        return measured_downloads(current()[0])


def _format(value: Any, scale: float, fmt: str) -> str:
    try:
        return format(float(value) * scale, fmt)
    except (TypeError, ValueError):
        return "-"
