"""``twin calibrate``: the district's factors from its meters, with uncertainties and goodness of fit.

:func:`calibrate` reads a store's meters over a period (:mod:`twin.calibrate_data`; the store
is only read), fits the factors on the weeks not held out (:mod:`twin.calibrate_estimates`),
and judges the district as planned and as calibrated on the held-out weeks by ASHRAE
Guideline 14 (:mod:`twin.calibrate_gof`): per building its meter, at the substation the
district's power flow (buildings plus grid losses) against the substation meter, hourly.
:func:`write_calibration` writes the calibration file (:mod:`models.calibration_file`) that
``twin district show --calibration`` and scenario files read. :func:`pv_drift` compares each PV
system's performance over the last days of a store with its calibrated value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

from models.calibration_file import CALIBRATION_VERSION, CalibrationFile, calibrated_district
from models.district import District, LoadedDistrict
from models.district_factors import DistrictFactors
from models.grid import run_power_flow
from twin.calibrate_compare import daily_comparison, write_daily
from twin.calibrate_data import HOUR_S, Measured, Period, read_measured, store_period
from twin.calibrate_estimates import HEAT_PUMP_EFFICIENCY_REASON, ElectricFit, Estimate, fit_electricity, fit_gas
from twin.calibrate_gof import SUBSTATION_CV_RMSE_PCT, SUBSTATION_NMBE_PCT, fit_statistics
from twin.calibrate_model import FactorModel, Factors
from twin.core.calibration_outputs import DriftFile, DriftSystem
from twin.core.errors import ConfigError

__all__ = [
    "DRIFT_DAYS",
    "DRIFT_THRESHOLD_FRAC",
    "Calibration",
    "DriftFinding",
    "calibrate",
    "drift_file",
    "pv_drift",
    "report_lines",
    "write_calibration",
]

#: Days over which :func:`pv_drift` judges a PV system, and how far below its calibrated
#: performance it may fall before the alarm. [1]
DRIFT_DAYS: Final[int] = 7
DRIFT_THRESHOLD_FRAC: Final[float] = 0.10
_NO_FUEL_METER: Final[str] = "not identifiable: heated by {system}, whose fuel no meter of the store measures"


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` found.

    Attributes
    ----------
    record : CalibrationFile
        The calibration file's content.
    factors : DistrictFactors
        The identified factors.
    daily : pandas.DataFrame, optional
        Measured against modelled per day (:func:`twin.calibrate_compare.daily_comparison`).
    """

    record: CalibrationFile
    factors: DistrictFactors
    daily: pd.DataFrame | None = None


@dataclass(frozen=True)
class DriftFinding:
    """A PV system's performance over the last days against its calibrated value."""

    system: str
    ratio: float | None
    se: float | None
    alarm: bool
    reason: str | None = None


def calibrate(
    store_dir: str | Path,
    loaded: LoadedDistrict,
    *,
    start: str | None = None,
    end: str | None = None,
    weather: str | Path | None = None,
    seed: int = 0,
    holdout_every: int = 4,
) -> Calibration:
    """Fit the district to a store's meters (see the module docstring).

    Parameters
    ----------
    store_dir : str or Path
        The state store (read only).
    loaded : LoadedDistrict
        The district the store's meters belong to, with its grid.
    start, end : str, optional
        The period, ISO 8601 (UTC without an offset); default the store's data.
    weather : str or Path, optional
        Weather of the period; default the district's (the embedded DWD TRY2010 region 4).
    seed : int
        Seed of the model's profiles.
    holdout_every : int
        Every n-th week is held out of the fit for the goodness of fit (0: none).

    Raises
    ------
    ConfigError
        An empty store, a period without data, a store of another district.
    """
    district = loaded.district
    period = store_period(store_dir, start, end)
    measured = read_measured(store_dir, district, period)
    held = period.held_out(holdout_every)
    if not held.any() and holdout_every > 0:
        held = np.arange(period.hours) >= period.hours - 7 * 24  # shorter than n weeks: the last week
    if held.all():
        raise ConfigError(
            f"the period {period.iso(period.start_s)} to {period.iso(period.end_s)} is too short",
            field="--from/--to",
            allowed="at least two weeks of data",
        )
    model = FactorModel(district, year=period.year, weather=weather, seed=seed)
    electric = fit_electricity(model, measured, ~held)
    gas = fit_gas(model, measured, ~held)
    factors = _factors(district, electric, gas)
    assert electric.factors is not None
    fitted = _with_gas(model, electric.factors, gas)
    rows = _rows(model, period)
    before = model.hourly_kwh(model.net_kw(model.ones()))[rows]
    after = model.hourly_kwh(model.net_kw(fitted))[rows]
    gof = _goodness_of_fit(loaded, model, (before, after), measured, held) if held.any() else None
    record = _record(district, store_dir, period, model, electric, gas, gof, held, holdout_every, seed)
    daily = daily_comparison(measured, model.buildings, (before, after), _gas_kwh(model, gas, rows), held)
    return Calibration(record=CalibrationFile.model_validate(record), factors=factors, daily=daily)


