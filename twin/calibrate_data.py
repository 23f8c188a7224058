"""What the calibration reads from a state store: the meters' hourly energies over a period.

The calibration reads the 15-minute table of a store (:func:`twin.core.store.read_table`, which
opens it read-only: nothing in the store changes) - the energy flows of every building
(``flow:<building>/import_kwh``, ``export_kwh``, ``fuel_kwh``) and of the substation, as ``twin live``
measures them and ``twin import`` back-fills them - and turns them into hourly energies over
whole hours of one calendar year (UTC). An hour counts for a boundary when its four quarters
are all there. The weeks of the period are split into those the fit uses and those held out
for the goodness of fit (every ``holdout_every``-th week, counted from the period's start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.district import District
from twin.core.errors import ConfigError
from twin.core.schema import SUBSTATION
from twin.core.store import MeanTable, read_table
from twin.core.vocabulary import STEP_S

__all__ = ["HOUR_S", "WEEK_S", "Measured", "Period", "read_measured", "store_period"]

HOUR_S: Final[int] = 3600
WEEK_S: Final[int] = 7 * 24 * HOUR_S
_QUARTER_S: Final[int] = STEP_S
_FLOWS: Final[tuple[str, ...]] = ("import_kwh", "export_kwh", "fuel_kwh")


@dataclass(frozen=True)
class Period:
    """Whole hours of one calendar year (UTC): ``[start_s, end_s)``, UNIX time [s]."""

    start_s: int
    end_s: int

    @property
    def year(self) -> int:
        """The calendar year (UTC)."""
        return pd.Timestamp(self.start_s, unit="s").year

    @property
    def hours(self) -> int:
        """Hours in the period."""
        return (self.end_s - self.start_s) // HOUR_S

    def iso(self, time_s: int) -> str:
        """A time of the period as ISO 8601 UTC."""
        return pd.Timestamp(time_s, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ")

    def held_out(self, every: int) -> npt.NDArray[np.bool_]:
        """Per hour: in a held-out week (every ``every``-th week from the start; 0: none)."""
        week = np.arange(self.hours) * HOUR_S // WEEK_S
        if every <= 0:
            return np.zeros(self.hours, dtype=bool)
        return np.asarray(week % every == every - 1)

    def day(self) -> npt.NDArray[np.int64]:
        """Per hour: the day number from the period's start."""
        return np.arange(self.hours, dtype=np.int64) // 24


@dataclass(frozen=True)
class Measured:
    """Hourly energies of the meters over a period (NaN: an hour not complete in the store).

    Attributes
    ----------
    period : Period
    net_kwh : numpy.ndarray
        (hour x building, the district's order) import minus export. [kW h]
    gas_kwh : numpy.ndarray
        (hour x building) gas drawn; NaN for a building without gas data. [kW h]
    substation_kwh : numpy.ndarray
        (hour,) import minus export at the substation. [kW h]
    """

    period: Period
    net_kwh: npt.NDArray[np.float64]
    gas_kwh: npt.NDArray[np.float64]
    substation_kwh: npt.NDArray[np.float64]


