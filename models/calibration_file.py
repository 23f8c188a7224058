"""The calibration file: what the meters say about each building and PV system (``twin calibrate``).

``twin calibrate`` writes it; ``twin district show --calibration FILE`` and scenario files
(``calibration: FILE``) read it and plan with the district the measurements describe
(:func:`calibrated_district`: the factors go through :func:`models.district_factors.apply_factors`).
Every estimate carries its factor (``null`` where the data cannot identify it), its standard
error and, when not identifiable, the reason:

.. code-block:: yaml

    version: 1
    district: Beucha
    period: {from_utc: '2025-01-01T00:00:00Z', to_utc: '2025-03-01T00:00:00Z'}
    buildings:
      sfh01:
        household_electricity: {factor: 1.29, se: 0.02}
        space_heat: {factor: 1.0, se: 0.003, source: gas_meter}
        heat_pump_efficiency: {factor: null, reason: no heat meter ...}
    pv:
      sfh01/pv0: {factor: 0.85, se: 0.004}

Further blocks (``store``, ``weather``, ``seed``, ``holdout``, ``goodness_of_fit``, per building
``goodness_of_fit``) describe how the file came about; they do not change the district.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from models.district import District
from models.district_factors import DistrictFactors, apply_factors
from twin.core.config_loader import load_config
from twin.core.errors import ConfigError

__all__ = [
    "CALIBRATION_VERSION",
    "BuildingCalibration",
    "CalibrationFile",
    "Estimate",
    "calibrated_district",
    "calibration_factors",
    "load_calibration",
]

#: Version of the calibration file format.
CALIBRATION_VERSION: Final[int] = 1
_WHAT: Final[str] = "calibration file"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(_Record):
    """One fitted factor."""

    factor: float | None = Field(default=None, gt=0, le=10, description="The fitted factor; null: not identifiable.")
    se: float | None = Field(default=None, ge=0, description="Standard error of the factor. [1]")
    reason: str | None = Field(default=None, description="Why the factor is not identifiable, or a caveat.")
    source: str | None = Field(default=None, description="The measurement the factor comes from.")


class BuildingCalibration(_Record):
    """The factors of one building."""

    household_electricity: Estimate | None = None
    space_heat: Estimate | None = None
    heat_pump_efficiency: Estimate | None = None
    goodness_of_fit: dict[str, Any] | None = None


class CalibrationFile(_Record):
    """A calibration file (see the module docstring)."""

    version: int = Field(ge=1, le=CALIBRATION_VERSION)
    district: str = Field(min_length=1, description="Name of the district the meters belong to.")
    store: str | None = None
    period: dict[str, str] | None = None
    weather: str | None = None
    seed: int | None = None
    holdout: dict[str, Any] | None = None
    buildings: dict[str, BuildingCalibration] = Field(default_factory=dict)
    pv: dict[str, Estimate] = Field(default_factory=dict)
    goodness_of_fit: dict[str, Any] | None = None


def load_calibration(path: str | Path) -> CalibrationFile:
    """Read and validate a calibration file.

    Raises
    ------
    ConfigError
        One line naming the file and the field.
    """
    record: CalibrationFile = load_config(path, CalibrationFile, what=_WHAT)
    return record


def calibration_factors(record: CalibrationFile) -> DistrictFactors:
    """The identified factors of a calibration (a ``null`` factor leaves the district's value)."""
    electricity, heat = {}, {}
    for building, entry in record.buildings.items():
        if entry.household_electricity is not None and entry.household_electricity.factor is not None:
            electricity[building] = entry.household_electricity.factor
        if entry.space_heat is not None and entry.space_heat.factor is not None:
            heat[building] = entry.space_heat.factor
    pv = {system: entry.factor for system, entry in record.pv.items() if entry.factor is not None}
    return DistrictFactors(household_electricity=electricity, space_heat=heat, pv=pv)


def calibrated_district(district: District, path: str | Path) -> District:
    """The district with a calibration file's factors applied.

    Raises
    ------
    ConfigError
        A bad file, a file of another district, or a building or PV system the district lacks.
    """
    record = load_calibration(path)
    if record.district != district.name:
        raise ConfigError(
            f"calibrates the district {record.district!r}, not {district.name!r}",
            file=str(path),
            field="district",
            allowed=district.name,
        )
    return apply_factors(district, calibration_factors(record), file=str(path))
