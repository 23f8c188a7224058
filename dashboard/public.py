"""The public page for citizens at ``/public/``: no login, German, aggregates only.

The quarter's year so far against net zero, today's self-sufficiency, the PV produced and the CO2
it avoided. It is a small Flask app of its own mounted in front of the energy managers' dashboard
(:func:`mount_public_page`), so none of the dashboard's routes or callbacks is reachable through
it without the login. The page is one HTML document from a Jinja template (autoescaped) with the
year chart as inline SVG: no JavaScript, quick on any phone. It shows only a
:class:`~dashboard.public_data.PublicFigures` that :mod:`dashboard.public_data` computes through
its one gate (groups of at least five households).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from flask import Flask, Response, render_template, send_from_directory
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from dashboard.data import DashboardConfig, DataCache, StoreReadError, load_snapshot
from dashboard.public_data import (
    CO2_GRID_G_PER_KWH,
    CO2_SOURCE,
    MIN_HOUSEHOLDS,
    PublicFigures,
    district_group,
    households_from_snapshot,
    public_figures,
)

__all__ = ["PUBLIC_PATH", "mount_public_page", "public_context"]

#: Where the public page is served.
PUBLIC_PATH: Final[str] = "/public"
#: Size of the year chart's drawing area. [px]
CHART_WIDTH: Final[int] = 960
CHART_HEIGHT: Final[int] = 320
_MARGIN: Final[dict[str, int]] = {"left": 70, "right": 20, "top": 20, "bottom": 40}

TITLE: Final[str] = "Zukunftsquartier Beucha: Energie im Quartier"
INTRO: Final[str] = (
    "Wie weit ist das Quartier auf dem Weg zur Klimaneutralität? Alle Zahlen sind Summen über das "
    "ganze Quartier, nie über weniger als {n} Haushalte."
)
LABEL_BALANCE: Final[str] = "Bilanz {year} bisher"
NOTE_BALANCE: Final[str] = "Bezug + Gas - Einspeisung (Netto-Null: 0 oder weniger)"
LABEL_SELF_SUFFICIENCY: Final[str] = "Eigenversorgung heute"
NOTE_SELF_SUFFICIENCY: Final[str] = "Anteil des Verbrauchs aus dem Quartier"
LABEL_PV_TODAY: Final[str] = "Solarstrom heute"
LABEL_PV_YEAR: Final[str] = "Solarstrom {year} bisher"
LABEL_CO2: Final[str] = "CO2 vermieden {year}"
NOTE_CO2: Final[str] = "Solarstrom x {factor} g CO2/kWh"
SUPPRESSED: Final[str] = "Nicht veröffentlicht: die Gruppe umfasst weniger als {n} Haushalte."
NO_DATA: Final[str] = "Noch keine Messwerte in diesem Jahr."
STORE_ERROR: Final[str] = "Die Messwerte sind gerade nicht lesbar."
CHART_TITLE: Final[str] = "Jahresbilanz seit 1. Januar gegen Netto-Null [MWh]"
TRACE_ALL: Final[str] = "alle Energieträger (Strom + Gas)"
TRACE_ELECTRICITY: Final[str] = "nur Strom"
TRACE_ZERO: Final[str] = "Netto-Null"
SOURCE_NOTE: Final[str] = "Emissionsfaktor {factor} g CO2/kWh: {source}."
FOOTER: Final[str] = "Digitaler Zwilling des Zukunftsquartiers Beucha (Brandis, Landkreis Leipzig)."
MONTHS: Final[tuple[str, ...]] = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Chart:
    """The year chart as SVG coordinates (``points`` attributes of polylines, axis ticks)."""

    width: int
    height: int
    zero_y: float
    everything: str
    electricity: str
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    empty: bool


def mount_public_page(
    server: Flask,
    config: DashboardConfig,
    *,
    households: Mapping[str, int] | None = None,
    cache: DataCache | None = None,
) -> Flask:
    """Serve the public page at :data:`PUBLIC_PATH` in front of ``server`` (outside its login).

    Parameters
    ----------
    server : flask.Flask
        The dashboard's server; requests under :data:`PUBLIC_PATH` go to the public app instead.
    config : DashboardConfig
        Where the data is.
    households : mapping of str to int, optional
        Households per building; default counted from the snapshot's household meters.
    cache : DataCache, optional
        The data cache to share with the dashboard.
    """
    here = Path(__file__).parent
    public = Flask(__name__, template_folder=str(here / "templates"), static_folder=None)
    counts = dict(households) if households is not None else None

    def page() -> Response:
        html = render_template("public.html", **public_context(config, counts, cache=cache))
        return Response(html, mimetype="text/html", headers={"Cache-Control": "no-cache"})

    public.add_url_rule("/", "page", page)
    public.add_url_rule("/style.css", "style", lambda: send_from_directory(here / "assets", "style.css"))
    server.wsgi_app = DispatcherMiddleware(server.wsgi_app, {PUBLIC_PATH: public})  # type: ignore[method-assign]
    return public


def public_context(
    config: DashboardConfig, households: Mapping[str, int] | None = None, *, cache: DataCache | None = None
) -> dict[str, Any]:
    """What the template shows: texts, and the district's figures only when they may be published."""
    snapshot = load_snapshot(config.store_dir)
    counts = dict(households) if households is not None else households_from_snapshot(snapshot)
    group = district_group(snapshot, counts)
    context: dict[str, Any] = {
        "title": TITLE,
        "intro": INTRO.format(n=MIN_HOUSEHOLDS),
        "footer": FOOTER,
        "message": None,
        "tiles": [],
        "chart": None,
    }
    try:
        figures = public_figures(config, group, counts, cache=cache)
    except StoreReadError as err:
        logger.error("public page: %s", err)
        return {**context, "message": STORE_ERROR}
    if not figures.published:
        return {**context, "message": SUPPRESSED.format(n=MIN_HOUSEHOLDS)}
    return {
        **context,
        "tiles": _tiles(figures),
        "chart": _chart(figures),
        "chart_title": CHART_TITLE,
        "legend": {"zero": TRACE_ZERO, "everything": TRACE_ALL, "electricity": TRACE_ELECTRICITY},
        "no_data": NO_DATA,
        "source": SOURCE_NOTE.format(factor=_german(CO2_GRID_G_PER_KWH, 0), source=CO2_SOURCE),
    }


