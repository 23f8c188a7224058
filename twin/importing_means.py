"""Back-filling the state store's device channels from device-means files (a weather station's history).

:func:`import_device_means` reads quarter-hour means of devices' quantities
(:func:`connectors.device_means.read_device_means`) and appends them to the 15-minute table as
the device channels the live twin keeps (``DEVICE/QUANTITY``, e.g.
``weather_station/ghi_w_m2``): the quarter-hours the store already holds for a channel are kept
(live data wins). ``twin import`` takes such files beside meter data files (:func:`import_files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from connectors.device_means import is_device_means_file, read_device_means
from connectors.site import load_site
from twin.core.errors import ConfigError
from twin.core.store import MeanTable, StoreLock
from twin.core.vocabulary import Quality
from twin.importing import _append_in_blocks, _stored_values, import_meter_data

__all__ = ["import_device_means", "import_files"]


def import_files(
    files: list[str | Path], store_dir: str | Path, *, site_file: str | Path | None = None, **meter_options: Any
) -> str:
    """``twin import``: device-means files (header ``device,time``) and meter data files; one summary line.

    Device-means files go to :func:`import_device_means` (which needs the store's lock: not while
    ``twin live`` runs), the others to :func:`twin.importing.import_meter_data` with
    ``meter_options`` (meter map, CSV options, ...).
    """
    means = [f for f in files if is_device_means_file(f)]
    lines = [import_device_means(means, store_dir, site_file=site_file)] if means else []
    meters = [f for f in files if f not in means]
    if meters or not means:
        lines.append(import_meter_data(meters, store_dir, site_file=site_file, **meter_options))
    return "; ".join(lines)


def import_device_means(files: list[str | Path], store_dir: str | Path, *, site_file: str | Path | None = None) -> str:
    """Back-fill a store's device channels from device-means files; return a one-line summary.

    Raises
    ------
    ConfigError
        A bad file (file, line, column), a device the site file does not list (with ``--site``),
        or a store held by another writer.
    """
    data = read_device_means(files)
    store = Path(store_dir)
    with StoreLock(store, f"twin import {' '.join(str(f) for f in files)}"):
        if site_file is not None:
            known = {device.id for device in load_site(site_file).devices}
            unknown = sorted(data.devices - known)
            if unknown:
                raise ConfigError(
                    f"device {unknown[0]!r} is not in the site file", file=str(site_file), field="devices"
                )
        table = MeanTable(store, "15min", writable=True)
        channels = sorted(data.values)
        have = _stored_values(table, channels)
        new = np.column_stack([data.values[c] for c in channels])
        skipped = 0
        for index, channel in enumerate(channels):
            stored = np.isin(data.times_s, have[channel][0] if channel in have else np.zeros(0, np.int64))
            skipped += int((stored & np.isfinite(new[:, index])).sum())
            new[stored, index] = np.nan
        keep = np.isfinite(new).any(axis=1)
        flags = np.where(np.isfinite(new[keep]), int(Quality.OK), int(Quality.MISSING)).astype(np.int8)
        _append_in_blocks(table, table.append, data.times_s[keep], channels, new[keep], flags)
    return (
        f"imported {int(keep.sum())} quarter-hours of {len(data.devices)} device(s) ({len(channels)} channel(s))"
        f" into {store}: {skipped} value(s) already in the store kept, {data.duplicates} duplicate row(s) dropped"
    )
