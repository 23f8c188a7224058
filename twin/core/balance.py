"""The live balance: what the meters say, and what they imply but do not measure.

From the latest power of every metered device (load-positive; meters import-positive) it
derives, per building, the household load = building meter - PV - battery - sub-metered heat
pumps and EV chargers, and for the district the substation's exchange beside the sum of the
building meters; their difference, less the community battery, is the grid losses. A derived
value is as good as its worst input: its quality is the worst flag of the inputs, and it is
``None`` when an input is missing or invalid. Pure functions on plain records, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from twin.core.schema import SUBSTATION
from twin.core.vocabulary import BALANCE_TERMS, QUALITY_FLAGS, SUBSTATION_TERMS

__all__ = ["BALANCE_TERMS", "BoundaryBalance", "MeteredPower", "live_balance"]

_TERM_OF_KIND: Final[dict[str, str]] = {
    "pv_inverter": "p_pv_kw",
    "battery": "p_battery_kw",
    "heat_pump_meter": "p_heat_pump_kw",
    "ev_charger_meter": "p_ev_kw",
}
_USABLE: Final[int] = QUALITY_FLAGS["stale"]


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
    """The balance at one boundary (a building or the district); powers in kW, quality flags."""

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

    def as_dict(self) -> dict[str, float | int | str | None]:
        """The balance as a JSON-ready mapping."""
        out: dict[str, float | int | str | None] = {"boundary": self.boundary}
        for name in (*BALANCE_TERMS, *SUBSTATION_TERMS):
            value = getattr(self, name)
            if self.boundary != SUBSTATION and name in SUBSTATION_TERMS:
                continue
            out[name] = value
        out["quality"] = self.quality
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
        ``"substation"`` -> the district: ``p_grid_kw`` at the substation meter,
        ``p_buildings_kw`` the sum of the building meters, ``p_loss_kw`` = grid - buildings -
        community battery (``p_community_battery_kw``), and the sums of the buildings' terms
        (``p_battery_kw`` the home batteries; the community battery is not in it).
    """
    records = list(devices)
    buildings: dict[str, BoundaryBalance] = {}
    district = BoundaryBalance(SUBSTATION, p_buildings_kw=0.0, p_community_battery_kw=None)
    for record in records:
        if record.building is not None and record.kind in (*_TERM_OF_KIND, "building_meter"):
            buildings.setdefault(record.building, BoundaryBalance(record.building))
    for record in records:
        if record.kind == "substation_meter":
            district.p_grid_kw, district.quality = _combine(district.p_grid_kw, record, district.quality, start=True)
        elif record.kind == "community_battery":
            district.p_community_battery_kw, district.quality = _combine(
                district.p_community_battery_kw, record, district.quality, start=True
            )
        elif record.building in buildings:
            balance = buildings[record.building]
            if record.kind == "building_meter":
                balance.p_grid_kw, balance.quality = _combine(balance.p_grid_kw, record, balance.quality, start=True)
            elif record.kind in _TERM_OF_KIND:
                term = _TERM_OF_KIND[record.kind]
                value, balance.quality = _combine(getattr(balance, term), record, balance.quality)
                setattr(balance, term, value)
    for balance in buildings.values():
        balance.p_load_kw = _minus(
            balance.p_grid_kw, balance.p_pv_kw, balance.p_battery_kw, balance.p_heat_pump_kw, balance.p_ev_kw
        )
    _district_sums(district, list(buildings.values()))
    return {**dict(sorted(buildings.items())), SUBSTATION: district}


def _district_sums(district: BoundaryBalance, buildings: list[BoundaryBalance]) -> None:
    for term in ("p_pv_kw", "p_battery_kw", "p_heat_pump_kw", "p_ev_kw", "p_load_kw"):
        values = [getattr(balance, term) for balance in buildings]
        setattr(district, term, None if any(v is None for v in values) else float(sum(values)))
    meters = [balance.p_grid_kw for balance in buildings]
    district.p_buildings_kw = None if any(v is None for v in meters) else float(sum(v for v in meters if v is not None))
    for balance in buildings:
        district.quality = max(district.quality, balance.quality)
    district.p_loss_kw = _minus(district.p_grid_kw, district.p_buildings_kw, district.p_community_battery_kw or 0.0)


def _combine(
    current: float | None, record: MeteredPower, quality: int, *, start: bool = False
) -> tuple[float | None, int]:
    """Add a record's power to a sum; ``None`` poisons the sum (unusable input)."""
    quality = max(quality, record.quality)
    if record.p_kw is None or record.quality > _USABLE:
        return None, quality
    if current is None:
        return (float(record.p_kw), quality) if start else (None, quality)
    return current + float(record.p_kw), quality


def _minus(total: float | None, *parts: float | None) -> float | None:
    if total is None or any(part is None for part in parts):
        return None
    return float(total - sum(part for part in parts if part is not None))
