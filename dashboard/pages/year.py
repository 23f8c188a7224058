"""Year page: the cumulative all-carrier balance since 1 January against net zero.

With a projection to the year's end from the baseline scenario, and monthly electricity and gas bars.

The year is the Europe/Berlin year of the live snapshot's time. The projection continues the
measured curve with the baseline scenario's days still to come (matched by calendar day).
A result at output level ``grid`` holds no gas time series, so its year's gas (``fuel_kwh``
of ``kpis.json``) is spread evenly over its steps; the legend says so. With an ensemble of the
baseline (``baseline-ensemble/``), a shaded band shows P10 to P90 over its members of the same
continuation, each member with its own months still to come (its gas by month), and a tile the
band's year end.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, dcc, html

from dashboard.data import (
    DashboardConfig,
    DataCache,
    StoreReadError,
    daily_flows,
    display_timezone,
    list_results,
    load_snapshot,
    open_result,
    sim_time,
    step_energy,
)
from dashboard.ensembles import add_band, projection_band
from dashboard.figures import empty_figure, monthly_figure, year_figure
from dashboard.i18n import current_language, format_number, t
from dashboard.pages.common import current, tile
from scenarios.ensemble_results import list_ensembles
from scenarios.results import ENSEMBLE_SUFFIX
from twin.core.vocabulary import DEFAULT_TIMEZONE, STEP_H

__all__ = [
    "BAND_TILE",
    "BASELINE",
    "NAME",
    "PATH",
    "band_note",
    "band_value",
    "baseline_band",
    "baseline_projection",
    "layout",
    "register_callbacks",
    "year_view",
]

PATH: Final[str] = "/year"
NAME: Final[str] = "Year"
#: Name of the result folder the projection comes from.
BASELINE: Final[str] = "baseline"
#: Message id (:data:`dashboard.i18n.MESSAGES`) of the label of the tile with the band's year end.
BAND_TILE: Final[str] = "year.band_tile"

logger = logging.getLogger(__name__)


def layout() -> html.Div:
    """The page skeleton (no data: callbacks fill it)."""
    return html.Div(
        [
            dcc.Interval(id="year-interval", interval=60_000, n_intervals=0),
            html.H2(t("year.title")),
            html.Div(id="year-tiles", className="tiles"),
            dcc.Graph(id="year-cumulative"),
            dcc.Graph(id="year-monthly"),
        ]
    )


def year_view(config: DashboardConfig, cache: DataCache | None = None, *, lang: str | None = None) -> dict[str, Any]:
    """``tiles``, ``cumulative`` and ``monthly`` of the page.

    When the store's 15-minute table cannot be read, the tiles hold a message saying so
    (and the log one line) instead of numbers.
    """
    lang = lang or current_language()
    snapshot = load_snapshot(config.store_dir)
    tz = display_timezone(snapshot)
    now = sim_time(snapshot) or pd.Timestamp.now(tz="UTC")
    year = now.tz_convert(tz).year
    try:
        daily = daily_flows(config.store_dir, "substation", year, cache=cache, tz=tz)
    except StoreReadError as err:
        logger.error("year page: %s", err)
        note = t("year.unreadable", lang)
        return {
            "tiles": [html.Div(t("year.no_balance", lang, error=err), className="alert bad", id="year-store-error")],
            "cumulative": empty_figure(note, lang),
            "monthly": empty_figure(note, lang),
        }
    projection, label = baseline_projection(config, year, cache=cache, tz=tz)
    if label:
        label = t("year.baseline", lang)
    so_far = _balance_mwh(daily)
    last_day = daily.index[-1] if len(daily) else pd.Timestamp(year=year, month=1, day=1, tz=tz) - pd.Timedelta(days=1)
    band, members = baseline_band(config, year, last_day=last_day, so_far_mwh=so_far[0], cache=cache)
    tiles = [
        tile(t("year.balance_so_far", lang, year=year), _mwh(so_far[0], lang), note=t("year.balance_note", lang)),
        tile(t("year.electricity_only", lang), _mwh(so_far[1], lang), note=t("year.electricity_note", lang)),
        tile(t("year.days", lang), f"{len(daily)}"),
    ]
    if projection is not None and not projection.empty:
        ahead = _balance_mwh(projection[projection.index > last_day])
        tiles.append(
            tile(
                t("year.projected", lang),
                _mwh(so_far[0] + ahead[0], lang),
                note=t("year.projected_note", lang, electricity=_mwh(so_far[1] + ahead[1], lang)),
                tone="bad" if so_far[0] + ahead[0] > 0 else "good",
            )
        )
    if not band.empty:
        end = band.iloc[-1]
        tiles.append(
            tile(
                t(BAND_TILE, lang),
                band_value(_mwh(end["p10"], lang), _mwh(end["p90"], lang), lang),
                note=band_note(members, round(end["neutral_frac"] * members), lang),
                tone="bad" if end["p50"] > 0 else "good",
            )
        )
    cumulative = year_figure(daily, year=year, projection=projection, projection_label=label, tz=tz, lang=lang)
    return {
        "tiles": tiles,
        "cumulative": add_band(cumulative, band, lang),
        "monthly": monthly_figure(daily, year=year, lang=lang),
    }


def baseline_projection(
    config: DashboardConfig, year: int, *, cache: DataCache | None = None, tz: str = DEFAULT_TIMEZONE
) -> tuple[pd.DataFrame | None, str]:
    """Daily import, export and gas of the baseline result, moved to ``year`` by calendar day.

    Returns
    -------
    frame, label
        Index local midnight of ``year``; columns ``import_kwh``, ``export_kwh``,
        ``fuel_kwh`` [kW h]; ``(None, "")`` without a baseline result.
    """
    result = next((r for r in list_results(config.results_dir) if r.name == BASELINE), None)
    if result is None or not result.has_dataset():
        return None, ""
    ds = open_result(result.folder, cache=cache)
    if "p_grid_kw" not in ds:
        return None, ""
    key = ("projection", str(result.folder), year, result.dataset_stamp(), tz)

    def build() -> pd.DataFrame:
        times = pd.DatetimeIndex(ds["time"].values).tz_localize("UTC")
        dt_h = float(np.median(np.diff(times.asi8))) / 3.6e12 if times.size > 1 else STEP_H
        import_kwh, export_kwh = step_energy(ds["p_grid_kw"].values, dt_h)
        fuel_total = float(result.kpis().get("fuel_kwh") or 0.0)
        fuel = np.full(times.size, fuel_total / max(times.size, 1))
        frame = pd.DataFrame(
            {"import_kwh": import_kwh, "export_kwh": export_kwh, "fuel_kwh": fuel}, index=times.tz_convert(tz)
        )
        days = frame.groupby(frame.index.normalize()).sum()
        moved = {}
        for day, row in days.iterrows():
            try:
                moved[pd.Timestamp(year=year, month=day.month, day=day.day, tz=tz)] = row
            except ValueError:  # 29 February in a year without it
                continue
        return pd.DataFrame(moved).T.sort_index()

    frame = cache.get(key, build) if cache is not None else build()
    return frame, "baseline scenario"


def baseline_band(
    config: DashboardConfig,
    year: int,
    *,
    last_day: pd.Timestamp,
    so_far_mwh: float,
    cache: DataCache | None = None,
) -> tuple[pd.DataFrame, int]:
    """The P10-P90 band of the projection from the baseline's ensemble, and its number of members.

    Reads ``baseline-ensemble/`` (``twin scenario ensemble baseline``); an empty band without it,
    without monthly columns in its member table, or when the year has no days to come
    (:func:`dashboard.ensembles.projection_band`).
    """
    found = next((e for e in list_ensembles(config.results_dir) if e.name == BASELINE + ENSEMBLE_SUFFIX), None)
    empty = pd.DataFrame(columns=["p10", "p50", "p90", "neutral_frac"])
    if found is None:
        return empty, 0
    try:
        stamp = found.members_path.stat().st_mtime_ns
        key = ("members", str(found.members_path), stamp)
        members = cache.get(key, found.member_table) if cache is not None else found.member_table()
    except (OSError, ValueError) as err:
        logger.error("year page: %s: %s", found.members_path, err)
        return empty, 0
    band = projection_band(members, year=year, last_day=last_day, so_far_mwh=so_far_mwh)
    return band, len(members)


def band_value(p10: str, p90: str, lang: str | None = None) -> str:
    """The value of the band's tile in ``lang``: ``-27.7 MWh to 22.0 MWh`` (``-27,7 MWh bis 22,0 MWh``)."""
    return t("year.band_value", lang, p10=p10, p90=p90)


def band_note(members: int, neutral: int, lang: str | None = None) -> str:
    """The note of the band's tile in ``lang``: how many members end the year energy-neutral."""
    return t("year.band_note", lang, members=members, neutral=neutral)


def register_callbacks(app: Dash) -> None:
    """Attach the page's callbacks to ``app``."""

    @app.callback(
        Output("year-tiles", "children"),
        Output("year-cumulative", "figure"),
        Output("year-monthly", "figure"),
        Input("year-interval", "n_intervals"),
    )
    def _update(_n: int) -> tuple[Any, ...]:
        view = year_view(*current())
        return view["tiles"], view["cumulative"], view["monthly"]


def _balance_mwh(daily: pd.DataFrame) -> tuple[float, float]:
    if daily is None or daily.empty:
        return 0.0, 0.0
    total = daily.sum()
    electricity = float(total.get("import_kwh", 0.0) - total.get("export_kwh", 0.0)) / 1000.0
    return electricity + float(total.get("fuel_kwh", 0.0)) / 1000.0, electricity


def _mwh(value: float, lang: str) -> str:
    return format_number(value, "MWh", lang)
