"""The field's weather station: SunSpec 1 + 308 on the wire, the field's own weather, stored and back-filled.

One field (speed 300, a quarter hour in 3 wall seconds) writes its history from 1 January and
serves the station; pysunspec2 scans it; an in-process live twin stores what it reads; the
history is imported; :func:`models.weather_measured.measured_weather` gives back what was measured.
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from connectors.site import DeviceDefaults, Site, load_site
from models.district import LoadedDistrict
from models.weather import Site as WeatherSite
from models.weather import read_weather
from models.weather_measured import measured_weather, weather_stations
from tests.field.test_field import _clock_s, _missing_mandatory
from twin.core.errors import ConfigError
from twin.core.store import read_table
from twin.field import Field, FieldOptions
from twin.field.layout import WEATHER_STATION_ID
from twin.field.station import STATION_QUANTITIES, STATION_RESOLUTION, station_history_path, station_table
from twin.importing_means import import_files
from twin.live import LiveTwin

START = pd.Timestamp("2025-06-21T10:00:00Z")
SPEED = 300.0
YEAR_START = pd.Timestamp("2025-01-01T00:00:00Z")
QUARTERS = int((START - YEAR_START).total_seconds() // 900)
#: The 308 points of each quantity.
POINTS = {"ghi_w_m2": "GHI", "temp_air_degc": "TmpAmb", "temp_module_degc": "TmpBOM", "wind_speed_m_s": "WndSpd"}


@pytest.fixture(scope="module")
def station_field(small_district: LoadedDistrict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Field]:
    folder = tmp_path_factory.mktemp("station")
    options = FieldOptions(speed=SPEED, start_utc=START, history_path=folder / "history.csv")
    with Field(small_district, options) as running:
        running.write_site(folder / "site.yaml")
        yield running


def _truth(loaded: LoadedDistrict) -> pd.DataFrame:
    """The weather the field's models run on, read here on its own: the year of the start at the district."""
    location = loaded.district.location
    site = WeatherSite(location.latitude_deg, location.longitude_deg, location.altitude_m)
    return read_weather(None, year=START.year, site=site)


def _scan(port: int) -> SunSpecModbusClientDeviceTCP:
    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        device.scan()
    finally:
        device.close()
    return device


def test_the_site_file_lists_one_station_for_the_district(station_field: Field) -> None:
    site = load_site(Path(station_field.options.history_path).parent / "site.yaml")  # type: ignore[arg-type]
    stations = [d for d in site.devices if d.kind == "weather_station"]
    assert [(d.id, d.map, d.building) for d in stations] == [(WEATHER_STATION_ID, "weather_station", None)]
    assert stations[0].bus == next(d.bus for d in site.devices if d.kind == "substation_meter")


def test_pysunspec2_scans_the_station_and_it_shows_the_fields_weather(station_field: Field) -> None:
    assert station_field.site is not None
    device = next(d for d in station_field.site.devices if d.kind == "weather_station")
    truth = _truth(station_field.loaded)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:  # a scan within one quarter hour, past the devices' first update in it
        before = _clock_s(station_field)
        scanned = _scan(device.port)
        after = _clock_s(station_field)
        if before // 900 == after // 900 and before % 900 >= 0.5 * SPEED + 1:
            break
    else:
        pytest.fail("the clock never stayed in one quarter hour for a scan")
    assert sorted(m for m in scanned.models if isinstance(m, int)) == [1, 308]
    assert _missing_mandatory(scanned) == []  # what a SunSpec conformance check asks of a certified device
    points = scanned.models[308][0].points
    assert all(points[p].value is not None for p in POINTS.values())  # every point of 308 implemented
    assert scanned.models[1][0].points["Md"].cvalue == "simulated weather station"
    row = truth.iloc[truth.index.get_loc(pd.Timestamp(before, unit="s", tz="UTC").floor("15min"))]
    module = station_table(truth.iloc[[truth.index.get_loc(row.name)]])[0, 2]
    expected = {
        "ghi_w_m2": row["ghi_w_m2"],
        "temp_air_degc": row["temp_air_degc"],
        "temp_module_degc": module,
        "wind_speed_m_s": row["wind_speed_m_s"],
    }
    for quantity, point in POINTS.items():
        resolution = STATION_RESOLUTION[quantity]
        assert points[point].cvalue == pytest.approx(expected[quantity], abs=resolution / 2 + 1e-6), quantity
    # daylight at the summer solstice: light on the sensor, and the module is warmer than the air
    assert points["GHI"].cvalue > 0 and points["TmpBOM"].cvalue > points["TmpAmb"].cvalue


