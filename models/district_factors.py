"""Factors on a district: household electricity, space heat and PV yield per building or system.

A district file holds what planners assume; measurements (a calibration, :mod:`twin.calibration`)
or a field's hidden reality (:mod:`twin.field.perturbation`) say by how much each building and
PV system differs. :class:`DistrictFactors` holds those factors and :func:`apply_factors` returns
the district they describe, so that every model downstream (profiles, heat pumps, batteries,
the power flow) follows them:

* ``household_electricity``: the building's annual household and business electricity
  (``electricity_kwh_per_a``) times the factor;
* ``space_heat``: the space-heating part of its annual heat times the factor, hot water
  unchanged (``heat_kwh_per_a`` = factor x space heat + hot water; where the hot-water share
  is capped at 30 % of the total, :func:`models.building_heat.dhw_kwh_per_a`, the split
  follows the new total);
* ``pv``: a PV system's yield times the factor (its peak power times the factor: the PVWatts
  models are homogeneous in size, :func:`models.pv.pv_power_kw`). PV systems are named as
  their assets and devices: ``<building>/pv<i>``, ``i`` counted from 0 per building.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from models.building_estimates import estimate_building
from models.building_heat import dhw_kwh_per_a
from models.district import Building, District
from twin.core.errors import ConfigError

__all__ = ["DistrictFactors", "apply_factors", "pv_system_ids"]


@dataclass(frozen=True)
class DistrictFactors:
    """Multiplicative factors on a district (1 where a building or system is not named).

    Attributes
    ----------
    household_electricity : mapping of str to float
        Building id -> factor on its household and business electricity. [1]
    space_heat : mapping of str to float
        Building id -> factor on its space heat (hot water unchanged). [1]
    pv : mapping of str to float
        PV system id (``<building>/pv<i>``) -> factor on its yield. [1]
    """

    household_electricity: Mapping[str, float] = field(default_factory=dict)
    space_heat: Mapping[str, float] = field(default_factory=dict)
    pv: Mapping[str, float] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """True when no factor differs from 1."""
        values = [*self.household_electricity.values(), *self.space_heat.values(), *self.pv.values()]
        return all(value == 1.0 for value in values)


def pv_system_ids(district: District) -> list[str]:
    """Every PV system's id, ``<building>/pv<i>``, in the district's order."""
    return [f"{b.id}/pv{i}" for b in district.buildings for i in range(len(b.pv))]


def apply_factors(district: District, factors: DistrictFactors, *, file: str | None = None) -> District:
    """The district with the factors applied (see the module docstring).

    Parameters
    ----------
    district : District
        The validated district.
    factors : DistrictFactors
        Factors by building id and PV system id.
    file : str, optional
        The file the factors came from, for messages.

    Returns
    -------
    district : District
        A new district; buildings without a factor are the same objects.

    Raises
    ------
    ConfigError
        A factor names a building or PV system the district does not have, or is not > 0.
    """
    buildings = {b.id: b for b in district.buildings}
    systems = set(pv_system_ids(district))
    for what, table, known in (
        ("household_electricity", factors.household_electricity, buildings),
        ("space_heat", factors.space_heat, buildings),
        ("pv", factors.pv, systems),
    ):
        for key, value in table.items():
            if key not in known:
                raise ConfigError(
                    f"{key!r} is not a {'PV system' if what == 'pv' else 'building'} of {district.name}",
                    file=file,
                    field=f"{what}.{key}",
                    allowed=", ".join(sorted(known)[:6]) + (", ..." if len(known) > 6 else ""),
                )
            if not value > 0:
                raise ConfigError(f"factor {value} must be > 0", file=file, field=f"{what}.{key}")
    changed = [_scaled(b, factors) for b in district.buildings]
    return district.model_copy(update={"buildings": tuple(changed)})


def _scaled(building: Building, factors: DistrictFactors) -> Building:
    electricity = factors.household_electricity.get(building.id, 1.0)
    heat = factors.space_heat.get(building.id, 1.0)
    pv = [factors.pv.get(f"{building.id}/pv{i}", 1.0) for i in range(len(building.pv))]
    if electricity == 1.0 and heat == 1.0 and all(f == 1.0 for f in pv):
        return building
    estimate = estimate_building(building)
    update: dict[str, object] = {}
    if electricity != 1.0:
        update["electricity_kwh_per_a"] = electricity * estimate.electricity_kwh_per_a
    if heat != 1.0:
        total = estimate.heat_kwh_per_a
        dhw = dhw_kwh_per_a(building, total)
        update["heat_kwh_per_a"] = heat * (total - dhw) + dhw
    if any(f != 1.0 for f in pv):
        update["pv"] = tuple(
            system.model_copy(update={"p_peak_kw": system.p_peak_kw * factor})
            for system, factor in zip(building.pv, pv, strict=True)
        )
    return building.model_copy(update=update)
