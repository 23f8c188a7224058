"""Ensemble results where decisions are made: KPI intervals, probabilities and the year's band.

The Scenarios page shows each ensemble's KPIs as ``P50 (P10 - P90)``, the probabilities as
shares of members and the members' all-carrier balances against net zero; the Year page shows
the P10-P90 band of the year's projection from the ensemble of the baseline scenario
(:func:`projection_band`). The ensemble folders are read through
:mod:`scenarios.ensemble_results` (no models, no Dask). Every text shown is a message of the
catalogue (:mod:`dashboard.i18n`, the constants here are message ids) in the page's language,
numbers in its format (``1.234,5 MWh`` in German).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures import COLOURS, empty_figure
from dashboard.i18n import MESSAGES, format_kpi, format_number, kpi_label, plotly_separators, t
from scenarios.ensemble_results import EnsembleFolder, monthly_frame

__all__ = [
    "BAND_LABEL",
    "BAND_MEDIAN_LABEL",
    "INTERVAL_HEADER",
    "SHOWN_KPIS",
    "add_band",
    "interval_rows",
    "interval_text",
    "members_figure",
    "probability_label",
    "probability_rows",
    "probability_text",
    "projection_band",
]

#: The KPIs of the interval table, in order (labels, units and scales from the catalogue).
SHOWN_KPIS: Final[tuple[str, ...]] = (
    "energy_balance_kwh",
    "electricity_balance_kwh",
    "fuel_kwh",
    "self_sufficiency_frac",
    "hp_spf",
    "generation_kwh",
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
#: Message ids (:data:`dashboard.i18n.MESSAGES`) of the first header cells of the interval and probability tables.
INTERVAL_HEADER: Final[str] = "ensemble.interval_header"
PROBABILITY_HEADER: Final[str] = "ensemble.probability_header"
#: Message ids of the legend of the Year page's band.
BAND_LABEL: Final[str] = "ensemble.band"
BAND_MEDIAN_LABEL: Final[str] = "ensemble.band_median"


def interval_text(folder: EnsembleFolder, name: str, lang: str | None = None) -> str:
    """``P50 (P10 - P90)`` of one KPI in its display unit, numbers as ``lang`` writes them; ``-`` when lacking."""
    values = [folder.percentile(name, column) for column in ("p50", "p10", "p90")]
    if any(math.isnan(v) for v in values):
        return "-"
    p50, p10, p90 = (format_kpi(name, v, lang, with_unit=False) for v in values)
    return t("ensemble.interval", lang, p50=p50, p10=p10, p90=p90)


def interval_rows(folders: Sequence[EnsembleFolder], lang: str | None = None) -> list[list[str]]:
    """Rows of the interval table: KPI label with unit, then one cell per ensemble."""
    return [
        [kpi_label(name, lang, with_unit=True), *[interval_text(f, name, lang) for f in folders]] for name in SHOWN_KPIS
    ]


def probability_label(name: str, definition: str, lang: str | None = None) -> str:
    """A probability's row label, ``P(transformer above 100 %)``; an unknown probability by its definition."""
    key = f"prob.{name}"
    return t("ensemble.probability", lang, what=t(key, lang) if key in MESSAGES else definition or name)


def probability_text(probability: float | None, members: int, lang: str | None = None) -> str:
    """A probability as percent and count, ``80 % (8 of 10)``; ``-`` when unknown."""
    if probability is None or math.isnan(probability):
        return "-"
    percent = format_number(probability * 100, "%", lang, decimals=0)
    return t("ensemble.probability_value", lang, percent=percent, n=round(probability * members), members=members)


def probability_rows(folders: Sequence[EnsembleFolder], lang: str | None = None) -> list[list[str]]:
    """Rows of the probability table: one per probability any of the ensembles holds."""
    names: dict[str, str] = {}
    for folder in folders:
        for name in folder.probabilities:
            names.setdefault(name, folder.definitions.get(name, ""))
    return [
        [
            probability_label(name, definition, lang),
            *[probability_text(f.probabilities.get(name), f.members, lang) for f in folders],
        ]
        for name, definition in names.items()
    ]


