"""Export a period of a store's table to CSV or NetCDF (``twin store export``).

The export reads the committed rows (safe while ``twin live`` writes) in blocks of a day
(1-minute table) or a month (15-minute table), so memory stays bounded for any period, and
writes a temporary file beside the target that is renamed over it when complete.

CSV: one header line, then one row per interval: ``time_utc`` (interval start, ISO 8601 with
``Z``), then per channel its value (column named as the channel, whose name carries the unit,
e.g. ``b001/meter/p_meter_kw``; empty where unknown; shortest text that reads back to the same
float64) and its quality (column ``quality:CHANNEL``: ``ok``, ``stale``, ``missing``,
``invalid``, ``estimated``). NetCDF: ``value`` and ``quality`` (CF flags) over (``time``, ``channel``), as the
store holds them.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import xarray as xr

from twin.core.errors import ConfigError
from twin.core.schema import QUALITY_FLAGS, TIME_ENCODING
from twin.core.store import TABLES, MeanTable

__all__ = ["FORMATS", "export_table", "parse_utc"]

#: File suffix -> format.
FORMATS: Final[dict[str, str]] = {".csv": "csv", ".nc": "netcdf"}
#: Rows read at a time, per table.
_BLOCK_S: Final[dict[str, int]] = {"1min": 86_400, "15min": 30 * 86_400}
_EARLIEST: Final[pd.Timestamp] = pd.Timestamp("1970-01-01", tz="UTC")
_LATEST: Final[pd.Timestamp] = pd.Timestamp("2200-01-01", tz="UTC")


def parse_utc(text: str, option: str) -> int:
    """An ISO 8601 time or date (naive: UTC) as seconds since 1970-01-01 UTC.

    Raises
    ------
    ConfigError
        Not a time, or outside 1970-2200 (names the option).
    """
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ConfigError(f"{text!r} is not an ISO 8601 time, e.g. 2026-06-21T10:00:00Z or 2026-06-21", field=option)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if not _EARLIEST <= stamp <= _LATEST:
        raise ConfigError(f"{text!r} is outside 1970 to 2200", field=option)
    return int(stamp.value // 10**9)


def export_table(
    store_dir: str | Path,
    table: str,
    start_s: int,
    end_s: int,
    out: str | Path,
    *,
    channels: Sequence[str] | None = None,
) -> str:
    """Write the rows of ``table`` with interval starts in ``[start_s, end_s)`` to ``out``.

    Parameters
    ----------
    store_dir : str or Path
        The store folder.
    table : str
        ``"1min"`` or ``"15min"``.
    start_s, end_s : int
        The period, seconds since 1970-01-01 UTC (end excluded).
    out : str or Path
        Target file; ``.csv`` or ``.nc`` picks the format.
    channels : sequence of str, optional
        Channel names or shell patterns (``b001/*``); default every channel.

    Returns
    -------
    str
        One line: rows, channels, period and file.

    Raises
    ------
    ConfigError
        Unknown table or format, an empty period, no matching channel, a missing store.
    """
    target = Path(out)
    kind = FORMATS.get(target.suffix.lower())
    if kind is None:
        raise ConfigError(f"unknown export format {target.suffix!r}", field="--out", allowed=", ".join(FORMATS))
    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}", field="--table", allowed=", ".join(TABLES))
    if end_s <= start_s:
        raise ConfigError("the period is empty: --to must be after --from", field="--to")
    store = Path(store_dir)
    if not store.is_dir():
        raise ConfigError("no such store folder", file=str(store))
    means = MeanTable(store, table)  # one commit: the same rows and channels for every block
    selected = _select(means.channels, channels)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    writer = _CsvWriter(tmp, selected) if kind == "csv" else _NetcdfWriter(tmp, selected, table)
    rows = 0
    try:
        step = _BLOCK_S[table]
        for block_start in range(start_s - start_s % step, end_s, step):
            ds = means.read(start_s=max(block_start, start_s), end_s=min(block_start + step, end_s), channels=selected)
            if ds.sizes["time"]:
                writer.write(ds)
                rows += ds.sizes["time"]
        writer.close()
        tmp.replace(target)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    period = f"{_iso(start_s)} to {_iso(end_s)}"
    return f"exported {rows} row(s) x {len(selected)} channel(s) of the {table} table, {period}, to {target}"


def _select(available: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    if not patterns:
        return list(available)
    chosen = [c for c in available if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
    if not chosen:
        raise ConfigError(
            f"no channel of the table matches {', '.join(patterns)}",
            field="--channel",
            allowed=", ".join(available[:4]) + (", ..." if len(available) > 4 else "") or "none (empty table)",
        )
    return chosen


def _iso(seconds: int) -> str:
    return pd.Timestamp(seconds, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ")


class _CsvWriter:
    def __init__(self, path: Path, channels: list[str]) -> None:
        self.file = path.open("w", encoding="utf-8", newline="")
        header = ["time_utc"]
        for channel in channels:
            header += [channel, f"quality:{channel}"]
        self.file.write(",".join(_csv_field(name) for name in header) + "\n")

    def write(self, ds: xr.Dataset) -> None:
        names = list(QUALITY_FLAGS)
        times = pd.DatetimeIndex(ds["time"].values).strftime("%Y-%m-%dT%H:%M:%SZ")
        values, flags = ds["value"].values, ds["quality"].values
        cells: list[str] = [""] * (2 * values.shape[1])
        for row in range(values.shape[0]):  # row by row: memory stays at one row of text
            # Python's repr of a float is the shortest text that reads back to the same float64
            cells[0::2] = [repr(v) if v == v else "" for v in values[row].tolist()]
            cells[1::2] = [names[f] for f in flags[row].tolist()]
            self.file.write(f"{times[row]},{','.join(cells)}\n")

    def close(self) -> None:
        self.file.close()


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


class _NetcdfWriter:
    def __init__(self, path: Path, channels: list[str], table: str) -> None:
        import netCDF4

        self.nc: Any = netCDF4.Dataset(path, "w", format="NETCDF4")
        nc = self.nc
        nc.setncatts({"table": table, "resolution_s": TABLES[table], "source": "measured", "Conventions": "CF-1.8"})
        nc.createDimension("time", None)
        nc.createDimension("channel", len(channels))
        time = nc.createVariable("time", "i8", ("time",))
        time.setncatts({**TIME_ENCODING, "long_name": "interval start (UTC)"})
        channel = nc.createVariable("channel", str, ("channel",))
        for index, name in enumerate(channels):
            channel[index] = name
        channel.long_name = "DEVICE/QUANTITY or balance:/flow: channel; the name carries the unit"
        width = max(len(channels), 1)
        chunks = (max(1, min(1440, 2**20 // width)), width)
        dims = ("time", "channel")
        value = nc.createVariable(
            "value", "f8", dims, zlib=True, complevel=4, shuffle=True, chunksizes=chunks, fill_value=np.nan
        )
        value.long_name = "mean over the interval (counters: last reading)"
        quality = nc.createVariable("quality", "i1", dims, zlib=True, complevel=4, chunksizes=chunks)
        quality.setncatts(
            {
                "long_name": "quality flag",
                "flag_values": np.array(list(QUALITY_FLAGS.values()), dtype=np.int8),
                "flag_meanings": " ".join(QUALITY_FLAGS),
            }
        )
        self.rows = 0

    def write(self, ds: xr.Dataset) -> None:
        n = ds.sizes["time"]
        rows = slice(self.rows, self.rows + n)
        self.nc["time"][rows] = ds["time"].values.astype("datetime64[s]").astype(np.int64)
        self.nc["value"][rows, :] = ds["value"].values
        self.nc["quality"][rows, :] = ds["quality"].values.astype(np.int8)
        self.rows += n

    def close(self) -> None:
        if self.nc.isopen():
            self.nc.close()
