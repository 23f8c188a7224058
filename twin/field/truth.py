"""The field's ground truth: what every device and boundary really did, per quarter hour.

The field's devices take their values from the district's profiles (after control: the
community battery's power is the one it ran at); faults change what the wire says, never
what happened. :class:`TruthWriter` appends, whenever simulated time leaves a quarter
hour, one CSV row per device and per boundary (every building, and ``substation`` for the
district) to a truth file (``twin field --truth PATH``). Columns (energies in kWh over the
quarter, powers in kW, times in UTC):

``time_utc``
    Start of the quarter hour, ISO 8601 with ``Z``.
``seconds``
    Simulated seconds of the quarter the field ran (900, less in the first quarter). [s]
``id``, ``kind``, ``building``
    Device id, kind and building as in the site file; boundaries have kind ``boundary``, id
    the building id (or ``substation``) and building the same (empty for the substation).
``p_kw``
    Mean power over ``seconds``: devices in the twin's sign (meters import-positive, assets
    load-positive); boundaries the meter's. [kW]
``import_kwh``, ``export_kwh``
    Devices: energy with positive / negative power (a battery's charge / discharge, an
    inverter's generation as export; a gas meter's fuel as import). Boundaries: what
    their meter imported / exported. [kWh]
``load_kwh``, ``generation_kwh``, ``battery_charge_kwh``, ``battery_discharge_kwh``, ``fuel_kwh``
    Boundaries only: the energy used inside (meter - PV - batteries; at the substation the
    grid losses too), PV generation, the batteries' charge and discharge (at the substation
    the home batteries and the community battery), gas drawn. [kWh]
``signal_state``
    Boundaries only: the SG-Ready state (1 block, 2 normal, 3 recommended on, 4 forced on) the
    building's devices followed for most of the quarter (:mod:`twin.field.control`); at the
    substation the district's. Empty where the field follows no signal.
``trafo_loading_percent``
    Substation only: the highest transformer loading of the quarter's power flow with the
    devices as they ran (:mod:`twin.field.control`). [%]
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import numpy as np
import numpy.typing as npt

from twin.field.layout import DeviceSpec

__all__ = ["TRUTH_COLUMNS", "TruthWriter"]

#: The truth file's columns, in order.
TRUTH_COLUMNS: Final[tuple[str, ...]] = (
    "time_utc",
    "seconds",
    "id",
    "kind",
    "building",
    "p_kw",
    "import_kwh",
    "export_kwh",
    "load_kwh",
    "generation_kwh",
    "battery_charge_kwh",
    "battery_discharge_kwh",
    "fuel_kwh",
    "signal_state",
    "trafo_loading_percent",
)
_SUBSTATION: Final[str] = "substation"
_BATTERIES: Final[tuple[str, ...]] = ("battery", "community_battery")


class TruthWriter:
    """Append the field's true energies per quarter hour to a CSV file.

    Parameters
    ----------
    path : str or Path
        The truth file (written anew, header first).
    specs : sequence of DeviceSpec
        The field's devices, in the order of the per-device arrays.
    """

    def __init__(self, path: str | Path, specs: Sequence[DeviceSpec]) -> None:
        self.path = Path(path)
        self.specs = list(specs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(TRUTH_COLUMNS)
        self._file.flush()
        self._lock = threading.Lock()
        kinds = np.asarray([spec.kind for spec in self.specs])
        buildings = np.asarray([spec.building or "" for spec in self.specs])
        self._boundaries: dict[str, npt.NDArray[np.bool_]] = {
            b: buildings == b for b in dict.fromkeys(spec.building for spec in self.specs if spec.building)
        }
        self._boundaries[_SUBSTATION] = np.ones(len(self.specs), dtype=bool)
        self._kinds = kinds
        #: Returns each boundary's signal state of the quarter that just ended (by building id and
        #: ``substation``); None: the field follows no signal.
        self.signal_states: Callable[[], dict[str, int]] | None = None
        #: Returns the transformer's loading of the quarter that just ended [%]; None: not known.
        self.trafo_loading: Callable[[], float] | None = None

    def quarter(
        self,
        start_s: float,
        seconds: float,
        import_kwh: npt.NDArray[np.float64],
        export_kwh: npt.NDArray[np.float64],
    ) -> None:
        """Write the rows of one quarter hour (see the module docstring)."""
        time_utc = datetime.fromtimestamp(start_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        hours = seconds / 3600.0 if seconds > 0 else float("nan")
        rows: list[list[object]] = []
        for index, spec in enumerate(self.specs):
            p_kw = (import_kwh[index] - export_kwh[index]) / hours
            row = [time_utc, f"{seconds:g}", spec.id, spec.kind, spec.building or ""]
            measured = [_num(p_kw), _num(import_kwh[index]), _num(export_kwh[index])]
            rows.append([*row, *measured, *[""] * (len(TRUTH_COLUMNS) - 8)])
        states = self.signal_states() if self.signal_states is not None else {}
        loading = self.trafo_loading() if self.trafo_loading is not None else float("nan")
        for boundary, inside in self._boundaries.items():
            energies = self._boundary_row(time_utc, seconds, boundary, inside, import_kwh, export_kwh)
            trafo = _num(loading) if boundary == _SUBSTATION and loading == loading else ""
            rows.append([*energies, states.get(boundary, ""), trafo])
        with self._lock:
            if self._file is None:
                return
            self._csv.writerows(rows)
            self._file.flush()

    def close(self) -> None:
        """Close the file (rows written so far stay)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _boundary_row(
        self,
        time_utc: str,
        seconds: float,
        boundary: str,
        inside: npt.NDArray[np.bool_],
        import_kwh: npt.NDArray[np.float64],
        export_kwh: npt.NDArray[np.float64],
    ) -> list[object]:
        kinds = self._kinds
        meter_kind = "substation_meter" if boundary == _SUBSTATION else "building_meter"

        def total(mask: npt.NDArray[np.bool_], energy: npt.NDArray[np.float64]) -> float:
            return float(energy[inside & mask].sum())

        meter = kinds == meter_kind
        pv = kinds == "pv_inverter"
        batteries = np.isin(kinds, _BATTERIES)
        m_import, m_export = total(meter, import_kwh), total(meter, export_kwh)
        generation = total(pv, export_kwh) - total(pv, import_kwh)
        charge, discharge = total(batteries, import_kwh), total(batteries, export_kwh)
        load = (m_import - m_export) + generation - (charge - discharge)
        fuel = total(kinds == "gas_meter", import_kwh)
        hours = seconds / 3600.0 if seconds > 0 else float("nan")
        building = "" if boundary == _SUBSTATION else boundary
        return [
            time_utc,
            f"{seconds:g}",
            boundary,
            "boundary",
            building,
            _num((m_import - m_export) / hours),
            _num(m_import),
            _num(m_export),
            _num(max(load, 0.0)),
            _num(max(generation, 0.0)),
            _num(charge),
            _num(discharge),
            _num(fuel),
        ]


def _num(value: float) -> str:
    return f"{float(value):.6f}"
