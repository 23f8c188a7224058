"""Ensemble settings: how many members, which weather, and the distributions of the uncertain parameters.

The defaults are data, ``models/data/ensemble.yaml`` (each distribution with its source and
reason); a scenario file's ``ensemble:`` block overrides any key of it, and the command line
overrides ``members`` and ``seed``. Every problem - 0 members, an unknown weather year, a
distribution outside the range its parameter allows - is one
:class:`~twin.core.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.weather_years import REFERENCE_YEARS
from twin.core.config_loader import LocatedError, load_config, validate_config
from twin.core.errors import ConfigError

__all__ = [
    "MAX_MEMBERS",
    "PARAMETER_NAMES",
    "PARAMETER_RANGES",
    "Distribution",
    "EnsembleSettings",
    "WeatherSettings",
    "default_settings_path",
    "ensemble_settings",
]

ParameterName = Literal["hp_cop_scale", "pv_losses_percent", "battery_round_trip_frac"]
#: The parameters a member draws, in the order of the draws.
PARAMETER_NAMES: Final[tuple[str, ...]] = ("hp_cop_scale", "pv_losses_percent", "battery_round_trip_frac")
#: The range each parameter's distribution must stay within (where the models hold).
PARAMETER_RANGES: Final[dict[str, tuple[float, float]]] = {
    "hp_cop_scale": (0.5, 1.5),
    "pv_losses_percent": (9.5, 40.0),
    "battery_round_trip_frac": (0.5, 1.0),
}
#: Most members an ensemble may have.
MAX_MEMBERS: Final[int] = 10000
_WHAT: Final[str] = "ensemble file"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Config):
    """One parameter's distribution: uniform (low, high), triangular (low, mode, high) or fixed (value)."""

    distribution: Literal["uniform", "triangular", "fixed"]
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    value: float | None = None
    source: str = Field(default="", max_length=1000, description="Where the distribution comes from.")
    reason: str = Field(default="", max_length=2000, description="Why this shape and range.")

    @model_validator(mode="after")
    def _shape(self) -> Distribution:
        needs = {"uniform": ("low", "high"), "triangular": ("low", "mode", "high"), "fixed": ("value",)}
        for name in needs[self.distribution]:
            if getattr(self, name) is None or not math.isfinite(getattr(self, name)):
                raise LocatedError([name], f"a {self.distribution} distribution needs a finite {name}")
        if self.distribution != "fixed" and not self.low < self.high:  # type: ignore[operator]
            raise LocatedError(["high"], f"high {self.high} must exceed low {self.low}", allowed="low < high")
        if self.distribution == "triangular" and not self.low <= self.mode <= self.high:  # type: ignore[operator]
            raise LocatedError(["mode"], f"mode {self.mode} lies outside low-high", allowed="low <= mode <= high")
        return self

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value the distribution draws."""
        if self.distribution == "fixed":
            return float(self.value), float(self.value)  # type: ignore[arg-type]
        return float(self.low), float(self.high)  # type: ignore[arg-type]

    def quantile(self, u: float) -> float:
        """The value at cumulative probability ``u`` in [0, 1) (inverse CDF)."""
        if self.distribution == "fixed":
            return float(self.value)  # type: ignore[arg-type]
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.distribution == "uniform":
            return low + u * (high - low)
        mode = float(self.mode)  # type: ignore[arg-type]
        if u < (mode - low) / (high - low):
            return low + math.sqrt(u * (high - low) * (mode - low))
        return high - math.sqrt((1.0 - u) * (high - low) * (high - mode))


class WeatherSettings(_Config):
    """Which weather the members get: years resampled from ``years``, or the named years in turn."""

    mode: Literal["resampled", "cycle"] = "resampled"
    years: tuple[str, ...] = Field(min_length=1, max_length=20, description="Test reference years by name.")

    @model_validator(mode="after")
    def _known(self) -> WeatherSettings:
        for number, name in enumerate(self.years):
            if name not in REFERENCE_YEARS:
                raise LocatedError(
                    ["years", number], f"unknown weather year {name!r}", allowed=", ".join(REFERENCE_YEARS)
                )
        return self


def _check_ranges(parameters: Mapping[Any, Distribution]) -> None:
    for name, distribution in parameters.items():
        low, high = PARAMETER_RANGES[name]
        for end, value in zip(("low", "high"), distribution.bounds(), strict=True):
            if not low <= value <= high:
                key = end if distribution.distribution != "fixed" else "value"
                raise LocatedError(
                    ["parameters", name, key], f"{value} is outside the range of {name}", allowed=f"{low}-{high}"
                )


class EnsembleSettings(_Config):
    """The settings of an ensemble (``models/data/ensemble.yaml``)."""

    members: int = Field(ge=1, le=MAX_MEMBERS, description="Number of members.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the members' draws.")
    weather: WeatherSettings
    parameters: dict[ParameterName, Distribution]

    @model_validator(mode="after")
    def _complete(self) -> EnsembleSettings:
        missing = [name for name in PARAMETER_NAMES if name not in self.parameters]
        if missing:
            raise LocatedError(["parameters"], f"misses {', '.join(missing)}", allowed=", ".join(PARAMETER_NAMES))
        _check_ranges(self.parameters)
        return self


class EnsembleBlock(_Config):
    """A scenario file's ``ensemble:`` block: any key of :class:`EnsembleSettings`."""

    members: int | None = Field(default=None, ge=1, le=MAX_MEMBERS)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    weather: WeatherSettings | None = None
    parameters: dict[ParameterName, Distribution] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ranges(self) -> EnsembleBlock:
        _check_ranges(self.parameters)
        return self