def store_period(store_dir: str | Path, start: str | None, end: str | None) -> Period:
    """The period to calibrate: ``[start, end)`` or the store's data, in whole hours.

    Raises
    ------
    ConfigError
        No store, an empty store, a bad time, a period without data or across a year's end.
    """
    store = Path(store_dir)
    if not (store / "means_15min.commit.json").is_file():
        what = "no such folder" if not store.is_dir() else "not a state store, or one without 15-minute data"
        raise ConfigError(what, file=str(store), allowed="a store of twin live or twin import")
    channel = f"flow:{SUBSTATION}/import_kwh"
    table = MeanTable(store, "15min")
    channels = [c for c in table.channels if c.startswith("flow:")]
    if not channels:
        raise ConfigError("the store holds no energy flows", file=str(store), allowed="a store with meter data")
    first_s, last_s = _time_range(store, channel if channel in channels else channels[0])
    start_s = _parse_time(start, "--from") if start else first_s
    end_s = _parse_time(end, "--to") if end else last_s + _QUARTER_S
    start_s = -(-start_s // HOUR_S) * HOUR_S
    end_s = end_s // HOUR_S * HOUR_S
    if end_s <= start_s or end_s <= first_s or start_s > last_s:
        raise ConfigError(
            f"no data in the period {_iso(start_s)} to {_iso(end_s)}",
            file=str(store),
            field="--from/--to",
            allowed=f"times within the store's data, {_iso(first_s)} to {_iso(last_s + _QUARTER_S)}",
        )
    if pd.Timestamp(start_s, unit="s").year != pd.Timestamp(end_s - 1, unit="s").year:
        raise ConfigError(
            f"the period {_iso(start_s)} to {_iso(end_s)} spans the end of a year",
            field="--from/--to",
            allowed="a period within one calendar year (UTC)",
        )
    return Period(int(start_s), int(end_s))


def check_store_district(store_dir: str | Path, district: District) -> None:
    """Refuse a store whose meters are not the district's buildings.

    Raises
    ------
    ConfigError
        The store holds meters of buildings the district does not have.
    """
    store = Path(store_dir)
    buildings = {b.id for b in district.buildings}
    stored = {c.split(":", 1)[1].rsplit("/", 1)[0] for c in MeanTable(store, "15min").channels if c.startswith("flow:")}
    foreign = sorted(stored - buildings - {SUBSTATION})
    if foreign:
        raise ConfigError(
            f"the store holds meters of {', '.join(foreign[:4])}{', ...' if len(foreign) > 4 else ''}, "
            f"which are not buildings of {district.name}",
            file=str(store),
            allowed="the store's district (--district NAME-or-FILE)",
        )


def read_measured(store_dir: str | Path, district: District, period: Period) -> Measured:
    """Hourly energies of the district's meters over the period (see the module docstring).

    Raises
    ------
    ConfigError
        The store's boundaries are not the district's buildings, or it holds no data in the period.
    """
    store = Path(store_dir)
    buildings = [b.id for b in district.buildings]
    check_store_district(store, district)
    wanted = [f"flow:{b}/{flow}" for b in [*buildings, SUBSTATION] for flow in _FLOWS]
    data = read_table(store, "15min", start_s=period.start_s, end_s=period.end_s, channels=wanted)
    times = data["time"].values.astype("datetime64[s]").astype(np.int64)
    if times.size == 0:
        raise ConfigError(
            f"no 15-minute data in the period {period.iso(period.start_s)} to {period.iso(period.end_s)}",
            file=str(store),
        )
    rows = (times - period.start_s) // _QUARTER_S
    names = [str(c) for c in data["channel"].values]
    values = data["value"].to_numpy()

    def hourly(channel: str) -> npt.NDArray[np.float64]:
        quarters = np.full(period.hours * 4, np.nan)
        if channel in names:
            quarters[rows] = values[:, names.index(channel)]
        return np.asarray(quarters.reshape(-1, 4).sum(axis=1), dtype=np.float64)  # NaN unless all four

    def net(boundary: str) -> npt.NDArray[np.float64]:
        return hourly(f"flow:{boundary}/import_kwh") - hourly(f"flow:{boundary}/export_kwh")

    return Measured(
        period=period,
        net_kwh=np.column_stack([net(b) for b in buildings]),
        gas_kwh=np.column_stack([hourly(f"flow:{b}/fuel_kwh") for b in buildings]),
        substation_kwh=net(SUBSTATION),
    )


def _time_range(store: Path, channel: str) -> tuple[int, int]:
    """First and last quarter start with a value of ``channel`` [s]."""
    data = read_table(store, "15min", channels=[channel])
    finite = np.isfinite(data["value"].to_numpy()[:, 0]) if data.sizes.get("channel") else np.zeros(0, bool)
    times = data["time"].values.astype("datetime64[s]").astype(np.int64)[finite]
    if times.size == 0:
        raise ConfigError("the store holds no meter data", file=str(store), allowed="a store with meter data")
    return int(times.min()), int(times.max())


def _parse_time(text: str, option: str) -> int:
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a time", field=option, allowed="ISO 8601, e.g. 2025-03-01T00:00Z") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.timestamp())


def _iso(time_s: int) -> str:
    return pd.Timestamp(time_s, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ")