def test_the_live_twin_stores_the_stations_channels(station_field: Field, tmp_path: Path) -> None:
    assert station_field.site is not None
    site: Site = station_field.site.model_copy(update={"defaults": DeviceDefaults(interval_s=0.25)})
    store = tmp_path / "store"
    asyncio.run(_live_until_two_quarters(site, store))
    table = read_table(store, "15min")
    channels = [str(c) for c in table["channel"].values]
    columns = [channels.index(f"{WEATHER_STATION_ID}/{q}") for q in STATION_QUANTITIES]
    truth = station_table(_truth(station_field.loaded))
    times = pd.DatetimeIndex(table["time"].values).tz_localize("UTC")
    checked = 0
    for row, start in enumerate(times):
        step = int((start - YEAR_START).total_seconds() // 900)
        values = table["value"].values[row, columns]
        if not np.isfinite(values).all():
            continue
        # a quarter's mean of readings of this quarter, and of the previous one for a poll's lag at its start
        low = truth[step - 1 : step + 1].min(axis=0) - [STATION_RESOLUTION[q] for q in STATION_QUANTITIES]
        high = truth[step - 1 : step + 1].max(axis=0) + [STATION_RESOLUTION[q] for q in STATION_QUANTITIES]
        assert ((values >= low) & (values <= high)).all(), (start, values, low, high)
        checked += 1
    assert checked >= 1
    assert not any(c.startswith("balance:") and WEATHER_STATION_ID in c for c in channels)


async def _live_until_two_quarters(site: Site, store: Path) -> None:
    twin = LiveTwin(site, store, status_every_s=60.0)
    stop = asyncio.Event()
    task = asyncio.create_task(twin.run(stop))
    deadline = time.monotonic() + 30.0
    try:
        while time.monotonic() < deadline and not task.done():
            if twin.flushes and read_table(store, "15min").sizes["time"] >= 2:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the live twin stored no two quarters in 30 s")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20.0)


def test_the_history_holds_what_the_station_measured_and_imports(station_field: Field, tmp_path: Path) -> None:
    history = Path(station_field.options.history_path)  # type: ignore[arg-type]
    weather_file = station_history_path(history)
    with weather_file.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == QUARTERS and rows[0]["time"] == "2025-01-01T00:00:00Z"
    assert rows[-1]["time"] == "2025-06-21T09:45:00Z" and {r["device"] for r in rows} == {WEATHER_STATION_ID}
    truth = station_table(_truth(station_field.loaded))[:QUARTERS]
    for index, quantity in enumerate(STATION_QUANTITIES):
        written = np.asarray([float(r[quantity]) for r in rows])
        resolution = STATION_RESOLUTION[quantity]
        np.testing.assert_allclose(written, truth[:, index], atol=resolution / 2 + 1e-4, err_msg=quantity)

    store = tmp_path / "store"
    site_file = history.parent / "site.yaml"
    summary = import_files([history, weather_file], store, site_file=site_file)
    assert f"imported {QUARTERS} quarter-hours of 1 device(s) (4 channel(s))" in summary
    assert f"imported {QUARTERS} quarter-hours from 1 file(s)" in summary
    assert weather_stations(store) == [WEATHER_STATION_ID]

    period = measured_weather(store, "2025-03-01T00:00:00Z", "2025-03-08T00:00:00Z")
    frame = period.weather
    assert period.station == WEATHER_STATION_ID and period.missing_quarters == 0 and len(frame) == 7 * 96
    first = int((pd.Timestamp("2025-03-01T00:00:00Z") - YEAR_START).total_seconds() // 900)
    for quantity in ("ghi_w_m2", "temp_air_degc", "wind_speed_m_s"):
        expected = [float(r[quantity]) for r in rows[first : first + len(frame)]]
        np.testing.assert_allclose(frame[quantity].to_numpy(), expected, atol=1e-9, err_msg=quantity)
    # the station measures GHI only: DNI and DHI from the Erbs split close the balance at every step
    cos_zenith = np.cos(np.radians(frame["solar_zenith_deg"].to_numpy()))
    closure = frame["dhi_w_m2"] + frame["dni_w_m2"] * cos_zenith
    np.testing.assert_allclose(closure.to_numpy(), frame["ghi_w_m2"].to_numpy(), atol=1e-6)
    assert (frame["dni_w_m2"] > 0).any() and (frame["dhi_w_m2"] >= 0).all()


def test_a_weather_file_stands_in_without_a_station(tmp_path: Path) -> None:
    store = tmp_path / "store"
    means = tmp_path / "pv.csv"
    means.write_text("device,time,p_kw\nsfh1/pv0,2025-03-01T00:00:00Z,-1.5\n", encoding="utf-8")
    import_files([means], store)
    assert weather_stations(store) == []
    with pytest.raises(ConfigError, match="no weather station: give a weather file"):
        measured_weather(store, "2025-03-01", "2025-03-02")
    period = measured_weather(store, "2025-03-01", "2025-03-02", weather_file=_default_weather())
    assert period.station is None and "no weather station in the store" in period.source
    expected = read_weather(None, year=2025).loc["2025-03-01T00:00:00Z":"2025-03-01T23:45:00Z"]
    pd.testing.assert_frame_equal(period.weather, expected, check_freq=False, check_names=False)


def test_a_period_the_station_did_not_measure_is_refused(station_field: Field, tmp_path: Path) -> None:
    history = Path(station_field.options.history_path)  # type: ignore[arg-type]
    store = tmp_path / "store"
    import_files([station_history_path(history)], store)
    with pytest.raises(ConfigError, match="measured nothing"):
        measured_weather(store, "2025-08-01", "2025-08-02")
    with pytest.raises(ConfigError, match="no quarter hour"):
        measured_weather(store, "2025-03-02", "2025-03-01")
    with pytest.raises(ConfigError, match="no weather station 'met2'"):
        measured_weather(store, "2025-03-01", "2025-03-02", station="met2")


def _default_weather() -> Path:
    from models.weather import default_weather_path

    return default_weather_path()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("device,time,ghi_w_m2\nweather_station,2025-03-01T00:10:00Z,5\n", "line 2: column time"),
        ("device,time,ghi\nweather_station,2025-03-01T00:00:00Z,5\n", "column ghi: 'ghi' is not a quantity"),
        ("device,time,ghi_w_m2\nweather_station,2025-03-01T00:00:00Z,lots\n", "line 2: column ghi_w_m2"),
    ],
)
def test_a_bad_device_means_file_exits_2_with_one_line(tmp_path: Path, twin_exe: Path, text: str, message: str) -> None:
    bad = tmp_path / "met.csv"
    bad.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [str(twin_exe), "import", "--store", str(tmp_path / "store"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr and str(bad) in done.stderr
    assert not (tmp_path / "store" / "means_15min.zarr").exists()


@pytest.mark.e2e
def test_a_field_without_station_writes_no_weather_history(
    small_district_file: Path, tmp_path: Path, twin_exe: Path
) -> None:
    history = tmp_path / "history.csv"
    command = [str(twin_exe), "field", "--district", str(small_district_file), "--start", "2025-01-02T00:00Z"]
    command += ["--history", str(history), "--history-only", "--no-weather-station"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert history.is_file() and not station_history_path(history).exists()