def default_settings_path() -> Path:
    """The default settings file, ``models/data/ensemble.yaml``."""
    return Path(str(importlib.resources.files("models.data").joinpath("ensemble.yaml")))


def ensemble_settings(
    block: dict[str, Any] | None = None,
    *,
    file: str | None = None,
    members: int | None = None,
    seed: int | None = None,
    defaults: str | Path | None = None,
) -> EnsembleSettings:
    """The settings of an ensemble: the defaults, a scenario's ``ensemble:`` block, then the options.

    Parameters
    ----------
    block : dict, optional
        The scenario file's ``ensemble:`` block.
    file : str, optional
        The scenario file, for messages.
    members, seed : int, optional
        ``--members`` and ``--seed``.
    defaults : str or pathlib.Path, optional
        Settings file instead of :func:`default_settings_path`.

    Raises
    ------
    ConfigError
        Naming the file (or option) and the field.
    """
    path = Path(defaults) if defaults is not None else default_settings_path()
    settings: EnsembleSettings = load_config(path, EnsembleSettings, what=_WHAT)
    if block is not None:
        try:
            override: EnsembleBlock = validate_config(block, EnsembleBlock, file=file or "scenario", what="block")
        except ConfigError as err:
            field = f"ensemble.{err.field}" if err.field else "ensemble"
            raise ConfigError(err.message, file=err.file, field=field, allowed=err.allowed) from None
        update: dict[str, Any] = {k: v for k, v in override if k != "parameters" and v is not None}
        update["parameters"] = {**settings.parameters, **override.parameters}
        settings = settings.model_copy(update=update)
    if members is not None:
        if not 1 <= members <= MAX_MEMBERS:
            raise ConfigError(f"{members} members", field="--members", allowed=f"1-{MAX_MEMBERS}")
        settings = settings.model_copy(update={"members": members})
    if seed is not None:
        if not 0 <= seed <= 2**31 - 1:
            raise ConfigError(f"{seed} is out of range", field="--seed", allowed=f"0-{2**31 - 1}")
        settings = settings.model_copy(update={"seed": seed})
    return settings
