"""The live twin's energy KPIs from running totals: today's and the year's from the same quarters.

The 15-minute flows of a boundary (import, export, load, generation, fuel, the batteries'
charge and discharge) are summed into :class:`FlowTotals`; totals of consecutive spans add
(:meth:`FlowTotals.plus`), so the year's KPIs are the stored quarters' totals plus the open
quarter's, and can never show less than today's. The formulas are those of
:func:`twin.core.kpi.energy_kpis`, with the rules measured data needs:

* The ratios (self-sufficiency, self-consumption) take only the quarters in which import,
  export, load and generation are all known and import and export measured, not estimated
  (*paired* quarters): a quarter whose import is missing but whose load is known would
  otherwise count as self-supplied, and a gap's energy spread over quarters is no measure of
  what each of them imported.
* Self-sufficiency is the share of the load not imported, at most what generation and battery
  discharge supplied, within 0..1: with no generation and no battery discharge it is exactly 0.
* Self-consumption is 1 - export / generation within 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.core.kpi import GEG_2024, CarrierFactors

__all__ = ["FlowTotals", "flow_totals", "kpis_from_totals"]

_PAIRED = ("import_kwh", "export_kwh", "load_kwh", "generation_kwh")


@dataclass(frozen=True)
class FlowTotals:
    """Totals of quarters' flows per boundary (arrays over the boundaries).

    ``sums``: flow -> sum of the known values [kWh]; ``paired``: flow -> sum over the paired
    quarters [kWh]; ``peaks``: ``import_kwh``/``export_kwh`` -> largest quarter [kWh];
    ``quarters``: quarters counted; ``missing``: quarters without import.
    """

    sums: dict[str, np.ndarray]
    paired: dict[str, np.ndarray]
    peaks: dict[str, np.ndarray]
    quarters: int
    missing: np.ndarray

    def plus(self, other: FlowTotals) -> FlowTotals:
        """Totals of both spans."""
        return FlowTotals(
            {k: v + other.sums[k] for k, v in self.sums.items()},
            {k: v + other.paired[k] for k, v in self.paired.items()},
            {k: np.fmax(v, other.peaks[k]) for k, v in self.peaks.items()},
            self.quarters + other.quarters,
            self.missing + other.missing,
        )


def flow_totals(matrix: np.ndarray, flows: Sequence[str], estimated: np.ndarray | None = None) -> FlowTotals:
    """Totals of a (quarter, boundary, flow) matrix of energies [kWh], NaN where unknown.

    ``estimated``: optional (quarter, boundary) mask of quarters whose import or export is
    estimated; they count in the sums but not in the ratios' paired quarters.
    """
    index = {flow: i for i, flow in enumerate(flows)}
    n_boundaries = matrix.shape[1]
    paired_rows = np.all(np.isfinite(matrix[:, :, [index[f] for f in _PAIRED]]), axis=2)
    if estimated is not None:
        paired_rows &= ~np.asarray(estimated, dtype=bool).reshape(paired_rows.shape)
    sums = {flow: np.nansum(matrix[:, :, i], axis=0) for flow, i in index.items()}
    paired = {flow: np.where(paired_rows, np.nan_to_num(matrix[:, :, i]), 0.0).sum(axis=0) for flow, i in index.items()}
    peaks = {}
    for flow in ("import_kwh", "export_kwh"):
        column = matrix[:, :, index[flow]]
        known = np.isfinite(column)
        peaks[flow] = np.where(known.any(axis=0), np.where(known, column, -np.inf).max(axis=0, initial=-np.inf), np.nan)
    missing = np.count_nonzero(~np.isfinite(matrix[:, :, index["import_kwh"]]), axis=0).astype(float)
    return FlowTotals(sums, paired, peaks, int(matrix.shape[0]), missing.reshape(n_boundaries))


def kpis_from_totals(totals: FlowTotals, *, dt_h: float, factors: CarrierFactors = GEG_2024) -> dict[str, np.ndarray]:
    """The KPIs per boundary (arrays over the boundaries; NaN where a ratio has no denominator)."""
    s, p = totals.sums, totals.paired
    zero = np.zeros_like(s["import_kwh"])
    discharge = p.get("battery_discharge_kwh", zero)
    with np.errstate(invalid="ignore", divide="ignore"):
        supplied = np.minimum(np.maximum(p["load_kwh"] - p["import_kwh"], 0.0), p["generation_kwh"] + discharge)
        self_sufficiency = np.where(p["load_kwh"] > 0, supplied / p["load_kwh"], np.nan)
        consumed = np.where(
            p["generation_kwh"] > 0,
            1.0 - p["export_kwh"] / np.where(p["generation_kwh"] > 0, p["generation_kwh"], 1.0),
            np.nan,
        )
        net_zero = np.where(s["load_kwh"] > 0, 1.0 + (s["export_kwh"] - s["import_kwh"]) / s["load_kwh"], np.nan)
    fuel = s.get("fuel_kwh", zero)
    return {
        **{flow: s[flow] for flow in ("import_kwh", "export_kwh", "load_kwh", "generation_kwh")},
        "fuel_kwh": fuel,
        "self_sufficiency_frac": np.clip(self_sufficiency, 0.0, 1.0),
        "self_consumption_frac": np.clip(consumed, 0.0, 1.0),
        "electricity_balance_kwh": s["import_kwh"] - s["export_kwh"],
        "energy_balance_kwh": s["import_kwh"] + fuel - s["export_kwh"],
        "net_zero_degree_frac": net_zero,
        "peak_import_kw": totals.peaks["import_kwh"] / dt_h,
        "peak_export_kw": totals.peaks["export_kwh"] / dt_h,
        "co2_kg": (s["import_kwh"] * factors.co2_grid_g_per_kwh + fuel * factors.co2_gas_g_per_kwh) / 1000.0,
        **{flow: s[flow] for flow in ("battery_charge_kwh", "battery_discharge_kwh") if flow in s},
    }
