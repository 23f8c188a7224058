"""Grid page: the LV grid on its map, buses coloured by voltage and lines by loading.

Source: the live state (the snapshot's ``grid`` key, written by the live power flow) or
any step of a scenario result (``vm_pu`` and ``loading_percent`` of ``result.nc``, drawn on
the coordinates of its ``net.json``); buttons jump to the step with the highest loading or
the lowest or highest voltage. Below the map, the grid exchange at the substation and the grid
losses over a period (the period picker of :mod:`dashboard.history`; the store keeps no loadings
per line), beside links to its measured data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.data import (
    DashboardConfig,
    DataCache,
    StoreReadError,
    display_timezone,
    grid_map_from_net,
    grid_map_from_snapshot,
    list_results,
    load_snapshot,
    open_result,
    sim_time,
)
from dashboard.figures import empty_figure, grid_figure, history_figure
from dashboard.history import download_links, period_bounds, period_controls, period_history, period_title
from dashboard.i18n import current_language, dropdown_labels, format_time, t
from dashboard.pages.common import current, refresh_ms, shown, table
from twin.core.live_sections import ControlInUse
from twin.core.live_state import FeederSignalState
from twin.core.schema import SUBSTATION

__all__ = [
    "LIVE",
    "NAME",
    "PATH",
    "grid_history_view",
    "grid_view",
    "layout",
    "register_callbacks",
    "source_options",
    "special_step",
]

PATH: Final[str] = "/grid"
NAME: Final[str] = "Grid"
LIVE: Final[str] = "live"
#: Balance terms of the substation the grid history shows. [kW]
GRID_HISTORY_TERMS: Final[tuple[str, ...]] = ("p_grid_kw", "p_loss_kw")

logger = logging.getLogger(__name__)


def layout() -> html.Div:
    """The page skeleton (no data: callbacks fill it)."""
    return html.Div(
        [
            dcc.Interval(id="grid-interval", interval=refresh_ms(), n_intervals=0),
            html.H2(t("grid.title")),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label(t("grid.source"), htmlFor="grid-source"),
                            dcc.Dropdown(
                                id="grid-source",
                                clearable=False,
                                labels=dropdown_labels(),
                                placeholder=t("common.choose"),
                            ),
                        ],
                        className="control",
                    ),
                    html.Div(
                        [
                            html.Button(t("grid.worst_loading"), id="grid-worst-loading"),
                            html.Button(t("grid.lowest_voltage"), id="grid-lowest-voltage"),
                            html.Button(t("grid.highest_voltage"), id="grid-highest-voltage"),
                        ],
                        className="buttons",
                    ),
                ],
                className="row controls",
            ),
            html.Div(dcc.Slider(id="grid-step", min=0, max=0, step=1, value=0, marks=None), id="grid-step-box"),
            html.Div(id="grid-summary", className="status-line"),
            dcc.Graph(id="grid-map"),
            html.Div(id="grid-feeders"),
            period_controls("grid"),
            dcc.Graph(id="grid-history"),
        ]
    )


def source_options(config: DashboardConfig, *, lang: str | None = None) -> list[dict[str, str]]:
    """The live state and every result with a grid (a result dataset and its grid file)."""
    options = [{"label": t("grid.live_state", lang), "value": LIVE}]
    for result in list_results(config.results_dir):
        if result.has_dataset() and result.has_grid():
            options.append({"label": t("grid.scenario", lang, name=result.name), "value": result.name})
    return options


def special_step(which: str, source: str, config: DashboardConfig, cache: DataCache | None = None) -> int | None:
    """The step of a result with the ``"loading"`` maximum or the ``"vmin"`` / ``"vmax"`` voltage extreme."""
    ds = _result(source, config, cache)
    if ds is None:
        return None
    if which == "loading" and "loading_percent" in ds:
        per_step = ds["loading_percent"].max("branch").values
        return int(np.nanargmax(per_step))
    if which in ("vmin", "vmax") and "vm_pu" in ds:
        if which == "vmin":
            return int(np.nanargmin(ds["vm_pu"].min("bus").values))
        return int(np.nanargmax(ds["vm_pu"].max("bus").values))
    return None


def grid_view(
    source: str, step: int, config: DashboardConfig, cache: DataCache | None = None, *, lang: str | None = None
) -> dict[str, Any]:
    """``figure``, ``summary`` and slider ``steps`` (count) for a source and step."""
    lang = lang or current_language()
    if source == LIVE or not source:
        snapshot = load_snapshot(config.store_dir)
        grid = grid_map_from_snapshot(snapshot)
        if grid is None:
            return {
                "figure": empty_figure(t("grid.no_live_grid", lang), lang),
                "summary": t("grid.live_no_state", lang),
                "steps": 0,
            }
        info = snapshot.grid if snapshot is not None else None
        assert info is not None  # a snapshot with a grid map has its grid section
        summary = t(
            "grid.live_summary",
            lang,
            time=format_time(info.sim_time_utc, lang, precision="second", tz=display_timezone(snapshot)),
            trafo=_pct(info.trafo_loading_max_percent, lang),
            line=_pct(info.line_loading_max_percent, lang),
            vmin=_pu(info.vm_min_pu, lang),
            vmax=_pu(info.vm_max_pu, lang),
            loss=_kw(info.p_loss_kw, lang),
        )
        return {
            "figure": grid_figure(
                grid,
                vm_pu=grid.buses["vm_pu"].astype(float),
                loading_percent=grid.branches["loading_percent"].astype(float),
                title=t("grid.live_title", lang),
                lang=lang,
            ),
            "summary": summary,
            "steps": 0,
            "feeders": feeder_table(_feeders(snapshot), lang, _control(snapshot)),
        }
    ds = _result(source, config, cache)
    result = next((r for r in list_results(config.results_dir) if r.name == source), None)
    if ds is None or result is None:
        return {"figure": empty_figure(t("grid.no_result", lang, name=repr(source)), lang), "summary": "", "steps": 0}
    steps = int(ds.sizes["time"])
    step = int(min(max(step or 0, 0), steps - 1))
    at = ds.isel(time=step)
    vm = pd.Series(at["vm_pu"].values.astype(float), index=at["bus"].values.astype(int))
    loading = pd.Series(at["loading_percent"].values.astype(float), index=at["branch"].values.astype(str))
    trafo = loading[[b for b in loading.index if b.startswith("trafo")]]
    tz = display_timezone(load_snapshot(config.store_dir))
    when = format_time(pd.Timestamp(ds["time"].values[step]), lang, tz=tz)
    summary = t(
        "grid.step_summary",
        lang,
        name=source,
        step=step,
        time=when,
        tz=tz,
        trafo=_pct(trafo.max(), lang),
        line=_pct(loading.drop(trafo.index).max(), lang),
        vmin=_pu(vm.min(), lang),
        vmax=_pu(vm.max(), lang),
    )
    grid = grid_map_from_net(result.folder, cache=cache)
    figure = grid_figure(
        grid, vm_pu=vm, loading_percent=loading, title=t("grid.step_title", lang, name=source, time=when), lang=lang
    )
    return {"figure": figure, "summary": summary, "steps": steps}


def grid_history_view(
    config: DashboardConfig,
    cache: DataCache | None = None,
    *,
    period: str | None = "day",
    until: str | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    """``history`` (figure: grid exchange and losses at the substation) and ``downloads`` of a period."""
    lang = lang or current_language()
    snapshot = load_snapshot(config.store_dir)
    tz = display_timezone(snapshot)
    now = sim_time(snapshot)
    if now is None and not until:
        return {"history": empty_figure(t("common.no_live_data", lang), lang), "downloads": []}
    start, end = period_bounds(period, until, now, tz)
    try:
        frame = period_history(config.store_dir, SUBSTATION, period, start, end, live=not until, cache=cache)
    except StoreReadError as err:
        logger.error("grid page: %s", err)
        return {"history": empty_figure(t("period.no_history", lang, error=err), lang), "downloads": []}
    shown_terms = [term for term in GRID_HISTORY_TERMS if term in frame]
    title = t("grid.history_title", lang, period=period_title(period, until, start, end, tz, lang))
    return {
        "history": history_figure(frame[shown_terms], title=title, tz=tz, lang=lang),
        "downloads": download_links(SUBSTATION, period, start, end, lang),
    }


def register_callbacks(app: Dash) -> None:
    """Attach the page's callbacks to ``app``."""

    @app.callback(Output("grid-source", "options"), Output("grid-source", "value"), Input("grid-source", "id"))
    def _sources(_id: str) -> tuple[Any, Any]:
        return source_options(current()[0]), LIVE

    @app.callback(
        Output("grid-step", "max"),
        Output("grid-step", "value", allow_duplicate=True),
        Output("grid-step-box", "style"),
        Output("grid-interval", "disabled"),
        Input("grid-source", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def _steps(source: str) -> tuple[Any, ...]:
        # the interval runs for the live state only: a tick while a step is drawn would make
        # Dash drop that (slower) answer as superseded
        ds = _result(source, *current())
        if ds is None:
            return 0, 0, {"display": "none"}, False
        return int(ds.sizes["time"]) - 1, 0, {}, True

    # a separate callback: the slider takes a new value only within the max it already has
    @app.callback(
        Output("grid-step", "value"),
        Input("grid-worst-loading", "n_clicks"),
        Input("grid-lowest-voltage", "n_clicks"),
        Input("grid-highest-voltage", "n_clicks"),
        State("grid-source", "value"),
        prevent_initial_call=True,
    )
    def _jump(_a: Any, _b: Any, _c: Any, source: str) -> Any:
        which = {
            "grid-worst-loading": "loading",
            "grid-lowest-voltage": "vmin",
            "grid-highest-voltage": "vmax",
        }.get(str(ctx.triggered_id))
        step = special_step(which, source, *current()) if which else None
        return no_update if step is None else step

    @app.callback(
        Output("grid-map", "figure"),
        Output("grid-summary", "children"),
        Output("grid-feeders", "children"),
        Input("grid-source", "value"),
        Input("grid-step", "value"),
        Input("grid-interval", "n_intervals"),
    )
    def _update(source: str, step: int, _n: int) -> tuple[Any, ...]:
        view = grid_view(source, step, *current())
        return view["figure"], view["summary"], view.get("feeders", [])

    @app.callback(
        Output("grid-history", "figure"),
        Output("grid-downloads", "children"),
        Input("grid-interval", "n_intervals"),
        Input("grid-period", "value"),
        Input("grid-until", "date"),
    )
    def _history(_n: int, period: str | None, until: str | None) -> tuple[Any, ...]:
        view = grid_history_view(*current(), period=period, until=until)
        return view["history"], view["downloads"]


def feeder_table(feeders: Sequence[FeederSignalState], lang: str, control: ControlInUse | None = None) -> list[Any]:
    """The live signal of each feeder (heading and table, and the control the signal runs), or nothing without."""
    if not feeders:
        return []
    header = [
        t(f"feeders.{key}", lang)
        for key in ("feeder", "signal", "reasons", "relief", "buildings", "limited", "limit_min")
    ]
    rows = [
        (
            str(f.feeder_number) if f.feeder_number else t("feeders.busbar", lang),
            f.signal or "-",
            ", ".join(f.reasons) or "-",
            shown(f.relief_kw, ",.1f", lang=lang),
            str(f.buildings if f.buildings is not None else "-"),
            str(f.limited if f.limited is not None else "-"),
            shown(f.limit_min_kw, ",.1f", lang=lang),
        )
        for f in feeders
    ]
    out = [html.H3(t("feeders.heading", lang)), table(header, rows, table_id="grid-feeder-table")]
    if control is not None and control.runs:
        out.append(html.P(f"{t('feeders.control', lang)}: {control.runs}", id="grid-feeder-control"))
    return out


def _feeders(snapshot: Any) -> Sequence[FeederSignalState]:
    controller = snapshot.controller if snapshot is not None else None
    return controller.feeders if controller is not None else ()


def _control(snapshot: Any) -> ControlInUse | None:
    controller = snapshot.controller if snapshot is not None else None
    return controller.control if controller is not None else None


def _result(source: str | None, config: DashboardConfig, cache: DataCache | None) -> Any:
    if not source or source == LIVE:
        return None
    result = next((r for r in list_results(config.results_dir) if r.name == source), None)
    if result is None or not result.has_dataset():
        return None
    ds = open_result(result.folder, cache=cache)
    return ds if "vm_pu" in ds and "loading_percent" in ds else None


def _pct(value: Any, lang: str) -> str:
    return shown(value, ".0f", "%", lang=lang)


def _pu(value: Any, lang: str) -> str:
    return shown(value, ".3f", "p.u.", lang=lang)


def _kw(value: Any, lang: str) -> str:
    return shown(value, ",.1f", "kW", lang=lang)
