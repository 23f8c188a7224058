"""The live state: the snapshot the live twin writes after every poll, as typed records.

:class:`LiveSnapshot` and its parts are frozen records. The live twin builds one per tick and
writes :meth:`LiveSnapshot.to_json` to the store's ``snapshot.json``; the dashboard, the
controller provider and the live power flow read it through :func:`read_snapshot` or
:meth:`LiveSnapshot.from_json`. A value the snapshot lacks is ``None`` (shown as missing), never
a guessed number. The JSON keeps the layout of snapshot version :data:`SNAPSHOT_VERSION`;
:meth:`~LiveSnapshot.from_json` refuses another or a missing version, and a field of the wrong
type or an unknown key inside a section, with a one-line :class:`SnapshotError` naming the field.
Top-level keys it does not know are kept (:attr:`LiveSnapshot.extra`) and written back. The
parts are in :mod:`twin.core.live_parts` and :mod:`twin.core.live_sections`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Self

from twin.core.balance import BoundaryBalance
from twin.core.live_parts import (
    ENERGY_KPI_NAMES,
    KPI_COUNT_NAMES,
    LIVE_KPI_NAMES,
    OPTIONAL_KPI_NAMES,
    Alert,
    BoundaryKpis,
    BoundaryState,
    DeviceState,
    KpiPeriods,
    SnapshotError,
    StoreStatus,
    Where,
    iso_utc,
    utc_time,
)
from twin.core.live_sections import (
    BranchState,
    BusState,
    ControllerAck,
    ControllerState,
    ControllerWriteRecord,
    FeederSignalState,
    GridState,
)
from twin.core.schema import SUBSTATION
from twin.core.store_files import SNAPSHOT_FILE
from twin.core.vocabulary import Quality

__all__ = [
    "ENERGY_KPI_NAMES",
    "KPI_COUNT_NAMES",
    "LIVE_KPI_NAMES",
    "OPTIONAL_KPI_NAMES",
    "SNAPSHOT_VERSION",
    "Alert",
    "BoundaryKpis",
    "BoundaryState",
    "BranchState",
    "BusState",
    "ControllerAck",
    "ControllerState",
    "ControllerWriteRecord",
    "DeviceState",
    "FeederSignalState",
    "GridState",
    "KpiPeriods",
    "LiveSnapshot",
    "SnapshotError",
    "StoreStatus",
    "iso_utc",
    "quality_ok",
    "read_snapshot",
    "utc_time",
]

#: The snapshot version this twin writes and reads.
SNAPSHOT_VERSION: Final[int] = 2
#: Top-level keys of the snapshot, in the order they are written.
_KEYS: Final[tuple[str, ...]] = (
    "version",
    "site",
    "timezone",
    "written_utc",
    "sim_time_utc",
    "sim_time_s",
    "timeline_start_utc",
    "clock",
    "speed",
    "devices_total",
    "devices_ok",
    "failing",
    "devices",
    "balance",
    "kpis",
    "store",
    "store_status",
    "alerts",
    "grid",
    "controller",
)


@dataclass(frozen=True)
class LiveSnapshot:
    """The live twin's latest state.

    Parameters
    ----------
    version : int
        Snapshot version (:data:`SNAPSHOT_VERSION`).
    site : str or None
        The site's name.
    timezone : str or None
        The site's IANA time zone (its local days; the dashboard shows times in it).
    written_utc, sim_time_utc : datetime or None
        Wall time of the write and the field's simulated time, UTC.
    sim_time_s : float or None
        Simulated time, UNIX seconds. [s]
    timeline_start_utc : datetime or None
        Start of the store's timeline (its first quarter, UTC); simulated time never goes back
        before the latest time a store holds. ``None`` in snapshots written before it was kept.
    clock : str or None
        ``field`` (the field's clock) or ``wall``.
    speed : float or None
        Simulated seconds per wall second.
    devices_total, devices_ok : int or None
        Devices polled, and those whose last read worked.
    failing : tuple of str
        Devices whose last read failed, in site order.
    devices : dict of str to DeviceState
        Device id -> its state.
    balance : dict of str to BoundaryState
        Boundary (building ids, then ``substation``) -> its balance now.
    kpis : KpiPeriods
        Today's and the year's KPIs per boundary.
    store : dict of str to int
        Committed rows per table.
    store_status : StoreStatus or None
        The store's writes.
    alerts : tuple of Alert
        The live twin's own alerts.
    grid : GridState or None
        The latest live power flow (``None``: none yet).
    controller : ControllerState or None
        The controller server (``None``: not served).
    extra : dict
        Keys this version does not know, kept as read.
    """

    version: int = SNAPSHOT_VERSION
    site: str | None = None
    timezone: str | None = None
    written_utc: datetime | None = None
    sim_time_utc: datetime | None = None
    sim_time_s: float | None = None
    timeline_start_utc: datetime | None = None
    clock: str | None = None
    speed: float | None = None
    devices_total: int | None = None
    devices_ok: int | None = None
    failing: tuple[str, ...] = ()
    devices: dict[str, DeviceState] = field(default_factory=dict)
    balance: dict[str, BoundaryState] = field(default_factory=dict)
    kpis: KpiPeriods = field(default_factory=KpiPeriods)
    store: dict[str, int] = field(default_factory=dict)
    store_status: StoreStatus | None = None
    alerts: tuple[Alert, ...] = ()
    grid: GridState | None = None
    controller: ControllerState | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # --- reading parts ----------------------------------------------------------------------

    @property
    def district(self) -> BoundaryState | None:
        """The district's balance (boundary ``substation``), ``None`` without one."""
        return self.balance.get(SUBSTATION)

    @property
    def buildings(self) -> list[str]:
        """The boundaries of the balance that are buildings, in snapshot order."""
        return [name for name in self.balance if name != SUBSTATION]

    def boundary(self, name: str) -> BoundaryState | None:
        """The balance of a boundary, ``None`` when the snapshot has none."""
        return self.balance.get(name)

    def device_value(self, device: str, quantity: str) -> float | None:
        """A device's latest value, ``None`` when the device or the value is missing."""
        state = self.devices.get(device)
        return None if state is None else state.values.get(quantity)

    def with_sections(self, **sections: Any) -> Self:
        """A copy with some fields replaced (``grid=...``, ``controller=...``, ``kpis=...``)."""
        return replace(self, **sections)

    # --- JSON -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data (the layout of ``snapshot.json``)."""
        out: dict[str, Any] = {
            "version": self.version,
            "site": self.site,
            "timezone": self.timezone,
            "written_utc": Where.iso(self.written_utc),
            "sim_time_utc": Where.iso(self.sim_time_utc),
            "sim_time_s": self.sim_time_s,
            "timeline_start_utc": Where.iso(self.timeline_start_utc),
            "clock": self.clock,
            "speed": self.speed,
            "devices_total": self.devices_total,
            "devices_ok": self.devices_ok,
            "failing": list(self.failing),
            "devices": {name: device.to_json() for name, device in self.devices.items()},
            "balance": {name: terms.to_json() for name, terms in self.balance.items()},
            "kpis": self.kpis.to_json(),
            "store": dict(self.store),
            "store_status": None if self.store_status is None else self.store_status.to_json(),
            "alerts": [alert.to_json() for alert in self.alerts],
        }
        if self.timezone is None:
            del out["timezone"]
        if self.timeline_start_utc is None:
            del out["timeline_start_utc"]
        if self.store_status is None:
            del out["store_status"]
        if self.grid is not None:
            out["grid"] = self.grid.to_json()
        if self.controller is not None:
            out["controller"] = self.controller.to_json()
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: Any, *, file: str | None = None) -> LiveSnapshot:
        """Read a snapshot of version :data:`SNAPSHOT_VERSION`.

        Parameters
        ----------
        data : Any
            The parsed JSON.
        file : str, optional
            The file it came from, for messages.

        Raises
        ------
        SnapshotError
            A missing or unknown version, or a field of the wrong type (one line naming the field).
        """
        top = Where(file, "").mapping(data)
        root = Where(file, "")
        version = top.get("version")
        if version is None:
            raise SnapshotError(f"missing (this twin reads snapshot version {SNAPSHOT_VERSION})", file, "version")
        if isinstance(version, bool) or version != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"{version!r} is not supported (this twin reads snapshot version {SNAPSHOT_VERSION})", file, "version"
            )
        devices = root.child("devices").mapping(top.get("devices", {}), missing_ok=True)
        balance = root.child("balance").mapping(top.get("balance", {}), missing_ok=True)
        grid, controller, status = top.get("grid"), top.get("controller"), top.get("store_status")
        return cls(
            version=SNAPSHOT_VERSION,
            site=root.text(top, "site"),
            timezone=root.text(top, "timezone"),
            written_utc=root.time(top, "written_utc"),
            sim_time_utc=root.time(top, "sim_time_utc"),
            sim_time_s=root.number(top, "sim_time_s"),
            timeline_start_utc=root.time(top, "timeline_start_utc"),
            clock=root.text(top, "clock"),
            speed=root.number(top, "speed"),
            devices_total=root.integer(top, "devices_total"),
            devices_ok=root.integer(top, "devices_ok"),
            failing=root.texts(top, "failing"),
            devices={
                str(name): DeviceState.from_json(value, root.child("devices").child(name))
                for name, value in devices.items()
            },
            balance={
                str(name): BoundaryState.from_json(value, root.child("balance").child(name), str(name))
                for name, value in balance.items()
            },
            kpis=KpiPeriods.from_json(root.child("kpis").mapping(top.get("kpis"), missing_ok=True), root.child("kpis")),
            store=root.integers(top, "store"),
            store_status=None if status is None else StoreStatus.from_json(status, root.child("store_status")),
            alerts=tuple(
                Alert.from_json(value, root.child("alerts").child(str(i)))
                for i, value in enumerate(root.items(top, "alerts"))
            ),
            grid=None if grid is None else GridState.from_json(grid, root.child("grid")),
            controller=None if controller is None else ControllerState.from_json(controller, root.child("controller")),
            extra={str(key): value for key, value in top.items() if key not in _KEYS},
        )

    @classmethod
    def from_balance(cls, balance: Mapping[str, BoundaryBalance], **fields: Any) -> LiveSnapshot:
        """A snapshot of the live balance (:func:`twin.core.balance.live_balance`) and further fields."""
        return cls(balance={name: BoundaryState.of(terms) for name, terms in balance.items()}, **fields)


def read_snapshot(store_dir: str | Path) -> LiveSnapshot | None:
    """The latest snapshot of a store, or ``None`` before the first poll.

    Raises
    ------
    SnapshotError
        The file is no snapshot of this version (torn JSON, a missing or unknown version, a field
        of the wrong type); one line naming the file and the field.
    """
    path = Path(store_dir) / SNAPSHOT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise SnapshotError(f"not JSON ({err})", str(path)) from None
    return LiveSnapshot.from_json(data, file=str(path))


def quality_ok(quality: Quality | None) -> bool:
    """Whether a quality flag is present and ``OK`` (a missing flag is not ok)."""
    return quality is Quality.OK
