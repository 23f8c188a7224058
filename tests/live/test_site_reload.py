"""The live twin after the field restarts on new ports: the changed site file is read again.

A small simulated field on 127.0.0.1 at 900 simulated seconds per second; the live twin runs in
the test's event loop with its status line collected. Every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.device_server import DeviceServer, ServerLoopThread
from tests.live.running import RunningField, read_snapshot, run_twin, start_field, wait_for
from twin.live import LiveTwin

pytestmark = pytest.mark.asyncio


def _restart_on_new_ports(running: RunningField) -> None:
    """Stop every device server and the clock, and serve the same devices on ports the OS picks."""
    for device_id, server in list(running.field.servers.items()):
        running.servers.run(server.stop())
        moved = DeviceServer(list(server.devices.values()), name=device_id)
        running.servers.serve(moved)
        running.field.servers[device_id] = moved
    running.clock_port = running.servers.serve(DeviceServer([running.clock]))


def _alerted(store: Path, text: str) -> dict[str, Any] | None:
    """The snapshot if one of its alerts contains ``text``."""
    snap = read_snapshot(store)
    return snap if any(text in alert["text"] for alert in snap.get("alerts", [])) else None


async def test_field_on_new_ports_is_polled_again_after_the_site_file_changes(
    server_loop: ServerLoopThread, tmp_path: Path
) -> None:
    running = start_field(server_loop)
    site_file = running.field.write_site(
        tmp_path / "site.yaml", clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3
    )
    store = tmp_path / "store"
    lines: list[str] = []
    twin = LiveTwin(
        running.field.site(clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3),
        store,
        base_dir=tmp_path,
        status=lines.append,
        status_every_s=0.2,
        site_file=site_file,
        site_check_s=0.2,
    )
    total = len(running.field.devices)
    stop, task = run_twin(twin, running)
    try:
        await wait_for("every device ok", lambda: read_snapshot(store).get("devices_ok") == total, task=task)
        assert f"devices {total}/{total} ok" in lines[-1] and "stale" not in lines[-1]
        _restart_on_new_ports(running)
        shown = len(lines)
        # the old addresses refuse: held values turn stale, and the status line says so
        line = await wait_for(
            "a status line with no device ok and the grid marked stale",
            lambda: next((x for x in lines[shown:] if f"devices 0/{total} ok" in x and "grid (stale" in x), None),
            task=task,
        )
        assert "last good read" in line
        # a site file that does not load is not taken: the twin says why and goes on
        site_file.write_text("version: 1\ndevices: [\n", encoding="utf-8")
        broken = await wait_for("an alert about the broken site file", lambda: _alerted(store, "site file"), task=task)
        assert broken["devices_ok"] == 0
        # the field's new site file: the twin polls the new ports and the new values show
        running.field.devices["substation/meter"].set_quantities({"p_meter_kw": 66.0})
        running.field.write_site(site_file, clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3)
        recovered = await wait_for(
            "every device ok at the new ports",
            lambda: (
                (s := read_snapshot(store)).get("devices_ok") == total
                and s["balance"]["substation"]["p_grid_kw"] == 66.0
                and s
            ),
            task=task,
        )
        assert not recovered["alerts"]
        await wait_for("a status line with every device ok", lambda: f"devices {total}/{total} ok" in lines[-1])
        assert "stale" not in lines[-1] and "+66.0 kW" in lines[-1]
        assert twin.site_watch is not None and twin.site_watch.reloads == 1
    finally:
        stop.set()
        await task


async def test_site_file_with_other_devices_is_not_taken(server_loop: ServerLoopThread, tmp_path: Path) -> None:
    running = start_field(server_loop, buildings=1)
    site_file = running.field.write_site(
        tmp_path / "site.yaml", clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3
    )
    store = tmp_path / "store"
    twin = LiveTwin(
        running.field.site(clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3),
        store,
        base_dir=tmp_path,
        site_file=site_file,
        site_check_s=0.2,
    )
    total = len(running.field.devices)
    stop, task = run_twin(twin, running)
    try:
        await wait_for("every device ok", lambda: read_snapshot(store).get("devices_ok") == total, task=task)
        running.field.entries.pop()  # the substation meter leaves the site file
        running.field.write_site(site_file, clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3)
        snap = await wait_for("an alert that the devices changed", lambda: _alerted(store, "other devices"), task=task)
        assert "gone: substation/meter" in snap["alerts"][0]["text"]
        assert snap["devices_total"] == total and snap["devices_ok"] == total  # polling as before
    finally:
        stop.set()
        await task
