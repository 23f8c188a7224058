"""The parts of the live snapshot (:mod:`twin.core.live_state`): devices, balance, KPIs, store.

Each part is a frozen record with ``to_json()`` and ``from_json(data, where)``; ``where``
(:class:`Where`) names the file and the dotted field, so a value of the wrong type stops the read
with one line such as ``snapshot.json: balance.b1.p_grid_kw: expected a number or null, got
str 'x'``. A value the JSON lacks or holds as ``null`` is ``None``. The grid and controller
sections are in :mod:`twin.core.live_sections`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from twin.core.balance import BoundaryBalance
from twin.core.errors import ConfigError
from twin.core.schema import SUBSTATION
from twin.core.vocabulary import BALANCE_TERMS, SUBSTATION_TERMS, Quality

__all__ = [
    "ENERGY_KPI_NAMES",
    "KPI_COUNT_NAMES",
    "LIVE_KPI_NAMES",
    "OPTIONAL_KPI_NAMES",
    "Alert",
    "BoundaryKpis",
    "BoundaryState",
    "DeviceState",
    "KpiPeriods",
    "SnapshotError",
    "StoreStatus",
    "Where",
    "field_names",
    "iso_utc",
    "utc_time",
]

_EPOCH: Final[datetime] = datetime(1970, 1, 1, tzinfo=UTC)


class SnapshotError(ConfigError):
    """A snapshot that cannot be read: not JSON, a missing or unknown version, a field of the wrong type."""

    def __init__(self, message: str, file: str | None = None, field: str | None = None) -> None:
        super().__init__(message, file=file, field=field or None)


def utc_time(seconds: float) -> datetime | None:
    """UNIX seconds as an aware UTC time (``None`` when not finite)."""
    if not math.isfinite(seconds):
        return None
    return _EPOCH + timedelta(seconds=seconds)


def field_names(record: type) -> tuple[str, ...]:
    """The field names of a record class, in order (the keys its JSON may have)."""
    return tuple(f.name for f in fields(record))


def iso_utc(seconds: float) -> str | None:
    """UNIX seconds as ISO 8601 UTC with ``Z`` (``None`` when not finite)."""
    if not math.isfinite(seconds):
        return None
    return (_EPOCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Where:
    """A place in the snapshot: the file and the dotted field, for the messages of a failed read."""

    file: str | None
    path: str

    def child(self, key: object) -> Where:
        """The place of a key below this one."""
        return Where(self.file, f"{self.path}.{key}" if self.path else str(key))

    def fail(self, key: str | None, message: str) -> SnapshotError:
        """The error of a wrong value at ``key`` (``None``: here)."""
        place = self.child(key).path if key is not None else self.path
        return SnapshotError(message, self.file, place)

    def mapping(self, value: Any, *, missing_ok: bool = False) -> Mapping[str, Any]:
        """The value here as an object (``missing_ok``: ``null`` as an empty one)."""
        if value is None and missing_ok:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(None, f"expected an object, got {_shown(value)}")
        return value

    def record(self, value: Any, allowed: Iterable[str]) -> Mapping[str, Any]:
        """The value here as an object of the allowed keys only (an unknown key is an error)."""
        obj = self.mapping(value)
        known = tuple(allowed)
        for key in obj:
            if key not in known:
                raise self.fail(str(key), f"unknown field (allowed: {', '.join(known)})")
        return obj

    def number(self, obj: Mapping[str, Any], key: str) -> float | None:
        """A number or ``None``."""
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number or null, got {_shown(value)}")
        return float(value)

    def integer(self, obj: Mapping[str, Any], key: str) -> int | None:
        """A whole number or ``None``."""
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise self.fail(key, f"expected a whole number or null, got {_shown(value)}")
        return int(value)

    def text(self, obj: Mapping[str, Any], key: str) -> str | None:
        """A string or ``None``."""
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"expected a string or null, got {_shown(value)}")
        return value

    def flag(self, obj: Mapping[str, Any], key: str) -> bool | None:
        """``true``, ``false`` or ``None``."""
        value = obj.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.fail(key, f"expected true, false or null, got {_shown(value)}")
        return value

    def time(self, obj: Mapping[str, Any], key: str) -> datetime | None:
        """An ISO 8601 time (UTC when it names no offset) or ``None``."""
        value = self.text(obj, key)
        if value is None or value == "":
            return None
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(key, f"expected an ISO 8601 time, got {_shown(value)}") from None
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)

    def items(self, obj: Mapping[str, Any], key: str) -> list[Any]:
        """A list (``[]`` when missing)."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise self.fail(key, f"expected a list, got {_shown(value)}")
        return list(value)

    def texts(self, obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
        """A list of strings (``()`` when missing)."""
        values = self.items(obj, key)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.child(key).fail(str(index), f"expected a string, got {_shown(value)}")
        return tuple(values)

    def numbers(self, obj: Mapping[str, Any], key: str) -> dict[str, float | None]:
        """An object of numbers or nulls (``{}`` when missing)."""
        here = self.child(key)
        values = here.mapping(obj.get(key, {}), missing_ok=True)
        return {str(name): here.number(values, name) for name in values}

    def integers(self, obj: Mapping[str, Any], key: str) -> dict[str, int]:
        """An object of whole numbers (``{}`` when missing)."""
        here = self.child(key)
        values = here.mapping(obj.get(key, {}), missing_ok=True)
        out: dict[str, int] = {}
        for name in values:
            number = here.integer(values, name)
            if number is None:
                raise here.fail(name, "expected a whole number, got null")
            out[str(name)] = number
        return out

    def quality(self, obj: Mapping[str, Any], key: str) -> Quality | None:
        """A quality flag as its value (``0``) or its name (``"ok"``), or ``None``."""
        value = obj.get(key)
        if value is None:
            return None
        flags = {flag.name.lower(): int(flag) for flag in Quality}
        if isinstance(value, str) and value in flags:
            return Quality(flags[value])
        if isinstance(value, int) and not isinstance(value, bool) and value in flags.values():
            return Quality(value)
        allowed = ", ".join(f"{value} ({name})" for name, value in flags.items())
        raise self.fail(key, f"expected a quality flag, got {_shown(value)} (allowed: {allowed})")

    @staticmethod
    def iso(stamp: datetime | None) -> str | None:
        """A time as ISO 8601 UTC with ``Z`` (``None`` stays ``None``)."""
        if stamp is None:
            return None
        return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DeviceState:
    """One device as the poller sees it: its kind, whether it answers, its latest values and their flags."""

    kind: str | None = None
    building: str | None = None
    ok: bool | None = None
    error: str | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    quality: dict[str, Quality] = field(default_factory=dict)
    read_utc: datetime | None = None
    read_wall_utc: datetime | None = None
    age_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The device's entry of ``devices``."""
        return {
            "kind": self.kind,
            "building": self.building,
            "ok": self.ok,
            "error": self.error,
            "values": dict(self.values),
            "quality": {name: flag.name.lower() for name, flag in self.quality.items()},
            "read_utc": Where.iso(self.read_utc),
            "read_wall_utc": Where.iso(self.read_wall_utc),
            "age_s": self.age_s,
        }

    @classmethod
    def from_json(cls, data: Any, where: Where) -> DeviceState:
        """Read a device's entry."""
        obj = where.record(data, field_names(DeviceState))
        flags = where.child("quality")
        quality = flags.mapping(obj.get("quality", {}), missing_ok=True)
        parsed = {str(name): flags.quality(quality, name) for name in quality}
        return cls(
            kind=where.text(obj, "kind"),
            building=where.text(obj, "building"),
            ok=where.flag(obj, "ok"),
            error=where.text(obj, "error"),
            values=where.numbers(obj, "values"),
            quality={name: flag for name, flag in parsed.items() if flag is not None},
            read_utc=where.time(obj, "read_utc"),
            read_wall_utc=where.time(obj, "read_wall_utc"),
            age_s=where.number(obj, "age_s"),
        )


@dataclass(frozen=True)
class BoundaryState:
    """The balance at one boundary now: powers in kW (load-positive; grid import-positive) and its quality.

    ``None`` where the snapshot has no value (an input missing or invalid). The district's further
    terms (:data:`~twin.core.vocabulary.SUBSTATION_TERMS`) are in the JSON of ``substation`` only.
    ``quality`` is the worst flag of the inputs, ``None`` when the snapshot names none; the
    district's is the substation meter's while that is unusable, else ``PARTIAL`` while some
    inputs of its sums over the buildings are missing, ``inputs_missing`` counting them (in the
    JSON only when set).
    """

    boundary: str
    p_grid_kw: float | None = None
    p_pv_kw: float | None = None
    p_battery_kw: float | None = None
    p_heat_pump_kw: float | None = None
    p_ev_kw: float | None = None
    p_load_kw: float | None = None
    p_buildings_kw: float | None = None
    p_community_battery_kw: float | None = None
    p_loss_kw: float | None = None
    quality: Quality | None = None
    inputs_missing: int | None = None

    @property
    def term_names(self) -> tuple[str, ...]:
        """The terms this boundary's JSON carries."""
        return (*BALANCE_TERMS, *SUBSTATION_TERMS) if self.boundary == SUBSTATION else BALANCE_TERMS

    def terms(self) -> dict[str, float | None]:
        """Term name -> power in kW (``None``: missing)."""
        return {name: getattr(self, name) for name in self.term_names}

    def term(self, name: str) -> float | None:
        """One term in kW by name (:data:`~twin.core.vocabulary.BALANCE_TERMS`, ``SUBSTATION_TERMS``)."""
        if name not in (*BALANCE_TERMS, *SUBSTATION_TERMS):
            raise KeyError(f"{name!r} is no balance term")
        value: float | None = getattr(self, name)
        return value

    @property
    def ok(self) -> bool:
        """Whether every input is ok (a missing flag is not ok)."""
        return self.quality is Quality.OK

    def to_json(self) -> dict[str, Any]:
        """The boundary's entry of ``balance`` (``inputs_missing`` only when set)."""
        out = {
            "boundary": self.boundary,
            **self.terms(),
            "quality": None if self.quality is None else int(self.quality),
        }
        if self.inputs_missing is not None:
            out["inputs_missing"] = self.inputs_missing
        return out

    @classmethod
    def from_json(cls, data: Any, where: Where, boundary: str) -> BoundaryState:
        """Read a boundary's entry (its key names the boundary)."""
        obj = where.record(data, field_names(BoundaryState))
        named = where.text(obj, "boundary")
        if named is not None and named != boundary:
            raise where.fail("boundary", f"{named!r} differs from its key {boundary!r}")
        values = {name: where.number(obj, name) for name in (*BALANCE_TERMS, *SUBSTATION_TERMS)}
        return cls(
            boundary,
            **values,
            quality=where.quality(obj, "quality"),
            inputs_missing=where.integer(obj, "inputs_missing"),
        )

    @classmethod
    def of(cls, balance: BoundaryBalance) -> BoundaryState:
        """The state of a live balance (:func:`twin.core.balance.live_balance`)."""
        values = {name: getattr(balance, name) for name in (*BALANCE_TERMS, *SUBSTATION_TERMS)}
        if balance.boundary != SUBSTATION:
            values.update(dict.fromkeys(SUBSTATION_TERMS))
        return cls(balance.boundary, **values, quality=Quality(balance.quality), inputs_missing=balance.inputs_missing)


@dataclass(frozen=True)
class BoundaryKpis:
    """A boundary's KPIs over a period (today, the year so far), from the quarters' energy flows.

    The energy KPIs of :func:`twin.core.kpi.energy_kpis` (names and units as there), the energy
    into and out of the batteries (home and community), and how many quarters the period has, how
    many miss their import, and how much energy is estimated. The battery totals
    (:data:`OPTIONAL_KPI_NAMES`) are left out of the JSON while unknown, so a snapshot written
    before them reads and writes back unchanged; every other KPI is named, an unknown one null.
    """

    import_kwh: float | None = None
    export_kwh: float | None = None
    load_kwh: float | None = None
    generation_kwh: float | None = None
    fuel_kwh: float | None = None
    self_sufficiency_frac: float | None = None
    self_consumption_frac: float | None = None
    electricity_balance_kwh: float | None = None
    energy_balance_kwh: float | None = None
    net_zero_degree_frac: float | None = None
    peak_import_kw: float | None = None
    peak_export_kw: float | None = None
    co2_kg: float | None = None
    battery_charge_kwh: float | None = None
    battery_discharge_kwh: float | None = None
    quarters: float | None = None
    estimated_energy_kwh: float | None = None
    missing_quarters: float | None = None

    def to_json(self) -> dict[str, float | None]:
        """The KPIs by name (the optional ones only when known)."""
        return {
            name: getattr(self, name)
            for name in LIVE_KPI_NAMES
            if name not in OPTIONAL_KPI_NAMES or getattr(self, name) is not None
        }

    def get(self, name: str) -> float | None:
        """A KPI by name (``None``: not known).

        Raises
        ------
        KeyError
            When the snapshot has no KPI of that name.
        """
        if name not in LIVE_KPI_NAMES:
            raise KeyError(f"{name!r} is no KPI of the snapshot")
        value: float | None = getattr(self, name)
        return value

    @classmethod
    def from_json(cls, data: Any, where: Where) -> BoundaryKpis:
        """Read a boundary's KPIs; an unknown name is an error."""
        obj = where.mapping(data)
        for name in obj:
            if name not in LIVE_KPI_NAMES:
                raise where.fail(str(name), f"unknown KPI (allowed: {', '.join(LIVE_KPI_NAMES)})")
        return cls(**{name: where.number(obj, name) for name in LIVE_KPI_NAMES if name in obj})


#: The names of :class:`BoundaryKpis`, in the order the snapshot lists them.
LIVE_KPI_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in fields(BoundaryKpis))
#: KPIs the snapshot names only when they are known (added after version 2 was first written). [kW h]
OPTIONAL_KPI_NAMES: Final[tuple[str, ...]] = ("battery_charge_kwh", "battery_discharge_kwh")
#: The counts beside the KPIs: quarters of the period, quarters without import, estimated energy.
KPI_COUNT_NAMES: Final[tuple[str, ...]] = ("quarters", "estimated_energy_kwh", "missing_quarters")
#: The energy KPIs of :func:`twin.core.kpi.energy_kpis` the snapshot carries.
ENERGY_KPI_NAMES: Final[tuple[str, ...]] = tuple(n for n in LIVE_KPI_NAMES if n not in KPI_COUNT_NAMES)


