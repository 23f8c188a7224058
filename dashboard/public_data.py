"""What the public page may publish: aggregates of groups of at least five households, nothing else.

Every public figure and series is computed by :func:`aggregate`, which counts the households
of the group's buildings first and refuses (returns ``None``) a group of fewer than
:data:`MIN_HOUSEHOLDS`; the group's values are not even read then. The page itself
(:mod:`dashboard.public`) shows only a :class:`PublicFigures` built by :func:`public_figures`.

Households per building come from the district file (``twin dashboard --district``) or, without
one, from the household meters of the live snapshot (a lower bound: a building whose flats are
not metered one by one counts no household, so its group is published only when the others make
up five).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

import pandas as pd

from dashboard.data import DashboardConfig, DataCache, daily_flows, display_timezone, load_snapshot, sim_time
from twin.core.kpi import UBA_MIX
from twin.core.live_state import LiveSnapshot
from twin.core.schema import SUBSTATION
from twin.core.vocabulary import FLOW_TERMS

__all__ = [
    "CO2_GRID_G_PER_KWH",
    "CO2_SOURCE",
    "MIN_HOUSEHOLDS",
    "Group",
    "PublicFigures",
    "aggregate",
    "district_group",
    "households_from_snapshot",
    "public_figures",
]

#: The fewest households a published figure or series may cover.
MIN_HOUSEHOLDS: Final[int] = 5
#: CO2 of the German electricity mix that a kWh of PV displaces. [g kW-1 h-1]
CO2_GRID_G_PER_KWH: Final[float] = UBA_MIX.co2_grid_g_per_kwh
#: Where :data:`CO2_GRID_G_PER_KWH` comes from.
CO2_SOURCE: Final[str] = (
    "Umweltbundesamt: Entwicklung der spezifischen Treibhausgas-Emissionen des deutschen Strommix, Emissionsfaktor 2023"
)

T = TypeVar("T")


@dataclass(frozen=True)
class Group:
    """Buildings whose values are published together.

    Parameters
    ----------
    name : str
        The group's label.
    buildings : tuple of str
        Building ids (boundaries of the live balance).
    boundary : str, optional
        A boundary that measures exactly these buildings together (the substation for the whole
        district); without one, the group's flows are the sums of its buildings' flows.
    """

    name: str
    buildings: tuple[str, ...]
    boundary: str | None = None

    def households(self, households: Mapping[str, int]) -> int:
        """Households living in the group's buildings (each building counted once)."""
        return sum(max(int(households.get(b, 0)), 0) for b in set(self.buildings))


@dataclass(frozen=True)
class PublicFigures:
    """Everything the public page shows of one group; ``None`` where nothing may or can be shown.

    ``daily`` holds the group's energy per local day of the year so far (columns of
    :data:`twin.core.vocabulary.FLOW_TERMS`) [kW h]; the other values are derived from it and
    from the snapshot's KPIs of today.
    """

    group: str
    households: int
    year: int
    published: bool
    daily: pd.DataFrame | None = None
    balance_year_kwh: float | None = None
    electricity_balance_year_kwh: float | None = None
    self_sufficiency_today_frac: float | None = None
    pv_today_kwh: float | None = None
    pv_year_kwh: float | None = None
    co2_avoided_year_kg: float | None = None


def aggregate(group: Group, households: Mapping[str, int], compute: Callable[[Group], T]) -> T | None:
    """The group's value by ``compute(group)``, or ``None`` when it covers fewer than five households.

    The one gate of the public page: ``compute`` is not called for a smaller group.
    """
    if group.households(households) < MIN_HOUSEHOLDS:
        return None
    return compute(group)


def households_from_snapshot(snapshot: LiveSnapshot | None) -> dict[str, int]:
    """Households per building counted from the snapshot's household meters (a lower bound)."""
    counts: dict[str, int] = {}
    for device in (snapshot.devices if snapshot is not None else {}).values():
        if device.kind == "household_meter" and device.building:
            counts[device.building] = counts.get(device.building, 0) + 1
    return counts


def district_group(snapshot: LiveSnapshot | None, households: Mapping[str, int]) -> Group:
    """The whole district: every building of the balance (and of ``households``), measured at the substation."""
    buildings = set(snapshot.buildings if snapshot is not None else []) | set(households)
    return Group(name="Quartier", buildings=tuple(sorted(buildings)), boundary=SUBSTATION)


def public_figures(
    config: DashboardConfig,
    group: Group,
    households: Mapping[str, int],
    *,
    cache: DataCache | None = None,
) -> PublicFigures:
    """The public figures of ``group``, every one of them through :func:`aggregate`.

    Raises
    ------
    StoreReadError
        When the store's 15-minute table cannot be read.
    """
    snapshot = load_snapshot(config.store_dir)
    tz = display_timezone(snapshot)
    now = sim_time(snapshot) or pd.Timestamp.now(tz="UTC")
    year = now.tz_convert(tz).year
    count = group.households(households)
    daily = aggregate(group, households, lambda g: _group_daily(config, g, year, tz, cache))
    if daily is None:
        return PublicFigures(group=group.name, households=count, year=year, published=False)
    today = now.tz_convert(tz).normalize()
    totals = daily.sum() if len(daily) else pd.Series(0.0, index=list(FLOW_TERMS))
    today_row = daily.loc[today] if today in daily.index else None
    pv_year_kwh = float(totals.get("generation_kwh", 0.0))
    return PublicFigures(
        group=group.name,
        households=count,
        year=year,
        published=True,
        daily=daily,
        balance_year_kwh=float(totals.get("import_kwh", 0.0) + totals.get("fuel_kwh", 0.0))
        - float(totals.get("export_kwh", 0.0)),
        electricity_balance_year_kwh=float(totals.get("import_kwh", 0.0) - totals.get("export_kwh", 0.0)),
        self_sufficiency_today_frac=aggregate(group, households, lambda g: _self_sufficiency(snapshot, g, today_row)),
        pv_today_kwh=_number(today_row.get("generation_kwh")) if today_row is not None else None,
        pv_year_kwh=pv_year_kwh,
        co2_avoided_year_kg=pv_year_kwh * CO2_GRID_G_PER_KWH / 1000.0,
    )


def _group_daily(config: DashboardConfig, group: Group, year: int, tz: str, cache: DataCache | None) -> pd.DataFrame:
    """The group's flows per local day: its boundary's, or the sum of its buildings'."""
    boundaries = [group.boundary] if group.boundary else list(group.buildings)
    frames = [daily_flows(config.store_dir, b, year, cache=cache, tz=tz) for b in boundaries]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(FLOW_TERMS), index=pd.DatetimeIndex([], tz=tz))
    total = frames[0]
    for frame in frames[1:]:
        total = total.add(frame, fill_value=0.0)
    return total.sort_index()


def _self_sufficiency(snapshot: LiveSnapshot | None, group: Group, today: pd.Series | None) -> float | None:
    """1 - import / load of today: the snapshot's KPI of the group's boundary, else from today's flows."""
    kpis = snapshot.kpis.today.get(group.boundary) if snapshot is not None and group.boundary else None
    if kpis is not None and kpis.self_sufficiency_frac is not None:
        return float(kpis.self_sufficiency_frac)
    if today is None:
        return None
    load_kwh, import_kwh = _number(today.get("load_kwh")), _number(today.get("import_kwh"))
    if load_kwh is None or import_kwh is None or load_kwh <= 0:
        return None
    return 1.0 - import_kwh / load_kwh


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number else None
