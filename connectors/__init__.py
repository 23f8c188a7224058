"""Modbus and meter data: register maps, polling client, device and controller servers, import."""

from connectors.certs import CertFiles, client_ssl_context, make_test_certs
from connectors.controller_map import ControllerMap, format_map, load_controller_map
from connectors.controller_server import ControllerServer, writer_ssl_context
from connectors.controller_signal import GridStress, SignalConfig, SignalMachine, SignalState
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
    "GridStress",
    "MeterImport",
    "MeterRecord",
    "ModbusConnection",
    "Point",
    "Quality",
    "Quantity",
    "Reading",
    "RegisterMap",
    "ServerLoopThread",
    "SignalConfig",
    "SignalMachine",
    "SignalState",
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
