"""Fixtures of the field tests: a small district file and one running field per module.

The field runs in-process on a background thread at speed 60 (a quarter hour passes in
15 wall seconds), on 127.0.0.1 with ports the OS picks. Its fault plan gives every fault
kind its own device, so the fault tests can run in any order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from models.district import LoadedDistrict, load_district
from twin.field import FaultPlan, Field, FieldOptions

SPEED = 60.0
START_UTC = "2025-06-21T10:00:00Z"

_BUS = "LV5.201 Bus {}"


def _house(bid: str, bus: int, **extra: object) -> dict[str, object]:
    house: dict[str, object] = {
        "id": bid,
        "type": "SFH",
        "construction_year": 1995,
        "floor_area_m2": 140.0,
        "bus": _BUS.format(bus),
        "households": [{"count": 1, "persons": 3}],
        "roofs": [{"area_m2": 60.0, "tilt_deg": 35.0, "azimuth_deg": 180.0}],
        "heating": {"system": "gas_boiler"},
    }
    house.update(extra)
    return house


SMALL_DISTRICT: dict[str, object] = {
    "name": "Small field",
    "location": {"latitude_deg": 51.324, "longitude_deg": 12.567, "altitude_m": 129.0, "timezone": "Europe/Berlin"},
    "grid": {"simbench_code": "1-LV-semiurb5--0-sw"},
    "reactive_power": {
        "load_cos_phi": 0.93,
        "pv_cos_phi_p": [{"p_frac": 0.0, "cos_phi": 1.0}, {"p_frac": 1.0, "cos_phi": 0.95}],
    },
    "buildings": [
        _house(
            "mfh1",
            53,
            type="MFH",
            floor_area_m2=450.0,
            households=[{"count": 4, "persons": 2}, {"count": 2, "persons": 1}],
            pv=[{"p_peak_kw": 20.0}],
        ),
        _house(
            "sfh1",
            27,
            pv=[{"p_peak_kw": 8.0}],
            batteries=[{"capacity_kwh": 8.0, "p_rated_kw": 4.0}],
            evs=[{"capacity_kwh": 60.0, "distance_km_per_a": 14000.0}],
            chargers=[{"p_rated_kw": 11.0}],
        ),
        _house(
            "sfh2",
            30,
            construction_year=2015,
            pv=[{"p_peak_kw": 6.0}],
            batteries=[{"capacity_kwh": 6.0, "p_rated_kw": 3.0}],
            heating={"system": "heat_pump"},
        ),
        *(_house(f"sfh{number}", 30 + number) for number in range(3, 9)),
    ],
}

#: Every fault kind on its own device: (device, fault, extra keys).
FAULTS: list[dict[str, object]] = [
    {"device": "sfh3/meter", "fault": "stop", "at_s": 1.0},
    {"device": "sfh4/meter", "fault": "hang", "at_s": 1.0},
    {"device": "sfh3/gas_meter", "fault": "exception", "exception_code": 6, "at_s": 1.0},
    {"device": "sfh1/charger0", "fault": "not_implemented", "at_s": 1.0},
    {"device": "sfh5/meter", "fault": "absurd", "at_s": 1.0},
    {"device": "sfh6/meter", "fault": "restart", "at_s": 4.0, "duration_s": 3.0},
    {"device": "mfh1/flat03", "fault": "hang", "at_s": 1.0},
    {"device": "sfh7/meter", "fault": "exception", "at_s": 120.0, "clock": "simulated"},
]


@pytest.fixture(scope="session")
def small_district_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("field") / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL_DISTRICT, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_district(small_district_file: Path) -> LoadedDistrict:
    return load_district(small_district_file)


@pytest.fixture(scope="module")
def field(small_district: LoadedDistrict) -> Iterator[Field]:
    plan = FaultPlan.model_validate({"faults": FAULTS})
    options = FieldOptions(speed=SPEED, start_utc=START_UTC, fault_plan=plan)
    with Field(small_district, options) as running:
        yield running
