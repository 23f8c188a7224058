"""Scenarios page: two or more results side by side.

KPIs, monthly exchange and load duration curves, with downloads (CSV and NetCDF) through the
authenticated ``/download/NAME/FILE`` route.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import numpy as np
from dash import Dash, Input, Output, dcc, html

from dashboard.data import DashboardConfig, DataCache, list_results, open_result
from dashboard.figures import duration_figure, empty_figure, monthly_exchange, scenario_monthly_figure
from dashboard.i18n import current_language, dropdown_labels, format_kpi, kpi_label, t
from dashboard.pages.common import current, table
from scenarios.results import RESULT_NC
from twin.core.vocabulary import STEP_H, kpi

__all__ = ["DOWNLOADS", "KPI_ROWS", "NAME", "PATH", "comparison_view", "layout", "register_callbacks"]

PATH: Final[str] = "/scenarios"
NAME: Final[str] = "Scenarios"
#: Files offered for download per result: file name -> message id of what it is (:mod:`dashboard.i18n`).
DOWNLOADS: Final[dict[str, str]] = {
    RESULT_NC: "download.result_nc",
    "timeseries.csv": "download.timeseries",
    "kpis.csv": "download.kpis",
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
            html.H2(t("scenarios.title")),
            html.Div(
                [
                    html.Label(t("scenarios.results"), htmlFor="scenario-select"),
                    dcc.Dropdown(
                        id="scenario-select", multi=True, labels=dropdown_labels(), placeholder=t("common.choose")
                    ),
                ],
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
        ]
    )


def comparison_view(
    names: list[str] | None, config: DashboardConfig, cache: DataCache | None = None, *, lang: str | None = None
) -> dict[str, Any]:
    """``kpis`` (table), ``monthly`` and ``duration`` (figures) and ``downloads`` (links) of the chosen results."""
    lang = lang or current_language()
    results = {r.name: r for r in list_results(config.results_dir)}
    chosen = [name for name in names or [] if name in results]
    if not chosen:
        blank = empty_figure(t("scenarios.choose", lang), lang)
        return {"kpis": html.P(t("scenarios.none", lang)), "monthly": blank, "duration": blank, "downloads": []}
    kpis = {name: results[name].kpis() for name in chosen}
    rows = [
        [kpi_label(key, lang, with_unit=True)]
        + [format_kpi(key, kpis[name].get(key), lang, with_unit=False) for name in chosen]
        for key, _label, _scale, _fmt in KPI_ROWS
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
        html.H3(t("scenarios.downloads", lang)),
        html.Ul(
            [
                html.Li(
                    [
                        html.B(name),
                        " ",
                        *[
                            html.A(t(label, lang), href=f"/download/{name}/{file}", className="download")
                            for file, label in DOWNLOADS.items()
                        ],
                    ]
                )
                for name in chosen
            ]
        ),
    ]
    return {
        "kpis": [
            html.H3(t("scenarios.kpis", lang)),
            table([t("col.kpi", lang), *chosen], rows, table_id="scenario-kpi-table"),
        ],
        "monthly": scenario_monthly_figure(monthly, lang),
        "duration": duration_figure(series, dt_h=dt_h, lang=lang),
        "downloads": downloads,
    }


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
