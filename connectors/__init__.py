"""Modbus and meter data: register maps, polling client, device and controller servers, import.

The public names below are importable from here and loaded on first use, so importing one
module (``connectors.maps``) costs only what that module imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from twin.core.lazy import lazy_exports

if TYPE_CHECKING:
    from connectors.certs import CertFiles, client_ssl_context, make_test_certs
    from connectors.controller_map import ControllerMap, format_map, load_controller_map
    from connectors.controller_server import ControllerServer, writer_ssl_context
    from connectors.controller_snapshot import (
        BuildingSnapshot,
        ControllerSnapshot,
        ControllerWrite,
        Quality,
        SnapshotProvider,
        WriteSink,
    )
    from connectors.device_server import DEFAULT_HOST, DeviceServer, ServerLoopThread
    from connectors.maps import Point, Quantity, RegisterMap, builtin_map_names, load_map
    from connectors.meter_import import MeterImport, MeterRecord, read_meter_files
    from connectors.poller import DeviceState, SimClock, SitePoller
    from connectors.polling import DeviceExceptionError, DeviceReader, ModbusConnection, Reading, plan_reads
    from connectors.simdevice import Fault, SimulatedDevice

#: Public name -> the module that defines it.
_EXPORTS: Final[dict[str, str]] = {
    "CertFiles": "connectors.certs",
    "client_ssl_context": "connectors.certs",
    "make_test_certs": "connectors.certs",
    "ControllerMap": "connectors.controller_map",
    "format_map": "connectors.controller_map",
    "load_controller_map": "connectors.controller_map",
    "ControllerServer": "connectors.controller_server",
    "writer_ssl_context": "connectors.controller_server",
    "BuildingSnapshot": "connectors.controller_snapshot",
    "ControllerSnapshot": "connectors.controller_snapshot",
    "ControllerWrite": "connectors.controller_snapshot",
    "Quality": "connectors.controller_snapshot",
    "SnapshotProvider": "connectors.controller_snapshot",
    "WriteSink": "connectors.controller_snapshot",
    "DEFAULT_HOST": "connectors.device_server",
    "DeviceServer": "connectors.device_server",
    "ServerLoopThread": "connectors.device_server",
    "Point": "connectors.maps",
    "Quantity": "connectors.maps",
    "RegisterMap": "connectors.maps",
    "builtin_map_names": "connectors.maps",
    "load_map": "connectors.maps",
    "MeterImport": "connectors.meter_import",
    "MeterRecord": "connectors.meter_import",
    "read_meter_files": "connectors.meter_import",
    "DeviceState": "connectors.poller",
    "SimClock": "connectors.poller",
    "SitePoller": "connectors.poller",
    "DeviceExceptionError": "connectors.polling",
    "DeviceReader": "connectors.polling",
    "ModbusConnection": "connectors.polling",
    "Reading": "connectors.polling",
    "plan_reads": "connectors.polling",
    "Fault": "connectors.simdevice",
    "SimulatedDevice": "connectors.simdevice",
}

__all__ = [
    "DEFAULT_HOST",
    "BuildingSnapshot",
    "CertFiles",
    "ControllerMap",
    "ControllerServer",
    "ControllerSnapshot",
    "ControllerWrite",
    "DeviceExceptionError",
    "DeviceReader",
    "DeviceServer",
    "DeviceState",
    "Fault",
    "MeterImport",
    "MeterRecord",
    "ModbusConnection",
    "Point",
    "Quality",
    "Quantity",
    "Reading",
    "RegisterMap",
    "ServerLoopThread",
    "SimClock",
    "SimulatedDevice",
    "SitePoller",
    "SnapshotProvider",
    "WriteSink",
    "builtin_map_names",
    "client_ssl_context",
    "format_map",
    "load_controller_map",
    "load_map",
    "make_test_certs",
    "plan_reads",
    "read_meter_files",
    "writer_ssl_context",
]


__getattr__, __dir__ = lazy_exports("connectors", _EXPORTS, globals())
