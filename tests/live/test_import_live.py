"""``twin import`` while ``twin live`` runs: the live twin applies it as the store's single writer.

``twin live`` (``run_live``, with its store lock and inbox) runs in this test's event loop on a
small field whose simulated clock runs a quarter-hour a second; ``twin import`` runs as a real
subprocess. Neither the imported quarters nor the live twin's quarters may be lost.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from connectors.device_server import ServerLoopThread
from connectors.site import load_site
from tests.live.running import START_S, read_snapshot, start_field, wait_for
from twin.core.errors import ConfigError, TwinError
from twin.core.store import StoreLock, read_table
from twin.core.vocabulary import DEFAULT_TIMEZONE
from twin.import_inbox import INBOX_DIR, LIVE_FILE
from twin.importing import import_meter_data
from twin.live_imports import ImportInbox
from twin.live_services import run_live

MELO = "DE0001234567890000000000000000001"


def _day_before_start(path: Path) -> dict[int, float]:
    """A German CSV of the local day before the field's start for one meter point; its quarters' energy."""
    zone = ZoneInfo(DEFAULT_TIMEZONE)
    day = datetime.fromtimestamp(START_S, zone).replace(hour=0, minute=0) - timedelta(days=1)
    lines = [f"Zählpunkt;{MELO}", "Datum;Uhrzeit;Wert (kWh)"]
    series = {}
    for index in range(96):
        local = day + timedelta(minutes=15 * index)
        value = round(0.2 + 0.001 * index, 3)
        series[int(local.astimezone(UTC).timestamp())] = value
        lines.append(f"{local:%d.%m.%Y};{local:%H:%M};" + f"{value:.3f}".replace(".", ","))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return series


async def _twin_import(twin_exe: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(twin_exe), "import", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.asyncio
async def test_import_while_twin_live_runs_loses_neither_the_import_nor_live_rows(
    server_loop: ServerLoopThread, tmp_path: Path, twin_exe: Path
) -> None:
    running = start_field(server_loop)
    site = running.field.write_site(
        tmp_path / "site.yaml", clock_port=running.clock_port, interval_s=0.1, timeout_s=0.3
    )
    entries = yaml.safe_load(site.read_text(encoding="utf-8"))
    for device in entries["devices"]:  # the site file names b01's meter point: no --meter-map needed
        if device["id"] == "b01/meter":
            device["meter_points"] = [f"{MELO}:import"]
    site.write_text(yaml.safe_dump(entries), encoding="utf-8")
    store = tmp_path / "store"
    data = tmp_path / "day.csv"
    series = _day_before_start(data)
    meter_map = tmp_path / "meters.csv"
    meter_map.write_text(f"meter_point;direction;meter\n{MELO};import;b01/meter\n", encoding="utf-8")
    stop = asyncio.Event()
    driver = asyncio.create_task(running.drive(stop), name="field-driver")
    live = asyncio.create_task(run_live(site, store, stop=stop, status_every_s=3600.0), name="twin-live")
    try:
        await wait_for(
            "two live quarters stored", lambda: read_snapshot(store).get("store", {}).get("15min", 0) >= 2, task=live
        )
        before = read_table(store, "15min")
        code, out, err = await _twin_import(twin_exe, str(data), "--store", str(store), "--wait-s", "30")
        assert code == 0, err
        assert out.startswith("imported 96 quarter-hours from 1 file(s)"), out
        # distinct live quarters in the table (the snapshot's append count also counts merged estimates)
        stored = _live_quarters(store)
        await wait_for("two more live quarters", lambda: _live_quarters(store) >= stored + 2, task=live)
        bad = tmp_path / "bad.csv"
        bad.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert (kWh)\n30.03.2025;02:15;1\n", encoding="utf-8")
        code, out, err = await _twin_import(twin_exe, str(bad), "--store", str(store), "--meter-map", str(meter_map))
        assert code == 2 and "does not exist" in err and "\n" not in err.strip(), err
    finally:
        stop.set()
        await asyncio.gather(live, driver, return_exceptions=True)
    live.result()
    after = read_table(store, "15min")
    times = after["time"].values.astype("datetime64[s]").astype(np.int64)
    b01 = after["value"].sel(channel="flow:b01/import_kwh").values
    imported = np.isin(times, list(series))
    assert int(imported.sum()) == 96
    assert round(float(b01[imported].sum()) * 1000) == round(sum(series.values()) * 1000)  # to the Wh
    # every live quarter stored before the import is still there, with its values
    live_times = before["time"].values.astype("datetime64[s]").astype(np.int64)
    for channel in ("flow:b01/import_kwh", "flow:substation/import_kwh"):
        kept = after["value"].sel(channel=channel).values[np.isin(times, live_times)]
        assert np.array_equal(kept, before["value"].sel(channel=channel).values, equal_nan=True)
    assert int((times >= START_S).sum()) >= live_times.size + 2  # and the live twin went on storing
    inbox = store / INBOX_DIR
    assert sorted(p.name for p in inbox.iterdir()) == []  # nothing left behind; live.json gone at the stop
    assert not (inbox / LIVE_FILE).exists()
    assert json.loads((store / "meter_points.json").read_text()) == [[f"{MELO}:import", "b01/meter"]]


def _live_quarters(store: Path) -> int:
    """The quarter-hours from the live start on that the store's 15-minute table holds."""
    times = read_table(store, "15min")["time"].values.astype("datetime64[s]").astype(np.int64)
    return int((times >= START_S).sum())


