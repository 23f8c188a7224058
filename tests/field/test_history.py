"""The field's meter history (``twin field --history``): the year so far, imported, continued live.

A start late in November: the history holds eleven months of 15-minute energy per meter in the
format ``twin import`` takes; imported, the store's quarters equal the field's profiles and the
Year page's daily sums cover January to November. End to end, ``twin live`` continues the
imported timeline from the start: no refusal, the first live quarter measured (not missing, not
estimated) and equal to the field's truth, no quarter twice.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectors.poller import CLOCK_STALE_MAX_WALL_S
from dashboard.data import daily_flows
from models.district import LoadedDistrict
from twin.core.store import read_table
from twin.field import Field, FieldOptions
from twin.field.history import HISTORY_METER_KINDS
from twin.field.runtime import DEVICE_PERIOD_WALL_S
from twin.field.values import BASE_READING_KWH
from twin.importing import import_meter_data

#: A start late in the year, given as a local time with its offset (= 06:00 UTC).
START = "2025-11-25T07:00:00+01:00"
SPEED = 60
#: Polling interval of the live twin in the timeline test. [wall s]
POLL_S = 0.25
TIMING_S = (POLL_S + DEVICE_PERIOD_WALL_S + CLOCK_STALE_MAX_WALL_S) * SPEED
START_UTC = pd.Timestamp("2025-11-25T06:00:00Z")
YEAR_START_UTC = pd.Timestamp("2025-01-01T00:00:00Z")
QUARTERS = int((START_UTC - YEAR_START_UTC).total_seconds() // 900)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_history_equals_the_fields_profiles_and_imports_them(small_district: LoadedDistrict, tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    with Field(small_district, FieldOptions(speed=60.0, start_utc=START, history_path=history)) as field:
        assert field.start_utc == START_UTC
        site = field.write_site(tmp_path / "site.yaml")
        meters = [d for d, s in field.devices.items() if s.spec.kind in HISTORY_METER_KINDS]
        rows = _rows(history)
        intervals = [r for r in rows if r["kind"] == "interval"]
        readings = {r["meter"]: r for r in rows if r["kind"] == "reading"}
        assert len(intervals) == QUARTERS * len(meters) and set(readings) == set(meters)
        by_key = {(r["meter"], r["time"]): r for r in intervals}
        assert min(r["time"] for r in intervals) == "2025-01-01T00:00:00Z"
        assert max(r["time"] for r in intervals) == "2025-11-25T05:45:00Z"  # the last quarter before the start
        assert {field.devices[m].spec.kind for m in meters} == {"building_meter", "substation_meter", "gas_meter"}
        sample = [*range(0, QUARTERS, 97), QUARTERS - 1]
        for meter in meters:
            gas = field.devices[meter].spec.kind == "gas_meter"
            for step in sample if not gas else ():
                t = YEAR_START_UTC + pd.Timedelta(minutes=15 * step)
                row = by_key[(meter, t.strftime("%Y-%m-%dT%H:%M:%SZ"))]
                expected_kwh = field.expected(meter, t.timestamp())["p_meter_kw"] * 0.25
                measured_kwh = float(row["import_kwh"]) - float(row["export_kwh"])
                assert measured_kwh == pytest.approx(expected_kwh, abs=1e-4), (meter, t)
            total = sum(float(r["import_kwh"]) for r in intervals if r["meter"] == meter)
            reading = float(readings[meter]["import_kwh"])
            assert readings[meter]["time"] == "2025-11-25T06:00:00Z"
            # the counter to 10 Wh against the sum of 31,000 quarters given to 0.1 Wh
            assert reading == pytest.approx(BASE_READING_KWH + total, rel=1e-5, abs=0.02)
            # the reading is never above what the meter's counter shows at the start
            counter = field.devices[meter].device.quantity("energy_fuel_kwh" if gas else "energy_import_kwh")
            assert counter is not None and reading <= counter
            assert (readings[meter]["export_kwh"] == "") is gas

    store = tmp_path / "store"
    summary = import_meter_data([history], store, site_file=site)
    assert f"imported {QUARTERS} quarter-hours" in summary and f"{len(meters)} reading(s)" in summary
    table = read_table(store, "15min")
    times = pd.DatetimeIndex(table["time"].values).tz_localize("UTC")
    assert times[0] == YEAR_START_UTC and times[-1] == START_UTC - pd.Timedelta(minutes=15) and times.size == QUARTERS
    channels = [str(c) for c in table["channel"].values]
    stored = table["value"].values[:, channels.index("flow:substation/import_kwh")]
    expected = np.asarray(
        [float(by_key[("substation/meter", t.strftime("%Y-%m-%dT%H:%M:%SZ"))]["import_kwh"]) for t in times]
    )
    np.testing.assert_allclose(stored, expected, atol=1e-9)
    # the Year page: measured days from 1 January to the day before the start, in every month so far
    daily = daily_flows(store, "substation", 2025, tz="Europe/Berlin")
    assert sorted(set(daily.index.month)) == list(range(1, 12))
    assert daily["import_kwh"].sum() == pytest.approx(expected.sum(), rel=1e-9)
    # gas: a gas meter's import is its building's fuel, and its reading the fuel counter
    gas_kwh = [float(r["import_kwh"]) for r in intervals if r["meter"] == "sfh1/gas_meter"]
    assert (
        daily_flows(store, "sfh1", 2025)["fuel_kwh"].sum() == pytest.approx(sum(gas_kwh), rel=1e-9) and sum(gas_kwh) > 0
    )
    # the district's gas: every gas meter of the site, as the Year page's all-carrier balance counts it
    all_gas = sum(float(r["import_kwh"]) for r in intervals if r["meter"].endswith("/gas_meter"))
    assert daily["fuel_kwh"].sum() == pytest.approx(all_gas, rel=1e-9) and all_gas > sum(gas_kwh)
    stored_readings = json.loads((store / "readings.json").read_text(encoding="utf-8"))
    assert set(stored_readings["sfh1/gas_meter"][0]) == {"time_s", "energy_fuel_kwh"}


@pytest.mark.e2e
def test_live_continues_the_imported_timeline(small_district_file: Path, tmp_path: Path, twin_exe: Path) -> None:
    site, history, truth, store = (tmp_path / n for n in ("site.yaml", "history.csv", "truth.csv", "store"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    field_cmd = [str(twin_exe), "field", "--district", str(small_district_file), "--site", str(site)]
    field_cmd += [
        "--start",
        START,
        "--speed",
        str(SPEED),
        "--history",
        str(history),
        "--hold-clock",
        "--truth",
        str(truth),
    ]
    field = subprocess.Popen(field_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    live: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while not site.is_file():
            assert field.poll() is None, field.stderr.read().decode() if field.stderr else ""
            assert time.monotonic() < deadline, "no site file"
            time.sleep(0.2)
        imported = subprocess.run(
            [str(twin_exe), "import", "--store", str(store), "--site", str(site), str(history)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        _poll_every(site, POLL_S)
        live_cmd = [str(twin_exe), "live", "--site", str(site), "--store", str(store), "--no-controllers"]
        live = subprocess.Popen(
            [*live_cmd, "--status-every", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        first_live = START_UTC.strftime("%Y-%m-%dT%H:%M:%SZ")
        deadline = time.monotonic() + 60
        while not _truth_has(truth, first_live) or read_table(store, "15min").sizes["time"] < QUARTERS + 1:
            assert live.poll() is None, live.stdout.read().decode() if live.stdout else ""
            assert time.monotonic() < deadline, "the first live quarter was not stored"
            time.sleep(0.5)
        live.send_signal(signal.SIGINT)
        output = live.communicate(timeout=30)[0].decode()
        assert live.returncode == 0, output
        assert "time cannot go back" not in output
    finally:
        for process in (live, field):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=20)
    table = read_table(store, "15min")
    times = pd.DatetimeIndex(table["time"].values).tz_localize("UTC")
    assert times.is_unique and times.is_monotonic_increasing
    assert (np.diff(times.asi8) == 900 * 10**9).all()  # no gap, no overlap from 1 January on
    channels = [str(c) for c in table["channel"].values]
    row = times.get_loc(START_UTC)
    truth_rows = {(r["id"], r["time_utc"]): r for r in _rows(truth) if r["kind"] == "boundary"}
    for boundary in ("substation", "mfh1", "sfh1"):
        column = channels.index(f"flow:{boundary}/import_kwh")
        assert table["quality"].values[row, column] == 0  # measured: neither missing nor estimated
        true_kwh = float(truth_rows[(boundary, first_live)]["import_kwh"])
        # the sampling bound of the truth check: a counter read at the quarter's ends is up to one field update,
        # one poll and the clock's tolerance late, TIMING_S simulated seconds at the import power around each end
        before_kw = float(table["value"].values[row - 1, column]) / 0.25
        bound_kwh = TIMING_S / 3600.0 * (before_kw + 2 * true_kwh / 0.25)
        assert abs(table["value"].values[row, column] - true_kwh) <= max(0.05, bound_kwh), (boundary, bound_kwh)


def _poll_every(site: Path, interval_s: float) -> None:
    """The site file with every device polled each ``interval_s`` wall seconds."""
    import yaml

    data = yaml.safe_load(site.read_text(encoding="utf-8"))
    data.setdefault("defaults", {})["interval_s"] = interval_s
    site.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _truth_has(truth: Path, time_utc: str) -> bool:
    return truth.is_file() and f"{time_utc},900," in truth.read_text(encoding="utf-8")
