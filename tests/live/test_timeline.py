"""One timeline per store: ``twin live`` refuses a clock earlier than what its store holds.

A store whose snapshot (or whose 15-minute table) is later than the field's clock would get
quarters of an earlier time after later ones; the command stops with a one-line error naming
the store and both times, and leaves the store as it was. /healthz shows the running timeline.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.device_server import DeviceServer, ServerLoopThread
from connectors.maps import load_map
from connectors.simdevice import SimulatedDevice
from connectors.site import dump_site
from tests.connectors.small_field import SmallField, small_field
from twin.core.store import MeanTable
from twin.demo import _new_store_if_later

START_S = 1_748_772_000.0  # 2025-06-01T10:00:00Z
LATER_S = START_S + 3 * 86_400.0  # 2025-06-04T10:00:00Z
WAIT_S = 30.0


@pytest.fixture
def field_at_start(server_loop: ServerLoopThread) -> Iterator[tuple[SmallField, int]]:
    field = small_field(1)
    for server in field.servers.values():
        server_loop.serve(server)
    clock = SimulatedDevice(load_map("field_clock"), name="clock")
    clock.set_quantities({"sim_time_s": START_S, "sim_start_s": START_S, "speed_factor": 1.0})
    yield field, server_loop.serve(DeviceServer([clock]))


def test_live_refuses_a_store_whose_timeline_is_later(
    field_at_start: tuple[SmallField, int], tmp_path: Path, twin_exe: Path
) -> None:
    field, clock_port = field_at_start
    site = field.write_site(tmp_path / "site.yaml", clock_port=clock_port, interval_s=0.1, timeout_s=0.3)
    store = tmp_path / "store"
    store.mkdir()
    snapshot = {"version": 2, "site": "test field", "sim_time_s": LATER_S, "sim_time_utc": "2025-06-04T10:00:00Z"}
    (store / "snapshot.json").write_text(json.dumps(snapshot), encoding="utf-8")
    done = subprocess.run(
        [str(twin_exe), "live", "--site", str(site), "--store", str(store), "--no-controllers"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert str(store) in message
    assert "2025-06-04T10:00:00Z" in message and "2025-06-01T10:00" in message
    assert "new store" in message and "--start" in message
    assert json.loads((store / "snapshot.json").read_text(encoding="utf-8")) == snapshot  # left as it was
    assert MeanTable(store, "15min").rows == 0 and MeanTable(store, "1min").rows == 0


@pytest.mark.parametrize(("store_s", "moved"), [(LATER_S, True), (START_S - 60.0, False)])
def test_demo_starts_a_new_store_when_the_old_one_is_later(
    field_at_start: tuple[SmallField, int], tmp_path: Path, store_s: float, moved: bool
) -> None:
    field, clock_port = field_at_start
    site = field.site(clock_port=clock_port).model_copy(update={"start_utc": "2025-06-01T10:00:00Z"})
    site_file = tmp_path / "site.yaml"
    dump_site(site, site_file)
    store = tmp_path / "live"
    store.mkdir()
    (store / "snapshot.json").write_text(json.dumps({"sim_time_s": store_s}), encoding="utf-8")
    _new_store_if_later(store, site_file)
    kept = sorted(p.name for p in tmp_path.glob("live.until-*"))
    assert kept == (["live.until-20250604T100000Z"] if moved else [])
    assert store.exists() is not moved
