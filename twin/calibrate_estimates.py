"""The calibration's estimates: every building's and PV system's factors from the meters' hours.

:func:`fit_electricity` fits per building the household-electricity factor, its PV systems'
performance factors and, for a heat-pump building, the space-heat factor to the building meter
(:mod:`twin.calibrate_fit` on the model of :mod:`twin.calibrate_model`); :func:`fit_gas` the
space-heat factor of a gas-heated building to its gas meter.

What the meters cannot identify gets a reason instead of a factor: the heat pumps' efficiency
(without a heat meter, demand and efficiency give the same electricity: the space-heat factor of a
heat-pump building is fitted with the model's COP), the space heat of oil-, wood- or otherwise
heated buildings (no meter of their fuel), and any factor whose standard error exceeds
:data:`MAX_RELATIVE_SE` of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from twin.calibrate_data import Measured, Period
from twin.calibrate_fit import bootstrap_se, daily_scale_fit, iv_step
from twin.calibrate_model import FactorModel, Factors

__all__ = [
    "HEAT_PUMP_EFFICIENCY_REASON",
    "MAX_RELATIVE_SE",
    "ElectricFit",
    "Estimate",
    "fit_electricity",
    "fit_gas",
]

#: A factor whose standard error exceeds this share of it counts as not identifiable. [1]
MAX_RELATIVE_SE: Final[float] = 0.25
#: Gauss-Newton iterations at most, and the step below which they stop. [1]
MAX_ITERATIONS: Final[int] = 6
STEP_TOLERANCE: Final[float] = 1e-4
#: Finite-difference step of the Jacobian. [1]
DELTA: Final[float] = 0.01
#: Days of data a fit needs at least.
MIN_DAYS: Final[int] = 3
HEAT_PUMP_EFFICIENCY_REASON: Final[str] = (
    "not identifiable: no heat meter, so heat demand and efficiency give the same electricity "
    "(the space-heat factor is fitted with the model's COP)"
)


@dataclass(frozen=True)
class Estimate:
    """A fitted factor with its standard error, or the reason it is not identifiable."""

    factor: float | None
    se: float | None = None
    reason: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The calibration file's form (:class:`models.calibration_file.Estimate`)."""
        out: dict[str, Any] = {"factor": None if self.factor is None else round(self.factor, 4)}
        if self.se is not None and np.isfinite(self.se):
            out["se"] = round(self.se, 4)
        for key in ("reason", "source"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class ElectricFit:
    """The electric fit: per building household electricity and (heat pumps) space heat, per PV system."""

    electricity: dict[str, Estimate] = field(default_factory=dict)
    heat: dict[str, Estimate] = field(default_factory=dict)
    pv: dict[str, Estimate] = field(default_factory=dict)
    factors: Factors | None = None


def fit_electricity(
    model: FactorModel, measured: Measured, use: npt.NDArray[np.bool_], *, pv_only: bool = False
) -> ElectricFit:
    """Fit every building's meter on the hours ``use`` (see :mod:`twin.calibrate_fit`).

    Parameters
    ----------
    model : FactorModel
        The district's model of the period's year.
    measured : Measured
        The meters' hourly energies.
    use : numpy.ndarray
        Per hour of the period: used by the fit.
    pv_only : bool
        Fit only the PV systems' factors, the others held at the model's (a drift check over a
        few days, on a calibrated model).
    """
    period = measured.period
    theta = model.ones()
    parts = None
    for _ in range(MAX_ITERATIONS):
        parts = _linearise(model, theta, period)
        step = _steps(model, parts, measured, use, pv_only)
        theta = _updated(model, theta, step)
        if max((float(np.max(np.abs(s))) for _, s in step.values()), default=0.0) < STEP_TOLERANCE:
            break
    parts = _linearise(model, theta, period)
    return _estimates(model, parts, measured, use, theta, pv_only)


def fit_gas(model: FactorModel, measured: Measured, use: npt.NDArray[np.bool_]) -> dict[str, Estimate]:
    """Space-heat factors of the gas-heated buildings from their gas meters (daily energies).

    The model's daily space heat - its energy signature over the day's outdoor temperature -
    times the factor plus its hot water is fitted to the measured daily gas.
    """
    if not model.gas_ids:
        return {}
    period = measured.period
    rows = _rows(model, period)
    space, water = model.gas_parts_kw()
    space_h, water_h = model.hourly_kwh(space)[rows], model.hourly_kwh(water)[rows]
    day = period.day()
    out: dict[str, Estimate] = {}
    for j, building in enumerate(model.gas_ids):
        gas = measured.gas_kwh[:, model.buildings.index(building)]
        if not np.isfinite(gas).any():
            out[building] = Estimate(None, reason="no gas meter data in the period")
            continue
        complete = np.bincount(day, weights=(np.isfinite(gas) & use).astype(float), minlength=day.max() + 1) == 24
        keep = complete[day]
        x = np.bincount(day[keep], weights=space_h[keep, j], minlength=day.max() + 1)[complete]
        y = np.bincount(day[keep], weights=gas[keep] - water_h[keep, j], minlength=day.max() + 1)[complete]
        if complete.sum() < MIN_DAYS:
            out[building] = Estimate(None, reason=f"fewer than {MIN_DAYS} complete days of gas data")
            continue
        factor, se = daily_scale_fit(x, y)
        out[building] = _judged(factor, se, "gas_meter", "no space heating in the fitting weeks")
    return out


@dataclass
class _Parts:
    base: np.ndarray  # (hour x building) modelled meter
    jacobian: dict[str, np.ndarray]  # parameter group -> (hour x building) derivative
    heat_pump_slope: np.ndarray  # (hour x building) d heat-pump energy / d f
    pv_by_rank: list[np.ndarray]  # per rank: indices of the PV systems of that rank within their building


def _rows(model: FactorModel, period: Period) -> slice:
    first = (period.start_s - int(model.index[0].timestamp())) // 3600
    return slice(first, first + period.hours)


def _ranks(model: FactorModel) -> list[np.ndarray]:
    rank = np.zeros(len(model.pv_ids), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, b in enumerate(model.pv_building.tolist()):
        rank[i] = seen.get(b, 0)
        seen[b] = rank[i] + 1
    return [np.flatnonzero(rank == r) for r in range(int(rank.max()) + 1 if rank.size else 0)]


def _linearise(model: FactorModel, theta: Factors, period: Period) -> _Parts:
    """The model at ``theta`` and its derivatives by every parameter group (finite differences)."""
    rows = _rows(model, period)
    hp0 = model.heat_pump_kw(theta.heat)

    def hourly(factors: Factors, hp: np.ndarray) -> np.ndarray:
        return model.hourly_kwh(model.net_kw(factors, heat_pump_kw=hp))[rows]

    base = hourly(theta, hp0)
    jac = {"electricity": (hourly(Factors(theta.electricity + DELTA, theta.pv, theta.heat), hp0) - base) / DELTA}
    ranks = _ranks(model)
    for r, systems in enumerate(ranks):
        pv = theta.pv.copy()
        pv[systems] += DELTA
        jac[f"pv{r}"] = (hourly(Factors(theta.electricity, pv, theta.heat), hp0) - base) / DELTA
    slope = np.zeros_like(base)
    if model.heat_pump_ids:
        hp1 = model.heat_pump_kw(theta.heat + DELTA)
        jac["heat"] = (hourly(theta, hp1) - base) / DELTA
        slope = model.hourly_kwh(hp1 - hp0)[rows] / DELTA
    return _Parts(base, jac, slope, ranks)


def _design(
    model: FactorModel, parts: _Parts, b: int, rows: slice, pv_only: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Parameter names, instruments and Jacobian of building column ``b``."""
    names, z, x = (
        ["electricity"],
        [model.hourly_kwh(model.smooth_load_kw)[rows, b]],
        [parts.jacobian["electricity"][:, b]],
    )
    pv_hourly = model.hourly_kwh(model.pv_kw)[rows] if model.pv_ids else None
    for r, systems in enumerate(parts.pv_by_rank):
        for s in systems[model.pv_building[systems] == b]:
            names.append(f"pv:{model.pv_ids[s]}")
            assert pv_hourly is not None
            z.append(pv_hourly[:, s])
            x.append(parts.jacobian[f"pv{r}"][:, b])
    if model.buildings[b] in model.heat_pump_ids:
        names.append("heat")
        z.append(parts.heat_pump_slope[:, b])
        x.append(parts.jacobian["heat"][:, b])
    keep = [i for i, name in enumerate(names) if name.startswith("pv:") or not pv_only]
    return [names[i] for i in keep], np.column_stack(z)[:, keep], np.column_stack(x)[:, keep]


def _steps(
    model: FactorModel, parts: _Parts, measured: Measured, use: np.ndarray, pv_only: bool
) -> dict[int, tuple[list[str], np.ndarray]]:
    rows = _rows(model, measured.period)
    steps = {}
    for b in range(len(model.buildings)):
        y = measured.net_kwh[:, b]
        keep = use & np.isfinite(y)
        if keep.sum() < MIN_DAYS * 24:
            continue
        names, z, x = _design(model, parts, b, rows, pv_only)
        if not names:
            continue
        step = iv_step(z[keep], x[keep], (y - parts.base[:, b])[keep])
        if step is not None:
            steps[b] = (names, step)
    return steps


def _updated(model: FactorModel, theta: Factors, steps: dict[int, tuple[list[str], np.ndarray]]) -> Factors:
    electricity, pv, heat = theta.electricity.copy(), theta.pv.copy(), theta.heat.copy()
    for b, (names, step) in steps.items():
        for name, value in zip(names, step.tolist(), strict=True):
            if name == "electricity":
                electricity[b] += value
            elif name == "heat":
                heat[b] += value
            else:
                pv[model.pv_ids.index(name[3:])] += value
    clip = lambda a: np.clip(a, 0.05, 10.0)  # noqa: E731
    return Factors(clip(electricity), clip(pv), clip(heat))


def _estimates(
    model: FactorModel, parts: _Parts, measured: Measured, use: np.ndarray, theta: Factors, pv_only: bool
) -> ElectricFit:
    rows = _rows(model, measured.period)
    day = measured.period.day()
    fit = ElectricFit(factors=theta)
    for b, building in enumerate(model.buildings):
        y = measured.net_kwh[:, b]
        keep = use & np.isfinite(y)
        names, z, x = _design(model, parts, b, rows, pv_only)
        if not names:
            continue
        if keep.sum() < MIN_DAYS * 24:
            reason = f"fewer than {MIN_DAYS} days of building-meter data in the fitting weeks"
            se = np.full(len(names), np.nan)
            values: list[float | None] = [None] * len(names)
        else:
            se = bootstrap_se(z[keep], x[keep], (y - parts.base[:, b])[keep], _renumber(day[keep]), seed=b)
            values = [
                float(theta.electricity[b])
                if n == "electricity"
                else float(theta.heat[b])
                if n == "heat"
                else float(theta.pv[model.pv_ids.index(n[3:])])
                for n in names
            ]
            reason = "not identifiable from the building meter"
        for name, value, error in zip(names, values, se, strict=True):
            estimate = (
                Estimate(None, reason=reason)
                if value is None
                else _judged(value, float(error), "building_meter", reason)
            )
            if name == "electricity":
                fit.electricity[building] = estimate
            elif name == "heat":
                fit.heat[building] = estimate
            else:
                fit.pv[name[3:]] = estimate
    return fit


def _judged(factor: float, se: float, source: str, reason: str) -> Estimate:
    """A factor, or not identifiable when it is not finite or its standard error too large."""
    if not np.isfinite(factor) or not np.isfinite(se) or se > MAX_RELATIVE_SE * abs(factor) or factor <= 0:
        detail = f" (factor {factor:.3g} +- {se:.2g})" if np.isfinite(factor) else ""
        return Estimate(None, se=se if np.isfinite(se) else None, reason=f"{reason}{detail}", source=source)
    return Estimate(factor, se=se, source=source)


def _renumber(day: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(day, return_inverse=True)
    return np.asarray(inverse, dtype=np.int64)