@dataclass(frozen=True)
class KpiPeriods:
    """Today's and the year's KPIs (local days and years of simulated time), boundary -> KPIs."""

    today: dict[str, BoundaryKpis] = field(default_factory=dict)
    year: dict[str, BoundaryKpis] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``kpis`` section."""
        return {
            "today": {name: kpis.to_json() for name, kpis in self.today.items()},
            "year": {name: kpis.to_json() for name, kpis in self.year.items()},
        }

    @classmethod
    def from_json(cls, data: Any, where: Where) -> KpiPeriods:
        """Read the ``kpis`` section."""
        obj = where.mapping(data)
        for name in obj:
            if name not in ("today", "year"):
                raise where.fail(str(name), "unknown period (allowed: today, year)")
        periods: dict[str, dict[str, BoundaryKpis]] = {}
        for period in ("today", "year"):
            here = where.child(period)
            boundaries = here.mapping(obj.get(period, {}), missing_ok=True)
            periods[period] = {str(b): BoundaryKpis.from_json(v, here.child(b)) for b, v in boundaries.items()}
        return cls(**periods)

    @classmethod
    def of(cls, kpis: Mapping[str, Mapping[str, Mapping[str, float | None]]]) -> KpiPeriods:
        """The periods of the live twin's KPI tables (period -> boundary -> name -> value)."""
        return cls.from_json(kpis, Where(None, "kpis"))


