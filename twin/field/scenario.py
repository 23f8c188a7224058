"""What ``twin field --control FILE`` takes of a file: the ``control:`` block and a scenario file's changes.

A scenario file's ``changes:`` are applied to the field's district as the scenario runner applies
them (:func:`scenarios.apply.changed_district`: the same buildings for the same seed, the grid's
reinforcements), so the field and the runner run the same district. What the field does not run
is refused with a one-line error naming the field: assets beside the buildings (a community
battery, a solar park, a feed-in limit: the field has its own ``--community-battery``), charging
on PV surplus (the field's wallboxes charge uncontrolled unless the signal dims them), a
calibration file and model factors (the field's reality is ``--perturbation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.district import LoadedDistrict, district_path
from scenarios.records import Control, is_scenario_data
from twin.core.config_loader import read_config, validate_config
from twin.core.errors import ConfigError

__all__ = ["FieldScenario", "field_scenario"]

#: Changes the field does not run, with what to use instead.
_NOT_IN_FIELD: dict[str, str] = {
    "community_battery": "the field's own community battery (twin field's defaults)",
    "solar_park": "a district file with the solar park",
    "feed_in_limit": "the scenario runner",
}


@dataclass(frozen=True)
class FieldScenario:
    """The field's district and control from ``--control FILE``.

    Attributes
    ----------
    loaded : LoadedDistrict
        The district the field runs (with the file's changes, if any).
    control : Control or None
        The ``control:`` block.
    seed : int
        The seed of the field's profiles: the scenario's when its changes were applied (the
        runner's profiles use it), else the field's ``--seed``.
    summary : str or None
        What was changed, for the console (None without changes).
    """

    loaded: LoadedDistrict
    control: Control | None
    seed: int = 0
    summary: str | None = None


def field_scenario(path: Path | None, loaded: LoadedDistrict, *, seed: int = 0) -> FieldScenario:
    """Read ``--control FILE``: a scenario file (its ``control:`` block and ``changes:``) or the block alone.

    ``seed`` is the field's own (``--seed``), used unless a scenario's changes bring theirs.

    Raises
    ------
    ConfigError
        A malformed file or block; a scenario for another district; a change the field does not run.
    """
    if path is None:
        return FieldScenario(loaded, None, seed)
    data = read_config(path, what="control file")
    if not is_scenario_data(data):
        control: Control = validate_config(data, Control, file=str(path), what="control block")
        return FieldScenario(loaded, control, seed)
    if not data.get("changes"):
        block = data.get("control")
        record = None if block is None else validate_config(block, Control, file=str(path), what="control block")
        return FieldScenario(loaded, record, seed)
    from scenarios.apply import changed_district
    from scenarios.scenario_files import parse_scenario

    scenario = parse_scenario({"name": "field", **data}, file=str(path), base=path.parent)
    if district_path(scenario.district).resolve() != district_path(loaded.source).resolve():
        raise ConfigError(
            f"the scenario's district {scenario.district!r} is not the field's {loaded.source!r}",
            file=str(path),
            field="district",
            allowed="the field's --district",
        )
    for name, instead in _NOT_IN_FIELD.items():
        if getattr(scenario.changes, name) is not None:
            raise ConfigError(
                "not run by the simulated field", file=str(path), field=f"changes.{name}", allowed=instead
            )
    if scenario.changes.evs is not None and scenario.changes.evs.charging != "uncontrolled":
        raise ConfigError(
            "the field's wallboxes charge uncontrolled (or as the signal dims them)",
            file=str(path),
            field="changes.evs.charging",
            allowed="uncontrolled",
        )
    if scenario.calibration is not None:
        raise ConfigError("not applied by the field", file=str(path), field="calibration", allowed="--perturbation")
    changed, applied = changed_district(loaded, scenario)
    parts = {
        "heat pumps": f"{applied.heat_pumps_added}",
        "cars": f"{applied.evs_added}",
        "kWp PV": f"{applied.pv_added_kwp:,.0f}",
        "kWh home batteries": f"{applied.batteries_added_kwh:,.0f}",
        "m2 retrofitted": f"{applied.retrofit_m2:,.0f}",
    }
    added = ", ".join(f"{value} {name}" for name, value in parts.items() if value != "0") or "no building changed"
    grid = ", grid reinforced" if scenario.changes.grid is not None else ""
    ignored = f"; --seed {seed} is not used" if seed != scenario.seed else ""
    summary = f"changes of {path.name} applied: {added}{grid} (seed {scenario.seed}{ignored})"
    return FieldScenario(changed, scenario.control, scenario.seed, summary)
