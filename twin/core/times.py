"""Simulated start times given on the command line (``twin field --start``, ``twin demo --start``)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Final

from twin.core.errors import ConfigError

__all__ = ["DEMO_START_UTC", "default_demo_start", "parse_start_utc"]

#: The demo's default simulated start: today at this time of day, UTC (late morning in
#: Germany, the sun near its highest in Beucha at 12.6 deg E whatever the season).
DEMO_START_UTC: Final[time] = time(10, 0)
_EARLIEST_YEAR: Final[int] = 1990
_LATEST_YEAR: Final[int] = 2099


def parse_start_utc(text: str, option: str = "--start") -> datetime:
    """A simulated start in ISO 8601 as an aware UTC time.

    ``2026-11-25T10:00:00Z``, ``2026-11-25T11:00+01:00`` (a local time with its offset),
    ``2026-11-25T10:00`` and ``2026-11-25`` (no offset: UTC).

    Raises
    ------
    ConfigError
        Not such a time, or outside the years 1990 to 2099 (names the option).
    """
    cleaned = text.strip()
    try:
        stamp = datetime.fromisoformat(cleaned[:-1] + "+00:00" if cleaned[-1:] in ("Z", "z") else cleaned)
    except ValueError:
        raise ConfigError(
            f"{text!r} is not an ISO 8601 time",
            field=option,
            allowed="e.g. 2026-11-25T10:00:00Z, 2026-11-25T11:00+01:00 or 2026-11-25 (UTC unless it says otherwise)",
        ) from None
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    if not _EARLIEST_YEAR <= stamp.year <= _LATEST_YEAR:
        raise ConfigError(
            f"{text!r} lies outside the years the twin keeps", field=option, allowed=f"{_EARLIEST_YEAR}-{_LATEST_YEAR}"
        )
    return stamp


def default_demo_start(now: datetime | None = None) -> datetime:
    """The demo's default start: today (UTC) at :data:`DEMO_START_UTC`."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return datetime.combine(today, DEMO_START_UTC, tzinfo=UTC)
