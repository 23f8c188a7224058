"""A hidden reality for the simulated field: devices that differ from the district file.

Real buildings use more or less electricity and heat than their archetype says, and PV systems
lose yield to shading and soiling. A perturbation gives the field such a reality, so that a
calibration (``twin calibrate``) can be tested against a known answer: the field computes its
profiles, its counters and its meter history from the district with the factors applied
(:func:`models.district_factors.apply_factors`), while the site file keeps the district's
ratings. A perturbation is a YAML file, validated (unknown keys rejected; a bad file stops with
one line naming the file and the field):

.. code-block:: yaml

    household_electricity: {sfh01: 1.3, mfh02: 0.7}   # building id -> factor on household electricity
    space_heat: {sfh05: 1.2}                          # building id -> factor on space heat (hot water unchanged)
    pv: {sfh09/pv0: 0.85}                             # PV system (inverter device) id -> factor on its yield
    pv_from_utc: 2025-04-16T00:00:00Z                 # optional: the PV factors hold from then on (soiling)

or a seed: :func:`draw_perturbation` picks, with ``numpy.random.default_rng(seed)``,
:data:`DRAW_ELECTRICITY_BUILDINGS` buildings with a load (half of them at
1 + :data:`DRAW_ELECTRICITY_FRAC`, the others at 1 - it), :data:`DRAW_PV_SYSTEMS` PV systems at
1 - :data:`DRAW_PV_LOSS_FRAC` and :data:`DRAW_HEAT_BUILDINGS` gas- or heat-pump-heated buildings at
1 + :data:`DRAW_HEAT_FRAC` (fewer where the district has fewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from models.district import District
from models.district_factors import DistrictFactors, pv_system_ids
from twin.core.config_loader import load_config
from twin.core.errors import ConfigError
from twin.core.times import parse_start_utc

__all__ = [
    "DRAW_ELECTRICITY_BUILDINGS",
    "DRAW_ELECTRICITY_FRAC",
    "DRAW_HEAT_BUILDINGS",
    "DRAW_HEAT_FRAC",
    "DRAW_PV_LOSS_FRAC",
    "DRAW_PV_SYSTEMS",
    "Perturbation",
    "PerturbationFile",
    "draw_perturbation",
    "dump_perturbation",
    "load_perturbation",
]

#: Buildings whose household electricity a drawn perturbation changes, and by how much. [1]
DRAW_ELECTRICITY_BUILDINGS: Final[int] = 20
DRAW_ELECTRICITY_FRAC: Final[float] = 0.30
#: PV systems a drawn perturbation degrades, and by how much. [1]
DRAW_PV_SYSTEMS: Final[int] = 5
DRAW_PV_LOSS_FRAC: Final[float] = 0.15
#: Gas- or heat-pump-heated buildings whose space heat a drawn perturbation raises, and by how much. [1]
DRAW_HEAT_BUILDINGS: Final[int] = 10
DRAW_HEAT_FRAC: Final[float] = 0.20
_WHAT: Final[str] = "perturbation file"
Factor = Annotated[float, Field(gt=0, le=10)]


@dataclass(frozen=True)
class Perturbation:
    """The field's hidden reality.

    Attributes
    ----------
    factors : DistrictFactors
        Factors against the district file.
    pv_from_utc : str, optional
        From this time (ISO 8601) on the PV factors hold; before it the PV systems yield as the
        district file says. None: all year.
    """

    factors: DistrictFactors
    pv_from_utc: str | None = None

    def pv_from_s(self) -> float | None:
        """:attr:`pv_from_utc` as UNIX time [s]."""
        return None if self.pv_from_utc is None else parse_start_utc(self.pv_from_utc).timestamp()


class PerturbationFile(BaseModel):
    """The perturbation file: factors by building or PV system id (1 where not named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    household_electricity: dict[str, Factor] = Field(
        default_factory=dict, description="Building id -> factor on household and business electricity. [1]"
    )
    space_heat: dict[str, Factor] = Field(
        default_factory=dict, description="Building id -> factor on space heat, hot water unchanged. [1]"
    )
    pv: dict[str, Factor] = Field(default_factory=dict, description="PV system id -> factor on its yield. [1]")
    pv_from_utc: str | None = Field(default=None, description="The PV factors hold from this time on (ISO 8601).")

    def perturbation(self) -> Perturbation:
        """The perturbation the file describes."""
        factors = DistrictFactors(dict(self.household_electricity), dict(self.space_heat), dict(self.pv))
        return Perturbation(factors, self.pv_from_utc)


def load_perturbation(path: str | Path) -> Perturbation:
    """Read and validate a perturbation file.

    Raises
    ------
    ConfigError
        One line naming the file and the field (a factor must be > 0 and <= 10, a time ISO 8601).
    """
    record: PerturbationFile = load_config(path, PerturbationFile, what=_WHAT)
    if record.pv_from_utc is not None:
        try:
            parse_start_utc(record.pv_from_utc, "pv_from_utc")
        except ConfigError:
            raise ConfigError(
                f"{record.pv_from_utc!r} is not an ISO 8601 time of the years 1990-2099",
                file=str(path),
                field="pv_from_utc",
                allowed="e.g. 2025-04-16T00:00:00Z",
            ) from None
    return record.perturbation()


def draw_perturbation(district: District, seed: int) -> Perturbation:
    """A random perturbation of a district (see the module docstring for what is drawn).

    Parameters
    ----------
    district : District
        The validated district.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed and district give the same draw.
    """
    rng = np.random.default_rng(seed)
    with_load = [b.id for b in district.buildings]
    heated = [b.id for b in district.buildings if b.heating.system in ("gas_boiler", "heat_pump")]
    systems = pv_system_ids(district)
    electric = _pick(rng, with_load, DRAW_ELECTRICITY_BUILDINGS)
    half = (len(electric) + 1) // 2
    electricity = {
        b: round(1.0 + DRAW_ELECTRICITY_FRAC if i < half else 1.0 - DRAW_ELECTRICITY_FRAC, 6)
        for i, b in enumerate(electric)
    }
    pv = {s: round(1.0 - DRAW_PV_LOSS_FRAC, 6) for s in _pick(rng, systems, DRAW_PV_SYSTEMS)}
    heat = {b: round(1.0 + DRAW_HEAT_FRAC, 6) for b in _pick(rng, heated, DRAW_HEAT_BUILDINGS)}
    return Perturbation(DistrictFactors(household_electricity=electricity, space_heat=heat, pv=pv))


def dump_perturbation(perturbation: Perturbation, path: str | Path) -> Path:
    """Write a perturbation file (atomically) that :func:`load_perturbation` reads back."""
    factors = perturbation.factors
    lines = ["# the field's hidden reality: factors against the district file (twin field --perturbation)"]
    for what, table in (
        ("household_electricity", factors.household_electricity),
        ("space_heat", factors.space_heat),
        ("pv", factors.pv),
    ):
        body = ", ".join(f"{key}: {value:g}" for key, value in sorted(table.items()))
        lines.append(f"{what}: {{{body}}}")
    if perturbation.pv_from_utc is not None:
        lines.append(f"pv_from_utc: '{perturbation.pv_from_utc}'")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def _pick(rng: np.random.Generator, items: list[str], count: int) -> list[str]:
    chosen: Any = rng.choice(len(items), size=min(count, len(items)), replace=False) if items else []
    return [items[int(i)] for i in chosen]
