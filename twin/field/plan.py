"""Fault plans of the simulated field: which device misbehaves how, when and for how long.

A fault plan is a YAML file validated with pydantic (unknown keys rejected); a bad
file stops with one line naming the file and the field.

.. code-block:: yaml

    faults:
      - device: sfh01/meter      # a device id of the site file
        fault: hang              # stop, hang, exception, not_implemented, absurd, restart
        at_s: 30                 # offset from the field's start
        duration_s: 20           # how long it lasts (restart: time down); omit: until the end
        clock: wall              # wall (default: wall-clock seconds) or simulated (simulated seconds)
      - {device: substation/meter, fault: exception, exception_code: 6, at_s: 3600, clock: simulated}

Faults and what a client sees:

* ``stop``: the device's server is stopped, connections are refused (a gateway unit
  answers exception 11, "gateway target device failed to respond", instead);
* ``hang``: requests are accepted and never answered (gateway unit: exception 11);
* ``exception``: every request answers with ``exception_code`` (default 4, device failure);
* ``not_implemented``: the map's not-implemented values (SunSpec sentinels, NaN);
* ``absurd``: values far outside the quantities' physical range;
* ``restart``: the server stops and starts again on the same port after ``duration_s``
  (default 2 s); energy counters keep their values and keep counting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.core.config_loader import LocatedError, read_config, validate_config
from twin.core.errors import ConfigError

__all__ = ["FAULT_KINDS", "FaultClock", "FaultEntry", "FaultKind", "FaultPlan", "load_fault_plan"]

FaultKind = Literal["stop", "hang", "exception", "not_implemented", "absurd", "restart"]
FaultClock = Literal["wall", "simulated"]

#: Every fault a plan or a command may name.
FAULT_KINDS: Final[tuple[str, ...]] = FaultKind.__args__  # type: ignore[attr-defined]
#: Time a restarting device stays down unless the plan says otherwise. [s]
DEFAULT_RESTART_DOWN_S: Final[float] = 2.0
_WHAT: Final[str] = "fault plan"


class FaultEntry(BaseModel):
    """One fault of one device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(min_length=1, description="Device id as in the site file.")
    fault: FaultKind
    at_s: float = Field(default=0.0, ge=0, description="Offset from the field's start. [s]")
    duration_s: float | None = Field(
        default=None, gt=0, description="How long the fault lasts (restart: time down); none: until the end. [s]"
    )
    clock: FaultClock = Field(default="wall", description="Whether at_s and duration_s are wall or simulated seconds.")
    exception_code: int | None = Field(default=None, ge=1, le=255, description="Modbus exception code (exception).")

    @model_validator(mode="after")
    def _code_only_for_exception(self) -> FaultEntry:
        if self.exception_code is not None and self.fault != "exception":
            raise LocatedError(
                ["exception_code"], f"applies to fault 'exception', not {self.fault!r}", allowed="exception"
            )
        return self

    @property
    def down_s(self) -> float | None:
        """Duration of the fault; a restart without one stays down :data:`DEFAULT_RESTART_DOWN_S`."""
        if self.fault == "restart" and self.duration_s is None:
            return DEFAULT_RESTART_DOWN_S
        return self.duration_s


class FaultPlan(BaseModel):
    """A fault plan: the faults of a field run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    faults: tuple[FaultEntry, ...] = ()

    def check_devices(self, device_ids: set[str] | frozenset[str], *, file: str | None = None) -> None:
        """Raise :class:`ConfigError` if an entry names a device the field does not have."""
        for index, entry in enumerate(self.faults):
            if entry.device not in device_ids:
                close = sorted(d for d in device_ids if d.split("/")[0] == entry.device.split("/")[0])[:6]
                hint = f"devices of that building: {', '.join(close)}" if close else "see the site file"
                raise ConfigError(
                    f"no device {entry.device!r} in the field ({hint})", file=file, field=f"faults.{index}.device"
                )


def load_fault_plan(path: str | Path) -> FaultPlan:
    """Read and validate a fault plan file.

    Parameters
    ----------
    path : str or pathlib.Path
        The YAML file.

    Returns
    -------
    plan : FaultPlan

    Raises
    ------
    ConfigError
        One line naming the file, the field and what is allowed.
    """
    data = read_config(path, what=_WHAT)
    if data is None:
        return FaultPlan()
    plan: FaultPlan = validate_config(data, FaultPlan, file=str(path), what=_WHAT)
    return plan
