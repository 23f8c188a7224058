"""The live balance: what the meters say, and what they imply but do not measure.

From the latest power of every metered device (load-positive; meters import-positive) it
derives, per building, the household load = building meter - PV - battery - sub-metered heat
pumps and EV chargers, and for the district the substation's exchange beside the sum of the
building meters; their difference, less the community battery, is the grid losses. A derived
value is as good as its worst input: its quality is the worst flag of the inputs, and it is
``None`` when an input is missing or invalid. The district's grid exchange is as good as the
substation meter alone; a sum over the buildings with some inputs missing is the sum of the
others, flagged *partial* with the count of the missing inputs. Pure functions on plain
records, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from twin.core.schema import SUBSTATION
from twin.core.vocabulary import BALANCE_TERMS, QUALITY_FLAGS, SUBSTATION_TERMS, Quality

__all__ = ["BALANCE_TERMS", "BoundaryBalance", "MeteredPower", "live_balance"]

_TERM_OF_KIND: Final[dict[str, str]] = {
    "pv_inverter": "p_pv_kw",
    "battery": "p_battery_kw",
    "heat_pump_meter": "p_heat_pump_kw",
    "ev_charger_meter": "p_ev_kw",
}
_OK: Final[int] = int(Quality.OK)
_STALE: Final[int] = int(Quality.STALE)
_MISSING: Final[int] = int(Quality.MISSING)
#: The district's terms summed over the buildings.
_SUMMED: Final[tuple[str, ...]] = ("p_pv_kw", "p_battery_kw", "p_heat_pump_kw", "p_ev_kw", "p_load_kw")


@dataclass(frozen=True)
class MeteredPower:
    """The latest power of one device.

    Parameters
    ----------
    device : str
        Device id.
    kind : str
        Device kind (site file), e.g. ``building_meter``, ``pv_inverter``.
    building : str or None
        The building behind whose meter it sits (``None``: substation, community battery).
    p_kw : float or None
        Meters: power through the meter, import-positive; assets: load-positive. [kW]
    quality : int
        Quality flag of ``p_kw``.
    """

    device: str
    kind: str
    building: str | None
    p_kw: float | None
    quality: int


@dataclass
class BoundaryBalance:
    """The balance at one boundary (a building or the district); powers in kW, quality flags.

    ``quality`` is the boundary's flag: for a building the worst flag of its inputs; for the
    district the substation meter's while that is unusable, else ``PARTIAL`` while some input
    of the sums over the buildings (and the community battery) is unusable, ``inputs_missing``
    counting them, else the worst flag of the inputs. ``flags`` holds each term's own flag
    (:meth:`flag`).
    """

    boundary: str
    p_grid_kw: float | None = None
    p_pv_kw: float | None = 0.0
    p_battery_kw: float | None = 0.0
    p_heat_pump_kw: float | None = 0.0
    p_ev_kw: float | None = 0.0
    p_load_kw: float | None = None
    quality: int = QUALITY_FLAGS["ok"]
    p_buildings_kw: float | None = None
    p_community_battery_kw: float | None = None
    p_loss_kw: float | None = None
    inputs_missing: int | None = None
    flags: dict[str, int] = field(default_factory=dict)

    def flag(self, name: str) -> int:
        """The quality flag of one term: ``PARTIAL`` for a sum with some inputs missing.

        A term without a value and without a flag of its own is ``MISSING``.
        """
        flag = self.flags.get(name, _OK if self.flags else self.quality)
        value = getattr(self, name)
        if value is None and flag in (_OK, _STALE):
            return _MISSING
        return flag

    def as_dict(self) -> dict[str, float | int | str | None]:
        """The balance as a JSON-ready mapping (``inputs_missing`` only when set)."""
        out: dict[str, float | int | str | None] = {"boundary": self.boundary}
        for name in (*BALANCE_TERMS, *SUBSTATION_TERMS):
            value = getattr(self, name)
            if self.boundary != SUBSTATION and name in SUBSTATION_TERMS:
                continue
            out[name] = value
        out["quality"] = self.quality
        if self.inputs_missing is not None:
            out["inputs_missing"] = self.inputs_missing
        return out


def live_balance(devices: Iterable[MeteredPower]) -> dict[str, BoundaryBalance]:
    """Return the balance of every building and of the district (key ``"substation"``).

    Parameters
    ----------
    devices : iterable of MeteredPower
        The latest power of every metered device.

    Returns
    -------
    dict of str to BoundaryBalance
        Building id -> balance (``p_load_kw`` = meter - PV - battery - heat pumps - EVs), and
        ``"substation"`` -> the district: ``p_grid_kw`` at the substation meter (as good as that
        meter), ``p_buildings_kw`` the sum of the building meters, ``p_loss_kw`` = grid -
        buildings - community battery (``p_community_battery_kw``), and the sums of the
        buildings' terms (``p_battery_kw`` the home batteries; the community battery is not in
        it). A sum with some inputs not ok is flagged ``PARTIAL``: stale inputs count with their
        held value, missing and invalid ones are left out; the losses need every meter.
    """
    records = list(devices)
    buildings: dict[str, BoundaryBalance] = {}
    district = BoundaryBalance(SUBSTATION, p_buildings_kw=0.0, p_community_battery_kw=None)
    for record in records:
        if record.building is not None and record.kind in (*_TERM_OF_KIND, "building_meter"):
            buildings.setdefault(record.building, BoundaryBalance(record.building))
    not_ok = 0
    grid_flag: int | None = None
    meter_flags: list[int] = []  # the meters behind the losses: building meters and the community battery
    for record in records:
        if record.kind == "substation_meter":
            district.p_grid_kw, grid_flag = _combine(district.p_grid_kw, record, grid_flag or _OK, start=True)
            continue
        if record.kind == "community_battery":
            district.p_community_battery_kw, flag = _combine(
                district.p_community_battery_kw, record, district.flags.get("p_community_battery_kw", _OK), start=True
            )
            district.flags["p_community_battery_kw"] = flag
            meter_flags.append(record.quality)
        elif record.building in buildings:
            balance = buildings[record.building]
            term = "p_grid_kw" if record.kind == "building_meter" else _TERM_OF_KIND.get(record.kind)
            if term is None:
                continue
            value, flag = _combine(
                getattr(balance, term), record, balance.flags.get(term, _OK), start=term == "p_grid_kw"
            )
            setattr(balance, term, value)
            balance.flags[term] = flag
            balance.quality = max(balance.quality, record.quality)
            if term == "p_grid_kw":
                meter_flags.append(record.quality)
        else:
            continue
        not_ok += record.quality != _OK
    for balance in buildings.values():
        balance.p_load_kw = _minus(
            balance.p_grid_kw, balance.p_pv_kw, balance.p_battery_kw, balance.p_heat_pump_kw, balance.p_ev_kw
        )
        balance.flags["p_load_kw"] = balance.quality
        meter_flags += [] if "p_grid_kw" in balance.flags else [_MISSING]  # a building without a meter
    district.flags["p_grid_kw"] = _MISSING if grid_flag is None else grid_flag
    _district_sums(district, list(buildings.values()), meter_flags)
    grid = district.flag("p_grid_kw")
    if grid != _OK:
        district.quality = grid
    elif not_ok:
        district.quality, district.inputs_missing = int(Quality.PARTIAL), not_ok
    return {**dict(sorted(buildings.items())), SUBSTATION: district}


def _district_sums(district: BoundaryBalance, buildings: list[BoundaryBalance], meter_flags: list[int]) -> None:
    """The district's sums over the buildings, each flagged; the losses from every meter only."""
    for term, source in (*((t, t) for t in _SUMMED), ("p_buildings_kw", "p_grid_kw")):
        values = [getattr(balance, source) for balance in buildings]
        flags = [balance.flag(source) for balance in buildings]
        known = [v for v in values if v is not None]
        if values and not known:
            value, flag = None, max(flags)
        else:
            value, flag = float(sum(known)), (_OK if all(f == _OK for f in flags) else int(Quality.PARTIAL))
        setattr(district, term, value)
        district.flags[term] = flag
    battery = district.p_community_battery_kw if district.p_community_battery_kw is not None else 0.0
    worst = max([district.flag("p_grid_kw"), *meter_flags])
    complete = worst <= _STALE and bool(buildings)
    district.p_loss_kw = _minus(district.p_grid_kw, district.p_buildings_kw, battery) if complete else None
    district.flags["p_loss_kw"] = worst if complete or worst > _STALE else _MISSING


def _usable(record: MeteredPower) -> bool:
    return record.p_kw is not None and record.quality <= _STALE


def _combine(
    current: float | None, record: MeteredPower, quality: int, *, start: bool = False
) -> tuple[float | None, int]:
    """Add a record's power to a sum; ``None`` poisons the sum (unusable input)."""
    quality = max(quality, record.quality)
    if record.p_kw is None or not _usable(record):
        return None, quality
    if current is None:
        return (float(record.p_kw), quality) if start else (None, quality)
    return current + float(record.p_kw), quality


def _minus(total: float | None, *parts: float | None) -> float | None:
    if total is None or any(part is None for part in parts):
        return None
    return float(total - sum(part for part in parts if part is not None))
