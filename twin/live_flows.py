"""The live twin's energy flows per boundary and quarter-hour, with their quality: missing data stays missing.

Import, export (and gas) per boundary come from the meters' cumulative counters: a quarter's
energy is its last reading minus the reading before. A quarter without a reading of a counter
(the field was down, the meter did not answer) is *missing*, never 0 kWh; so is a quarter whose
counter was last read more than a third of a quarter before its end (a gap began in it). The energy the counter
gained over such a gap shows at its next reading; it is spread over the gap's quarters and that
quarter, each flagged *estimated* (:data:`twin.core.schema.QUALITY_FLAGS`): the quarters of
the gap come as extra rows for times already stored (the table merges them, the first value of a
channel wins, so they fill what was missing). The quarter after the gap keeps what its own reads
measured (from its first changed read to its reading, never extrapolated); the rest is spread
over the time not observed (the gap's quarters and the start of that quarter) in proportion to
that time. The sum is conserved. A gap longer than :data:`MAX_SPREAD_QUARTERS` (or one that
starts at a year-start reading from ``twin import``) is not spread: the quarter after it holds
the energy, flagged estimated. A counter that went backwards (meter exchanged or its counter
restarted) leaves its quarter missing and counts on from its new reading.

The first quarter of a counter without an earlier reading (a new store started in the middle
of a quarter) stays missing: what happened before the first read is not known, and a rate from
a part of a quarter is a poor guess for loads that peak for minutes. Its reading is the start of
the next quarter. The ratio KPIs leave quarters with estimated counter energies out
(:mod:`twin.core.kpi_totals`).

The reads used are those that show a new value (the time of a read that first shows it is
closest to the time the device took it).

Load, generation and the batteries' charge and discharge come from the balance means of the
quarter (means of valid readings only), missing where the quarter had none. At the substation
the batteries' charge and discharge are every building's (a battery charging while another one
discharges counts in both) and the community battery's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from connectors.site import Site
from twin.core.channels import Channel
from twin.core.schema import SUBSTATION
from twin.core.vocabulary import COUNTED_FLOW_TERMS, FLOW_TERMS, QUALITY_FLAGS, STEP_S, STEPS_PER_DAY

__all__ = [
    "BATTERY_FLOWS",
    "CARRY_INTERVALS",
    "FLOWS",
    "LIVE_FLOWS",
    "MAX_SPREAD_QUARTERS",
    "FlowBatch",
    "QuarterFlows",
    "combine_flags",
    "estimated_exchange",
    "load_terms",
]

logger = logging.getLogger(__name__)

#: The energy flows per boundary and quarter, in the 15-minute table as ``flow:BOUNDARY/FLOW``.
FLOWS: Final[tuple[str, ...]] = FLOW_TERMS
#: The batteries' charge and discharge per boundary and quarter, from the balance means. [kW h]
BATTERY_FLOWS: Final[tuple[str, ...]] = ("battery_charge_kwh", "battery_discharge_kwh")
#: Every flow the live twin keeps per boundary and quarter.
LIVE_FLOWS: Final[tuple[str, ...]] = (*FLOW_TERMS, *BATTERY_FLOWS)
#: Longest gap (in quarters, a week) whose energy is spread over its quarters.
MAX_SPREAD_QUARTERS: Final[int] = 7 * STEPS_PER_DAY
#: A quarter's last reading is carried to the quarter's end over at most this many update intervals. [1]
CARRY_INTERVALS: Final[float] = 2.0
#: Flows that come from counters (and may be estimated).
COUNTED_FLOWS: Final[tuple[str, ...]] = COUNTED_FLOW_TERMS

_OK: Final[int] = QUALITY_FLAGS["ok"]
_MISSING: Final[int] = QUALITY_FLAGS["missing"]
_ESTIMATED: Final[int] = QUALITY_FLAGS["estimated"]
_DT_H: Final[float] = STEP_S / 3600.0
#: Quarters before the running one whose counter changes are kept (quarters are computed after they end). [1]
_KEPT_QUARTERS: Final[int] = 3


def load_terms(boundary: str) -> tuple[str, ...]:
    """Balance terms that make up E_load: at the substation the grid losses too (used inside the district)."""
    terms = ("p_load_kw", "p_heat_pump_kw", "p_ev_kw")
    return (*terms, "p_loss_kw") if boundary == SUBSTATION else terms


def combine_flags(flags: list[np.ndarray]) -> np.ndarray:
    """Quality of a sum: missing if a part is missing (or worse), else estimated if a part is, else ok."""
    stacked = np.stack(flags)
    out = np.full(stacked.shape[1], _OK, dtype=np.int8)
    out[(stacked == _ESTIMATED).any(axis=0)] = _ESTIMATED
    out[((stacked != _OK) & (stacked != _ESTIMATED)).any(axis=0)] = _MISSING
    return out


def estimated_exchange(quality: np.ndarray) -> np.ndarray:
    """(quarter, boundary) mask of a (quarter, boundary, :data:`LIVE_FLOWS`) flag matrix: import or export estimated."""
    counted = [LIVE_FLOWS.index(flow) for flow in ("import_kwh", "export_kwh")]
    return np.asarray((quality[:, :, counted] == _ESTIMATED).any(axis=2))


@dataclass
class FlowBatch:
    """The flows of a batch of quarters, and estimates for earlier quarters (a gap's share).

    ``values``/``flags``: flow channel -> one value/flag per quarter of the batch;
    ``earlier``: quarter start -> flow channel -> estimated energy (flag estimated).
    """

    values: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]
    earlier: dict[int, dict[str, float]]


class QuarterFlows:
    """Turn quarter means into energy flows per boundary; keeps the counters' last readings.

    Parameters
    ----------
    site : Site
        The site (gas meters count into their building's and the district's fuel).
    meters : mapping of str to str
        Meter device id -> boundary (:func:`twin.live.site_meters`).
    boundaries : list of str
        The boundaries (buildings, then ``"substation"``).
    """

    def __init__(self, site: Site, meters: Mapping[str, str], boundaries: list[str]) -> None:
        self.boundaries = list(boundaries)
        #: Flow channel -> the counter channels that add up to it.
        self.sources: dict[str, list[str]] = {}
        for meter, boundary in meters.items():
            for flow, counter in (("import_kwh", "energy_import_kwh"), ("export_kwh", "energy_export_kwh")):
                self.sources.setdefault(Channel.flow(boundary, flow).key, []).append(Channel.device(meter, counter).key)
        for device in site.devices:
            if device.kind == "gas_meter":
                for boundary in sorted({device.building or SUBSTATION, SUBSTATION} & set(boundaries)):
                    fuel = Channel.flow(boundary, "fuel_kwh").key
                    self.sources.setdefault(fuel, []).append(Channel.device(device.id, "energy_fuel_kwh").key)
        self.counters = sorted({c for channels in self.sources.values() for c in channels})
        #: Counter channel -> its last reading [kWh] and the start of the quarter it ends. [s]
        self.last_kwh: dict[str, float] = {}
        self.last_start_s: dict[str, int] = {}
        # energies of counters that share a flow with others, per recent quarter, for the gap estimates
        self._shared = {c for channels in self.sources.values() if len(channels) > 1 for c in channels}
        self._recent: dict[int, dict[str, float]] = {}
        self._backwards_logged: set[str] = set()
        # per counter: the quarter (start [s]) of its reads, its first and last change in it (time [s],
        # value [kWh]) and the number of changes in it
        self._reads: dict[str, tuple[int, tuple[float, float], tuple[float, float], int]] = {}
        # the same of the quarters before (the last few), for the quarters computed after them
        self._earlier_reads: dict[str, dict[int, tuple[int, tuple[float, float], tuple[float, float], int]]] = {}
        self._last_read: dict[str, float] = {}
        #: Counter channel -> its last reading as read (``last_kwh`` is carried to the quarter's end). [kWh]
        self._last_raw: dict[str, float] = {}
        self._last_read_s: dict[str, float] = {}
        self._counter_set = frozenset(self.counters)
        # per counter: the quarter (start [s]) of its reads and since when it is read without a gap in it [s]
        self._observed: dict[str, tuple[int, float]] = {}
        self._previous_observed: dict[str, tuple[int, float]] = {}
        #: Counters whose last quarter was read over less than its last two thirds (its reading uncertain).
        self._partial_end: set[str] = set()

    def see(self, counter: str, read_s: float | None, value: float | None) -> None:
        """Note a counter's read (simulated time of the read, value): its first and last change in each quarter.

        A device updates its counter now and then; the new value was taken between the read
        before (which still showed the old value) and the read that first shows it: the change
        is timed midway, within the quarter of that read (at the read itself when the read before
        was more than a third of a quarter earlier). The first read of a counter is no change.
        """
        if read_s is None or value is None or counter not in self._counter_set:
            return
        previous, self._last_read[counter] = self._last_read.get(counter), float(value)
        previous_s, self._last_read_s[counter] = self._last_read_s.get(counter), float(read_s)
        quarter = int(read_s // STEP_S) * STEP_S
        after_gap = previous_s is None or read_s - previous_s > STEP_S / 3
        self._observe(counter, quarter, float(read_s), after_gap)
        if previous is None or previous == value:
            return  # the first read shows a value taken at an unknown time before it: no change to time
        changed_s = float(read_s)  # after a gap in the reads: not timed closer
        if not after_gap and previous_s is not None:
            changed_s = max((previous_s + read_s) / 2.0, float(quarter))
        read = (changed_s, float(value))
        known = self._reads.get(counter)
        if known is None or known[0] != quarter:
            if known is not None:
                kept = self._earlier_reads.setdefault(counter, {})
                kept[known[0]] = known
                for old in [q for q in kept if q < quarter - _KEPT_QUARTERS * STEP_S]:
                    del kept[old]
            self._reads[counter] = (quarter, read, read, 1)
        else:
            self._reads[counter] = (quarter, known[1], read, known[3] + 1)

    def _observe(self, counter: str, quarter: int, read_s: float, after_gap: bool) -> None:
        """Note since when a counter is read without a gap in a quarter (its start when the reads run on)."""
        known = self._observed.get(counter)
        if known is None or known[0] != quarter:
            if known is not None:
                self._previous_observed[counter] = known
            self._observed[counter] = (quarter, read_s if after_gap else float(quarter))
        elif after_gap:
            self._observed[counter] = (quarter, read_s)

    def _partly_observed(self, counter: str, start: int) -> bool:
        """True when a counter was read without a gap over less than the last two thirds of a quarter."""
        for known in (self._observed.get(counter), self._previous_observed.get(counter)):
            if known is not None and known[0] == start:
                return known[1] > start + STEP_S / 3
        return False  # no read of it noted in that quarter: nothing to say

    def compute(
        self, times: np.ndarray, values: Mapping[str, np.ndarray], readings: Mapping[str, Any] | None = None
    ) -> FlowBatch:
        """Flows of quarters just ended (``times``: starts [s]; ``values``: the quarters' means).

        Parameters
        ----------
        readings : mapping, optional
            Meter -> readings (``twin import``): the year-start reading of a counter with no earlier one.
        """
        starts = [int(t) for t in np.asarray(times).tolist()]
        rows = {start: row for row, start in enumerate(starts)}
        energy: dict[str, np.ndarray] = {}
        flags: dict[str, np.ndarray] = {}
        earlier: dict[int, dict[str, float]] = {}
        for counter in self.counters:
            energy[counter], flags[counter] = self._counter(counter, starts, rows, values, readings or {}, earlier)
        out_values: dict[str, np.ndarray] = {}
        out_flags: dict[str, np.ndarray] = {}
        for channel, counters in self.sources.items():
            out_values[channel] = np.sum([energy[c] for c in counters], axis=0)
            out_flags[channel] = combine_flags([flags[c] for c in counters])
        n = len(starts)
        buildings_charge: list[np.ndarray] = []
        buildings_discharge: list[np.ndarray] = []
        for boundary in self.boundaries:
            fuel = Channel.flow(boundary, "fuel_kwh").key
            if fuel not in self.sources:  # no gas meter behind this boundary: no gas
                out_values[fuel], out_flags[fuel] = np.zeros(n), np.full(n, _OK, dtype=np.int8)
            nan = np.full(n, np.nan)
            load = np.sum(
                [
                    np.asarray(values.get(Channel.balance(boundary, t).key, nan)).clip(min=0)
                    for t in load_terms(boundary)
                ],
                axis=0,
            )
            pv = np.asarray(values.get(Channel.balance(boundary, "p_pv_kw").key, nan))
            battery = np.asarray(values.get(Channel.balance(boundary, "p_battery_kw").key, nan), dtype=float)
            charge_kw, discharge_kw = battery.clip(min=0), (-battery).clip(min=0)
            community_key = Channel.balance(boundary, "p_community_battery_kw").key
            if boundary == SUBSTATION and buildings_charge:
                # each building's charge and discharge (one charging while another discharges: both count)
                charge_kw, discharge_kw = np.sum(buildings_charge, axis=0), np.sum(buildings_discharge, axis=0)
            if boundary == SUBSTATION and community_key in values:
                community = np.asarray(values[community_key], dtype=float)
                community = np.where(np.isfinite(community), community, 0.0)
                charge_kw, discharge_kw = charge_kw + community.clip(min=0), discharge_kw + (-community).clip(min=0)
            if boundary != SUBSTATION:
                buildings_charge.append(charge_kw)
                buildings_discharge.append(discharge_kw)
            for flow, kwh in (
                ("load_kwh", load * _DT_H),
                ("generation_kwh", (-pv).clip(min=0) * _DT_H),
                ("battery_charge_kwh", charge_kw * _DT_H),
                ("battery_discharge_kwh", discharge_kw * _DT_H),
            ):
                channel = Channel.flow(boundary, flow).key
                out_values[channel] = kwh
                out_flags[channel] = np.where(np.isfinite(kwh), _OK, _MISSING).astype(np.int8)
        for start in starts:
            shared = {c: float(energy[c][rows[start]]) for c in self._shared}
            if shared:
                self._recent[start] = shared
        if self._recent and starts:
            oldest = max(starts) - MAX_SPREAD_QUARTERS * STEP_S
            self._recent = {t: e for t, e in self._recent.items() if t >= oldest}
        return FlowBatch(out_values, out_flags, self._earlier_flows(earlier))

    def take_history(self, channel: str, starts: np.ndarray, column: np.ndarray) -> None:
        """Take a counter's last reading from the stored 15-minute table."""
        finite = np.flatnonzero(np.isfinite(column))
        if finite.size:
            self.last_kwh[channel] = self._last_raw[channel] = float(column[finite[-1]])
            self.last_start_s[channel] = int(starts[finite[-1]])

    # --- private ------------------------------------------------------------------------

    def _counter(
        self,
        counter: str,
        starts: list[int],
        rows: dict[int, int],
        values: Mapping[str, np.ndarray],
        readings: Mapping[str, Any],
        earlier: dict[int, dict[str, float]],
    ) -> tuple[np.ndarray, np.ndarray]:
        column = np.asarray(values.get(counter, np.full(len(starts), np.nan)), dtype=float)
        energy = np.full(len(starts), np.nan)
        flags = np.full(len(starts), _MISSING, dtype=np.int8)
        for row, start in enumerate(starts):
            reading = float(column[row])
            if not math.isfinite(reading) or self._last_read_s.get(counter, math.inf) < start + STEP_S - STEP_S / 3:
                continue  # no reading, or none in the quarter's last third: it ends in a gap
            previous, previous_start = self.last_kwh.get(counter), self.last_start_s.get(counter)
            from_year_start = False
            if previous is None:
                meter, _, quantity = counter.rpartition("/")
                found = _year_start_reading(readings.get(meter, []), quantity, start)
                if found is not None:
                    previous, from_year_start = found[1], True
                    previous_start = int(found[0] // STEP_S * STEP_S) - STEP_S
            raw, previous_raw = reading, self._last_raw.get(counter, previous)
            reading = reading + self._carry(counter, start, reading)
            if previous is not None and previous_raw is not None and raw >= previous_raw:
                # a carry that went further than the counter did is taken back from the quarters after it
                reading = max(reading, previous)
            self.last_kwh[counter], self.last_start_s[counter] = reading, start
            self._last_raw[counter] = raw
            started_partly = counter in self._partial_end
            if self._partly_observed(counter, start):
                self._partial_end.add(counter)
            else:
                self._partial_end.discard(counter)
            if previous is None or previous_start is None:
                continue  # the first quarter: its start reading is unknown, its energy stays missing
            gained = reading - previous
            if previous_raw is not None and raw < previous_raw:
                if counter not in self._backwards_logged:
                    logger.warning("%s went backwards (meter exchanged or reset?): that quarter is missing", counter)
                    self._backwards_logged.add(counter)
                continue
            quarters = max((start - previous_start) // STEP_S, 1)
            if quarters == 1 and started_partly:
                # a start reading carried from a part of a quarter may be off by an update of the counter:
                # the counter at the quarter's start is taken between the changes on either side of it
                start_kwh = self._across(counter, previous_start, start)
                energy[row] = reading - (previous if start_kwh is None else start_kwh)
                flags[row] = _ESTIMATED
            elif quarters == 1:
                energy[row], flags[row] = gained, _OK
            elif quarters > MAX_SPREAD_QUARTERS or from_year_start:
                energy[row], flags[row] = gained, _ESTIMATED
            else:
                # the quarter keeps what its own reads measured; the rest is spread over the time not
                # observed (the gap's quarters and the start of this one), in proportion to that time
                measured, unobserved_s = self._measured(counter, start, reading)
                measured = min(max(measured, 0.0), gained) if math.isfinite(measured) else 0.0
                gap_s = (quarters - 1) * STEP_S + unobserved_s
                rest = gained - measured
                share = rest * STEP_S / gap_s
                for gap in range(previous_start + STEP_S, start + 1, STEP_S):
                    part = measured + rest * unobserved_s / gap_s if gap == start else share
                    if gap in rows:
                        energy[rows[gap]], flags[rows[gap]] = part, _ESTIMATED
                    else:
                        earlier.setdefault(gap, {})[counter] = part
        return energy, flags

    def _reads_in(self, counter: str, start: int) -> tuple[int, tuple[float, float], tuple[float, float], int] | None:
        """A counter's changes in the quarter that starts at ``start`` (that or the one after may be running)."""
        for reads in (self._reads.get(counter), self._earlier_reads.get(counter, {}).get(start)):
            if reads is not None and reads[0] == start:
                return reads
        return None

    def _carry(self, counter: str, start: int, reading: float) -> float:
        """What a counter gained from its last change in a quarter to the quarter's end [kWh] (0 if unknown).

        A device updates its counter now and then, so the quarter's last reading was taken up to
        one update before the quarter's end; the energy since then belongs to this quarter, not
        the next. It is the quarter's own rate (between its first and last change) over that
        time, and only when that time is at most :data:`CARRY_INTERVALS` mean update intervals of
        the counter in the quarter (the reads see an update up to a poll late; a counter that
        stopped answering earlier carries nothing).
        """
        reads = self._reads_in(counter, start)
        if reads is None or reads[3] < 3:
            return 0.0
        _, (first_s, first_kwh), (last_s, last_kwh), changes = reads
        if reading != last_kwh or last_s <= first_s:
            return 0.0
        interval_s = (last_s - first_s) / (changes - 1)
        remaining_s = start + STEP_S - last_s

        if not 0.0 < remaining_s <= CARRY_INTERVALS * interval_s:
            return 0.0
        return max((last_kwh - first_kwh) / (last_s - first_s), 0.0) * remaining_s

    def _across(self, counter: str, before: int, start: int) -> float | None:
        """A counter at a quarter's start [kWh], between its last change before and its first change after.

        None where a side has no change, or the value would not lie between the two changes.
        """
        last_before, first_after = self._reads_in(counter, before), self._reads_in(counter, start)
        if last_before is None or first_after is None:
            return None
        (t1, v1), (t2, v2) = last_before[2], first_after[1]
        if not t1 < start <= t2 or v2 < v1:
            return None
        return v1 + (v2 - v1) * (start - t1) / (t2 - t1)

    def _measured(self, counter: str, start: int, reading: float) -> tuple[float, float]:
        """What a counter measured in a quarter from its first read in it, and the seconds before that read.

        The energy between the quarter's first changed read and its reading [kWh] (NaN without a
        read in the quarter: then the whole quarter counts as not observed) and the time from the
        quarter's start to that read [s]. Nothing is extrapolated.
        """
        reads = self._reads_in(counter, start)
        if reads is None:
            return math.nan, float(STEP_S)
        _, (first_s, first_kwh), _, _ = reads
        if reading < first_kwh:
            return math.nan, float(STEP_S)
        return reading - first_kwh, min(max(first_s - start, 0.0), float(STEP_S))

    def _earlier_flows(self, earlier: dict[int, dict[str, float]]) -> dict[int, dict[str, float]]:
        """Flows of earlier quarters from the gap estimates (and the other counters' energies then)."""
        out: dict[int, dict[str, float]] = {}
        for start, shares in sorted(earlier.items()):
            known = {**self._recent.get(start, {}), **shares}
            for channel, counters in self.sources.items():
                if any(c in shares for c in counters):
                    parts = [known.get(c, math.nan) for c in counters]
                    if all(math.isfinite(p) for p in parts):
                        out.setdefault(start, {})[channel] = float(sum(parts))
            if start in self._recent:
                self._recent[start].update({c: e for c, e in shares.items() if c in self._shared})
        return out


def _year_start_reading(readings: list[dict[str, float]], counter: str, before_s: int) -> tuple[float, float] | None:
    """The latest reading (time [s], value [kWh]) of a counter at or before a time (a year's start), if any."""
    usable = [r for r in readings if r["time_s"] <= before_s and counter in r]
    if not usable:
        return None
    latest = max(usable, key=lambda r: r["time_s"])
    return float(latest["time_s"]), float(latest[counter])
