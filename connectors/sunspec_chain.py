"""Where a SunSpec device keeps its models: the model chain, discovered instead of assumed.

A SunSpec device starts with "SunS" at holding register 40000 (0-based; 0 and 50000 are the
other base addresses the specification allows), then each model as its id, its length and
its points, until the end marker 0xFFFF. Real devices differ in which models they chain and in
what order (1, 101, 120, 121, 122, 123, 160, ...), and an inverter may carry the float models
111-113 instead of the integer 101-103 with scale factors. :func:`read_model_chain` walks a
device's chain; :func:`relocate` moves a map's points to where that device keeps them,
taking a point from a model of the same family (single-, split- or three-phase, integer or
float) where the map's own model is absent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Final

from connectors.maps import RegisterMap, sunspec_model_at
from twin.core.errors import ConfigError, ConnectorError

__all__ = ["BASE_ADDRESSES", "MODEL_FAMILIES", "ModelChain", "read_model_chain", "relocate", "same_layout"]

#: Where a SunSpec device may start ("SunS"), in the order they are tried. [0-based register]
BASE_ADDRESSES: Final[tuple[int, ...]] = (40000, 0, 50000)
#: Models that carry the same points under the same names, in order of preference.
MODEL_FAMILIES: Final[tuple[tuple[int, ...], ...]] = (
    (103, 113, 102, 112, 101, 111),  # inverters: three-, split-, single-phase; integer + SF or float
    (203, 213, 202, 212, 201, 211, 204, 214),  # meters
)
_SUNS: Final[tuple[int, int]] = (0x5375, 0x6E53)
_END: Final[int] = 0xFFFF
#: A chain longer than this is a device that lies. [models]
MAX_MODELS: Final[int] = 64

#: A device's chain: (model id, address of its ID register, length after ID and L).
ModelChain = tuple[tuple[int, int, int], ...]
#: Reads ``count`` holding registers at ``address`` (raises ConnectorError).
ReadHolding = Callable[[int, int], Awaitable[list[int]]]


async def read_model_chain(read: ReadHolding, device: str) -> ModelChain:
    """Walk a device's SunSpec model chain.

    Parameters
    ----------
    read : callable
        ``await read(address, count)`` returns holding registers of the device.
    device : str
        The device's name, for messages.

    Returns
    -------
    ModelChain
        Every model up to the end marker.

    Raises
    ------
    ConnectorError
        No "SunS" marker at any base address, a chain that leaves the register space or
        is longer than :data:`MAX_MODELS`, or a failed read.
    """
    for base in BASE_ADDRESSES:
        try:
            marker = await read(base, 2)
        except ConnectorError:
            if base == BASE_ADDRESSES[-1]:
                raise
            continue
        if tuple(marker) == _SUNS:
            break
    else:
        raise ConnectorError(f"{device}: no SunSpec marker 'SunS' at {', '.join(map(str, BASE_ADDRESSES))}")
    chain: list[tuple[int, int, int]] = []
    address = base + 2
    while len(chain) <= MAX_MODELS:
        if address + 2 > 0x10000:
            raise ConnectorError(f"{device}: SunSpec model chain runs past register 65535")
        model_id, length = await read(address, 2)
        if model_id == _END:
            return tuple(chain)
        chain.append((model_id, address, length))
        address += 2 + length
    raise ConnectorError(f"{device}: SunSpec model chain longer than {MAX_MODELS} models")


def relocate(register_map: RegisterMap, chain: ModelChain, device: str) -> RegisterMap:
    """The map with its points where the device keeps them.

    Parameters
    ----------
    register_map : RegisterMap
        A SunSpec map (its models as the map file assumes them).
    chain : ModelChain
        The device's chain (:func:`read_model_chain`).
    device : str
        The device's name, for messages.

    Returns
    -------
    RegisterMap
        The same quantities, each on the point of that name in the device's model of the
        map's model, or of another model of its family (:data:`MODEL_FAMILIES`); ``models``
        is the device's chain.

    Raises
    ------
    ConnectorError
        A quantity's point is in no model of the device's chain.
    """
    offered = {model_id: address for model_id, address, _ in chain}
    points = {}
    for model_id, address in offered.items():
        try:
            points.update(sunspec_model_at(model_id, address)[0])
        except ConfigError:
            continue  # a model pysunspec2 does not define: nothing of the map lives there
    quantities = {}
    for name, quantity in register_map.quantities.items():
        model, point = quantity.point.split(".", 1)
        family = next((f for f in MODEL_FAMILIES if int(model) in f), (int(model),))
        candidates = [int(model), *family]
        found = next((f"{m}.{point}" for m in candidates if m in offered and f"{m}.{point}" in points), None)
        if found is None:
            have = [model_id for model_id, _, _ in chain]
            raise ConnectorError(f"{device}: {name} needs point {point} of model {model}; the device offers {have}")
        quantities[name] = dataclasses.replace(quantity, point=found)
    return dataclasses.replace(
        register_map,
        points=points,
        quantities=quantities,
        models=tuple(model_id for model_id, _, _ in chain),
        static={},
        derived={},
    )


def same_layout(register_map: RegisterMap, chain: ModelChain) -> bool:
    """Whether the device keeps its models where the map expects them."""
    expected = [
        (int(name.split(".")[0]), point.address)
        for name, point in register_map.points.items()
        if name.endswith(".ID") and name != "end.ID"
    ]
    return expected == [(model_id, address) for model_id, address, _ in chain]
