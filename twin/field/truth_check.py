"""The truth check: what the live twin stored and reports, against what the field says happened.

:func:`check_truth` reads a truth file of the field (:mod:`twin.field.truth`) and a state
store of ``twin live`` and compares, per boundary (every building and ``substation``):

* per quarter hour and per (local) day the energies of the 15-minute table's flows
  (``flow:BOUNDARY/FLOW``: import, export, load, generation, the batteries' charge and
  discharge) with the truth's, over the quarters both have (a quarter the live twin marks
  missing is left out of that flow's day on both sides; estimated quarters count);
* today's and the year's KPIs of the snapshot (self-sufficiency and self-consumption judged;
  import, export, load and generation shown) with the same KPIs of the truth
  (:mod:`twin.core.kpi_totals`) from the store's first quarter (or midnight, or 1 January)
  up to the snapshot's time; the truth's ratios over the quarters the live ratios take (import,
  export, load and generation known, import and export measured rather than estimated: a
  quarter without a load cannot be judged by the live twin either; the daily energies show it).

Targets (:data:`DAILY_REL`, :data:`DAILY_ABS_KWH`, :data:`KPI_POINTS`): every daily energy
within 1 % (or 0.1 kWh where that is larger), the ratio KPIs within 0.5 percentage points; with a
``timing_s`` each within its sampling bound where that is larger (:func:`check_truth`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from twin.core.kpi_totals import flow_totals, kpis_from_totals
from twin.core.live_state import read_snapshot
from twin.core.store import read_table
from twin.core.vocabulary import QUALITY_FLAGS, STEP_S

__all__ = [
    "DAILY_ABS_KWH",
    "DAILY_REL",
    "KPI_POINTS",
    "TRUTH_FLOWS",
    "TruthCheck",
    "check_truth",
    "read_truth",
    "sampling_points",
]

#: The flows compared, as named in the truth file and the 15-minute table.
TRUTH_FLOWS: Final[tuple[str, ...]] = (
    "import_kwh",
    "export_kwh",
    "load_kwh",
    "generation_kwh",
    "battery_charge_kwh",
    "battery_discharge_kwh",
)
#: A daily energy is right within this share of the truth ... [1]
DAILY_REL: Final[float] = 0.01
#: ... or within this much, where that is larger. [kW h]
DAILY_ABS_KWH: Final[float] = 0.1
#: Ratio KPIs are right within this many percentage points. [%]
KPI_POINTS: Final[float] = 0.5
_RATIOS: Final[tuple[str, ...]] = ("self_sufficiency_frac", "self_consumption_frac")
_KPI_FLOWS: Final[tuple[str, ...]] = (*TRUTH_FLOWS, "fuel_kwh")
_PAIRED: Final[tuple[str, ...]] = ("import_kwh", "export_kwh", "load_kwh", "generation_kwh")


@dataclass
class TruthCheck:
    """The comparison: tables of differences and the failures against the targets.

    ``daily``: one row per (day, boundary, flow) with ``live_kwh``, ``truth_kwh``,
    ``diff_kwh``, ``ok``; ``quarters``: per (boundary, flow) the largest quarter difference;
    ``kpis``: one row per (period, boundary, kpi) with ``live``, ``truth``, ``diff``, ``ok``
    (ratios in percentage points, energies in kWh within the daily targets).
    """

    daily: pd.DataFrame
    quarters: pd.DataFrame
    kpis: pd.DataFrame
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every compared figure is within its target."""
        return not self.failures


def read_truth(path: str | Path) -> pd.DataFrame:
    """The boundary rows of a truth file: (time, boundary) -> flows; only whole quarters."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    rows = frame[(frame["kind"] == "boundary") & (frame["seconds"] >= STEP_S)]
    times = pd.to_datetime(rows["time_utc"], utc=True).dt.tz_localize(None)
    out = rows.assign(time=times, boundary=rows["id"]).set_index(["time", "boundary"])
    return out[[*TRUTH_FLOWS, "fuel_kwh"]].astype(float)


def _live_flows(store_dir: Path, boundaries: list[str], *, variable: str = "value") -> pd.DataFrame:
    """The store's flows (or with ``variable="quality"`` their flags) as (time, boundary) -> flow."""
    channels = [f"flow:{b}/{f}" for b in boundaries for f in _KPI_FLOWS]
    ds = read_table(store_dir, "15min", channels=channels)
    values = pd.DataFrame(ds[variable].values, index=pd.DatetimeIndex(ds["time"].values), columns=ds["channel"].values)
    values = values.reindex(columns=channels)
    values.columns = pd.MultiIndex.from_tuples(
        [tuple(c.removeprefix("flow:").split("/", 1)) for c in channels], names=["boundary", "flow"]
    )
    long = values.stack("boundary", future_stack=True)
    long.index.names = ["time", "boundary"]
    return long


