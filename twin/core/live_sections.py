"""The sections of the live snapshot the services add: the live power flow and the controller server.

:class:`GridState` is the ``grid`` section (:mod:`twin.live_grid` solves it in a worker process),
:class:`ControllerState` the ``controller`` section (:mod:`twin.live_controllers`). Both are
frozen records with the JSON round trip of :mod:`twin.core.live_parts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from twin.core.live_parts import Where, field_names
from twin.core.vocabulary import Quality

__all__ = [
    "BranchState",
    "BusState",
    "ControlInUse",
    "ControllerAck",
    "ControllerState",
    "ControllerWriteRecord",
    "FeederSignalState",
    "GridState",
]

_LISTENER_KEYS: Final[tuple[str, ...]] = ("host", "port", "tls_port")


@dataclass(frozen=True)
class BusState:
    """A bus of the live power flow: name, position (longitude ``x``, latitude ``y``) and voltage [p.u.]."""

    name: str | None = None
    x: float | None = None
    y: float | None = None
    vm_pu: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The bus's entry of ``grid.buses``."""
        return {"name": self.name, "x": self.x, "y": self.y, "vm_pu": self.vm_pu}

    @classmethod
    def from_json(cls, data: Any, where: Where) -> BusState:
        """Read a bus."""
        obj = where.record(data, field_names(BusState))
        return cls(where.text(obj, "name"), where.number(obj, "x"), where.number(obj, "y"), where.number(obj, "vm_pu"))


@dataclass(frozen=True)
class BranchState:
    """A branch of the live power flow: kind (``line``, ``trafo``), its buses and loading [%]."""

    kind: str | None = None
    from_bus: int | None = None
    to_bus: int | None = None
    loading_percent: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The branch's entry of ``grid.branches``."""
        return {
            "kind": self.kind,
            "from_bus": self.from_bus,
            "to_bus": self.to_bus,
            "loading_percent": self.loading_percent,
        }

    @classmethod
    def from_json(cls, data: Any, where: Where) -> BranchState:
        """Read a branch."""
        obj = where.record(data, field_names(BranchState))
        return cls(
            where.text(obj, "kind"),
            where.integer(obj, "from_bus"),
            where.integer(obj, "to_bus"),
            where.number(obj, "loading_percent"),
        )


