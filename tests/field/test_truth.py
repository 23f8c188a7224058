"""The truth check in short: the field's truth file against ``twin live``, with a fault and a restart.

The small district of ``conftest`` runs from 02:30 UTC on 21 June (a night, the sunrise, home
batteries discharging and then charging) at speed 100; a building meter stops answering for five
simulated minutes and the live twin stops once and starts again on its store. Every daily
energy of every boundary must be within 1 % (or 0.1 kWh) of the truth, the self-sufficiency and
self-consumption of today and of the year within 0.5 points or, over spans too short for that, within
their sampling bound (:data:`TIMING_S`), and buildings without PV and battery show a
self-sufficiency of exactly 0. ``bench/bench_truth.py`` runs a whole day.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from connectors.poller import CLOCK_STALE_MAX_WALL_S
from tests.field.truth_run import TruthRun, run_truth
from twin.field.runtime import DEVICE_PERIOD_WALL_S
from twin.field.truth_check import TRUTH_FLOWS, check_truth

START_UTC = "2025-06-21T02:30:00Z"
SPEED = 100.0
SIM_S = 3300.0
RESTART_AFTER_S = 1200.0
INTERVAL_S = 0.5
#: Polled as often as the field updates its devices (every 0.5 wall seconds): faster polls add CPU, not accuracy.
#: A reading of a counter is up to one of the field's device updates old, seen up to one poll later,
#: and stamped with the live twin's running clock, which a clock reading up to CLOCK_STALE_MAX_WALL_S
#: behind does not correct; on the 2-core machine running the whole suite, the field's update loop
#: and the live twin's poll loop each ran up to one of their periods late (LOAD_LATENESS_WALL_S:
#: sfh1's self-sufficiency was seen 7.2 points off against a 5.3-point bound without it). A ratio
#: passes within 0.5 points or within its sampling bound for that time (``sampling_points``,
#: 225 simulated seconds at speed 100), whichever is larger.
LOAD_LATENESS_WALL_S = DEVICE_PERIOD_WALL_S + INTERVAL_S
TIMING_S = SPEED * (DEVICE_PERIOD_WALL_S + INTERVAL_S + CLOCK_STALE_MAX_WALL_S + LOAD_LATENESS_WALL_S)
FAULTS = "faults:\n  - {device: sfh4/meter, fault: stop, at_s: 600, duration_s: 300, clock: simulated}\n"


@pytest.fixture(scope="module")
def truth_run(small_district_file: Path, tmp_path_factory: pytest.TempPathFactory) -> TruthRun:
    workdir = tmp_path_factory.mktemp("truth")
    plan = workdir / "faults.yaml"
    plan.write_text(FAULTS, encoding="utf-8")
    return run_truth(
        workdir,
        small_district_file,
        start_utc=START_UTC,
        speed=SPEED,
        sim_s=SIM_S,
        restart_after_s=RESTART_AFTER_S,
        faults=plan,
        interval_s=INTERVAL_S,
    )


def test_truth_file_has_every_device_and_boundary(truth_run: TruthRun) -> None:
    frame = pd.read_csv(truth_run.truth)
    whole = frame[frame["seconds"] == 900]
    quarters = whole["time_utc"].nunique()
    assert quarters >= SIM_S / 900 - 1
    boundaries = set(whole.loc[whole["kind"] == "boundary", "id"])
    assert "substation" in boundaries and {"mfh1", "sfh1", "sfh8"} <= boundaries
    substation = whole[whole["id"] == "substation"]
    # the period has a night and a sunrise, batteries discharging and charging
    assert (substation["generation_kwh"] == 0).any() and (substation["generation_kwh"] > 0.1).any()
    assert substation["battery_discharge_kwh"].sum() > 0.05 and substation["battery_charge_kwh"].sum() > 0.01


def test_live_twin_tells_the_truth(truth_run: TruthRun) -> None:
    check = check_truth(truth_run.truth, truth_run.store, truth_run.timezone, timing_s=TIMING_S)
    assert set(check.daily["flow"]) == set(TRUTH_FLOWS)
    assert len(check.daily) >= 10 * len(TRUTH_FLOWS)
    ratios = check.kpis[check.kpis["kpi"].str.endswith("_frac")]
    assert len(ratios) == 2 * 2 * 10  # today and year, two ratios, ten boundaries
    ratios_shown = ratios[["period", "boundary", "kpi", "live", "truth", "diff", "bound"]].to_string()
    assert check.ok, "\n".join([*check.failures, ratios_shown, check.quarters.to_string()])
    assert "stopped" in truth_run.live_logs[0] and "stopped" in truth_run.live_logs[1]


def test_no_generation_no_discharge_means_no_self_sufficiency(truth_run: TruthRun) -> None:
    snapshot = json.loads((truth_run.store / "snapshot.json").read_text(encoding="utf-8"))
    for building in ("sfh3", "sfh4", "sfh5", "sfh6", "sfh7", "sfh8"):  # no PV, no battery
        today = snapshot["kpis"]["today"][building]
        assert today["generation_kwh"] == 0.0
        assert today["self_sufficiency_frac"] == 0.0
        assert today["load_kwh"] > 0.03  # a night's base load of about 60 W over 55 min: a load to supply
