"""Read 15-minute means of devices' quantities (a weather station's history) in the twin's CSV format.

A device's measurements that come as quarter-hour means rather than counters, such as what a
weather station logged, ``twin import`` takes as CSV (UTF-8, comma-separated, one header line;
``#`` lines are comments)::

    device,time,ghi_w_m2,temp_air_degc,temp_module_degc,wind_speed_m_s
    weather_station,2025-06-01T10:00:00Z,512,18.3,31.2,3
    weather_station,2025-06-01T12:15:00+02:00,530,18.4,31.9,2

* ``device``: the device's id in the site file;
* ``time``: ISO 8601 with ``Z`` or a UTC offset, the start of the quarter-hour, on a 15-minute boundary;
* every further column: a quantity with its unit in its name (``_w_m2``, ``_degc``, ``_m_s``,
  ``_kw``; :mod:`twin.core.units`), the mean over the quarter-hour; an empty cell is no value.

The header's first two columns ``device,time`` tell such a file from a meter data file
(:mod:`connectors.meter_import`). Duplicate rows (same device and time) with equal values are
dropped; with different values they are an error. Every error is one line naming the file, the
line and the column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from twin.core.errors import ConfigError
from twin.core.units import unit_for
from twin.core.vocabulary import STEP_S

__all__ = ["MEANS_HEADER", "DeviceMeans", "is_device_means_file", "read_device_means"]

#: The first two columns of a device-means file.
MEANS_HEADER: Final[tuple[str, str]] = ("device", "time")
_EARLIEST_S: Final[int] = 631_152_000  # 1990-01-01T00:00:00Z
_LATEST_S: Final[int] = 4_102_444_800  # 2100-01-01T00:00:00Z


@dataclass(frozen=True)
class DeviceMeans:
    """What device-means files hold.

    Attributes
    ----------
    times_s : numpy.ndarray
        The quarter starts of the files, sorted, each once (UNIX time). [s]
    values : dict of str to numpy.ndarray
        Channel ``DEVICE/QUANTITY`` -> its means at ``times_s`` (NaN: none).
    devices : frozenset of str
        The devices named.
    rows, duplicates : int
        Rows read and duplicate rows dropped.
    """

    times_s: npt.NDArray[np.int64]
    values: dict[str, npt.NDArray[np.float64]]
    devices: frozenset[str]
    rows: int
    duplicates: int


def is_device_means_file(path: str | Path) -> bool:
    """Whether a file's header starts with ``device,time`` (an unreadable file is not one)."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip() and not line.lstrip().startswith("#"):
                    cells = [cell.strip() for cell in line.split(",")]
                    return tuple(cells[:2]) == MEANS_HEADER
    except (OSError, UnicodeDecodeError):
        return False
    return False


def read_device_means(files: Iterable[str | Path]) -> DeviceMeans:
    """Read and validate device-means files.

    Raises
    ------
    ConfigError
        ``FILE: line N: column C: what is wrong`` for the first bad cell, or a file without rows.
    """
    seen: dict[tuple[str, int], tuple[tuple[float, ...], str]] = {}
    quantities: dict[str, list[str]] = {}
    rows = duplicates = 0
    for path in files:
        file = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read the device-means file: {err}", file=file) from None
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
        if len(lines) < 2:
            raise ConfigError("no rows after the header", file=file, allowed="a header and at least one row")
        header = _header(lines[0][1], file, lines[0][0])
        for number, line in lines[1:]:
            cells = next(csv.reader(io.StringIO(line)))
            if len(cells) != len(header):
                raise ConfigError(
                    f"{len(cells)} cells, the header has {len(header)}", file=file, field=f"line {number}"
                )
            device = cells[0].strip()
            if not device:
                raise ConfigError("empty device id", file=file, field=f"line {number}: column device")
            time_s = _time(cells[1].strip(), file, number)
            values = tuple(_number(cell, file, number, name) for cell, name in zip(cells[2:], header[2:], strict=True))
            for name in header[2:]:
                quantities.setdefault(device, [])
                if name not in quantities[device]:
                    quantities[device].append(name)
            key = (device, time_s)
            rows += 1
            if key in seen:
                if seen[key][0] != values or seen[key][1] != ",".join(header):
                    raise ConfigError(
                        f"duplicate row for {device} at {cells[1].strip()} with other values",
                        file=file,
                        field=f"line {number}",
                    )
                duplicates += 1
                continue
            seen[key] = (values, ",".join(header))
    times = np.unique(np.fromiter((t for _, t in seen), dtype=np.int64, count=len(seen)))
    out: dict[str, npt.NDArray[np.float64]] = {
        f"{device}/{name}": np.full(times.size, np.nan) for device, names in quantities.items() for name in names
    }
    for (device, time_s), (values, header_text) in seen.items():
        row = int(np.searchsorted(times, time_s))
        for name, value in zip(header_text.split(",")[2:], values, strict=True):
            out[f"{device}/{name}"][row] = value
    return DeviceMeans(times, out, frozenset(quantities), rows, duplicates)


def _header(line: str, file: str, number: int) -> list[str]:
    header = [cell.strip() for cell in next(csv.reader(io.StringIO(line)))]
    if tuple(header[:2]) != MEANS_HEADER or len(header) < 3:
        raise ConfigError(
            "the header must start with device,time and name at least one quantity",
            file=file,
            field=f"line {number}",
            allowed="device,time,QUANTITY,...",
        )
    for name in header[2:]:
        if not name or "/" in name or unit_for(name) is None or name in header[:2]:
            raise ConfigError(
                f"{name!r} is not a quantity with a unit suffix",
                file=file,
                field=f"line {number}: column {name}",
                allowed="names like ghi_w_m2, temp_air_degc, wind_speed_m_s, p_kw",
            )
    if len(set(header)) != len(header):
        raise ConfigError("a column is named twice", file=file, field=f"line {number}")
    return header


def _time(text: str, file: str, number: int) -> int:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise ConfigError(
            f"{text!r} is not an ISO 8601 time with Z or a UTC offset",
            file=file,
            field=f"line {number}: column time",
            allowed="e.g. 2025-06-01T10:15:00Z",
        )
    time_s = int(stamp.astimezone(UTC).timestamp())
    if not _EARLIEST_S <= time_s < _LATEST_S or time_s % STEP_S:
        raise ConfigError(
            f"{text} is not the start of a quarter-hour of the years 1990 to 2099",
            file=file,
            field=f"line {number}: column time",
        )
    return time_s


def _number(cell: str, file: str, number: int, column: str) -> float:
    text = cell.strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{text!r} is not a finite number", file=file, field=f"line {number}: column {column}")
    return value