@dataclass(frozen=True)
class GridState:
    """The latest live power flow (the snapshot's ``grid``); ``None`` where it gave no value.

    Parameters
    ----------
    sim_time_utc : datetime or None
        Simulated time of the balance it solved.
    converged : bool or None
        Whether the power flow converged.
    p_loss_kw, p_grid_kw : float or None
        Grid losses and the exchange at the external grid (import-positive). [kW]
    trafo_loading_max_percent, line_loading_max_percent : float or None
        Highest transformer and line loading. [%]
    vm_min_pu, vm_max_pu : float or None
        Lowest and highest bus voltage. [p.u.]
    inputs_missing : tuple of str
        Buildings whose meter had no usable value (counted as 0 kW).
    solve_ms : float or None
        Wall time of the solve. [ms]
    buses : dict of str to BusState
        Bus index (as text) -> bus.
    branches : dict of str to BranchState
        Branch id (``line 3``, ``trafo 0``) -> branch.
    """

    sim_time_utc: datetime | None = None
    converged: bool | None = None
    p_loss_kw: float | None = None
    p_grid_kw: float | None = None
    trafo_loading_max_percent: float | None = None
    line_loading_max_percent: float | None = None
    vm_min_pu: float | None = None
    vm_max_pu: float | None = None
    inputs_missing: tuple[str, ...] = ()
    solve_ms: float | None = None
    buses: dict[str, BusState] = field(default_factory=dict)
    branches: dict[str, BranchState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``grid`` section."""
        return {
            "sim_time_utc": Where.iso(self.sim_time_utc),
            "converged": self.converged,
            "p_loss_kw": self.p_loss_kw,
            "p_grid_kw": self.p_grid_kw,
            "trafo_loading_max_percent": self.trafo_loading_max_percent,
            "line_loading_max_percent": self.line_loading_max_percent,
            "vm_min_pu": self.vm_min_pu,
            "vm_max_pu": self.vm_max_pu,
            "inputs_missing": list(self.inputs_missing),
            "solve_ms": self.solve_ms,
            "buses": {key: bus.to_json() for key, bus in self.buses.items()},
            "branches": {key: branch.to_json() for key, branch in self.branches.items()},
        }

    @classmethod
    def from_json(cls, data: Any, where: Where) -> GridState:
        """Read the ``grid`` section."""
        obj = where.record(data, field_names(GridState))
        buses, branches = where.child("buses"), where.child("branches")
        bus_items = buses.mapping(obj.get("buses"), missing_ok=True).items()
        return cls(
            sim_time_utc=where.time(obj, "sim_time_utc"),
            converged=where.flag(obj, "converged"),
            p_loss_kw=where.number(obj, "p_loss_kw"),
            p_grid_kw=where.number(obj, "p_grid_kw"),
            trafo_loading_max_percent=where.number(obj, "trafo_loading_max_percent"),
            line_loading_max_percent=where.number(obj, "line_loading_max_percent"),
            vm_min_pu=where.number(obj, "vm_min_pu"),
            vm_max_pu=where.number(obj, "vm_max_pu"),
            inputs_missing=where.texts(obj, "inputs_missing"),
            solve_ms=where.number(obj, "solve_ms"),
            buses={str(k): BusState.from_json(v, buses.child(k)) for k, v in bus_items},
            branches={
                str(k): BranchState.from_json(v, branches.child(k))
                for k, v in branches.mapping(obj.get("branches", {}), missing_ok=True).items()
            },
        )


@dataclass(frozen=True)
class ControllerAck:
    """A building controller's acknowledgement of the signal: the state it confirmed, when, by whom."""

    state: int | None = None
    wall_time_utc: datetime | None = None
    client: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``controller.acks``."""
        return {"state": self.state, "wall_time_utc": Where.iso(self.wall_time_utc), "client": self.client}

    @classmethod
    def from_json(cls, data: Any, where: Where) -> ControllerAck:
        """Read an acknowledgement."""
        obj = where.record(data, field_names(ControllerAck))
        return cls(where.integer(obj, "state"), where.time(obj, "wall_time_utc"), where.text(obj, "client"))


@dataclass(frozen=True)
class FeederSignalState:
    """One feeder's signal at the last live power flow (the snapshot's ``controller.feeders``).

    Parameters
    ----------
    feeder_number : int
        The feeder, 1-based as the register map's ``feeder_number``; 0 the transformer's busbar.
    signal, signal_code : str, int
        Its SG-Ready state (name and code 1-4).
    reasons : tuple of str
        Why (the :class:`twin.core.signal.SignalReason` flags' names).
    relief_kw : float
        Reduction of the controllable draw the feeder's limits ask for. [kW]
    buildings : int
        Buildings on the feeder.
    limited : int
        Of those, the buildings whose section 14a limit is in force.
    limit_min_kw : float, optional
        The lowest limit in force on the feeder (``None``: none limited). [kW]
    """

    feeder_number: int | None = None
    signal: str | None = None
    signal_code: int | None = None
    reasons: tuple[str, ...] = ()
    relief_kw: float | None = None
    buildings: int | None = None
    limited: int | None = None
    limit_min_kw: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``controller.feeders``."""
        out = dataclasses.asdict(self)
        out["reasons"] = list(self.reasons)
        return out

    @classmethod
    def from_json(cls, data: Any, where: Where) -> FeederSignalState:
        """Read a feeder's entry."""
        obj = where.record(data, field_names(FeederSignalState))
        return cls(
            feeder_number=where.integer(obj, "feeder_number"),
            signal=where.text(obj, "signal"),
            signal_code=where.integer(obj, "signal_code"),
            reasons=where.texts(obj, "reasons"),
            relief_kw=where.number(obj, "relief_kw"),
            buildings=where.integer(obj, "buildings"),
            limited=where.integer(obj, "limited"),
            limit_min_kw=where.number(obj, "limit_min_kw"),
        )


@dataclass(frozen=True)
class ControllerWriteRecord:
    """An accepted controller write as the snapshot lists it (``read_back`` only once confirmed)."""

    name: str | None = None
    value: float | None = None
    building_number: int | None = None
    building_id: str | None = None
    client: str | None = None
    sim_time_utc: datetime | None = None
    wall_time_utc: datetime | None = None
    result: str | None = None
    read_back: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``controller.writes``."""
        out: dict[str, Any] = {
            "name": self.name,
            "value": self.value,
            "building_number": self.building_number,
            "building_id": self.building_id,
            "client": self.client,
            "sim_time_utc": Where.iso(self.sim_time_utc),
            "wall_time_utc": Where.iso(self.wall_time_utc),
            "result": self.result,
        }
        if self.read_back is not None:
            out["read_back"] = self.read_back
        return out

    @classmethod
    def from_json(cls, data: Any, where: Where) -> ControllerWriteRecord:
        """Read a write."""
        obj = where.record(data, field_names(ControllerWriteRecord))
        return cls(
            name=where.text(obj, "name"),
            value=where.number(obj, "value"),
            building_number=where.integer(obj, "building_number"),
            building_id=where.text(obj, "building_id"),
            client=where.text(obj, "client"),
            sim_time_utc=where.time(obj, "sim_time_utc"),
            wall_time_utc=where.time(obj, "wall_time_utc"),
            result=where.text(obj, "result"),
            read_back=where.number(obj, "read_back"),
        )


@dataclass(frozen=True)
class ControlInUse:
    """The control the live signal runs (``controller.control``): its file, what runs, the block's options.

    ``file`` is ``twin live --control``'s file (``None``: the live twin's defaults), ``runs`` the
    one line the live twin said on start, ``block`` the ``control:`` block as read (``None``: none).
    """

    file: str | None = None
    runs: str | None = None
    block: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``controller.control`` object."""
        return {"file": self.file, "runs": self.runs, "block": None if self.block is None else dict(self.block)}

    @classmethod
    def from_json(cls, data: Any, where: Where) -> ControlInUse:
        """Read ``controller.control``."""
        obj = where.record(data, field_names(ControlInUse))
        block = obj.get("block")
        return cls(
            file=where.text(obj, "file"),
            runs=where.text(obj, "runs"),
            block=None if block is None else dict(where.child("block").mapping(block)),
        )


