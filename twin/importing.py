"""Back-filling the state store from meter data files (``twin import``).

:func:`import_meter_data` reads 15-minute meter data files
(:func:`connectors.meter_import.read_meter_files`), maps each meter to its boundary (a
building or the substation) and appends the quarter-hours the store does not hold yet to the
15-minute table; readings go to the store's readings file and set the year's start.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final

import numpy as np

from connectors.meter_import import read_meter_files
from connectors.site import Site, load_site
from twin.core.errors import ConfigError
from twin.core.schema import SUBSTATION
from twin.core.store import READINGS_FILE, MeanTable, StoreLock, read_json, write_json_atomic

__all__ = ["METERS_FILE", "import_meter_data", "site_meters"]

#: The meters of the site and their boundaries, written by ``twin live`` for ``twin import``.
METERS_FILE: Final[str] = "meters.json"


def import_meter_data(files: list[str | Path], store_dir: str | Path, *, site_file: str | Path | None = None) -> str:
    """Back-fill a store from 15-minute meter data files; return a one-line summary.

    Quarter-hours the store already holds for a boundary are kept (live data wins); the others
    are appended. Readings go to the store's readings file and set the year's start.

    Raises
    ------
    ConfigError
        A bad file (file, line, column), an unknown meter, or a store held by another writer.
    """
    data = read_meter_files(files)
    store = Path(store_dir)
    with StoreLock(store, f"twin import {' '.join(str(f) for f in files)}"):
        if site_file is not None:
            meters = site_meters(load_site(site_file))
        else:
            meters = read_json(store / METERS_FILE, None)
            if meters is None:
                raise ConfigError("the store does not know the site's meters yet: give --site FILE", file=str(store))
        unknown = [record for record in data.records if record.meter not in meters]
        if unknown:
            first = unknown[0]
            raise ConfigError(
                f"meter {first.meter!r} is not a building or substation meter of the site",
                file=first.file,
                field=f"line {first.line}: column meter",
                allowed=", ".join(sorted(meters)[:6]) + (", ..." if len(meters) > 6 else "") or "none",
            )
        table = MeanTable(store, "15min", writable=True)
        existing = table.read()
        have: dict[str, set[int]] = {}
        for index, channel in enumerate(str(c) for c in existing["channel"].values):
            finite = np.isfinite(existing["value"].values[:, index])
            have[channel] = set(existing["time"].values[finite].astype("datetime64[s]").astype(np.int64).tolist())
        new: dict[int, dict[str, float]] = {}
        skipped = 0
        readings = read_json(store / READINGS_FILE, {})
        for record in data.records:
            if record.kind == "reading":
                entry = {"time_s": record.time_s, "energy_import_kwh": record.import_kwh}
                if not math.isnan(record.export_kwh):
                    entry["energy_export_kwh"] = record.export_kwh
                kept = [r for r in readings.get(record.meter, []) if r["time_s"] != record.time_s]
                readings[record.meter] = sorted([*kept, entry], key=lambda r: r["time_s"])
                continue
            boundary = meters[record.meter]
            for flow, value in (("import_kwh", record.import_kwh), ("export_kwh", record.export_kwh)):
                channel = f"flow:{boundary}/{flow}"
                if record.time_s in have.get(channel, set()):
                    skipped += 1
                    continue
                new.setdefault(record.time_s, {})[channel] = value
        times = sorted(new)
        channels = sorted({c for row in new.values() for c in row})
        table.append(
            np.asarray(times, dtype=np.int64),
            {c: np.array([new[t].get(c, np.nan) for t in times]) for c in channels},
        )
        write_json_atomic(store / READINGS_FILE, readings)
    gaps = sum(data.gaps().values())
    n_readings = sum(1 for r in data.records if r.kind == "reading")
    return (
        f"imported {len(times)} quarter-hours from {data.files} file(s) into {store}: "
        f"{skipped} value(s) already in the store kept, {data.duplicates} duplicate row(s) dropped, "
        f"{gaps} quarter-hour(s) missing in the files, {n_readings} reading(s)"
    )


def site_meters(site: Site) -> dict[str, str]:
    """Meter device id -> its boundary (a building id, or ``"substation"``)."""
    return {
        device.id: (device.building or SUBSTATION) if device.kind == "building_meter" else SUBSTATION
        for device in site.devices
        if device.kind in ("building_meter", "substation_meter")
    }