def test_an_import_the_live_twin_does_not_take_is_withdrawn(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "meters.json").write_text('{"b01/meter": "b01"}')
    data = tmp_path / "d.csv"
    data.write_text(f"Zählpunkt;{MELO}\nDatum;Uhrzeit;Wert (kWh)\n01.06.2025;00:00;0,5\n", encoding="utf-8")
    meter_map = tmp_path / "meters.csv"
    meter_map.write_text(f"meter_point;direction;meter\n{MELO};;b01/meter\n", encoding="utf-8")
    with StoreLock(store, "twin live --site stuck.yaml"):  # a live twin that never looks into its inbox
        (store / INBOX_DIR).mkdir()
        (store / INBOX_DIR / LIVE_FILE).write_text(json.dumps({"pid": os.getpid()}))
        with pytest.raises(TwinError, match=r"did not take the import within 0.3 s \(withdrawn, nothing imported\)"):
            import_meter_data([data], store, meter_map=meter_map, wait_s=0.3)
        assert sorted(p.name for p in (store / INBOX_DIR).iterdir()) == [LIVE_FILE]
    with StoreLock(store, "twin store repair"), pytest.raises(ConfigError, match="locked by another writer"):
        import_meter_data([data], store, meter_map=meter_map)  # another writer than twin live: no inbox


def test_an_import_cut_short_by_a_stop_is_answered_at_the_next_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    inbox = store / INBOX_DIR
    inbox.mkdir(parents=True)
    (inbox / "1-2.applying").write_bytes(b"claimed, never finished")
    ImportInbox(SimpleNamespace(store_dir=store))  # type: ignore[arg-type]
    result = json.loads((inbox / "1-2.result.json").read_text())
    assert result["ok"] is False and "run the import again" in result["error"]
    assert sorted(p.name for p in inbox.iterdir()) == ["1-2.result.json", LIVE_FILE]
    assert json.loads((inbox / LIVE_FILE).read_text()) == {"pid": os.getpid()}


def test_site_file_meter_points_are_checked(tmp_path: Path) -> None:
    running_site = {
        "name": "x",
        "devices": [
            {
                "id": "b01/meter",
                "kind": "building_meter",
                "building": "b01",
                "port": 1502,
                "map": "sunspec_meter",
                "meter_points": [MELO, "51238696782"],
            },
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(running_site), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"site.yaml: devices.0.meter_points: .*'51238696782' is not a meter point"):
        load_site(path)
