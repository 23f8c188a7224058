"""A boundary's balance over a chosen period: a day, a week, a month or the year, ending now or on a day.

The pages' period picker (:func:`period_controls`) chooses the period; :func:`period_bounds`
turns it into UTC bounds in the site's time zone and :func:`period_history` reads the balance
terms over it. The last 24 hours come from the 1-minute table at 5 minutes
(:func:`dashboard.data.balance_history`); anything else from the 15-minute table through the
API's channel cache (:func:`dashboard.api.period_frame`): a day or a week at 15 minutes, a month
hourly, the year daily (means of the quarter-hours that exist). Beside each chart, links download
the measured data of the period (``/api/v1/export``, CSV and NetCDF). Labels come from the
catalogue (:mod:`dashboard.i18n`) in the page's language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlencode

import pandas as pd
from dash import dcc, html

from dashboard.api import PREFIX, ApiError, period_frame, table_channels
from dashboard.data import HISTORY_TERMS, DataCache, StoreReadError, balance_history
from dashboard.i18n import format_time, t
from twin.core.channels import Channel
from twin.core.vocabulary import EARLIER_BALANCE_TERMS

__all__ = [
    "PERIODS",
    "PERIOD_RESOLUTION",
    "download_links",
    "period_bounds",
    "period_controls",
    "period_history",
    "period_title",
]

#: The periods of the picker: value -> message id of its label (:mod:`dashboard.i18n`).
PERIODS: Final[dict[str, str]] = {
    "day": "period.day",
    "week": "period.week",
    "month": "period.month",
    "year": "period.year",
}
#: Resolution of each period's chart (names of :data:`dashboard.api.RESOLUTIONS`).
PERIOD_RESOLUTION: Final[dict[str, str]] = {"day": "15min", "week": "15min", "month": "1h", "year": "1d"}
#: Resolution of each period's download.
DOWNLOAD_RESOLUTION: Final[dict[str, str]] = {"day": "15min", "week": "15min", "month": "15min", "year": "15min"}
_LENGTH: Final[dict[str, pd.DateOffset]] = {
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(days=7),
    "month": pd.DateOffset(months=1),
}


def period_controls(prefix: str, lang: str | None = None) -> html.Div:
    """The picker of a chart: ``{prefix}-period`` (radio items), ``{prefix}-until`` (a date or now), links.

    Labelled in ``lang`` (default: the request's).
    """
    return html.Div(
        [
            html.Label(t("period.label", lang), htmlFor=f"{prefix}-period"),
            dcc.RadioItems(
                id=f"{prefix}-period",
                options=[{"label": t(label, lang), "value": value} for value, label in PERIODS.items()],
                value="day",
                inline=True,
                className="period-picker",
            ),
            html.Label(t("period.until", lang), htmlFor=f"{prefix}-until"),
            dcc.DatePickerSingle(
                id=f"{prefix}-until", placeholder=t("period.now", lang), clearable=True, display_format="DD.MM.YYYY"
            ),
            html.Span(id=f"{prefix}-downloads", className="downloads"),
        ],
        className="row controls period",
    )


def period_bounds(
    period: str | None, until: str | None, now: pd.Timestamp | None, tz: str
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC start and end of a period ending ``now`` (no ``until``) or at the end of the local day ``until``.

    ``"year"`` starts on 1 January (local) of the end's year; the others reach back a day, 7 days
    or a calendar month from the end. An unknown period is a day.
    """
    if until:
        end = (pd.Timestamp(until[:10]).tz_localize(tz) + pd.DateOffset(days=1)).tz_convert("UTC")
    else:
        end = (now if now is not None else pd.Timestamp.now(tz="UTC")).tz_convert("UTC")
    local_end = end.tz_convert(tz)
    if period == "year":
        start = pd.Timestamp(year=(local_end - pd.Timedelta(seconds=1)).year, month=1, day=1, tz=tz)
    else:
        start = local_end - _LENGTH.get(period or "day", _LENGTH["day"])
    return start.tz_convert("UTC"), end


def period_title(
    period: str | None,
    until: str | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tz: str,
    lang: str | None = None,
) -> str:
    """The chart's period in words in ``lang``: ``last 24 hours`` live, else local dates.

    ``01.06.2025 to 02.06.2025`` (``01.06.2025 bis 02.06.2025`` in German).
    """
    if (period or "day") == "day" and not until:
        return t("period.last_day", lang)
    last = end - pd.Timedelta(seconds=1)
    shown = (format_time(stamp, lang, precision="date", tz=tz) for stamp in (start, last))
    return t("period.range", lang, start=next(shown), end=next(shown))


def period_history(
    store_dir: Path,
    boundary: str,
    period: str | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    live: bool,
    cache: DataCache | None = None,
) -> pd.DataFrame:
    """The balance terms of ``boundary`` over ``[start, end)``, load-positive, index tz-aware UTC.

    Parameters
    ----------
    live : bool
        The period ends now: a day comes from the 1-minute table (at 5 minutes).

    Returns
    -------
    pandas.DataFrame
        Columns: the terms present of :data:`dashboard.data.HISTORY_TERMS`. [kW]

    Raises
    ------
    StoreReadError
        When the store cannot be read.
    """
    folder = Path(store_dir)
    if (period or "day") == "day" and live:
        return balance_history(folder, boundary, end, cache=cache)
    resolution = PERIOD_RESOLUTION.get(period or "day", "15min")
    present = set(table_channels(folder, "15min"))
    wanted = {Channel.balance(boundary, term).key: term for term in HISTORY_TERMS}
    wanted.update(
        {Channel.balance(boundary, old).key: new for old, new in EARLIER_BALANCE_TERMS.items() if new in HISTORY_TERMS}
    )
    channels = [key for key in wanted if key in present]
    if not channels:
        return pd.DataFrame(columns=list(HISTORY_TERMS), index=pd.DatetimeIndex([], tz="UTC"))
    try:
        frame, _ = period_frame(folder, channels, resolution, start, end)
    except ApiError as err:
        raise StoreReadError(f"the 15-minute table of {folder} cannot be read ({err})") from err
    out = pd.DataFrame(index=frame.index.tz_localize("UTC"))
    for key in channels:  # current names first: an earlier name only fills what the current one lacks
        term = wanted[key]
        values = frame[key].to_numpy()
        out[term] = values if term not in out else out[term].combine_first(pd.Series(values, index=out.index))
    return out.dropna(how="all")


def download_links(
    boundary: str, period: str | None, start: pd.Timestamp, end: pd.Timestamp, lang: str | None = None
) -> list[html.A]:
    """Links to the period's measured data of ``boundary`` (``/api/v1/export``, CSV and NetCDF) in ``lang``."""
    query = {
        "boundary": boundary,
        "from": start.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": end.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resolution": DOWNLOAD_RESOLUTION.get(period or "day", "15min"),
    }
    return [
        html.A(t(label, lang), href=f"{PREFIX}/export?{urlencode({**query, 'format': form})}", className="download")
        for form, label in (("csv", "download.measured_csv"), ("nc", "download.measured_nc"))
    ]