def members_figure(folders: Sequence[EnsembleFolder], lang: str | None = None) -> go.Figure:
    """Every member's all-carrier balance per ensemble (box with points) against net zero, labelled in ``lang``."""
    fig = go.Figure()
    for folder in folders:
        try:
            table = folder.member_table()
        except (OSError, ValueError):
            continue
        if "energy_balance_kwh" in table:
            y = table["energy_balance_kwh"].astype(float) / 1000.0
            fig.add_trace(go.Box(y=y, name=folder.scenario, boxpoints="all", jitter=0.4, pointpos=0))
    if not fig.data:
        return empty_figure(t("ensemble.no_members", lang), lang)
    fig.add_hline(y=0.0, line_dash="dot", line_color="black", annotation_text=t("fig.net_zero", lang))
    fig.update_layout(
        template="plotly_white",
        title=t("ensemble.members_title", lang),
        yaxis_title=t("ensemble.members_axis", lang),
        showlegend=False,
        height=360,
        separators=plotly_separators(lang),
    )
    return fig


def projection_band(members: pd.DataFrame, *, year: int, last_day: pd.Timestamp, so_far_mwh: float) -> pd.DataFrame:
    """P10, P50 and P90 over the members of the cumulative all-carrier balance to the year's end [MWh].

    Each member continues the measured balance ``so_far_mwh`` with its own months still to
    come (import + gas - export of its member-table months, :func:`scenarios.ensemble_results.monthly_frame`):
    the rest of the month of ``last_day`` in proportion to its days left, then whole months.

    Parameters
    ----------
    members : pandas.DataFrame
        An ensemble's member table.
    year : int
        The year shown.
    last_day : pandas.Timestamp
        Local midnight of the last measured day (tz-aware); the day before 1 January without data.
    so_far_mwh : float
        The measured all-carrier balance up to and with ``last_day``. [MWh]

    Returns
    -------
    pandas.DataFrame
        Index: ``last_day`` and the last day of each month still to come (local midnight);
        columns ``p10``, ``p50``, ``p90`` [MWh] and ``neutral_frac`` (share of members at or
        below net zero). Empty without monthly columns or days to come.
    """
    months = monthly_frame(members)
    tz = last_day.tz
    first = max(last_day + pd.Timedelta(days=1), pd.Timestamp(year=year, month=1, day=1, tz=tz))
    if not months or first.year != year:
        return pd.DataFrame(columns=["p10", "p50", "p90", "neutral_frac"])
    balance = (months["import_kwh"] + months["fuel_kwh"] - months["export_kwh"]).to_numpy(dtype=float) / 1000.0
    points, steps = [first - pd.Timedelta(days=1)], [np.zeros(balance.shape[0])]
    for month in range(first.month, 13):
        month_end = pd.Timestamp(year=year, month=month, day=1, tz=tz) + pd.offsets.MonthEnd(0)
        left = month_end.day - first.day + 1 if month == first.month else month_end.day
        steps.append(balance[:, month - 1] * left / month_end.day)
        points.append(month_end)
    paths = so_far_mwh + np.cumsum(np.stack(steps, axis=1), axis=1)
    frame = pd.DataFrame(
        {
            "p10": np.percentile(paths, 10, axis=0),
            "p50": np.percentile(paths, 50, axis=0),
            "p90": np.percentile(paths, 90, axis=0),
            "neutral_frac": (paths <= 0.0).mean(axis=0),
        },
        index=pd.DatetimeIndex(points),
    )
    return frame


def add_band(fig: go.Figure, band: pd.DataFrame, lang: str | None = None) -> go.Figure:
    """Draw ``band`` (:func:`projection_band`) on the year's cumulative figure as a shaded P10-P90 area.

    The legend is in ``lang`` (:data:`BAND_LABEL`, :data:`BAND_MEDIAN_LABEL`).
    """
    if band.empty:
        return fig
    x = list(band.index)
    fig.add_trace(go.Scatter(x=x, y=band["p90"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=band["p10"],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(109, 89, 122, 0.22)",
            name=t(BAND_LABEL, lang),
            hovertemplate="P10 %{y:,.0f} MWh<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=band["p50"],
            mode="lines",
            line={"color": COLOURS["gas"], "width": 1, "dash": "dot"},
            name=t(BAND_MEDIAN_LABEL, lang),
        )
    )
    return fig