@dataclass(frozen=True)
class ControllerState:
    """The controller server (the snapshot's ``controller``): signal, limit, quality, listeners, writes.

    ``signal`` is the SG-Ready state's name (``normal``), ``signal_code`` its register value,
    ``reasons`` the names of the reasons behind it, ``limit_14a_kw`` the section 14a limit [kW],
    ``quality`` the quality the server serves, ``listeners`` host, port and TLS port, ``control``
    the control the signal runs.
    """

    signal: str | None = None
    signal_code: int | None = None
    since_utc: datetime | None = None
    reasons: tuple[str, ...] = ()
    limit_14a_kw: float | None = None
    quality: Quality | None = None
    heartbeat: int | None = None
    host: str | None = None
    port: int | None = None
    tls_port: int | None = None
    buildings: int | None = None
    battery_mode: int | None = None
    flexible_power_kw: dict[str, float | None] = field(default_factory=dict)
    acks: dict[str, ControllerAck] = field(default_factory=dict)
    writes: tuple[ControllerWriteRecord, ...] = ()
    feeders: tuple[FeederSignalState, ...] = ()
    control: ControlInUse | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``controller`` section."""
        out: dict[str, Any] = {
            "signal": self.signal,
            "signal_code": self.signal_code,
            "since_utc": Where.iso(self.since_utc),
            "reasons": list(self.reasons),
            "limit_14a_kw": self.limit_14a_kw,
            "quality": None if self.quality is None else self.quality.name.lower(),
            "heartbeat": self.heartbeat,
            "listeners": {"host": self.host, "port": self.port, "tls_port": self.tls_port},
            "buildings": self.buildings,
            "battery_mode": self.battery_mode,
            "flexible_power_kw": dict(self.flexible_power_kw),
            "acks": {key: ack.to_json() for key, ack in self.acks.items()},
            "writes": [entry.to_json() for entry in self.writes],
        }
        if self.feeders:  # only with signals per feeder (the key is optional)
            out["feeders"] = [entry.to_json() for entry in self.feeders]
        if self.control is not None:  # the control the signal runs (the key is optional)
            out["control"] = self.control.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any, where: Where) -> ControllerState:
        """Read the ``controller`` section."""
        obj = where.record(data, _CONTROLLER_KEYS)
        here = where.child("listeners")
        listeners = {} if obj.get("listeners") is None else here.record(obj["listeners"], _LISTENER_KEYS)
        acks, writes = where.child("acks"), where.child("writes")
        ack_items = acks.mapping(obj.get("acks", {}), missing_ok=True).items()
        return cls(
            signal=where.text(obj, "signal"),
            signal_code=where.integer(obj, "signal_code"),
            since_utc=where.time(obj, "since_utc"),
            reasons=where.texts(obj, "reasons"),
            limit_14a_kw=where.number(obj, "limit_14a_kw"),
            quality=where.quality(obj, "quality"),
            heartbeat=where.integer(obj, "heartbeat"),
            host=here.text(listeners, "host"),
            port=here.integer(listeners, "port"),
            tls_port=here.integer(listeners, "tls_port"),
            buildings=where.integer(obj, "buildings"),
            battery_mode=where.integer(obj, "battery_mode"),
            flexible_power_kw=where.numbers(obj, "flexible_power_kw"),
            acks={str(k): ControllerAck.from_json(v, acks.child(k)) for k, v in ack_items},
            writes=tuple(
                ControllerWriteRecord.from_json(v, writes.child(i)) for i, v in enumerate(where.items(obj, "writes"))
            ),
            feeders=tuple(
                FeederSignalState.from_json(v, where.child("feeders").child(i))
                for i, v in enumerate(where.items(obj, "feeders"))
            ),
            control=_control(obj, where),
        )


def _control(obj: Any, where: Where) -> ControlInUse | None:
    """The ``controller.control`` object, if there is one."""
    data = obj.get("control")
    return None if data is None else ControlInUse.from_json(data, where.child("control"))


#: The keys of the ``controller`` section: its fields, the listeners' three in one object.
_CONTROLLER_KEYS: Final[tuple[str, ...]] = (
    *(name for name in field_names(ControllerState) if name not in _LISTENER_KEYS),
    "listeners",
)