def check_truth(
    truth_path: str | Path,
    store_dir: str | Path,
    timezone: str,
    *,
    kpi_points: float = KPI_POINTS,
    timing_s: float = 0.0,
) -> TruthCheck:
    """Compare a store of ``twin live`` with the field's truth file (module docstring).

    Parameters
    ----------
    truth_path : str or Path
        The truth file of ``twin field --truth``.
    store_dir : str or Path
        The state store of ``twin live``.
    timezone : str
        The site's time zone (days and "today" are local days).
    kpi_points : float
        Largest difference of a ratio KPI that passes. [%]
    timing_s : float
        How far off in time the live twin may place a counter's reading at a quarter's end (a
        device update plus a poll, in simulated seconds). A ratio passes within ``kpi_points`` or
        within its sampling bound (:func:`sampling_points`), a daily energy within its targets or
        within ``timing_s`` at the flow's power at the ends of the day's spans (``bound_kwh``),
        whichever is larger. [s]
    """
    store_dir = Path(store_dir)
    truth = read_truth(truth_path)
    boundaries = sorted(set(truth.index.get_level_values("boundary")))
    live = _live_flows(store_dir, boundaries)
    common = truth.index.intersection(live.index)
    truth_c, live_c = truth.loc[common].sort_index(), live.loc[common].sort_index()
    failures: list[str] = []
    zone = ZoneInfo(timezone)
    local_day = [
        t.tz_localize("UTC").astimezone(zone).date().isoformat() for t in truth_c.index.get_level_values("time")
    ]
    daily_rows = []
    for flow in TRUTH_FLOWS:
        # a quarter the live twin does not know (missing, not estimated) is left out on both sides
        known = live_c[flow].notna().to_numpy()
        key = [np.asarray(local_day)[known], truth_c.index.get_level_values("boundary")[known]]
        t_day = truth_c[flow][known].groupby(key).sum()
        l_day = live_c[flow][known].groupby(key).sum()
        known_times = truth_c.index[known]
        for (day, boundary), true_kwh in t_day.items():
            live_kwh = float(l_day.get((day, boundary), math.nan))
            diff = live_kwh - float(true_kwh)
            in_day = (np.asarray(local_day)[known] == day) & (known_times.get_level_values("boundary") == boundary)
            bound = _edges_kwh(known_times[in_day].get_level_values("time"), truth.xs(boundary, level="boundary"), flow)
            bound *= timing_s / 3600.0
            ok = math.isfinite(diff) and abs(diff) <= max(DAILY_REL * abs(true_kwh), DAILY_ABS_KWH, bound)
            daily_rows.append((day, boundary, flow, live_kwh, float(true_kwh), diff, bound, ok))
            if not ok:
                failures.append(f"{day} {boundary} {flow}: live {live_kwh:.3f} kWh, truth {true_kwh:.3f} kWh")
    columns = ["day", "boundary", "flow", "live_kwh", "truth_kwh", "diff_kwh", "bound_kwh", "ok"]
    daily = pd.DataFrame(daily_rows, columns=columns)
    diff_q = (live_c[list(TRUTH_FLOWS)] - truth_c[list(TRUTH_FLOWS)]).abs()
    quarters = diff_q.groupby(level="boundary").max().stack().rename("max_quarter_diff_kwh").reset_index()
    quarters.columns = ["boundary", "flow", "max_quarter_diff_kwh"]
    first_s = int(live.index.get_level_values("time").min().timestamp()) if len(live) else 0
    # the ratios of the truth over the quarters whose import, export, load and generation the store
    # knows, import and export measured (estimated ones are left out of the live ratios too)
    paired = ["import_kwh", "export_kwh", "load_kwh", "generation_kwh"]
    flags = _live_flows(store_dir, boundaries, variable="quality").reindex(live.index)
    estimated = (flags[["import_kwh", "export_kwh"]] == QUALITY_FLAGS["estimated"]).any(axis=1).to_numpy()
    unknown = live.index[live[paired].isna().any(axis=1).to_numpy() | estimated].intersection(truth.index)
    comparable = truth.copy()
    comparable.loc[unknown, paired] = np.nan
    limits = _KpiLimits(kpi_points, timing_s, truth)
    kpis = _check_kpis(store_dir, comparable, boundaries, zone, failures, first_s, limits)
    return TruthCheck(daily, quarters, kpis, failures)


