"""The field's weather station: the weather the field's models run on, as a SunSpec Mini Met device.

One station per district (device id ``weather_station``, kind ``weather_station``, map
``weather_station``: SunSpec models 1 + 308; :func:`twin.field.layout.field_layout`) shows,
at every simulated time, the weather of the quarter hour that the field's PV, heat and
loads are computed from
(:func:`models.weather.read_weather` of the field's weather file, held over the quarter as
the devices' powers are):

==========================  ======================  ===========================================
quantity                    308 point (resolution)  value
==========================  ======================  ===========================================
``ghi_w_m2``                ``GHI`` (1 W/m2)        global horizontal irradiance
``temp_air_degc``           ``TmpAmb`` (0.1 degC)   ambient air temperature
``temp_module_degc``        ``TmpBOM`` (0.1 degC)   back of a horizontal glass/glass reference
                                                    module, open rack (SAPM module temperature,
                                                    ``pvlib.temperature.sapm_module``)
``wind_speed_m_s``          ``WndSpd`` (1 m/s)      wind speed
==========================  ======================  ===========================================

The station measures no DNI or DHI: :func:`models.weather_measured.measured_weather` splits
its GHI with the Erbs decomposition. :func:`write_station_history` writes what the station
would have measured from 1 January to the start (quarter-hour values at the registers'
resolution) in the device-means CSV format ``twin import`` takes
(:mod:`connectors.device_means`), beside the meter history (:func:`station_history_path`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

__all__ = [
    "STATION_KIND",
    "STATION_QUANTITIES",
    "STATION_RESOLUTION",
    "registered",
    "station_history_path",
    "station_table",
    "write_station_history",
]

#: The weather station's device kind.
STATION_KIND: Final[str] = "weather_station"
#: What it measures, in the columns of :func:`station_table`.
STATION_QUANTITIES: Final[tuple[str, ...]] = ("ghi_w_m2", "temp_air_degc", "temp_module_degc", "wind_speed_m_s")
#: The resolution of each quantity's register (model 308).
STATION_RESOLUTION: Final[dict[str, float]] = {
    "ghi_w_m2": 1.0,
    "temp_air_degc": 0.1,
    "temp_module_degc": 0.1,
    "wind_speed_m_s": 1.0,
}
#: SAPM module-temperature coefficients of the reference module (glass/glass, open rack).
_SAPM: Final[Mapping[str, float]] = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_glass"]


def station_table(weather: pd.DataFrame) -> npt.NDArray[np.float32]:
    """What the station shows in each step of a weather frame (steps x :data:`STATION_QUANTITIES`).

    Parameters
    ----------
    weather : pandas.DataFrame
        A frame of :func:`models.weather.read_weather` (``ghi_w_m2``, ``temp_air_degc``, ``wind_speed_m_s``).

    Returns
    -------
    table : numpy.ndarray
        GHI [W m-2], air temperature [degC], back-of-module temperature [degC], wind speed [m s-1].
    """
    ghi = weather["ghi_w_m2"].to_numpy(dtype=np.float64)
    temp_air = weather["temp_air_degc"].to_numpy(dtype=np.float64)
    wind = weather["wind_speed_m_s"].to_numpy(dtype=np.float64)
    module = pvlib.temperature.sapm_module(ghi, temp_air, wind, _SAPM["a"], _SAPM["b"])
    return np.column_stack([ghi, temp_air, np.asarray(module, dtype=np.float64), wind]).astype(np.float32)


def registered(values: npt.NDArray[np.floating], quantity: str) -> npt.NDArray[np.float64]:
    """Values as the station's register for a quantity shows them (rounded to its resolution)."""
    step = STATION_RESOLUTION[quantity]
    return np.round(np.asarray(values, dtype=np.float64) / step) * step


def station_history_path(history_path: str | Path) -> Path:
    """Where the station's history goes beside a meter history file: ``<stem>-weather.csv``."""
    path = Path(history_path)
    return path.with_name(f"{path.stem}-weather.csv")


def write_station_history(
    path: str | Path, *, device: str, starts_s: npt.NDArray[np.int64], table: npt.NDArray[np.floating]
) -> Path:
    """Write the station's quarter-hour values in the device-means CSV format (atomically).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    device : str
        The station's device id.
    starts_s : numpy.ndarray
        Quarter starts, UNIX time. [s]
    table : numpy.ndarray
        Quarters x :data:`STATION_QUANTITIES`, as :func:`station_table` gives them.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = [registered(table[:, index], q).tolist() for index, q in enumerate(STATION_QUANTITIES)]
    decimals = [0 if STATION_RESOLUTION[q] >= 1.0 else 1 for q in STATION_QUANTITIES]
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(("device", "time", *STATION_QUANTITIES)) + "\n")
        for row, start in enumerate(starts_s.tolist()):
            time = datetime.fromtimestamp(int(start), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            cells = ",".join(f"{column[row]:.{d}f}" for column, d in zip(columns, decimals, strict=True))
            handle.write(f"{device},{time},{cells}\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(out)
    return out
