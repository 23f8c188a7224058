"""The field's meter history: the year so far as a metering point operator delivers it.

German smart meters deliver 15-minute energy through the metering point operator.
:func:`write_history` writes what the field's building meters, its substation meter and its
gas meters counted from 1 January (UTC) of the start's year up to the start, in the CSV format of
``twin import`` (:mod:`connectors.meter_import`): one ``interval`` row per meter and quarter
hour (energy imported and exported in it, kWh with 4 decimals) and one ``reading`` row per
meter at the end (the counters 1.8.0 / 2.8.0 as the field's devices show them then, to 10 Wh). The
energies are those the field's counters integrate (:meth:`twin.field.values.ValueModel.
quarter_energies`): imported with ``twin import``, the history and the live quarters join
without a gap or an overlap, and the reading lets the live twin count the first live
quarter in full.

The history ends at the start's quarter-hour (the start floored to 15 minutes): a quarter
that began before the start is the first live one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from twin.core.vocabulary import STEP_S

__all__ = ["HISTORY_METER_KINDS", "READING_RESOLUTION_KWH", "History", "history_end_s", "write_history"]

#: Resolution of the readings: a multiple of every field meter's counter register (1 Wh, the
#: substation's 10 Wh), floored, so that the first value the live twin reads is never below it. [kW h]
READING_RESOLUTION_KWH: Final[float] = 0.01
#: The devices whose 15-minute data the metering point operator delivers (as ``twin import`` takes them).
HISTORY_METER_KINDS: Final[tuple[str, ...]] = ("building_meter", "substation_meter", "gas_meter")


@dataclass(frozen=True)
class History:
    """What :func:`write_history` wrote.

    Attributes
    ----------
    path : Path
        The meter data file.
    meters, quarters : int
        Meters and quarter hours per meter.
    start_s, end_s : int
        First quarter's start and the last quarter's end (the readings' time), UNIX time. [s]
    """

    path: Path
    meters: int
    quarters: int
    start_s: int
    end_s: int

    def describe(self) -> str:
        """One line: meters, quarters, period and file."""
        return (
            f"of {self.meters} meters, {self.quarters} quarter-hours each, "
            f"{_iso(self.start_s)} to {_iso(self.end_s)} in {self.path}"
        )


def history_end_s(start_s: float) -> int:
    """The end of the history for a simulated start: the start floored to the quarter hour [s]."""
    return int(start_s // STEP_S) * STEP_S


def write_history(
    path: str | Path,
    *,
    meters: Sequence[str],
    starts_s: npt.NDArray[np.int64],
    import_kwh: npt.NDArray[np.float64],
    export_kwh: npt.NDArray[np.float64],
    end_s: int,
    base_kwh: float,
    gas: frozenset[str] = frozenset(),
) -> History:
    """Write 15-minute meter data and each meter's closing reading (``twin import`` format).

    Parameters
    ----------
    path : str or Path
        The CSV file (written anew, atomically).
    meters : sequence of str
        Meter ids, in the column order of the energies.
    starts_s : numpy.ndarray
        Quarter starts, UNIX time. [s]
    import_kwh, export_kwh : numpy.ndarray
        Energy per quarter and meter (quarters x meters). [kW h]
    end_s : int
        Time of the readings (the end of the last quarter). [s]
    base_kwh : float
        The counters' reading at 1 January 00:00 UTC. [kW h]
    gas : frozenset of str
        The gas meters among ``meters`` (their readings have no export counter).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    times = [_iso(int(t)) for t in starts_s.tolist()]
    end = _iso(end_s)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write("meter,time,import_kwh,export_kwh,kind\n")
        for column, meter in enumerate(meters):
            imported = np.round(import_kwh[:, column], 4).tolist()
            exported = np.round(export_kwh[:, column], 4).tolist()
            handle.write(
                "".join(
                    f"{meter},{t},{a:.4f},{b:.4f},interval\n" for t, a, b in zip(times, imported, exported, strict=True)
                )
            )
        for column, meter in enumerate(meters):
            counter_import = _floor_reading(base_kwh + float(import_kwh[:, column].sum()))
            counter_export = _floor_reading(base_kwh + float(export_kwh[:, column].sum()))
            exported = "" if meter in gas else f"{counter_export:.2f}"
            handle.write(f"{meter},{end},{counter_import:.2f},{exported},reading\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(out)
    first = int(starts_s[0]) if starts_s.size else end_s
    return History(path=out, meters=len(meters), quarters=int(starts_s.size), start_s=first, end_s=end_s)


def _floor_reading(kwh: float) -> float:
    """A counter as a register shows it, to :data:`READING_RESOLUTION_KWH` (floored: never above the device's)."""
    return math.floor(kwh / READING_RESOLUTION_KWH) * READING_RESOLUTION_KWH


def _iso(time_s: int) -> str:
    return datetime.fromtimestamp(time_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
