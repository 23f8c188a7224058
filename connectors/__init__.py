"""Modbus and meter data: register maps, polling client, device and controller servers, import."""

from connectors.device_server import DEFAULT_HOST, DeviceServer, ServerLoopThread
from connectors.maps import Point, Quantity, RegisterMap, builtin_map_names, load_map
from connectors.meter_import import MeterImport, MeterRecord, read_meter_files
from connectors.poller import DeviceState, SimClock, SitePoller
from connectors.polling import DeviceExceptionError, DeviceReader, ModbusConnection, Reading, plan_reads
from connectors.simdevice import Fault, SimulatedDevice

__all__ = [
    "DEFAULT_HOST",
    "DeviceExceptionError",
    "DeviceReader",
    "DeviceServer",
    "DeviceState",
    "Fault",
    "MeterImport",
    "MeterRecord",
    "ModbusConnection",
    "Point",
    "Quantity",
    "Reading",
    "RegisterMap",
    "ServerLoopThread",
    "SimClock",
    "SimulatedDevice",
    "SitePoller",
    "builtin_map_names",
    "load_map",
    "plan_reads",
    "read_meter_files",
]