def write_calibration(calibration: Calibration, path: str | Path) -> Path:
    """Write the calibration file (atomically) and, beside it, the daily comparison (:mod:`twin.calibrate_compare`)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = calibration.record.model_dump(exclude_none=True)
    header = (
        "# twin calibrate: factors of the district from its meters (models/calibration_file.py);\n"
        "# use with 'twin district show --calibration FILE' or 'calibration: FILE' in a scenario\n"
    )
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(out)
    if calibration.daily is not None:
        write_daily(calibration.daily, out)
    return out


def report_lines(calibration: Calibration) -> list[str]:
    """A few lines: the period, the factors that differ, and the goodness of fit."""
    record = calibration.record
    lines = [f"calibration of {record.district} from {record.store}: {_period_text(record)}"]
    for what, table in (
        ("household electricity", {b: e.household_electricity for b, e in record.buildings.items()}),
        ("space heat", {b: e.space_heat for b, e in record.buildings.items()}),
        ("PV performance", dict(record.pv)),
    ):
        fitted = {k: e for k, e in table.items() if e is not None and e.factor is not None}
        missing = sum(1 for e in table.values() if e is not None and e.factor is None)
        off = sorted((k for k, e in fitted.items() if abs(e.factor - 1.0) > 0.05), key=str)  # type: ignore[operator]
        shown = ", ".join(f"{k} {fitted[k].factor:.2f}" for k in off[:8]) + (", ..." if len(off) > 8 else "")
        lines.append(
            f"  {what}: {len(fitted)} fitted, {missing} not identifiable; off by more than 5 %: {len(off)}"
            + (f" ({shown})" if off else "")
        )
    gof = record.goodness_of_fit or {}
    station = gof.get("substation")
    if station:
        lines.append(
            f"  substation, {station['hours']} held-out hours (ASHRAE Guideline 14): CV(RMSE) "
            f"{station['cv_rmse_before_pct']:.1f} % -> {station['cv_rmse_after_pct']:.1f} %, NMBE "
            f"{station['nmbe_before_pct']:+.1f} % -> {station['nmbe_after_pct']:+.1f} % (target <= "
            f"{SUBSTATION_CV_RMSE_PCT:g} % and |NMBE| <= {SUBSTATION_NMBE_PCT:g} %: "
            f"{'met' if station.get('target_met') else 'NOT met'})"
        )
    buildings = gof.get("buildings")
    if buildings:
        lines.append(
            f"  buildings, median over {buildings['n']}: CV(RMSE) {buildings['cv_rmse_before_pct']:.1f} % -> "
            f"{buildings['cv_rmse_after_pct']:.1f} %, |NMBE| {buildings['abs_nmbe_before_pct']:.1f} % -> "
            f"{buildings['abs_nmbe_after_pct']:.1f} %"
        )
    return lines


def pv_drift(
    store_dir: str | Path,
    loaded: LoadedDistrict,
    *,
    calibration: str | Path | None = None,
    end: str | None = None,
    days: int = DRIFT_DAYS,
    threshold_frac: float = DRIFT_THRESHOLD_FRAC,
    weather: str | Path | None = None,
    seed: int = 0,
) -> list[DriftFinding]:
    """Each PV system's performance over the last ``days`` against its calibrated value.

    The model is the district with the calibration applied (without one, the district file: the
    calibrated value is then 1), fitted to the building meters of the last ``days`` days up to
    ``end`` (default the store's last data); the alarm is raised for a system whose ratio lies
    more than ``threshold_frac`` below 1.
    """
    district = loaded.district if calibration is None else calibrated_district(loaded.district, calibration)
    period = _drift_period(store_dir, end, days)
    measured = read_measured(store_dir, district, period)
    model = FactorModel(district, year=period.year, weather=weather, seed=seed)
    fit = fit_electricity(model, measured, np.ones(period.hours, dtype=bool), pv_only=True)
    findings = []
    for system, estimate in fit.pv.items():
        if estimate.factor is None:
            findings.append(DriftFinding(system, None, estimate.se, False, estimate.reason))
            continue
        alarm = estimate.factor < 1.0 - threshold_frac
        findings.append(DriftFinding(system, estimate.factor, estimate.se, alarm))
    return findings


def drift_file(
    store_dir: str | Path,
    loaded: LoadedDistrict,
    *,
    calibration: str | Path | None = None,
    end: str | None = None,
    days: int = DRIFT_DAYS,
    threshold_frac: float = DRIFT_THRESHOLD_FRAC,
    weather: str | Path | None = None,
    seed: int = 0,
) -> DriftFile:
    """:func:`pv_drift` as the drift file's content (:mod:`twin.core.calibration_outputs`)."""
    findings = pv_drift(
        store_dir,
        loaded,
        calibration=calibration,
        end=end,
        days=days,
        threshold_frac=threshold_frac,
        weather=weather,
        seed=seed,
    )
    period = _drift_period(store_dir, end, days)
    return DriftFile(
        district=loaded.district.name,
        calibration=None if calibration is None else str(calibration),
        from_utc=period.iso(period.start_s),
        to_utc=period.iso(period.end_s),
        days=days,
        threshold_frac=threshold_frac,
        systems=tuple(DriftSystem(f.system, f.ratio, f.se, f.alarm, f.reason) for f in findings),
    )


def _drift_period(store_dir: str | Path, end: str | None, days: int) -> Period:
    """The last ``days`` days of the store's data up to ``end``, within the year of its end."""
    whole = store_period(store_dir, None, end)
    year_start_s = int(pd.Timestamp(year=Period(whole.end_s - HOUR_S, whole.end_s).year, month=1, day=1).timestamp())
    return Period(max(whole.start_s, whole.end_s - days * 24 * HOUR_S, year_start_s), whole.end_s)


def _factors(district: District, electric: ElectricFit, gas: dict[str, Estimate]) -> DistrictFactors:
    heat = {**{b: e.factor for b, e in electric.heat.items()}, **{b: e.factor for b, e in gas.items()}}
    return DistrictFactors(
        household_electricity={b: e.factor for b, e in electric.electricity.items() if e.factor is not None},
        space_heat={b: f for b, f in heat.items() if f is not None},
        pv={s: e.factor for s, e in electric.pv.items() if e.factor is not None},
    )


def _goodness_of_fit(
    loaded: LoadedDistrict,
    model: FactorModel,
    hourly: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    measured: Measured,
    held: npt.NDArray[np.bool_],
) -> dict[str, Any]:
    """ASHRAE Guideline 14 statistics on the held-out hours, per building and at the substation.

    Before: the district file's model; after: the same model with the fitted factors (the same
    household draws, so that the difference is the calibration's). At the substation the power
    flow of the district file's model gives the grid losses; the calibrated buildings' change is
    added to it.
    """
    rows = _rows(model, measured.period)
    before, after = hourly
    out: dict[str, Any] = {"per_building": {}}
    for b, building in enumerate(model.buildings):
        y = np.where(held, measured.net_kwh[:, b], np.nan)
        out["per_building"][building] = fit_statistics(y, before[:, b], after[:, b])
    station_before = _substation_kwh(loaded, model, held, rows)
    station_after = station_before + (after - before).sum(axis=1)
    station = fit_statistics(np.where(held, measured.substation_kwh, np.nan), station_before, station_after)
    station["target_met"] = bool(
        station["cv_rmse_after_pct"] <= SUBSTATION_CV_RMSE_PCT and abs(station["nmbe_after_pct"]) <= SUBSTATION_NMBE_PCT
    )
    out["substation"] = station
    stats = list(out["per_building"].values())
    out["buildings"] = {"n": len(stats)}
    for label in ("before", "after"):
        out["buildings"][f"cv_rmse_{label}_pct"] = round(
            float(np.nanmedian([s[f"cv_rmse_{label}_pct"] for s in stats])), 2
        )
        out["buildings"][f"abs_nmbe_{label}_pct"] = round(
            float(np.nanmedian([abs(s[f"nmbe_{label}_pct"]) for s in stats])), 2
        )
    return out


def _substation_kwh(
    loaded: LoadedDistrict, model: FactorModel, held: npt.NDArray[np.bool_], rows: slice
) -> npt.NDArray[np.float64]:
    """The model's substation (power flow of the held-out quarters: buildings plus losses), hourly [kW h]."""
    quarters = np.repeat(np.arange(rows.start, rows.stop)[held], 4) * 4 + np.tile(np.arange(4), int(held.sum()))
    grid = run_power_flow(loaded.net, model.profiles.assets.isel(time=quarters), model.district.reactive_power)
    out = np.full(held.size, np.nan)
    out[held] = grid["p_grid_kw"].to_numpy().reshape(-1, 4).sum(axis=1) * 0.25
    return out


def _rows(model: FactorModel, period: Period) -> slice:
    """The period's hours in the model's year."""
    first = (period.start_s - int(model.index[0].timestamp())) // HOUR_S
    return slice(first, first + period.hours)


def _gas_kwh(
    model: FactorModel, gas: dict[str, Estimate], rows: slice
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """The model's hourly gas of the gas-heated buildings before and after calibration [kW h]."""
    if not model.gas_ids:
        return None
    space, water = (model.hourly_kwh(part)[rows] for part in model.gas_parts_kw())
    factor = np.array([gas[b].factor if b in gas and gas[b].factor is not None else 1.0 for b in model.gas_ids])
    return list(model.gas_ids), space + water, space * factor + water


def _with_gas(model: FactorModel, fitted: Factors, gas: dict[str, Estimate]) -> Factors:
    """The fitted factors (gas-heated buildings' space heat does not change their electricity)."""
    heat = fitted.heat.copy()
    for building, estimate in gas.items():
        if estimate.factor is not None:
            heat[model.buildings.index(building)] = estimate.factor
    return Factors(fitted.electricity, fitted.pv, heat)


def _record(
    district: District,
    store_dir: str | Path,
    period: Period,
    model: FactorModel,
    electric: ElectricFit,
    gas: dict[str, Estimate],
    gof: dict[str, Any] | None,
    held: npt.NDArray[np.bool_],
    holdout_every: int,
    seed: int,
) -> dict[str, Any]:
    buildings: dict[str, Any] = {}
    for b in district.buildings:
        entry: dict[str, Any] = {"household_electricity": electric.electricity[b.id].as_dict()}
        system = b.heating.system
        if system == "gas_boiler":
            entry["space_heat"] = gas[b.id].as_dict()
        elif system == "heat_pump":
            entry["space_heat"] = electric.heat[b.id].as_dict()
            entry["heat_pump_efficiency"] = {"factor": None, "reason": HEAT_PUMP_EFFICIENCY_REASON}
        else:
            entry["space_heat"] = {"factor": None, "reason": _NO_FUEL_METER.format(system=system)}
        if gof is not None:
            entry["goodness_of_fit"] = gof["per_building"][b.id]
        buildings[b.id] = entry
    weeks = sorted({int(h) // (7 * 24) for h in np.flatnonzero(held)})
    return {
        "version": CALIBRATION_VERSION,
        "district": district.name,
        "store": str(store_dir),
        "period": {"from_utc": period.iso(period.start_s), "to_utc": period.iso(period.end_s)},
        "weather": model.inputs.weather_source,
        "seed": seed,
        "holdout": {"every_weeks": holdout_every, "held_out_weeks": weeks, "held_out_hours": int(held.sum())},
        "buildings": buildings,
        "pv": {s: e.as_dict() for s, e in electric.pv.items()},
        "goodness_of_fit": None if gof is None else {"substation": gof["substation"], "buildings": gof["buildings"]},
    }


def _period_text(record: CalibrationFile) -> str:
    period = record.period or {}
    holdout = record.holdout or {}
    weeks = holdout.get("held_out_weeks")
    held = (
        f"weeks {weeks} held out (every {holdout.get('every_weeks')}th from the start)" if weeks else "no week held out"
    )
    return f"{period.get('from_utc')} to {period.get('to_utc')}, {held}"
