"""The small files ``twin calibrate`` writes beside its calibration file, and their readers.

- the **daily comparison** (``NAME.daily.csv`` beside ``NAME.yaml``): per UTC day and building
  (and ``district``, the sum of the buildings), the meters' energy against the model's before
  (the district file) and after calibration, over the hours the meter measured
  (:data:`DAILY_COLUMNS`); the dashboard's Calibration page reads it, it never recomputes the model;
- the **drift file** (``twin calibrate --drift --out FILE``, JSON): each PV system's performance
  over the last days against its calibrated value (:class:`DriftFile`); ``twin live --drift FILE``
  raises an alert per system below the threshold, and the Calibration page shows the file named
  ``NAME.drift.json`` beside the calibration file.

Nothing here imports the models: the dashboard and the live twin read these files cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from twin.core.errors import ConfigError

__all__ = [
    "DAILY_COLUMNS",
    "DISTRICT",
    "DRIFT_VERSION",
    "DriftFile",
    "DriftSystem",
    "daily_path",
    "drift_path",
    "read_drift",
]

#: Columns of the daily comparison: day (UTC date), building (or :data:`DISTRICT`), quantity
#: (``electricity``: import minus export of the building meter; ``gas``: the gas meter), hours
#: measured that day, the meter's energy, the model's before and after calibration over those
#: hours [kW h], and whether the day lies in a held-out week.
DAILY_COLUMNS: Final[tuple[str, ...]] = (
    "day",
    "building",
    "quantity",
    "hours",
    "meter_kwh",
    "model_kwh",
    "calibrated_kwh",
    "held_out",
)
#: The row name of the district's sum in the daily comparison.
DISTRICT: Final[str] = "district"
#: Version of the drift file.
DRIFT_VERSION: Final[int] = 1


def daily_path(calibration_file: str | Path) -> Path:
    """The daily comparison beside a calibration file (``calibration.yaml`` -> ``calibration.daily.csv``)."""
    path = Path(calibration_file)
    return path.with_name(f"{path.stem}.daily.csv")


def drift_path(calibration_file: str | Path) -> Path:
    """The drift file the dashboard looks for beside a calibration file (``calibration.drift.json``)."""
    path = Path(calibration_file)
    return path.with_name(f"{path.stem}.drift.json")


@dataclass(frozen=True)
class DriftSystem:
    """One PV system's performance over the drift period against its calibrated value.

    Attributes
    ----------
    system : str
        The PV system (``building/pvN``).
    ratio : float or None
        Measured over modelled (calibrated) performance; ``None``: not identifiable. [1]
    se : float or None
        Its standard error. [1]
    alarm : bool
        More than the threshold below 1.
    reason : str or None
        Why the ratio is not identifiable.
    """

    system: str
    ratio: float | None
    se: float | None
    alarm: bool
    reason: str | None = None

    def text(self, days: int) -> str:
        """The alarm's line (``PV drift sfh37/pv0: 0.85 of its calibrated performance over 7 days``)."""
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        return f"PV drift {self.system}: {ratio} of its calibrated performance over {days} days"


@dataclass(frozen=True)
class DriftFile:
    """A drift file (see the module docstring)."""

    district: str
    calibration: str | None
    from_utc: str
    to_utc: str
    days: int
    threshold_frac: float
    systems: tuple[DriftSystem, ...]

    @property
    def alarms(self) -> tuple[DriftSystem, ...]:
        """The systems below the threshold."""
        return tuple(s for s in self.systems if s.alarm)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON content."""
        return {
            "version": DRIFT_VERSION,
            "district": self.district,
            "calibration": self.calibration,
            "from_utc": self.from_utc,
            "to_utc": self.to_utc,
            "days": self.days,
            "threshold_frac": self.threshold_frac,
            "systems": {
                s.system: {"ratio": s.ratio, "se": s.se, "alarm": s.alarm, "reason": s.reason} for s in self.systems
            },
        }


def read_drift(path: str | Path) -> DriftFile:
    """Read a drift file.

    Raises
    ------
    ConfigError
        A missing, unreadable or malformed file (one line naming the file and the field).
    """
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("no such file", file=where) from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"not a drift file: {err}", file=where) from None
    if not isinstance(data, dict) or data.get("version") != DRIFT_VERSION:
        raise ConfigError("not a drift file of this version", file=where, field="version", allowed=str(DRIFT_VERSION))
    try:
        systems = tuple(
            DriftSystem(
                str(name),
                None if entry.get("ratio") is None else float(entry["ratio"]),
                None if entry.get("se") is None else float(entry["se"]),
                bool(entry["alarm"]),
                entry.get("reason"),
            )
            for name, entry in dict(data["systems"]).items()
        )
        return DriftFile(
            district=str(data["district"]),
            calibration=data.get("calibration"),
            from_utc=str(data["from_utc"]),
            to_utc=str(data["to_utc"]),
            days=int(data["days"]),
            threshold_frac=float(data["threshold_frac"]),
            systems=systems,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"malformed drift file ({type(err).__name__}: {err})", file=where) from None
