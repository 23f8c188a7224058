"""Pieces the pages share: the app's data context, tiles, tables and time labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import pandas as pd
from dash import html
from flask import current_app

from dashboard.data import DashboardConfig, DataCache
from dashboard.i18n import format_kpi as i18n_format_kpi
from dashboard.i18n import format_number
from twin.core.vocabulary import DEFAULT_TIMEZONE

__all__ = [
    "CACHE_KEY",
    "CONFIG_KEY",
    "current",
    "format_kpi",
    "format_kw",
    "local_time",
    "refresh_ms",
    "table",
    "tile",
]

CONFIG_KEY: Final[str] = "TWIN_DASHBOARD"
CACHE_KEY: Final[str] = "TWIN_DASHBOARD_CACHE"


def current() -> tuple[DashboardConfig, DataCache]:
    """The running app's configuration and data cache (set by :func:`dashboard.app.create_app`)."""
    return current_app.config[CONFIG_KEY], current_app.config[CACHE_KEY]


def refresh_ms() -> int:
    """The live pages' update interval of the running app in ms (3 s outside an app)."""
    try:
        return int(current()[0].refresh_s * 1000)
    except (RuntimeError, KeyError):
        return 3000


def tile(label: str, value: str, *, note: str = "", tone: str = "") -> html.Div:
    """A KPI tile: a label, a big value with its unit, an optional note."""
    return html.Div(
        [
            html.Div(label, className="tile-label"),
            html.Div(value, className="tile-value"),
            html.Div(note, className="tile-note"),
        ],
        className=f"tile {tone}".strip(),
    )


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str | None = None) -> html.Table:
    """A plain HTML table built from components (never from strings)."""
    props: dict[str, Any] = {"className": "data-table"}
    if table_id:
        props["id"] = table_id
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in header])),
            html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows]),
        ],
        **props,
    )


def local_time(
    stamp: pd.Timestamp | datetime | str | None, fmt: str = "%d.%m.%Y %H:%M", *, tz: str = DEFAULT_TIMEZONE
) -> str:
    """A UTC time shown in the time zone ``tz`` (the site's; ``"-"`` when unknown)."""
    if stamp is None or stamp == "":
        return "-"
    ts = pd.Timestamp(stamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).strftime(fmt)


def shown(value: Any, spec: str = ",.1f", unit: str = "", *, scale: float = 1.0, lang: str | None = None) -> str:
    """A number with its unit in the page's language (``shown(12.34, ".1f", "kW", lang="de")`` -> ``12,3 kW``).

    ``spec`` gives the decimals (``.1f``: one); ``-`` when the value is unknown.
    """
    try:
        number = float(value) * scale
    except (TypeError, ValueError):
        return "-"
    _, _, rest = spec.partition(".")
    decimals = int("".join(ch for ch in rest if ch.isdigit()) or 0)
    return format_number(number, unit, lang, decimals=decimals)


def format_kw(value: Any, lang: str | None = None) -> str:
    """Power in kW with one decimal (``12,3 kW`` in German, ``12.3 kW`` in English)."""
    return format_number(value, "kW", lang)


def format_kpi(name: str, value: Any, lang: str | None = None) -> str:
    """A KPI as the catalogue shows it everywhere (:data:`~twin.core.vocabulary.KPI_CATALOGUE`).

    E.g. ``format_kpi("self_sufficiency_frac", 0.543, "de")`` -> ``54,3 %``; ``-`` when unknown.
    """
    return i18n_format_kpi(name, value, lang)
