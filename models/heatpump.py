"""Air/water heat pumps: heating curves, COP, part load, defrost, standby, sizing and backup heater.

A heat pump serves a building's space heating at the flow temperature of its
emitters' heating curve (:mod:`models.heating_curve`: radiators or floor heating,
design flow by retrofit state) and its hot water at 55 degC flow. The COP comes from
the Carnot-share model fitted to EN 14511 datasheet points (:func:`models.heatpump_cop.cop`,
defrost included) by default, or from hplib's generic unit or a fixed Carnot share.
Below its lowest modulation the unit cycles (EN 14825 degradation), its controls draw
standby power all year, and below its operating limit or above its rating an electric
resistance backup heater (efficiency 1) covers the rest. The unit is sized to the
building's design heat load at the norm outside temperature. Everything is vectorised
over (time x building); each distinct heating curve is evaluated once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from models.heating_curve import EMITTERS, NORM_OUTSIDE_TEMP_DEGC, heating_curve_flow_temp_degc
from models.heatpump_cop import cop as cop_datasheet_fit
from models.parameters import per_asset_values
from twin.core.errors import ConfigError

if TYPE_CHECKING:
    import hplib.hplib as hpl

__all__ = [
    "COP_MODELS",
    "DESIGN_FLOW_TEMP_DEGC",
    "HeatPumpParameters",
    "HeatPumpResult",
    "cop_carnot",
    "cop_datasheet_fit",
    "cop_hplib_generic",
    "design_heat_load_kw",
    "heat_pump_power_kw",
    "sized_rating_kw",
]

#: Radiator flow temperature at the norm outside temperature by TABULA retrofit state
#: (:data:`models.heating_curve.EMITTERS`).
DESIGN_FLOW_TEMP_DEGC = EMITTERS["radiator"].design_flow_degc

#: hplib's generic units heat the water by 5 K: flow = return (``t_in_secondary``) + 5 K.
HPLIB_SPREAD_K = 5.0

CopFunction = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class HeatPumpParameters:
    """Parameters shared by the heat pumps of a district.

    Parameters
    ----------
    norm_outside_temp_degc : float, default -14
        Norm outside temperature for Leipzig (DIN/TS 12831-1 climate data), the sizing
        and design point of the heating curves. [degC]
    heating_limit_temp_degc : float, default 15
        Outside temperature above which a building needs no space heat (sizing). [degC]
    dhw_flow_temp_degc : float, default 55
        Flow temperature while heating hot water (a store held at 50 degC needs ~55 degC
        flow). [degC]
    dhw_sizing_factor : float, default 2
        The unit's rating adds this multiple of the mean hot-water power to the design
        space-heating load (close to the usual 0.2-0.25 kW per person surcharge). [1]
    min_modulation_frac : float, default 0.3
        Lowest heat output of the inverter as a share of its rating (typical
        inverter air/water units modulate down to 25-35 %); below it the unit cycles. [1]
    cycling_cd_frac : float, default 0.9
        Degradation coefficient of on/off cycling, the EN 14825 default for air/water
        units: part-load factor ``CR / (Cd CR + 1 - Cd)`` at the cycling ratio CR. [1]
    standby_kw : float, default 0.02
        Controls and crankcase heater, drawn all year (EN 14825 defaults: off mode 10 W,
        crankcase heater 10 W). [kW]
    operating_limit_degc : float, default -20
        Lowest outside temperature the unit runs at; below it the backup heater carries
        all heat (common air/water units: -20 to -25 degC). [degC]
    cop_model : str or callable, default "datasheet_fit"
        Name in :data:`COP_MODELS` or a function ``(temp_air_degc, flow_temp_degc) -> cop``.
    carnot_quality_frac : float, default 0.45
        Quality grade of the fixed ``"carnot"`` COP model. [1]
    """

    norm_outside_temp_degc: float = NORM_OUTSIDE_TEMP_DEGC
    heating_limit_temp_degc: float = 15.0
    dhw_flow_temp_degc: float = 55.0
    dhw_sizing_factor: float = 2.0
    min_modulation_frac: float = 0.3
    cycling_cd_frac: float = 0.9
    standby_kw: float = 0.02
    operating_limit_degc: float = -20.0
    cop_model: str | CopFunction = "datasheet_fit"
    carnot_quality_frac: float = 0.45


@dataclass(frozen=True)
class HeatPumpResult:
    """Heat-pump profiles, each (time x building).

    Parameters
    ----------
    p_kw : pandas.DataFrame
        Electric power drawn (unit + backup heater), load-positive. [kW]
    p_compressor_kw : pandas.DataFrame
        Electric power of the heat pump unit: compressor, fan, controls and standby. [kW]
    p_backup_kw : pandas.DataFrame
        Electric power of the backup heater (= its heat). [kW]
    heat_unit_kw : pandas.DataFrame
        Heat delivered by the unit (space + hot water). [kW]
    p_design_kw : pandas.Series
        Thermal rating of each unit at the norm outside temperature. [kW]
    """

    p_kw: pd.DataFrame
    p_compressor_kw: pd.DataFrame
    p_backup_kw: pd.DataFrame
    heat_unit_kw: pd.DataFrame
    p_design_kw: pd.Series

    @property
    def heat_kw(self) -> pd.DataFrame:
        """All heat delivered, the unit's plus the backup heater's, in kW."""
        return self.heat_unit_kw + self.p_backup_kw


def cop_hplib_generic(
    temp_air_degc: npt.NDArray[np.float64], flow_temp_degc: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """COP of hplib's generic regulated air/water heat pump.

    Parameters
    ----------
    temp_air_degc : numpy.ndarray
        Outside air temperature (the source). [degC]
    flow_temp_degc : numpy.ndarray
        Flow (supply) temperature; hplib's return is 5 K lower. [degC]

    Returns
    -------
    cop : numpy.ndarray
        ``hplib.HeatPump(get_parameters("Generic", group_id=1, t_in=-7, t_out=52,
        p_th=10000)).simulate(...)["COP"]``; hplib reports 1 where its fit drops to or
        below 1 (it switches to its heating rod there). [1]

    Notes
    -----
    At 35 degC flow: 2.44 at -10, 2.90 at -7, 4.29 at 2, 5.06 at 7 degC (FIELD-NOTES).
    The linear fit is poor for cold air and high flow: at 55 degC flow it reaches 1 at
    about -8 degC, where real units still reach ~1.8-2.0 (:data:`models.heatpump_cop.DATASHEET_POINTS`);
    the default ``"datasheet_fit"`` holds there.
    """
    temp = np.asarray(temp_air_degc, dtype=float)
    flow = np.broadcast_to(np.asarray(flow_temp_degc, dtype=float), temp.shape)
    result = _generic_unit().simulate(
        t_in_primary=temp.ravel(), t_in_secondary=flow.ravel() - HPLIB_SPREAD_K, t_amb=temp.ravel(), mode=1
    )
    return np.asarray(result["COP"], dtype=float).reshape(temp.shape)


def cop_carnot(
    temp_air_degc: npt.NDArray[np.float64],
    flow_temp_degc: npt.NDArray[np.float64],
    *,
    quality_frac: float = 0.45,
) -> npt.NDArray[np.float64]:
    """COP as a fixed share of the Carnot COP.

    Parameters
    ----------
    temp_air_degc : numpy.ndarray
        Outside air temperature. [degC]
    flow_temp_degc : numpy.ndarray
        Flow temperature. [degC]
    quality_frac : float, default 0.45
        Quality grade (assumed; 0.45 gives 4.2 at A2/W35 and 2.9 at A7/W55). [1]

    Returns
    -------
    cop : numpy.ndarray
        ``quality_frac * T_flow / (T_flow - T_air)`` in kelvin, at least 1. [1]
    """
    t_flow_k = np.asarray(flow_temp_degc, dtype=float) + 273.15
    lift_k = np.clip(t_flow_k - (np.asarray(temp_air_degc, dtype=float) + 273.15), 5.0, None)
    return np.asarray(np.clip(quality_frac * t_flow_k / lift_k, 1.0, None), dtype=float)


#: COP models by name.
COP_MODELS: dict[str, CopFunction] = {
    "datasheet_fit": lambda temp, flow: cop_datasheet_fit(temp, flow),
    "hplib_generic": cop_hplib_generic,
    "carnot": cop_carnot,
}


def design_heat_load_kw(
    temp_air_degc: pd.Series,
    annual_space_heat_kwh: npt.ArrayLike,
    *,
    params: HeatPumpParameters | None = None,
) -> npt.NDArray[np.float64]:
    """Design space-heating load at the norm outside temperature (degree-hour method).

    Parameters
    ----------
    temp_air_degc : pandas.Series
        Outside temperature over a year on a regular index. [degC]
    annual_space_heat_kwh : array_like
        Space heat per building over the period of ``temp_air_degc`` (a year). [kW h]
    params : HeatPumpParameters, optional
        Norm and limit temperatures.

    Returns
    -------
    p_design_kw : numpy.ndarray
        ``Q * (T_limit - T_norm) / sum(max(T_limit - T_t, 0) * dt)``: the load a
        building whose heat loss is linear in the outside temperature has at the norm
        temperature. [kW]
    """
    params = params or HeatPumpParameters()
    dt_h = (temp_air_degc.index[1] - temp_air_degc.index[0]) / pd.Timedelta(hours=1)
    degree_hours = float(np.clip(params.heating_limit_temp_degc - temp_air_degc.to_numpy(), 0.0, None).sum() * dt_h)
    lift = params.heating_limit_temp_degc - params.norm_outside_temp_degc
    return np.asarray(annual_space_heat_kwh, dtype=float) * lift / max(degree_hours, 1e-9)


def heat_pump_power_kw(
    temp_air_degc: pd.Series,
    space_heat_kw: pd.DataFrame,
    dhw_heat_kw: pd.DataFrame,
    design_flow_temp_degc: npt.ArrayLike | str | Sequence[str],
    *,
    emitter: str | Sequence[str] = "radiator",
    p_design_kw: npt.ArrayLike | None = None,
    params: HeatPumpParameters | None = None,
) -> HeatPumpResult:
    """Electric power of air/water heat pumps serving space heating and hot water.

    Parameters
    ----------
    temp_air_degc : pandas.Series
        Outside temperature on the model's index. [degC]
    space_heat_kw : pandas.DataFrame
        (time x building) space-heating demand. [kW]
    dhw_heat_kw : pandas.DataFrame
        (time x building) hot-water heat (need plus storage and circulation losses), same shape. [kW]
    design_flow_temp_degc : array_like, str or sequence of str
        Flow temperature at the norm outside temperature per building, or retrofit
        state names looked up in the emitter's design flows
        (:data:`models.heating_curve.EMITTERS`). [degC]
    emitter : str or sequence of str, default "radiator"
        ``"radiator"`` or ``"floor"``, one for all or one per building.
    p_design_kw : array_like, optional
        Thermal rating per unit; default: :func:`design_heat_load_kw` of the period's
        space heat and temperatures plus the hot-water surcharge (a period with hardly
        any heating gives a small unit: pass the rating for short runs). [kW]
    params : HeatPumpParameters, optional
        Temperatures, part load, standby and COP model.

    Returns
    -------
    result : HeatPumpResult
        Electric power (load-positive) and its split, heat from the unit, ratings.

    Raises
    ------
    ConfigError
        For unknown retrofit states, emitters or COP models, or mismatched frames.

    Notes
    -----
    The unit is an inverter that modulates up to its rating at every outside
    temperature down to its operating limit. Within a step it first heats hot water at
    the DHW flow temperature, then space heating with the rest of the step. Space heat
    below the lowest modulation is delivered by cycling, at the COP times the EN 14825
    part-load factor. Where the outside is colder than the operating limit, the COP is
    1 or less, or the demand exceeds the rating, the backup heater supplies the rest.
    Energy closes per step: ``space + dhw = heat_unit + backup``, and the unit's
    electricity is ``standby + dhw_unit / cop_dhw + space_unit / (cop_space * plf)``.
    """
    params = params or HeatPumpParameters()
    if space_heat_kw.shape != dhw_heat_kw.shape or len(space_heat_kw) != len(temp_air_degc):
        raise ConfigError("space_heat_kw, dhw_heat_kw and temp_air_degc must share one index and buildings")
    cop_fn = _cop_function(params)
    n_buildings = space_heat_kw.shape[1]
    emitters = _emitters(emitter, n_buildings)
    design_flow = _design_flows(design_flow_temp_degc, emitters)
    temp = temp_air_degc.to_numpy(dtype=float)
    space = np.ascontiguousarray(space_heat_kw.to_numpy(dtype=float))
    dhw = np.ascontiguousarray(dhw_heat_kw.to_numpy(dtype=float))
    rating = _rating_kw(temp_air_degc, space, dhw, p_design_kw, n_buildings, params)
    cop_by_curve, curve_of = _cop_curves(temp, design_flow, emitters, cop_fn, params)
    cop_dhw = cop_fn(temp, np.full_like(temp, params.dhw_flow_temp_degc))
    running = temp >= params.operating_limit_degc
    compressor, backup, heat_unit = _run_units(
        space,
        dhw,
        np.ascontiguousarray(cop_by_curve),
        curve_of,
        np.asarray(cop_dhw, dtype=float),
        running,
        rating,
        np.array([params.standby_kw, params.min_modulation_frac, params.cycling_cd_frac]),
    )
    return _result(space_heat_kw, compressor, backup, heat_unit, rating)


def sized_rating_kw(
    temp_air_degc: pd.Series,
    space_heat_kw: pd.DataFrame,
    dhw_heat_kw: pd.DataFrame,
    *,
    params: HeatPumpParameters | None = None,
) -> npt.NDArray[np.float64]:
    """Thermal rating per unit sized on a period: design heat load at the norm temperature plus the hot-water surcharge.

    The rating :func:`heat_pump_power_kw` uses without ``p_design_kw`` (:func:`design_heat_load_kw`
    of the period's space heat plus ``dhw_sizing_factor`` x the mean hot-water power). [kW]
    """
    params = params or HeatPumpParameters()
    space = space_heat_kw.to_numpy(dtype=float)
    return _rating_kw(temp_air_degc, space, dhw_heat_kw.to_numpy(dtype=float), None, space.shape[1], params)


def _emitters(emitter: str | Sequence[str], n_buildings: int) -> list[str]:
    """One emitter name per building, each a key of :data:`EMITTERS`."""
    names = [emitter] * n_buildings if isinstance(emitter, str) else list(emitter)
    if len(names) != n_buildings:
        raise ConfigError(f"{len(names)} emitters for {n_buildings} heat pumps", field="emitter")
    for name in names:
        if name not in EMITTERS:
            raise ConfigError(f"unknown emitter {name!r}", field="emitter", allowed=", ".join(EMITTERS))
    return names


def _design_flows(values: npt.ArrayLike | str | Sequence[str], emitters: list[str]) -> npt.NDArray[np.float64]:
    """Design flow per building: numbers, or retrofit states looked up in each building's emitter table."""
    items = list(np.atleast_1d(np.asarray([values] if isinstance(values, str) else values, dtype=object)))
    if len(items) == 1:
        items = items * len(emitters)
    if len(items) != len(emitters):
        raise ConfigError(
            f"{len(items)} values of design_flow_temp_degc for {len(emitters)} assets", field="design_flow_temp_degc"
        )
    flows = []
    for item, name in zip(items, emitters, strict=True):
        table = EMITTERS[name].design_flow_degc
        value = item if isinstance(item, str) else float(item)
        flows.append(per_asset_values(value, table, n_assets=1, field="design_flow_temp_degc", what="retrofit state"))
    return np.concatenate(flows)


@numba.njit(cache=True)
def _run_units(
    space: np.ndarray,
    dhw: np.ndarray,
    cop_by_curve: np.ndarray,
    curve_of: np.ndarray,
    cop_dhw: np.ndarray,
    running: np.ndarray,
    rating: np.ndarray,
    settings: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per step and unit: hot water first, then space heat up to the rating; cycling below the lowest modulation.

    ``settings`` = (standby kW, lowest modulation share, EN 14825 Cd). Returns the unit's
    electricity, the backup heater's and the unit's heat (kW).
    """
    standby, min_mod, cd = settings[0], settings[1], settings[2]
    n_steps, n_units = space.shape
    compressor = np.empty((n_steps, n_units))
    backup = np.empty((n_steps, n_units))
    heat = np.empty((n_steps, n_units))
    for t in range(n_steps):
        for u in range(n_units):
            electricity = standby
            dhw_unit = 0.0
            space_unit = 0.0
            if running[t] and cop_dhw[t] > 1.0:
                dhw_unit = min(dhw[t, u], rating[u])
                electricity += dhw_unit / cop_dhw[t]
            c = cop_by_curve[t, curve_of[u]]
            if running[t] and c > 1.0:
                space_unit = max(min(space[t, u], rating[u] - dhw_unit), 0.0)
                if space_unit > 0.0:
                    ratio = min(space_unit / max(min_mod * rating[u], 1e-9), 1.0)
                    plf = ratio / max(cd * ratio + 1.0 - cd, 1e-12)
                    electricity += space_unit / (c * plf)
            compressor[t, u] = electricity
            heat[t, u] = dhw_unit + space_unit
            backup[t, u] = space[t, u] - space_unit + dhw[t, u] - dhw_unit
    return compressor, backup, heat


def _rating_kw(
    temp_air_degc: pd.Series,
    space: npt.NDArray[np.float64],
    dhw: npt.NDArray[np.float64],
    p_design_kw: npt.ArrayLike | None,
    n_buildings: int,
    params: HeatPumpParameters,
) -> npt.NDArray[np.float64]:
    """Thermal rating per unit: ``p_design_kw``, or sized on the period's heat and temperatures (kW)."""
    if p_design_kw is None:
        dt_h = (temp_air_degc.index[1] - temp_air_degc.index[0]) / pd.Timedelta(hours=1)
        space_kwh = space.sum(axis=0) * dt_h  # heat and degree hours of the same period: any period works
        mean_dhw_kw = dhw.mean(axis=0)
        rating = design_heat_load_kw(temp_air_degc, space_kwh, params=params) + params.dhw_sizing_factor * mean_dhw_kw
    else:
        rating = np.broadcast_to(np.asarray(p_design_kw, dtype=float), (n_buildings,)).copy()
    return rating


def _cop_curves(
    temp: npt.NDArray[np.float64],
    design_flow: npt.NDArray[np.float64],
    emitters: list[str],
    cop_fn: CopFunction,
    params: HeatPumpParameters,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(time x curve) COP of space heating on each distinct heating curve, and each building's curve."""
    keys = [(name, float(flow)) for name, flow in zip(emitters, design_flow, strict=True)]
    curves = list(dict.fromkeys(keys))
    by_curve = np.column_stack(
        [
            cop_fn(
                temp,
                heating_curve_flow_temp_degc(
                    temp, flow, emitter=name, norm_outside_temp_degc=params.norm_outside_temp_degc
                ),
            )
            for name, flow in curves
        ]
    )
    return by_curve.astype(float), np.asarray([curves.index(key) for key in keys], dtype=np.int64)


def _result(
    like: pd.DataFrame,
    compressor: npt.NDArray[np.float64],
    backup: npt.NDArray[np.float64],
    heat_unit: npt.NDArray[np.float64],
    rating: npt.NDArray[np.float64],
) -> HeatPumpResult:
    """The result's frames on the index and buildings of ``like``."""
    index, columns = like.index, like.columns

    def frame(values: npt.NDArray[np.float64]) -> pd.DataFrame:
        return pd.DataFrame(values, index=index, columns=columns)

    return HeatPumpResult(
        p_kw=frame(compressor + backup),
        p_compressor_kw=frame(compressor),
        p_backup_kw=frame(backup),
        heat_unit_kw=frame(heat_unit),
        p_design_kw=pd.Series(rating, index=columns),
    )


@functools.lru_cache(maxsize=1)
def _generic_unit() -> hpl.HeatPump:
    """Return hplib's generic air/water unit, built once per process (hplib reads a CSV database).

    hplib is imported here: it brings ``scipy.optimize`` (a third of a second), and only this COP model needs it.
    """
    import hplib.hplib as hpl

    return hpl.HeatPump(hpl.get_parameters(model="Generic", group_id=1, t_in=-7, t_out=52, p_th=10000))


def _cop_function(params: HeatPumpParameters) -> CopFunction:
    """Resolve the COP model of ``params``."""
    if callable(params.cop_model):
        return params.cop_model
    if params.cop_model == "carnot":
        return lambda temp, flow: cop_carnot(temp, flow, quality_frac=params.carnot_quality_frac)
    if params.cop_model not in COP_MODELS:
        raise ConfigError(f"unknown COP model {params.cop_model!r}", field="cop_model", allowed=", ".join(COP_MODELS))
    return COP_MODELS[params.cop_model]
