"""Scenarios page: two or more results side by side.

KPIs, monthly exchange and load duration curves, with downloads (CSV and NetCDF) through the
authenticated ``/download/NAME/FILE`` route, and beside them the measured data of the district
(``/api/v1/export``: the year so far at 15 minutes, and per day); below them the ensembles
(``NAME-ensemble/``): KPI intervals P50 (P10 - P90), the probabilities, every member's all-carrier
balance against net zero and the member table for download.
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
from dashboard.ensembles import (
    INTERVAL_HEADER,
    PROBABILITY_HEADER,
    interval_rows,
    members_figure,
    probability_rows,
)
from dashboard.figures import duration_figure, empty_figure, monthly_exchange, scenario_monthly_figure
from dashboard.history import download_links, period_bounds
from dashboard.i18n import current_language, dropdown_labels, format_kpi, kpi_label, t
from dashboard.pages.common import current, table
from scenarios.ensemble_results import list_ensembles
from scenarios.results import MEMBERS_CSV, RESULT_NC
from twin.core.schema import SUBSTATION
from twin.core.vocabulary import STEP_H, kpi

__all__ = [
    "CONTROL_KPIS",
    "DOWNLOADS",
    "KPI_ROWS",
    "NAME",
    "PATH",
    "comparison_view",
    "ensemble_option",
    "ensemble_view",
    "layout",
    "measured_downloads",
    "register_callbacks",
]

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
#: The rows of runs with a ``control:`` block, after the others where a chosen run has them: the
#: grid relief beside what it cost the devices and the buildings (the comfort verdict).
CONTROL_KPIS: Final[tuple[str, ...]] = (
    "control_trafo_over_100_h",
    "control_line_over_100_h",
    "control_hp_blocked_kwh",
    "control_dimmed_kwh",
    "control_comfort_ok",
    "control_comfort_coldest_degc",
    "control_comfort_below_bound_max_h",
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
            html.Div(id="scenario-measured", className="panel"),
            html.H2(t("ensemble.heading")),
            html.Div(
                [
                    html.Label(t("ensemble.select"), htmlFor="ensemble-select"),
                    dcc.Dropdown(
                        id="ensemble-select", multi=True, labels=dropdown_labels(), placeholder=t("common.choose")
                    ),
                ],
                className="control wide",
            ),
            html.Div(id="ensemble-kpis", className="panel"),
            dcc.Graph(id="ensemble-members"),
        ]
    )


def ensemble_view(names: list[str] | None, config: DashboardConfig, *, lang: str | None = None) -> dict[str, Any]:
    """``kpis`` (interval and probability tables with the member tables' links) and ``members`` (figure)."""
    lang = lang or current_language()
    found = {e.name: e for e in list_ensembles(config.results_dir)}
    chosen = [found[name] for name in names or [] if name in found]
    if not chosen:
        return {"kpis": html.P(t("ensemble.none", lang)), "members": empty_figure(t("ensemble.none", lang), lang)}
    header = [e.scenario for e in chosen]
    links = [
        html.Li(
            html.A(
                t("ensemble.members_link", lang, scenario=e.scenario),
                href=f"/download/{e.name}/{MEMBERS_CSV}",
                className="download",
            )
        )
        for e in chosen
    ]
    kpis = [
        html.H3(t("ensemble.kpi_heading", lang)),
        html.P(t("ensemble.note", lang)),
        table([t(INTERVAL_HEADER, lang), *header], interval_rows(chosen, lang), table_id="ensemble-kpi-table"),
        html.H3(t("ensemble.probability_heading", lang)),
        table(
            [t(PROBABILITY_HEADER, lang), *header],
            probability_rows(chosen, lang),
            table_id="ensemble-probability-table",
        ),
        html.Ul(links),
    ]
    return {"kpis": kpis, "members": members_figure(chosen, lang)}


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
    # the controlled runs' relief and what it cost, where a chosen run has a control: block
    shown = [key for key, *_ in KPI_ROWS] + [
        key for key in CONTROL_KPIS if any(kpis[name].get(key) is not None for name in chosen)
    ]
    rows = [
        [kpi_label(key, lang, with_unit=True)]
        + [format_kpi(key, kpis[name].get(key), lang, with_unit=False) for name in chosen]
        for key in shown
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


def measured_downloads(config: DashboardConfig, *, lang: str | None = None) -> list[Any]:
    """Links to the district's measured data (CSV and NetCDF at 15 minutes) of the year so far and the last day."""
    lang = lang or current_language()
    heading = html.H3(t("measured.heading", lang))
    snapshot = load_snapshot(config.store_dir)
    now = sim_time(snapshot)
    if now is None:
        return [heading, html.P(t("measured.none", lang))]
    tz = display_timezone(snapshot)
    items = []
    for period, label in (("year", "measured.year"), ("day", "measured.day")):
        start, end = period_bounds(period, None, now, tz)
        items.append(html.Li([html.B(t(label, lang)), " ", *download_links(SUBSTATION, period, start, end, lang)]))
    return [heading, html.Ul(items, id="scenario-measured-links")]


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

    _ensemble_callbacks(app)


def _ensemble_callbacks(app: Dash) -> None:
    @app.callback(
        Output("ensemble-select", "options"), Output("ensemble-select", "value"), Input("ensemble-select", "id")
    )
    def _options(_id: str) -> tuple[Any, Any]:
        found = list_ensembles(current()[0].results_dir)
        options = [{"label": ensemble_option(e.scenario, e.members), "value": e.name} for e in found]
        return options, [e.name for e in found[:2]]

    @app.callback(
        Output("ensemble-kpis", "children"), Output("ensemble-members", "figure"), Input("ensemble-select", "value")
    )
    def _update(names: list[str] | None) -> tuple[Any, ...]:
        view = ensemble_view(names, current()[0])
        return view["kpis"], view["members"]


def ensemble_option(scenario: str, members: int, lang: str | None = None) -> str:
    """An ensemble's entry in the choice, in ``lang``: ``energy_neutral (50 members)``."""
    return t("ensemble.option", lang, scenario=scenario, members=members)