@dataclass(frozen=True)
class StoreStatus:
    """The store's writes: ok, the error, rows kept in memory, dropped and written late."""

    ok: bool | None = None
    error: str | None = None
    failing_since_utc: datetime | None = None
    failed_writes: int | None = None
    pending_rows: dict[str, int] = field(default_factory=dict)
    dropped_rows: dict[str, int] = field(default_factory=dict)
    late_rows: dict[str, int] = field(default_factory=dict)
    retry_in_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``store_status`` section."""
        return {
            "ok": self.ok,
            "error": self.error,
            "failing_since_utc": Where.iso(self.failing_since_utc),
            "failed_writes": self.failed_writes,
            "pending_rows": dict(self.pending_rows),
            "dropped_rows": dict(self.dropped_rows),
            "late_rows": dict(self.late_rows),
            "retry_in_s": self.retry_in_s,
        }

    @classmethod
    def from_json(cls, data: Any, where: Where) -> StoreStatus:
        """Read the ``store_status`` section."""
        obj = where.record(data, field_names(StoreStatus))
        return cls(
            ok=where.flag(obj, "ok"),
            error=where.text(obj, "error"),
            failing_since_utc=where.time(obj, "failing_since_utc"),
            failed_writes=where.integer(obj, "failed_writes"),
            pending_rows=where.integers(obj, "pending_rows"),
            dropped_rows=where.integers(obj, "dropped_rows"),
            late_rows=where.integers(obj, "late_rows"),
            retry_in_s=where.number(obj, "retry_in_s"),
        )


@dataclass(frozen=True)
class Alert:
    """An alert of the live twin: its level (``bad`` or ``warn``), text and, optionally, a key.

    The key names the condition for the alert messages (:mod:`connectors.alert_sender`) when its
    text changes while it lasts (``drift:sfh37/pv0``); without one the text is the key.
    """

    level: str
    text: str
    key: str | None = None

    def to_json(self) -> dict[str, str]:
        """The alert's entry of ``alerts``."""
        out = {"level": self.level, "text": self.text}
        return out if self.key is None else {**out, "key": self.key}

    @classmethod
    def from_json(cls, data: Any, where: Where) -> Alert:
        """Read an alert (level and text required)."""
        obj = where.record(data, field_names(Alert))
        level, text = where.text(obj, "level"), where.text(obj, "text")
        if level is None or text is None:
            raise where.fail(None, "an alert needs a level and a text")
        return cls(level, text, where.text(obj, "key"))


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
