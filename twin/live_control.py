"""What ``twin live --control FILE`` takes of a file: the ``control:`` block the live signal runs.

FILE is a scenario file (its ``control:`` block; the file is validated as the scenario runner
validates it) or the block alone, read with the scenarios' own records
(:class:`scenarios.records.Control`), so a bad file is the same one-line error.

The live twin computes the controller signal: the district register's state and limit
(:class:`models.control.signal.SignalMachine`) and each building's (:mod:`twin.live_feeders`,
the signal source of :func:`scenarios.controlled.signal_maker`, the one the scenario runner and
the simulated field run). Of the block it runs:

- ``thresholds``: the signal's enter and leave thresholds (district register and buildings);
- ``signal``: ``per_feeder`` (each building its feeder's signal and a limit only as low as its
  feeder needs) or ``district`` / ``district_needed`` (one signal for every building, each at its
  minimum while it blocks for grid stress);
- ``release_kw_per_h``: the buildings' limits rise back by at most this per simulated hour;
- ``preheat``: SG-Ready state 3 before a peak its forecast (the transformer loading the live power
  flow measured on the last days) reads, in the measured headroom; each building's extra draw
  from the rated power of its heat-pump meters in the site file;
- ``heat_pump``, ``section_14a``, ``section_14a_control``, ``ev: dimmed``: which devices' minimum a
  building keeps while dimmed (the site's heat-pump meters, EV chargers and home batteries with
  their ``p_rated_kw``; per device or one energy management system). What the devices do with the
  registers (heat pumps off, wallboxes dimmed, a store's comfort bound) is the devices' own:
  the simulated field runs them with the same file (``twin field --control``).

It refuses, in one line naming the field, what it cannot run: the community battery's strategy
(``battery``: the live twin passes an external controller's setpoint on, it dispatches none),
charging on PV surplus, grid fees (a cost of the scenario's year), ``count_rebound`` (the runner's
choice of which heat pumps a block holds off) and a scenario's grid changes (the live power flow
solves ``--district``'s grid). A scenario's other changes are devices the site file lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from models.control.signal import SignalConfig
from scenarios.records import Control, is_scenario_data
from twin.core.config_loader import read_config, validate_config
from twin.core.errors import ConfigError
from twin.core.live_sections import ControlInUse

__all__ = ["LiveControl", "default_control", "live_control"]

#: The defaults of the live twin without ``--control``.
_DEFAULT: Final[str] = (
    "the live twin's defaults: signal per feeder, block at 95/85 % loading and 0.93/0.95 p.u., "
    "limits released at once, no pre-heating"
)


@dataclass(frozen=True)
class LiveControl:
    """The control the live twin runs.

    Attributes
    ----------
    control : Control or None
        The ``control:`` block; None: the live twin's defaults (signal per feeder, the default
        thresholds of :class:`models.control.signal.SignalConfig`).
    file : Path or None
        Where the block came from.
    description : str
        What runs, in one line (the start's log line and the snapshot's ``controller.control``).
    config : SignalConfig
        The signal's thresholds (:func:`scenarios.controlled.signal_config` of the block).
    """

    control: Control | None
    file: Path | None
    description: str
    config: SignalConfig

    def section(self) -> ControlInUse:
        """The snapshot's ``controller.control``: the file, what runs and the block's options."""
        block = self.control.model_dump(mode="json", exclude_none=True) if self.control is not None else None
        return ControlInUse(str(self.file) if self.file is not None else None, self.description, block)


def default_control() -> LiveControl:
    """The live twin without ``--control``."""
    return LiveControl(None, None, _DEFAULT, SignalConfig())


def live_control(path: Path | None) -> LiveControl:
    """Read ``--control FILE``: a scenario file's ``control:`` block or the block alone.

    Raises
    ------
    ConfigError
        A malformed file or block, a file without a ``control:`` block, or an option the live
        twin does not run (module docstring).
    """
    if path is None:
        return default_control()
    data = read_config(path, what="control file")
    prefix = ""
    if is_scenario_data(data):
        from scenarios.scenario_files import parse_scenario

        scenario = parse_scenario({"name": "live", **data}, file=str(path), base=path.parent)
        if scenario.control is None:
            raise ConfigError("the scenario file has no control: block", file=str(path), field="control")
        if scenario.changes.grid is not None:
            raise ConfigError(
                "not run by the live twin (its power flow solves --district's grid)",
                file=str(path),
                field="changes.grid",
                allowed="a district file with the changed grid as --district",
            )
        control: Control = scenario.control
        prefix = "control."
    else:
        control = validate_config(data, Control, file=str(path), what="control block")
    _refuse(control, path, prefix)
    from scenarios.controlled import signal_config

    config = signal_config(control)
    return LiveControl(control, path, f"control of {path.name}: {describe(control, config)}", config)


def describe(control: Control, c: SignalConfig) -> str:
    """What the live twin runs of a block with its thresholds ``c``, in one line."""
    signal = "per feeder" if control.signal == "per_feeder" else f"district-wide ({control.signal})"
    parts = [
        f"signal {signal}",
        f"block at {c.loading_enter_percent:g}/{c.loading_leave_percent:g} % loading "
        f"and {c.vm_low_enter_pu:g}/{c.vm_low_leave_pu:g} p.u.",
        "limits released at once"
        if control.release_kw_per_h is None
        else f"limits released by {control.release_kw_per_h:g} kW/h",
        "pre-heating before forecast peaks" if control.preheat is not None else "no pre-heating",
    ]
    dimmed = "every controllable device" if control.section_14a else "wallboxes" if control.ev == "dimmed" else None
    if dimmed is not None:
        parts.append(f"14a minimum of {dimmed} ({control.section_14a_control})")
    return ", ".join(parts)


def _refuse(control: Control, path: Path, prefix: str) -> None:
    """One-line errors for the options the live twin does not run."""
    refused = {
        "battery": (control.battery is not None, "it dispatches no battery", "battery_setpoint_kw"),
        "ev": (control.ev == "pv_surplus", "it does not charge on PV surplus", "uncontrolled, dimmed"),
        "grid_fee": (control.grid_fee is not None, "a cost of the scenario's year", "twin scenario run"),
        "count_rebound": (
            control.count_rebound,
            "it does not choose which heat pumps a block holds off",
            "false",
        ),
    }
    for name, (given, why, allowed) in refused.items():
        if given:
            raise ConfigError(f"not run by the live twin: {why}", file=str(path), field=prefix + name, allowed=allowed)
