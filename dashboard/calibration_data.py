"""What the Calibration page reads: a calibration file and the small files ``twin calibrate`` wrote beside it.

:func:`load_calibration_files` reads the calibration file (YAML, ``twin calibrate --out``), its
daily comparison (``NAME.daily.csv``) and, when there is one, the last drift check
(``NAME.drift.json``, ``twin calibrate --drift --out``); see :mod:`twin.core.calibration_outputs`.
The page never runs the model: these files hold what ``twin calibrate`` computed. Each is read
again only when it changed (the :class:`~dashboard.data.DataCache` key carries its time and size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dashboard.data import DataCache
from twin.core.calibration_outputs import DAILY_COLUMNS, DriftFile, daily_path, drift_path, read_drift
from twin.core.errors import ConfigError

__all__ = ["CalibrationFiles", "load_calibration_files"]


@dataclass(frozen=True)
class CalibrationFiles:
    """A calibration file and what lies beside it.

    Attributes
    ----------
    path : Path
        The calibration file.
    record : dict or None
        Its content; ``None`` when it is missing or unreadable (``problem`` says why).
    daily : pandas.DataFrame or None
        The daily comparison (:data:`~twin.core.calibration_outputs.DAILY_COLUMNS`).
    drift : DriftFile or None
        The last drift check.
    problem : str or None
        Why the calibration file or the daily comparison cannot be read (one line).
    missing : Path or None
        The file that does not exist (the calibration file or the daily comparison).
    """

    path: Path
    record: dict[str, Any] | None
    daily: pd.DataFrame | None
    drift: DriftFile | None
    problem: str | None = None
    missing: Path | None = None


def load_calibration_files(path: str | Path | None, cache: DataCache | None = None) -> CalibrationFiles:
    """Read a calibration file, its daily comparison and drift check (see the module docstring)."""
    if path is None:
        return CalibrationFiles(Path(), None, None, None)
    calibration = Path(path)
    record, problem = _cached(calibration, _read_record, cache)
    if record is None:
        return CalibrationFiles(calibration, None, None, None, problem, None if problem else calibration)
    daily, daily_problem = _cached(daily_path(calibration), _read_daily, cache)
    drift, _ = _cached(drift_path(calibration), read_drift, cache)
    missing = daily_path(calibration) if daily is None and daily_problem is None else None
    return CalibrationFiles(calibration, record, daily, drift, daily_problem, missing)


def _cached(path: Path, reader: Any, cache: DataCache | None) -> tuple[Any, str | None]:
    """``(content, None)``; ``(None, why)`` for an unreadable file, ``(None, None)`` for a missing one."""
    try:
        stat = path.stat()
    except OSError:
        return None, None

    def load() -> tuple[Any, str | None]:
        try:
            return reader(path), None
        except (ConfigError, OSError, ValueError) as err:
            return None, str(err)

    key = ("calibration", str(path), stat.st_mtime_ns, stat.st_size)
    result: tuple[Any, str | None] = cache.get(key, load) if cache is not None else load()
    return result


def _read_record(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "buildings" not in data or "district" not in data:
        raise ConfigError("not a calibration file (twin calibrate --out)", file=str(path))
    return data


def _read_daily(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"day": str, "building": str, "quantity": str})
    missing = [c for c in DAILY_COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError(f"columns {', '.join(missing)} missing", file=str(path))
    return frame
