"""A district that overloads its transformer: 13 old houses with heat pumps and two cars each on a 160 kVA grid.

SimBench ``1-LV-rural1`` (15 buses, one 160 kVA transformer); each house of 1960 with 240 m2, a
heat pump, 6 kWp PV and two cars at two 11 kW wallboxes. Uncontrolled, the transformer reaches
about 150 % in January; the controller signal blocks on some winter evenings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

#: The buses of the houses.
BUSES: Final[tuple[int, ...]] = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)


def _house(number: int, bus: int) -> dict[str, Any]:
    car = {"capacity_kwh": 60.0, "distance_km_per_a": 15000.0}
    return {
        "id": f"h{number:02d}",
        "type": "SFH",
        "construction_year": 1960,
        "floor_area_m2": 240.0,
        "bus": f"LV1.101 Bus {bus}",
        "households": [{"count": 1, "persons": 3}],
        "roofs": [{"area_m2": 50.0, "tilt_deg": 35.0, "azimuth_deg": 180.0}],
        "heating": {"system": "heat_pump"},
        "pv": [{"p_peak_kw": 6.0}],
        "evs": [car, dict(car)],
        "chargers": [{"p_rated_kw": 11.0}, {"p_rated_kw": 11.0}],
    }


STRESSED_DISTRICT: Final[dict[str, Any]] = {
    "name": "Stressed feeder",
    "location": {"latitude_deg": 51.324, "longitude_deg": 12.567, "altitude_m": 129.0, "timezone": "Europe/Berlin"},
    "grid": {"simbench_code": "1-LV-rural1--0-sw"},
    "reactive_power": {
        "load_cos_phi": 0.93,
        "pv_cos_phi_p": [{"p_frac": 0.0, "cos_phi": 1.0}, {"p_frac": 1.0, "cos_phi": 0.95}],
    },
    "buildings": [_house(number, bus) for number, bus in enumerate(BUSES, start=1)],
}


def write_stressed(path: Path) -> Path:
    """Write the district file and return its path."""
    path.write_text(yaml.safe_dump(STRESSED_DISTRICT, sort_keys=False), encoding="utf-8")
    return path
