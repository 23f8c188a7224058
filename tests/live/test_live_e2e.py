"""``twin live`` end to end: a small simulated field on 127.0.0.1, the process, its snapshot and store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from connectors.device_server import ServerLoopThread
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice
from tests.connectors.small_field import LOSSES_KW, SmallField, small_field
from twin.core.live_state import read_snapshot
from twin.core.store import read_table

pytestmark = pytest.mark.e2e

START_S = 1_748_772_000.0  # 2025-06-01T10:00:00Z
SPEED = 900.0  # a quarter-hour in 1 s, ten reads of every device
SNAPSHOT_WITHIN_S = 10.0


@pytest.fixture
def running_field(server_loop: ServerLoopThread) -> Iterator[tuple[SmallField, SimulatedDevice, int]]:
    field = small_field(3)
    for server in field.servers.values():
        server_loop.serve(server)
    clock = SimulatedDevice(load_map("field_clock"), name="clock")
    clock.set_quantities({"sim_time_s": START_S, "sim_start_s": START_S, "speed_factor": SPEED})
    from connectors.device_server import DeviceServer

    clock_port = server_loop.serve(DeviceServer([clock]))
    yield field, clock, clock_port


def _advance(field: SmallField, clock: SimulatedDevice, started: float) -> None:
    """What the field's simpy loop does: simulated time runs, counters grow with the power."""
    clock.set_quantities({"sim_time_s": START_S + (time.monotonic() - started) * SPEED})
    for device_id, device in field.devices.items():
        if device_id.endswith("meter"):
            device.add_energy("energy_import_kwh", 0.05)


