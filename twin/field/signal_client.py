"""The field reads the live twin's signal as an external controller does: Modbus TCP, the controller map.

:class:`SignalClient` polls the live twin's controller server (``twin live --controller-port``)
every :data:`POLL_S` wall seconds: the district block's ``sg_ready_state`` and, per building
block, ``building_id``, ``sg_ready_state`` and ``p_limit_14a_kw`` (addresses from
:func:`connectors.controller_map.load_controller_map`). It matches the blocks to the field's
buildings by their id and hands the states and limits to :meth:`twin.field.control.FieldControl.
set_signal`. A building the twin does not serve, and every building while no poll has succeeded
for :data:`STALE_AFTER_S` wall seconds, follows ``NORMAL`` with no limit (as the twin's own
signal falls back when its data is stale).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Final

import numpy as np
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from connectors.controller_map import ControllerMap, load_controller_map
from twin.core.signal import SignalState
from twin.field.control import FieldControl

__all__ = ["POLL_S", "STALE_AFTER_S", "SignalClient"]

logger = logging.getLogger(__name__)

#: Wall time between two polls. [s]
POLL_S: Final[float] = 0.5
#: Wall time without a successful poll after which every building follows NORMAL. [s]
STALE_AFTER_S: Final[float] = 10.0
_UNIT: Final[int] = 1


class SignalClient:
    """Poll the live twin's controller registers and set the field's signal.

    Parameters
    ----------
    control : FieldControl
        The field's controllers (their building order is the field's).
    host, port : str, int
        The twin's controller server (plain Modbus TCP).
    """

    def __init__(self, control: FieldControl, host: str, port: int) -> None:
        self.control = control
        self.host = host
        self.port = port
        self.cmap: ControllerMap = load_controller_map()
        self.polls_ok = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_ok = -math.inf

    def start(self) -> None:
        """Start polling in a background thread."""
        self._thread = threading.Thread(target=self._run, name="twin-field-signal", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (returns within a poll's time)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        client = ModbusTcpClient(self.host, port=self.port, timeout=2, retries=0)
        try:
            while not self._stop.is_set():
                try:
                    if not client.connected and not client.connect():
                        raise ConnectionError(f"controller server {self.host}:{self.port} not reachable")
                    self._poll(client)
                    self.polls_ok += 1
                    self._last_ok = time.monotonic()
                except (OSError, ConnectionError, ModbusException) as err:  # a lost twin: fall back below, try later
                    logger.debug("field signal: %s", err)
                    client.close()
                if time.monotonic() - self._last_ok > STALE_AFTER_S:
                    n = len(self.control.buildings)
                    self.control.set_signal(np.full(n, int(SignalState.NORMAL)), np.full(n, math.inf), 2)
                self._stop.wait(POLL_S)
        finally:
            client.close()

    def _poll(self, client: ModbusTcpClient) -> None:
        cmap = self.cmap
        count = _read(client, cmap.district_point("building_count").offset, 1)[0]
        district = _read(client, cmap.district_point("sg_ready_state").offset, 1)[0]
        id_point = cmap.building_point("building_id")
        state_offset = cmap.building_point("sg_ready_state").offset
        limit_offset = cmap.building_point("p_limit_14a_kw").offset
        span = limit_offset + 2
        number = {b: i for i, b in enumerate(self.control.buildings)}
        state = np.full(len(number), int(SignalState.NORMAL), dtype=np.int8)
        limit = np.full(len(number), math.inf)
        for n in range(1, count + 1):
            regs = _read(client, cmap.building_address(n), span)
            raw = regs[id_point.offset : id_point.offset + id_point.point.size]
            text = client.convert_from_registers(raw, client.DATATYPE.STRING)
            building = str(text).rstrip("\x00")
            if building not in number:
                continue
            value = client.convert_from_registers(
                regs[limit_offset : limit_offset + 2], client.DATATYPE.FLOAT32, word_order="big"
            )
            state[number[building]] = regs[state_offset] if 1 <= regs[state_offset] <= 4 else int(SignalState.NORMAL)
            limit[number[building]] = float(value) if isinstance(value, float) and not math.isnan(value) else math.inf
        self.control.set_registers(state, limit, district if 1 <= district <= 4 else int(SignalState.NORMAL))
        self.control.polls_ok += 1


def _read(client: ModbusTcpClient, address: int, count: int) -> list[int]:
    rr = client.read_holding_registers(address, count=count, device_id=_UNIT)
    if rr.isError():
        raise ConnectionError(f"controller server answered {rr} at address {address}")
    return list(rr.registers)