def _tiles(figures: PublicFigures) -> list[dict[str, str]]:
    year = figures.year
    balance = figures.balance_year_kwh
    share = figures.self_sufficiency_today_frac
    return [
        {
            "label": LABEL_BALANCE.format(year=year),
            "value": _german(_scaled(balance, 1e-3), 1, "MWh"),
            "note": NOTE_BALANCE,
            "tone": "good" if balance is not None and balance <= 0 else "bad",
        },
        {
            "label": LABEL_SELF_SUFFICIENCY,
            "value": _german(_scaled(share, 100.0), 0, "%"),
            "note": NOTE_SELF_SUFFICIENCY,
            "tone": "",
        },
        {"label": LABEL_PV_TODAY, "value": _german(figures.pv_today_kwh, 0, "kWh"), "note": "", "tone": ""},
        {
            "label": LABEL_PV_YEAR.format(year=year),
            "value": _german(_scaled(figures.pv_year_kwh, 1e-3), 1, "MWh"),
            "note": "",
            "tone": "",
        },
        {
            "label": LABEL_CO2.format(year=year),
            "value": _german(_scaled(figures.co2_avoided_year_kg, 1e-3), 1, "t"),
            "note": NOTE_CO2.format(factor=_german(CO2_GRID_G_PER_KWH, 0)),
            "tone": "good",
        },
    ]


def _chart(figures: PublicFigures) -> _Chart:
    """Cumulative balance by day of the year (all carriers, electricity only) in SVG coordinates."""
    daily = figures.daily if figures.daily is not None else pd.DataFrame()
    start = pd.Timestamp(year=figures.year, month=1, day=1)
    days = 366 if start.is_leap_year else 365
    left, right, top, bottom = _MARGIN["left"], _MARGIN["right"], _MARGIN["top"], _MARGIN["bottom"]
    plot_w, plot_h = CHART_WIDTH - left - right, CHART_HEIGHT - top - bottom
    if daily.empty:
        day = np.zeros(0)
        electricity = everything = np.zeros(0)
    else:
        day = np.asarray((daily.index.tz_localize(None) - start).days, dtype=float) + 1.0
        zero = pd.Series(0.0, index=daily.index)
        electricity = ((daily.get("import_kwh", zero) - daily.get("export_kwh", zero)).cumsum() / 1000.0).to_numpy()
        everything = electricity + (daily.get("fuel_kwh", zero).cumsum() / 1000.0).to_numpy()
    values = np.concatenate([[0.0], electricity, everything])
    values = values[np.isfinite(values)]
    low, high = float(values.min()), float(values.max())
    ticks = _nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    span = high - low or 1.0

    def y(v: float) -> float:
        return top + plot_h * (high - v) / span

    def x(d: float) -> float:
        return left + plot_w * d / days

    def points(series: np.ndarray) -> str:
        return " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(day, series, strict=True) if np.isfinite(v))

    months = [(x((pd.Timestamp(year=figures.year, month=m, day=1) - start).days), MONTHS[m - 1]) for m in range(1, 13)]
    return _Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        zero_y=y(0.0),
        everything=points(everything),
        electricity=points(electricity),
        y_ticks=[(y(t), _german(t, 1 if span < 10 else 0)) for t in ticks],
        x_ticks=months,
        empty=bool(daily.empty),
    )


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks covering ``[low, high]``."""
    span = max(high - low, 1e-9)
    raw = span / (count - 1)
    magnitude = 10 ** np.floor(np.log10(raw))
    step = float(next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))
    first = np.floor(low / step) * step
    last = np.ceil(high / step) * step
    return [float(v) for v in np.arange(first, last + step / 2, step)]


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _german(value: float | None, decimals: int, unit: str = "") -> str:
    """A number in German notation (``1.234,5 MWh``); ``-`` when unknown."""
    if value is None or not np.isfinite(value):
        return "-"
    text = f"{value:,.{decimals}f}".replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return f"{text} {unit}".rstrip()
