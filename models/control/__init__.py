"""The control library: one set of rules for the scenarios' year, the simulated field and the live twin.

What is here, importable from this package and loaded on first use:

- :mod:`models.control.signal`: the controller signal, SG-Ready's four states from surplus
  and grid stress with hysteresis and a minimum dwell time (:class:`SignalMachine`), and the
  section 14a EnWG limit that follows it (:func:`limit_14a_kw`). The live twin's controller
  server (:mod:`connectors.controller_server`) is given this machine; its records are in
  :mod:`twin.core.signal`.
- :mod:`models.control.battery`: the battery strategies behind one registry
  (:func:`battery_strategy`: ``self_consumption``, ``peak_shaving``, ``follow_setpoint``),
  over a period (the scenarios' community battery) or step by step (the simulated field's
  community battery).
- :mod:`models.control.section_14a`: the rules of the Bundesnetzagentur's determination
  BK6-22-300 for controllable consumers (the minimum power a dimmed device keeps, several
  devices behind one connection, heat pumps and air conditioning above 11 kW) and the grid-fee
  modules 1, 2 and 3 as cost options, as pure functions.
- :mod:`models.control.feeder`: one signal per feeder of the low-voltage grid and a section 14a
  limit per building only as low as the feeder's loading and voltages need
  (:class:`FeederSignals`), from the grid's feeders (:class:`FeederMap`) and its sensitivities to
  each building's load (:func:`sensitivities`).
- :mod:`models.control.year`: the controllers over a period, each step acting on the state
  measured in the step before (the scenarios' ``control:`` block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from twin.core.lazy import lazy_exports

if TYPE_CHECKING:
    from models.control.battery import BATTERY_STRATEGIES, BatteryStrategy, battery_strategy
    from models.control.feeder import FeederMap, FeederSignals, FeederStep, Sensitivities, sensitivities
    from models.control.section_14a import ControllableDevice, dimmed_limit_kw, grid_fee_eur
    from models.control.signal import SignalConfig, SignalMachine, limit_14a_kw

#: Public name -> the module that defines it.
_EXPORTS: Final[dict[str, str]] = {
    "BATTERY_STRATEGIES": "models.control.battery",
    "BatteryStrategy": "models.control.battery",
    "battery_strategy": "models.control.battery",
    "FeederMap": "models.control.feeder",
    "FeederSignals": "models.control.feeder",
    "FeederStep": "models.control.feeder",
    "Sensitivities": "models.control.feeder",
    "sensitivities": "models.control.feeder",
    "ControllableDevice": "models.control.section_14a",
    "dimmed_limit_kw": "models.control.section_14a",
    "grid_fee_eur": "models.control.section_14a",
    "SignalConfig": "models.control.signal",
    "SignalMachine": "models.control.signal",
    "limit_14a_kw": "models.control.signal",
}

__all__ = [
    "BATTERY_STRATEGIES",
    "BatteryStrategy",
    "ControllableDevice",
    "FeederMap",
    "FeederSignals",
    "FeederStep",
    "Sensitivities",
    "SignalConfig",
    "SignalMachine",
    "battery_strategy",
    "dimmed_limit_kw",
    "grid_fee_eur",
    "limit_14a_kw",
    "sensitivities",
]

__getattr__, __dir__ = lazy_exports("models.control", _EXPORTS, globals())
