"""Modbus and meter data: register maps, polling client, device and controller servers, import."""
