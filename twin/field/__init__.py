"""The simulated field: the district's meters, inverters and batteries as Modbus TCP devices.

``twin field`` runs it; :class:`Field` is its Python API (tests, the demo). The devices
(:mod:`twin.field.layout`), their values from the scenarios' models (:mod:`twin.field.values`),
their servers (:mod:`twin.field.servers`), faults (:mod:`twin.field.faults`, plans in
:mod:`twin.field.plan`) and simulated time (:mod:`twin.field.runtime`) are described in
their modules and in the README section "The simulated field".
"""

from twin.field.layout import (
    COMMUNITY_BATTERY_ID,
    DEFAULT_COMMUNITY_BATTERY,
    SUBSTATION_METER_ID,
    DeviceSpec,
    PowerTerm,
    field_layout,
)
from twin.field.plan import FAULT_KINDS, FaultEntry, FaultPlan, load_fault_plan
from twin.field.runtime import Field, FieldOptions, default_start_utc

__all__ = [
    "COMMUNITY_BATTERY_ID",
    "DEFAULT_COMMUNITY_BATTERY",
    "FAULT_KINDS",
    "SUBSTATION_METER_ID",
    "DeviceSpec",
    "FaultEntry",
    "FaultPlan",
    "Field",
    "FieldOptions",
    "PowerTerm",
    "default_start_utc",
    "field_layout",
    "load_fault_plan",
]