def _snapshot(store: Path) -> dict[str, Any] | None:
    try:
        return json.loads((store / "snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_twin_live_end_to_end(
    running_field: tuple[SmallField, SimulatedDevice, int], tmp_path: Path, twin_exe: Path
) -> None:
    field, clock, clock_port = running_field
    site = field.write_site(tmp_path / "site.yaml", clock_port=clock_port, interval_s=0.1, timeout_s=0.3)
    store = tmp_path / "store"
    env = {**os.environ, "TWIN_DEBUG": "1"}
    started = time.monotonic()
    live = subprocess.Popen(
        [str(twin_exe), "live", "--site", str(site), "--store", str(store), "--status-every", "1", "--no-controllers"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        snap: dict[str, Any] | None = None
        deadline = time.monotonic() + SNAPSHOT_WITHIN_S
        while time.monotonic() < deadline:
            _advance(field, clock, started)
            snap = _snapshot(store)
            if snap and snap["devices_ok"] == len(field.devices) and snap["store"]["15min"] >= 3:
                break
            assert live.poll() is None, live.communicate()[1]
            time.sleep(0.1)
        assert snap is not None and snap["devices_ok"] == len(field.devices), snap and snap["failing"]
        assert set(snap["devices"]) == set(field.devices)
        # stamped with simulated time
        assert START_S <= snap["sim_time_s"] <= START_S + (time.monotonic() - started + 1) * SPEED
        assert snap["clock"] == "field"
        # building meters add up to the substation within the simulated losses
        district = snap["balance"]["substation"]
        assert district["p_grid_kw"] - district["p_buildings_kw"] == pytest.approx(LOSSES_KW, abs=0.05)
        for building, household in field.household_kw.items():
            assert snap["balance"][building]["p_load_kw"] == pytest.approx(household, abs=0.05)
        assert snap["store"]["15min"] >= 3, "no quarter-hours stored"
        today = snap["kpis"]["today"]["substation"]
        assert today["import_kwh"] > 0 and today["load_kwh"] > 0
        assert set(snap["kpis"]["year"]) == {"b01", "b02", "b03", "substation"}
        # one writer: a second live is refused while this one runs; an import goes through it
        csv = tmp_path / "m.csv"
        csv.write_text("meter,time,import_kwh\nb01/meter,2025-06-01T00:00:00Z,1\n")
        second, importing = (
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args in (
                [str(twin_exe), "live", "--site", str(site), "--store", str(store)],
                [str(twin_exe), "import", "--store", str(store), str(csv)],
            )
        )
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 2 and "locked by another writer" in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1
        stdout, stderr = importing.communicate(timeout=60)
        assert importing.returncode == 0, stderr
        assert stdout.startswith("imported 1 quarter-hours"), stdout
    finally:
        live.send_signal(signal.SIGTERM)
        out, err = live.communicate(timeout=15)
    assert live.returncode == 0, err
    status = [line for line in out.splitlines() if " devices " in line]
    assert status and "devices 14/14 ok" in status[-1] and "grid +" in status[-1]
    assert "stopped" in out.splitlines()[-1]
    # the snapshot file the live twin wrote reads through the typed state, and writes back unchanged
    written = json.loads((store / "snapshot.json").read_text())
    typed = read_snapshot(store)
    assert typed is not None and typed.version == written["version"] == 2 and typed.to_json() == written
    assert typed.timezone == "Europe/Berlin" and typed.sim_time_s == written["sim_time_s"]
    assert set(typed.devices) == set(field.devices) and typed.devices_total == len(field.devices)
    assert typed.district is not None and typed.district.p_grid_kw == written["balance"]["substation"]["p_grid_kw"]
    assert typed.kpis.today["substation"].import_kwh == written["kpis"]["today"]["substation"]["import_kwh"]
    assert typed.store["15min"] >= 3 and typed.store_status is not None and typed.store_status.ok
    minutes = read_table(store, "1min")
    quarters = read_table(store, "15min")
    assert minutes["time"].size >= 5 and quarters["time"].size >= 3
    flows = quarters["value"].sel(channel="flow:substation/import_kwh").values
    assert flows[-1] > 0  # from the counters: the first quarter with data has no start reading


def _start_live(twin_exe: Path, site: Path, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(twin_exe), "live", "--site", str(site), "--store", str(store), "--status-every", "60", "--no-controllers"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_rows(
    field: SmallField, clock: SimulatedDevice, started: float, store: Path, live: subprocess.Popen[str], rows: int
) -> dict[str, Any]:
    deadline = time.monotonic() + SNAPSHOT_WITHIN_S
    while time.monotonic() < deadline:
        _advance(field, clock, started)
        snap = _snapshot(store)
        if snap and snap["devices_ok"] == len(field.devices) and snap["store"]["15min"] >= rows:
            return snap
        assert live.poll() is None, live.communicate()[1]
        time.sleep(0.1)
    pytest.fail(f"no snapshot with {rows} quarter-hours stored within {SNAPSHOT_WITHIN_S} s")


def test_twin_live_after_kill_9_restarts_on_its_store(
    running_field: tuple[SmallField, SimulatedDevice, int], tmp_path: Path, twin_exe: Path
) -> None:
    field, clock, clock_port = running_field
    site = field.write_site(tmp_path / "site.yaml", clock_port=clock_port, interval_s=0.1, timeout_s=0.3)
    store = tmp_path / "store"
    started = time.monotonic()
    live = _start_live(twin_exe, site, store)
    try:
        _wait_rows(field, clock, started, store, live, 2)
    finally:
        live.kill()  # kill -9 while it writes
        live.communicate(timeout=15)
    before = {name: read_table(store, name)["time"].size for name in ("1min", "15min")}
    assert before["15min"] >= 2  # readable at once, every committed row there
    live = _start_live(twin_exe, site, store)  # the lock died with the writer; the store opens
    try:
        snap = _wait_rows(field, clock, started, store, live, before["15min"] + 2)
    finally:
        live.send_signal(signal.SIGTERM)
        live.communicate(timeout=15)
    assert live.returncode == 0
    quarters = read_table(store, "15min")
    assert quarters["time"].size >= before["15min"] + 2
    assert read_table(store, "1min")["time"].size >= before["1min"]
    # the quarters after the restart continue from the stored counters: no energy lost. The
    # 15-minute table holds each quarter's mean counter reading, which lies within that quarter's
    # energy of the reading the flows count to (the quarter's last one, or the last before the
    # kill), so the means' difference matches the flows within one quarter's energy; a lost
    # quarter of the restart's gap, or the gap counted twice, is more
    flows = quarters["value"].sel(channel="flow:substation/import_kwh").values[before["15min"] :]
    counter = quarters["value"].sel(channel="substation/meter/energy_import_kwh").values
    last_before = counter[: before["15min"]][np.isfinite(counter[: before["15min"]])][-1]
    last_after = counter[np.isfinite(counter)][-1]
    quarter_kwh = float(np.nanmax(flows))
    assert np.nansum(flows) == pytest.approx(last_after - last_before, abs=quarter_kwh)
    assert np.nansum(flows) > 0 and np.isfinite(flows).sum() >= 2
    assert snap["kpis"]["today"]["substation"]["quarters"] >= before["15min"] + 2
