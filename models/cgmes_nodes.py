"""The node layer of the CGMES writer (:mod:`models.cgmes_writer`): the object model and the buses.

:class:`CgmesModel` collects CIM objects per profile under name-based UUIDs; every bus becomes a
``ConnectivityNode`` in its own ``VoltageLevel`` and ``Substation`` (the Substation carries the bus
position in the GL profile), buses joined by closed bus-bus switches share a ``TopologicalNode``,
and terminals, breakers and the extra node behind an open switch at a line or transformer end are
made here for :mod:`models.cgmes_equipment`.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CGMES_PROFILES",
    "CIM_NS",
    "ENTSOE_NS",
    "CgmesModel",
    "Nodes",
    "Ref",
    "add_breaker",
    "add_location",
    "add_terminal",
    "end_node",
    "enum",
    "geo_coordinates",
    "name_or",
    "open_end_switches",
    "ref",
    "write_bus_switches",
    "write_buses",
]

#: Profile short name -> (file suffix, Model.profile URIs).
CGMES_PROFILES: Final[dict[str, tuple[str, ...]]] = {
    "EQ": ("http://entsoe.eu/CIM/EquipmentCore/3/1", "http://entsoe.eu/CIM/EquipmentOperation/3/1"),
    "SSH": ("http://entsoe.eu/CIM/SteadyStateHypothesis/1/1",),
    "TP": ("http://entsoe.eu/CIM/Topology/4/1",),
    "SV": ("http://entsoe.eu/CIM/StateVariables/4/1",),
    "GL": ("http://entsoe.eu/CIM/GeographicalLocation/2/1",),
}
CIM_NS: Final[str] = "http://iec.ch/TC57/2013/CIM-schema-cim16#"
ENTSOE_NS: Final[str] = "http://entsoe.eu/CIM/SchemaExtension/3/1#"
WGS84: Final[str] = "urn:ogc:def:crs:EPSG::4326"


@dataclass
class CgmesModel:
    """CIM objects per profile: (class, id, properties); a property is (name, value, is_reference)."""

    namespace: uuid.UUID
    objects: dict[str, list[tuple[str, str, list[tuple[str, str, bool]]]]] = field(
        default_factory=lambda: {name: [] for name in CGMES_PROFILES}
    )

    def id(self, *key: object) -> str:
        """A name-based identifier (``_`` + UUID 5), the same for the same key in every export."""
        return "_" + str(uuid.uuid5(self.namespace, "/".join(str(k) for k in key)))

    def add(self, profile: str, cls: str, rdf_id: str, **props: object) -> None:
        """Add an object; ``Class__attribute=value`` (None and NaN left out, :class:`Ref` a reference)."""
        items: list[tuple[str, str, bool]] = []
        for name, value in props.items():
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            attr = name.replace("__", ".")
            if isinstance(value, Ref):
                items.append((attr, value.target, True))
            elif isinstance(value, bool):
                items.append((attr, "true" if value else "false", False))
            elif isinstance(value, float):
                items.append((attr, repr(value), False))
            else:
                items.append((attr, str(value), False))
        self.objects[profile].append((cls, rdf_id, items))


@dataclass(frozen=True)
class Ref:
    """A reference (``rdf:resource``) to an object or an enumeration value."""

    target: str


def ref(rdf_id: str) -> Ref:
    """A reference to an object of the model."""
    return Ref("#" + rdf_id)


def enum(name: str, *, entsoe: bool = False) -> Ref:
    """A reference to an enumeration value, e.g. ``WindingConnection.D``."""
    return Ref((ENTSOE_NS if entsoe else CIM_NS) + name)


@dataclass
class Nodes:
    """Bus index -> ConnectivityNode id, TopologicalNode id, VoltageLevel id, BaseVoltage id; terminals."""

    cn: dict[int, str] = field(default_factory=dict)
    tn: dict[int, str] = field(default_factory=dict)
    vl: dict[int, str] = field(default_factory=dict)
    bv: dict[int, str] = field(default_factory=dict)
    vn_kv: dict[int, float] = field(default_factory=dict)
    name: dict[int, str] = field(default_factory=dict)


def name_or(value: Any, fallback: str) -> str:
    """A name, or the fallback for None and NaN."""
    return fallback if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def geo_coordinates(value: Any) -> list[list[float]]:
    """The (lon, lat) points of a GeoJSON Point or LineString string (empty if none)."""
    if not isinstance(value, str):
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return []
    coordinates = data.get("coordinates") if isinstance(data, dict) else None
    if not isinstance(coordinates, list) or not coordinates:
        return []
    points = [coordinates] if not isinstance(coordinates[0], list) else coordinates
    return [[float(p[0]), float(p[1])] for p in points if isinstance(p, list) and len(p) >= 2]


def add_location(model: CgmesModel, resource: str, points: list[list[float]]) -> None:
    """A GL Location with its PositionPoints (WGS 84 longitude, latitude) for a resource."""
    if not points:
        return
    location = model.id("Location", resource)
    model.add(
        "GL",
        "Location",
        location,
        Location__PowerSystemResources=ref(resource),
        Location__CoordinateSystem=ref(model.id("crs")),
    )
    for number, (lon, lat) in enumerate(points, start=1):
        model.add(
            "GL",
            "PositionPoint",
            model.id("PositionPoint", resource, number),
            PositionPoint__Location=ref(location),
            PositionPoint__sequenceNumber=number,
            PositionPoint__xPosition=lon,
            PositionPoint__yPosition=lat,
        )


def write_buses(model: CgmesModel, net: Any) -> Nodes:
    """Base voltages, one Substation + VoltageLevel + ConnectivityNode per bus, TopologicalNodes."""
    nodes = Nodes()
    model.add(
        "GL", "CoordinateSystem", model.id("crs"), IdentifiedObject__name="WGS 84", CoordinateSystem__crsUrn=WGS84
    )
    for vn_kv in sorted({float(v) for v in net.bus["vn_kv"]}):
        model.add(
            "EQ",
            "BaseVoltage",
            model.id("BaseVoltage", vn_kv),
            IdentifiedObject__name=f"{vn_kv:g} kV",
            BaseVoltage__nominalVoltage=vn_kv,
        )
    for index, bus in net.bus.iterrows():
        i = int(index)
        name = name_or(bus["name"], f"bus {i}")
        nodes.name[i], nodes.vn_kv[i] = name, float(bus["vn_kv"])
        nodes.bv[i] = model.id("BaseVoltage", float(bus["vn_kv"]))
        substation, nodes.vl[i], nodes.cn[i] = (
            model.id("Substation", i),
            model.id("VoltageLevel", i),
            model.id("ConnectivityNode", i),
        )
        model.add("EQ", "Substation", substation, IdentifiedObject__name=name)
        model.add(
            "EQ",
            "VoltageLevel",
            nodes.vl[i],
            IdentifiedObject__name=name,
            VoltageLevel__BaseVoltage=ref(nodes.bv[i]),
            VoltageLevel__Substation=ref(substation),
        )
        model.add(
            "EQ",
            "ConnectivityNode",
            nodes.cn[i],
            IdentifiedObject__name=name,
            ConnectivityNode__ConnectivityNodeContainer=ref(nodes.vl[i]),
        )
        add_location(model, substation, geo_coordinates(bus.get("geo")))
    groups = closed_bus_groups(net)
    for i in nodes.cn:
        head = groups.get(i, i)
        nodes.tn[i] = model.id("TopologicalNode", head)
        if head == i:
            model.add(
                "TP",
                "TopologicalNode",
                nodes.tn[i],
                IdentifiedObject__name=nodes.name[i],
                TopologicalNode__BaseVoltage=ref(nodes.bv[i]),
                TopologicalNode__ConnectivityNodeContainer=ref(nodes.vl[i]),
            )
        model.add("TP", "ConnectivityNode", "#" + nodes.cn[i], ConnectivityNode__TopologicalNode=ref(nodes.tn[i]))
    return nodes


def closed_bus_groups(net: Any) -> dict[int, int]:
    """Bus -> the smallest bus it is joined to by closed bus-bus switches (union-find)."""
    parent: dict[int, int] = {}

    def root(b: int) -> int:
        while parent.get(b, b) != b:
            b = parent[b]
        return b

    if "switch" in net and len(net.switch):
        closed = net.switch[(net.switch["et"] == "b") & net.switch["closed"].astype(bool)]
        for a, b in zip(closed["bus"].astype(int), closed["element"].astype(int), strict=True):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {b: root(b) for b in list(parent)}


def add_terminal(
    model: CgmesModel, nodes: Nodes, equipment: str, number: int, bus: int, *, connected: bool, node: str | None = None
) -> str:
    """A Terminal of an equipment at a bus (or at an extra node), in EQ, SSH and TP."""
    terminal = model.id("Terminal", equipment, number)
    model.add(
        "EQ",
        "Terminal",
        terminal,
        IdentifiedObject__name=f"T{number}",
        Terminal__ConductingEquipment=ref(equipment),
        Terminal__ConnectivityNode=ref(node or nodes.cn[bus]),
        ACDCTerminal__sequenceNumber=number,
    )
    model.add("SSH", "Terminal", "#" + terminal, ACDCTerminal__connected=connected)
    model.add(
        "TP",
        "Terminal",
        "#" + terminal,
        Terminal__TopologicalNode=ref(model.id("TopologicalNode", "end", equipment, number) if node else nodes.tn[bus]),
    )
    return terminal


def open_end_switches(net: Any) -> dict[tuple[str, int, int], Any]:
    """(element type, element, bus) -> switch row, for open switches at line and transformer ends."""
    if "switch" not in net or not len(net.switch):
        return {}
    sw = net.switch[net.switch["et"].isin(("l", "t")) & ~net.switch["closed"].astype(bool)]
    return {(str(row.et), int(row.element), int(row.bus)): row for row in sw.itertuples()}


def end_node(
    model: CgmesModel,
    nodes: Nodes,
    opened: dict[tuple[str, int, int], Any],
    et: str,
    equipment: str,
    element: int,
    bus: int,
    number: int,
) -> str | None:
    """An extra node and an open Breaker to the bus when the element's end at ``bus`` has an open switch."""
    row = opened.get((et, element, bus))
    if row is None:
        return None
    node = model.id("ConnectivityNode", "end", equipment, number)
    name = f"{nodes.name[bus]} / {name_or(row.name, f'switch {row.Index}')}"
    model.add(
        "EQ",
        "ConnectivityNode",
        node,
        IdentifiedObject__name=name,
        ConnectivityNode__ConnectivityNodeContainer=ref(nodes.vl[bus]),
    )
    tn = model.id("TopologicalNode", "end", equipment, number)
    model.add(
        "TP",
        "TopologicalNode",
        tn,
        IdentifiedObject__name=name,
        TopologicalNode__BaseVoltage=ref(nodes.bv[bus]),
        TopologicalNode__ConnectivityNodeContainer=ref(nodes.vl[bus]),
    )
    model.add("TP", "ConnectivityNode", "#" + node, ConnectivityNode__TopologicalNode=ref(tn))
    add_breaker(
        model,
        nodes,
        f"switch {row.Index}",
        name_or(row.name, f"switch {row.Index}"),
        bus,
        open_=True,
        node_b=node,
        tn_b=tn,
    )
    return node


