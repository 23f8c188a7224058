"""Modbus and meter data: register maps, polling client, device and controller servers, import."""

from connectors.device_server import DEFAULT_HOST, DeviceServer, ServerLoopThread
from connectors.maps import Point, Quantity, RegisterMap, builtin_map_names, load_map
from connectors.polling import DeviceExceptionError, DeviceReader, ModbusConnection, Reading, plan_reads
from connectors.simdevice import Fault, SimulatedDevice

__all__ = [
    "DEFAULT_HOST",
    "DeviceExceptionError",
    "DeviceReader",
    "DeviceServer",
    "Fault",
    "ModbusConnection",
    "Point",
    "Quantity",
    "Reading",
    "RegisterMap",
    "ServerLoopThread",
    "SimulatedDevice",
    "builtin_map_names",
    "load_map",
    "plan_reads",
]
