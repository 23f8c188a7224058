"""The weather station's year: written, imported, read back, and what the Erbs split does to PV yield.

The field's station shows the weather file's GHI, air temperature and wind (the embedded DWD
TRY2010 region 4 laid on 2025 at Beucha). This bench writes a year of what it measures in the
device-means format (:func:`twin.field.station.write_station_history`), imports it into a new
store (``twin import``'s :func:`twin.importing_means.import_files`), reads it back with
:func:`models.weather_measured.measured_weather` for 8 weeks and for the year, and compares
the PV models' specific AC yield (:func:`models.pv.pv_specific_ac_kw_per_kwp`) on the measured
weather (DNI and DHI by the Erbs decomposition of the measured GHI) with the yield on the file's
own weather (the field's truth): per year, and the daily energies' CV(RMSE) and mean bias.

    .venv/bin/python bench/bench_station.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.pv import pv_specific_ac_kw_per_kwp
from models.weather import read_weather
from models.weather_measured import measured_weather
from twin.field.layout import WEATHER_STATION_ID
from twin.field.station import station_table, write_station_history
from twin.importing_means import import_files

YEAR = 2025
#: Orientations compared: (tilt, azimuth) [deg].
ORIENTATIONS = ((35.0, 180.0), (35.0, 90.0), (35.0, 270.0), (15.0, 180.0), (60.0, 180.0))


def main() -> None:
    truth = read_weather(None, year=YEAR)
    starts_s = (truth.index.asi8 // 10**9).astype(np.int64)
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "history-weather.csv"
        started = time.perf_counter()
        write_station_history(csv, device=WEATHER_STATION_ID, starts_s=starts_s, table=station_table(truth))
        written_s = time.perf_counter() - started
        store = Path(folder) / "store"
        started = time.perf_counter()
        print(import_files([csv], store))
        imported_s = time.perf_counter() - started
        started = time.perf_counter()
        weeks = measured_weather(store, f"{YEAR}-03-01", f"{YEAR}-04-26")
        weeks_s = time.perf_counter() - started
        started = time.perf_counter()
        year = measured_weather(store, f"{YEAR}-01-01", f"{YEAR + 1}-01-01")
        year_s = time.perf_counter() - started
    print(f"{len(truth)} quarter-hours: written in {written_s:.2f} s ({csv.name}), imported in {imported_s:.2f} s")
    print(f"measured_weather: 8 weeks in {weeks_s:.2f} s ({len(weeks.weather)} rows), year in {year_s:.2f} s")
    print(f"missing quarters in the year: {year.missing_quarters}")
    measured = year.weather
    ghi_file = truth["ghi_w_m2"].sum() * 0.25 / 1000.0
    ghi_measured = measured["ghi_w_m2"].sum() * 0.25 / 1000.0
    dhi_file = truth["dhi_w_m2"].sum() * 0.25 / 1000.0
    dhi_erbs = measured["dhi_w_m2"].sum() * 0.25 / 1000.0
    print(f"GHI {ghi_file:.1f} kWh/m2 (file) vs {ghi_measured:.1f} (station, 1 W/m2 registers)")
    print(f"DHI {dhi_file:.1f} kWh/m2 (file's split) vs {dhi_erbs:.1f} (Erbs of the station's GHI)")
    tilt = [o[0] for o in ORIENTATIONS]
    azimuth = [o[1] for o in ORIENTATIONS]
    on_truth = pv_specific_ac_kw_per_kwp(truth, tilt, azimuth)
    on_measured = pv_specific_ac_kw_per_kwp(measured, tilt, azimuth)
    days = truth.index.floor("D")
    print("orientation      yield file  yield measured  diff    daily CV(RMSE)  daily NMBE")
    for column, (t, a) in enumerate(ORIENTATIONS):
        daily_truth = pd.Series(on_truth[:, column] * 0.25, index=days).groupby(level=0).sum()
        daily_measured = pd.Series(on_measured[:, column] * 0.25, index=days).groupby(level=0).sum()
        total_truth, total_measured = daily_truth.sum(), daily_measured.sum()
        residual = daily_measured - daily_truth
        cv = float(np.sqrt((residual**2).mean()) / daily_truth.mean())
        nmbe = float(residual.sum() / daily_truth.sum())
        print(
            f"tilt {t:4.0f} az {a:4.0f}  {total_truth:7.1f}     {total_measured:7.1f}"
            f"      {100 * (total_measured / total_truth - 1):+5.2f} %  {100 * cv:6.2f} %        {100 * nmbe:+5.2f} %"
        )


if __name__ == "__main__":
    main()
