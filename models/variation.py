"""Model parameters an ensemble varies around the validated defaults.

:class:`ModelVariation` holds one value each of the parameters whose values the
validation (``twin validate``) found uncertain - the heat pumps' COP level, the
PV system losses and the home and community batteries' efficiency - and turns
them into the parameter records the models take. The default (every field at its
neutral value) gives the models' own defaults exactly, so a run without a
variation is bit-identical to one with ``ModelVariation()``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.battery import BatteryParameters
from models.heatpump import HeatPumpParameters
from models.heatpump_cop import cop as cop_datasheet_fit
from models.pv import PVLosses, PVParameters
from twin.core.errors import ConfigError

__all__ = ["ModelVariation", "ScaledCop"]


@dataclass(frozen=True)
class ScaledCop:
    """The datasheet-fit COP (:func:`models.heatpump_cop.cop`) times a factor (picklable)."""

    scale: float

    def __call__(
        self, temp_air_degc: npt.NDArray[np.float64], flow_temp_degc: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """COP at the source and flow temperatures, scaled and at least 1."""
        return np.asarray(np.clip(cop_datasheet_fit(temp_air_degc, flow_temp_degc) * self.scale, 1.0, None))


@dataclass(frozen=True)
class ModelVariation:
    """One draw of the uncertain model parameters.

    Parameters
    ----------
    hp_cop_scale : float, default 1
        Factor on every heat pump's COP (the unit's efficiency level; standby and the
        backup heater are not scaled). [1]
    pv_losses_percent : float, optional
        Combined PVWatts system loss of rooftop PV and the solar park; default the
        PVWatts v5 defaults (14.08 %). The soiling and shading share is set so the
        combination gives this total; the other losses keep their defaults. [%]
    battery_round_trip_frac : float, optional
        AC round trip of home and community batteries, split evenly into charge and
        discharge efficiency (``sqrt`` each); default 0.935 each way. [1]
    """

    hp_cop_scale: float = 1.0
    pv_losses_percent: float | None = None
    battery_round_trip_frac: float | None = None

    def __post_init__(self) -> None:
        if not 0.1 <= self.hp_cop_scale <= 3.0:
            raise ConfigError(f"{self.hp_cop_scale} is out of range", field="hp_cop_scale", allowed="0.1-3")
        if self.pv_losses_percent is not None and not _min_pv_loss() <= self.pv_losses_percent < 100:
            raise ConfigError(
                f"{self.pv_losses_percent} is out of range",
                field="pv_losses_percent",
                allowed=f">= {_min_pv_loss():.2f} (the losses other than soiling and shading) and < 100",
            )
        if self.battery_round_trip_frac is not None and not 0 < self.battery_round_trip_frac <= 1:
            raise ConfigError(
                f"{self.battery_round_trip_frac} is out of range", field="battery_round_trip_frac", allowed="(0, 1]"
            )

    def pv_parameters(self) -> PVParameters | None:
        """PV parameters with the drawn losses (None: the model's defaults)."""
        if self.pv_losses_percent is None:
            return None
        others = dataclasses.replace(PVLosses(), soiling_percent=0.0, shading_percent=0.0).total_percent
        soiling_shading = 100.0 * (1.0 - (1.0 - self.pv_losses_percent / 100.0) / (1.0 - others / 100.0))
        return PVParameters(losses=dataclasses.replace(PVLosses(), soiling_percent=soiling_shading, shading_percent=0))

    def heat_pump_parameters(self) -> HeatPumpParameters | None:
        """Heat-pump parameters with the scaled COP (None: the model's defaults)."""
        return None if self.hp_cop_scale == 1.0 else HeatPumpParameters(cop_model=ScaledCop(self.hp_cop_scale))

    def battery_parameters(self) -> BatteryParameters:
        """Battery parameters with the drawn round trip (the defaults when none is drawn)."""
        if self.battery_round_trip_frac is None:
            return BatteryParameters()
        eta = math.sqrt(self.battery_round_trip_frac)
        return BatteryParameters(eta_charge_frac=eta, eta_discharge_frac=eta)


def _min_pv_loss() -> float:
    """The PVWatts losses other than soiling and shading, combined, in percent."""
    return dataclasses.replace(PVLosses(), soiling_percent=0.0, shading_percent=0.0).total_percent
