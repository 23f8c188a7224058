"""Rooftop PV: AC power of many systems from one weather frame, vectorised.

The physics is pvlib's, applied to a (time x orientation) array: every distinct
(tilt, azimuth) pair is computed once - Perez transposition with extraterrestrial
DNI and relative airmass at mid-interval, the physical incidence-angle modifier on
the beam, the cell temperature of roof-mounted modules (PVsyst's semi-integrated loss
factors by default), PVWatts DC with a temperature coefficient, the
PVWatts system losses (each stated in :class:`PVLosses`) and the PVWatts inverter
(efficiency curve and clipping at the AC rating) - per kWp, then scaled by each
system's peak power. Output is load-positive (generation < 0), as STYLE.md says.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

from models.weather import WEATHER_COLUMNS
from twin.core.errors import ConfigError

__all__ = [
    "PVSYST_TEMPERATURE_MODELS",
    "PVLosses",
    "PVParameters",
    "pv_power_kw",
    "pv_specific_ac_kw_per_kwp",
]


#: PVsyst thermal loss factors ``(u_c [W m-2 K-1], u_v [W s m-3 K-1])`` by mounting, from the
#: PVsyst help ("Array thermal losses"): free-standing racks 29/0, semi-integrated modules with an
#: air duct behind them (pitched-roof mounts a few cm above the tiles) 20/0, fully integrated
#: (insulated back) 15/0. Used with ``pvlib.temperature.pvsyst_cell``.
PVSYST_TEMPERATURE_MODELS: dict[str, tuple[float, float]] = {
    "pvsyst_freestanding": (29.0, 0.0),
    "pvsyst_semi_integrated": (20.0, 0.0),
    "pvsyst_integrated": (15.0, 0.0),
}


@dataclass(frozen=True)
class PVLosses:
    """System losses of the PVWatts model, each in percent.

    The defaults are PVWatts v5's (Dobos 2014, NREL/TP-6A20-62641, table 1); they
    combine multiplicatively (``pvlib.pvsystem.pvwatts_losses``) to 14.08 %.

    Parameters
    ----------
    soiling_percent : float, default 2
        Dirt, dust, pollen on the modules. [%]
    shading_percent : float, default 3
        Near shading by chimneys, dormers, trees. [%]
    snow_percent : float, default 0
        Snow cover (not modelled separately). [%]
    mismatch_percent : float, default 2
        Module-to-module differences. [%]
    wiring_percent : float, default 2
        DC and AC cable losses. [%]
    connections_percent : float, default 0.5
        Connectors. [%]
    lid_percent : float, default 1.5
        Light-induced degradation. [%]
    nameplate_rating_percent : float, default 1
        Modules below their label. [%]
    age_percent : float, default 0
        Degradation with age. [%]
    availability_percent : float, default 3
        Downtime. [%]
    """

    soiling_percent: float = 2.0
    shading_percent: float = 3.0
    snow_percent: float = 0.0
    mismatch_percent: float = 2.0
    wiring_percent: float = 2.0
    connections_percent: float = 0.5
    lid_percent: float = 1.5
    nameplate_rating_percent: float = 1.0
    age_percent: float = 0.0
    availability_percent: float = 3.0

    @property
    def total_percent(self) -> float:
        """Combined loss in percent, ``100 * (1 - prod(1 - l_i / 100))``."""
        kwargs = {f.name.removesuffix("_percent"): getattr(self, f.name) for f in fields(self)}
        return float(pvlib.pvsystem.pvwatts_losses(**kwargs))


@dataclass(frozen=True)
class PVParameters:
    """Module, mounting and inverter parameters shared by the rooftop systems.

    Parameters
    ----------
    gamma_pdc_per_k : float, default -0.0037
        Temperature coefficient of DC power of crystalline modules (PVWatts "standard"
        module: -0.37 %/K). [K-1]
    temperature_model : str, default "pvsyst_semi_integrated"
        Cell-temperature model: a key of :data:`PVSYST_TEMPERATURE_MODELS` (PVsyst's
        constant-loss-factor model) or of ``pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]``.
        Rooftop modules on pitched roofs sit a few centimetres above the tiles: PVsyst's
        semi-integrated mounting, about 3 % less energy a year than an open rack here.
    albedo_frac : float, default 0.2
        Ground reflectance. [1]
    inverter_efficiency_frac : float, default 0.96
        Nominal inverter efficiency of the PVWatts inverter model. [1]
    dc_ac_ratio : float, default 1.1
        DC peak power over the inverter's AC rating; above it the inverter clips. [1]
    losses : PVLosses
        DC system losses.
    """

    gamma_pdc_per_k: float = -0.0037
    temperature_model: str = "pvsyst_semi_integrated"
    albedo_frac: float = 0.2
    inverter_efficiency_frac: float = 0.96
    dc_ac_ratio: float = 1.1
    losses: PVLosses = field(default_factory=PVLosses)

    def __post_init__(self) -> None:
        sapm = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]
        if self.temperature_model not in sapm and self.temperature_model not in PVSYST_TEMPERATURE_MODELS:
            raise ConfigError(
                f"unknown temperature model {self.temperature_model!r}",
                field="temperature_model",
                allowed=", ".join([*PVSYST_TEMPERATURE_MODELS, *sapm]),
            )
        if not 0.0 < self.inverter_efficiency_frac <= 1.0 or self.dc_ac_ratio <= 0.0:
            raise ConfigError("inverter efficiency must be in (0, 1] and dc_ac_ratio > 0", field="inverter")


def pv_specific_ac_kw_per_kwp(
    weather: pd.DataFrame,
    tilt_deg: npt.ArrayLike,
    azimuth_deg: npt.ArrayLike,
    *,
    params: PVParameters | None = None,
) -> npt.NDArray[np.float64]:
    """AC output per kWp of each orientation, positive (generator view).

    Parameters
    ----------
    weather : pandas.DataFrame
        A frame from :func:`models.weather.read_weather` (irradiance, temperature, wind
        and the solar position at mid-interval).
    tilt_deg : array_like
        Module tilt from horizontal, one per orientation. [deg]
    azimuth_deg : array_like
        Module azimuth, clockwise from north (south = 180). [deg]
    params : PVParameters, optional
        Module, loss and inverter parameters; defaults as documented there.

    Returns
    -------
    ac_kw_per_kwp : numpy.ndarray
        Shape (time, orientation): AC power per kW of DC peak power, >= 0. [kW kW-1]

    Raises
    ------
    ConfigError
        If the weather frame lacks a column or an angle is out of range.
    """
    params = params or PVParameters()
    missing = [c for c in WEATHER_COLUMNS if c not in weather.columns]
    if missing:
        raise ConfigError(f"weather frame lacks {missing}; build it with models.weather.read_weather")
    tilt = np.atleast_1d(np.asarray(tilt_deg, dtype=float))[np.newaxis, :]
    azimuth = np.atleast_1d(np.asarray(azimuth_deg, dtype=float))[np.newaxis, :]
    if ((tilt < 0) | (tilt > 90)).any() or ((azimuth < 0) | (azimuth > 360)).any():
        raise ConfigError("PV tilt must be in [0, 90] deg and azimuth in [0, 360] deg", field="tilt_deg/azimuth_deg")

    # without light the output is zero: only the steps with irradiance are computed
    lit = ((weather["ghi_w_m2"] > 0) | (weather["dhi_w_m2"] > 0) | (weather["dni_w_m2"] > 0)).to_numpy()
    out = np.zeros((len(weather), tilt.shape[1]))
    if not lit.any():
        return out

    def column(name: str) -> npt.NDArray[np.float64]:
        return weather[name].to_numpy(dtype=float)[lit, np.newaxis]

    zenith, app_zenith, sun_azimuth = (
        column("solar_zenith_deg"),
        column("solar_apparent_zenith_deg"),
        column("solar_azimuth_deg"),
    )
    dni, ghi, dhi = column("dni_w_m2"), column("ghi_w_m2"), column("dhi_w_m2")
    airmass = pvlib.atmosphere.get_relative_airmass(app_zenith)
    airmass = np.where(np.isfinite(airmass), airmass, 0.0)
    aoi = pvlib.irradiance.aoi(tilt, azimuth, zenith, sun_azimuth)
    poa_beam = np.clip(dni * np.cos(np.radians(aoi)), 0.0, None)
    poa_sky = pvlib.irradiance.perez(
        tilt, azimuth, dhi, dni, column("dni_extra_w_m2"), app_zenith, sun_azimuth, airmass, return_components=False
    )
    poa_ground = pvlib.irradiance.get_ground_diffuse(tilt, ghi, albedo=params.albedo_frac)
    poa_diffuse = np.nan_to_num(np.asarray(poa_sky, dtype=float)) + poa_ground
    iam = np.asarray(pvlib.iam.physical(aoi), dtype=float)
    effective = poa_beam * np.nan_to_num(iam) + poa_diffuse
    poa_global = poa_beam + poa_diffuse
    temp_cell = _cell_temperature_degc(poa_global, column("temp_air_degc"), column("wind_speed_m_s"), params)
    dc_kw = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, 1.0, params.gamma_pdc_per_k)
    dc_kw = np.clip(dc_kw, 0.0, None) * (1.0 - params.losses.total_percent / 100.0)
    ac_rated_kw = 1.0 / params.dc_ac_ratio
    ac_kw = pvlib.inverter.pvwatts(
        dc_kw, ac_rated_kw / params.inverter_efficiency_frac, eta_inv_nom=params.inverter_efficiency_frac
    )
    out[lit] = np.clip(np.asarray(ac_kw, dtype=float), 0.0, None)
    return out


def _cell_temperature_degc(
    poa_global: npt.NDArray[np.float64],
    temp_air: npt.NDArray[np.float64],
    wind_speed: npt.NDArray[np.float64],
    params: PVParameters,
) -> npt.NDArray[np.float64]:
    """Cell temperature by the PVsyst or the SAPM model named in ``params.temperature_model``."""
    if params.temperature_model in PVSYST_TEMPERATURE_MODELS:
        u_c, u_v = PVSYST_TEMPERATURE_MODELS[params.temperature_model]
        return np.asarray(pvlib.temperature.pvsyst_cell(poa_global, temp_air, wind_speed, u_c=u_c, u_v=u_v))
    temp_params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][params.temperature_model]
    return np.asarray(pvlib.temperature.sapm_cell(poa_global, temp_air, wind_speed, **temp_params))


def pv_power_kw(
    weather: pd.DataFrame,
    tilt_deg: npt.ArrayLike,
    azimuth_deg: npt.ArrayLike,
    p_peak_kw: npt.ArrayLike,
    *,
    names: list[str] | None = None,
    params: PVParameters | None = None,
) -> pd.DataFrame:
    """Active power of many rooftop PV systems, load-positive.

    Parameters
    ----------
    weather : pandas.DataFrame
        A frame from :func:`models.weather.read_weather`.
    tilt_deg : array_like
        Tilt of each system. [deg]
    azimuth_deg : array_like
        Azimuth of each system, clockwise from north. [deg]
    p_peak_kw : array_like
        DC peak power of each system. [kW]
    names : list of str, optional
        Column names; default ``"pv0", "pv1", ...``.
    params : PVParameters, optional
        Shared module, loss and inverter parameters.

    Returns
    -------
    p_kw : pandas.DataFrame
        (time x system) mean AC power over each interval, load-positive: generation is
        negative. [kW]

    Notes
    -----
    Each distinct (tilt, azimuth) is computed once by
    :func:`pv_specific_ac_kw_per_kwp` and scaled by ``p_peak_kw``; the PVWatts
    models are homogeneous in size, so this equals a per-system computation.
    """
    tilt = np.atleast_1d(np.asarray(tilt_deg, dtype=float))
    azimuth = np.atleast_1d(np.asarray(azimuth_deg, dtype=float))
    peak = np.atleast_1d(np.asarray(p_peak_kw, dtype=float))
    if not tilt.shape == azimuth.shape == peak.shape or tilt.ndim != 1:
        raise ConfigError(
            f"tilt_deg, azimuth_deg and p_peak_kw need one value per system, got {tilt.shape}, "
            f"{azimuth.shape}, {peak.shape}"
        )
    if (peak < 0).any():
        raise ConfigError("p_peak_kw must be >= 0", field="p_peak_kw")
    orientations, inverse = np.unique(np.column_stack([tilt, azimuth]), axis=0, return_inverse=True)
    specific = pv_specific_ac_kw_per_kwp(weather, orientations[:, 0], orientations[:, 1], params=params)
    p_kw = -specific[:, inverse.ravel()] * peak[np.newaxis, :]
    columns = names if names is not None else [f"pv{i}" for i in range(len(peak))]
    return pd.DataFrame(p_kw + 0.0, index=weather.index, columns=columns)