def add_breaker(
    model: CgmesModel,
    nodes: Nodes,
    key: str,
    name: str,
    bus_a: int,
    *,
    open_: bool,
    bus_b: int | None = None,
    node_b: str | None = None,
    tn_b: str | None = None,
) -> None:
    """A Breaker from a bus to another bus or to an extra node, with its state in SSH."""
    breaker = model.id("Breaker", key)
    model.add(
        "EQ",
        "Breaker",
        breaker,
        IdentifiedObject__name=name,
        Switch__normalOpen=open_,
        Switch__retained=False,
        Equipment__EquipmentContainer=ref(nodes.vl[bus_a]),
    )
    model.add("SSH", "Breaker", "#" + breaker, Switch__open=open_)
    add_terminal(model, nodes, breaker, 1, bus_a, connected=True)
    if node_b is not None:
        terminal = model.id("Terminal", breaker, 2)
        model.add(
            "EQ",
            "Terminal",
            terminal,
            IdentifiedObject__name="T2",
            Terminal__ConductingEquipment=ref(breaker),
            Terminal__ConnectivityNode=ref(node_b),
            ACDCTerminal__sequenceNumber=2,
        )
        model.add("SSH", "Terminal", "#" + terminal, ACDCTerminal__connected=True)
        model.add("TP", "Terminal", "#" + terminal, Terminal__TopologicalNode=ref(tn_b or ""))
    else:
        assert bus_b is not None
        add_terminal(model, nodes, breaker, 2, bus_b, connected=True)


def write_bus_switches(model: CgmesModel, net: Any, nodes: Nodes) -> None:
    """Bus-bus switches as Breakers, open or closed."""
    if "switch" not in net or not len(net.switch):
        return
    for index, row in net.switch[net.switch["et"] == "b"].iterrows():
        add_breaker(
            model,
            nodes,
            f"switch {index}",
            name_or(row["name"], f"switch {index}"),
            int(row["bus"]),
            open_=not bool(row["closed"]),
            bus_b=int(row["element"]),
        )