def _check_kpis(
    store_dir: Path,
    truth: pd.DataFrame,
    boundaries: list[str],
    zone: ZoneInfo,
    failures: list[str],
    first_s: int,
    limits: _KpiLimits,
) -> pd.DataFrame:
    snapshot = read_snapshot(store_dir)
    if snapshot is None or snapshot.sim_time_s is None:
        raise ValueError(f"{store_dir}: no snapshot with a simulated time to check")
    now_s = float(snapshot.sim_time_s)
    local = datetime.fromtimestamp(now_s, UTC).astimezone(zone)
    starts = {
        "today": local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp(),
        "year": local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0).timestamp(),
    }
    times = truth.index.get_level_values("time").astype("datetime64[s]").astype(np.int64)
    end_s = (now_s // STEP_S) * STEP_S
    rows = []
    for period, period_s in starts.items():
        start_s = max(period_s, first_s)  # the store knows nothing before its first quarter
        part = truth[(times >= start_s) & (times < end_s)]
        open_part = truth[(times == end_s) & (times >= start_s)] * ((now_s - end_s) / STEP_S)
        part = pd.concat([part, open_part]) if len(open_part) else part
        matrix = (
            np.stack([part.xs(b, level="boundary")[list(_KPI_FLOWS)].to_numpy() for b in boundaries], axis=1)
            if len(part)
            else np.zeros((0, len(boundaries), len(_KPI_FLOWS)))
        )
        true = kpis_from_totals(flow_totals(matrix, _KPI_FLOWS), dt_h=STEP_S / 3600.0)
        for index, boundary in enumerate(boundaries):
            reported = (snapshot.kpis.today if period == "today" else snapshot.kpis.year).get(boundary)
            for name in (*_RATIOS, "import_kwh", "export_kwh", "load_kwh", "generation_kwh"):
                live_value = None if reported is None else getattr(reported, name)
                live_f = math.nan if live_value is None else float(live_value)
                true_f = float(true[name][index])
                bound = 0.0
                if name in _RATIOS:
                    both_nan = math.isnan(live_f) and math.isnan(true_f)
                    diff = 0.0 if both_nan else (live_f - true_f) * 100.0
                    bound = limits.sampling(boundary, part.xs(boundary, level="boundary"), name, end_s)
                    ok = both_nan or (math.isfinite(diff) and abs(diff) <= max(limits.points, bound))
                else:  # shown, not judged: the daily energies are, over the quarters the store knows
                    diff = live_f - true_f
                    ok = math.isfinite(diff) and abs(diff) <= max(DAILY_REL * abs(true_f), DAILY_ABS_KWH)
                rows.append((period, boundary, name, live_f, true_f, diff, bound, ok))
                if not ok and name in _RATIOS:
                    failures.append(f"{period} {boundary} {name}: live {live_f:.4g}, truth {true_f:.4g}")
    return pd.DataFrame(rows, columns=["period", "boundary", "kpi", "live", "truth", "diff", "bound", "ok"])


@dataclass(frozen=True)
class _KpiLimits:
    """What a ratio KPI must meet: ``points``, or the sampling bound for ``timing_s`` where larger."""

    points: float
    timing_s: float
    truth: pd.DataFrame

    def sampling(self, boundary: str, part: pd.DataFrame, ratio: str, open_s: float) -> float:
        """:func:`sampling_points` of one boundary (``part``: its quarters of the period, time -> flows)."""
        if self.timing_s <= 0 or not len(part):
            return 0.0
        judged = part.dropna(subset=list(_PAIRED))
        return sampling_points(judged, self.truth.xs(boundary, level="boundary"), ratio, self.timing_s, open_s)


def sampling_points(judged: pd.DataFrame, truth: pd.DataFrame, ratio: str, timing_s: float, open_s: float) -> float:
    """How far a ratio over sampled counters can be off [percentage points].

    A counter's reading at the end of a span of quarters is placed up to ``timing_s`` off in
    time, so the import (for self-sufficiency; export for self-consumption) of a span is off by
    up to that time at the power at each of its two ends (the larger of the quarters on either
    side). The bound is that energy over all spans of the judged quarters (``judged``: time ->
    flows of one boundary) against their load (generation). ``truth`` (time -> flows of the same
    boundary) gives the powers; ``open_s`` is the open quarter's start (it ends at the snapshot).
    """
    counted, base = ("import_kwh", "load_kwh") if ratio == "self_sufficiency_frac" else ("export_kwh", "generation_kwh")
    total = float(judged[base].sum())
    if not total > 0:
        return 0.0
    return 100.0 * _edges_kwh(judged.index, truth, counted, open_s) * timing_s / 3600.0 / total


def _edges_kwh(quarters: pd.Index, truth: pd.DataFrame, flow: str, open_s: float = math.inf) -> float:
    """Sum over the ends of the spans of ``quarters`` of a flow's power there (the larger side) [kW].

    ``truth``: time -> flows of one boundary. Times at or after ``open_s`` count as the open quarter.
    """
    starts = set(pd.DatetimeIndex(quarters).astype("datetime64[s]").astype(np.int64).tolist())
    edges = (starts - {t + STEP_S for t in starts}) | ({t + STEP_S for t in starts} - starts)
    times = truth.index.astype("datetime64[s]").astype(np.int64)
    power_kw = pd.Series(truth[flow].to_numpy() / (STEP_S / 3600.0), index=times)
    kw = 0.0
    for edge_s in edges:
        around = power_kw.reindex([edge_s - STEP_S, int(min(edge_s, open_s))]).dropna()
        kw += float(around.max()) if len(around) else 0.0
    return kw
