"""A pandapower low-voltage net as a CGMES 2.4.15 grid model: EQ, SSH, TP, SV and GL profiles in one zip.

pandapower reads CIM/CGMES (``pandapower.converter.cim.cim2pp.from_cim``) but writes none, so
:func:`write_cgmes` writes the element kinds of a distribution grid as RDF/XML that pandapower's
reader turns back into the same power flow (checked by ``bench/bench_cgmes_roundtrip.py``):

* every bus a ``ConnectivityNode`` in its own ``VoltageLevel`` and ``Substation`` (the Substation
  carries the bus position in the GL profile, which is where pandapower's reader takes bus
  coordinates from), with a ``TopologicalNode`` per group of buses joined by closed bus-bus switches;
* lines ``ACLineSegment`` (r, x, bch, gch for the whole length, length in km, a PATL
  ``CurrentLimit``), transformers ``PowerTransformer`` with two ``PowerTransformerEnd`` (impedance
  and magnetising admittance on the high-voltage end, the clock number, a ``RatioTapChanger``);
* the external grid an ``ExternalNetworkInjection`` with a voltage ``RegulatingControl``
  (the slack), loads ``EnergyConsumer``, static generators ``SynchronousMachine`` without
  voltage control on a ``SolarGeneratingUnit`` (PV), ``WindGeneratingUnit`` (WP) or ``GeneratingUnit``;
* switches: a bus-bus switch a ``Breaker``; an open switch at a line or transformer end a
  ``Breaker`` to a node of its own at that end; closed switches at line and transformer ends,
  which change nothing electrically, are left out;
* SSH holds powers, tap steps, switch states and ``Terminal.connected`` (out-of-service elements
  are disconnected); SV the bus voltages of a power flow of the net as it stands.

Identifiers are name-based UUIDs, so the same net always gives the same files. Other element
kinds (gen, storage, shunt, trafo3w, ...) and transformer tap characteristics are refused with a
:class:`~twin.core.errors.ConfigError` naming them.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from models.cgmes_equipment import write_injections, write_lines, write_slack, write_transformers, write_voltages
from models.cgmes_nodes import CGMES_PROFILES, CIM_NS, ENTSOE_NS, CgmesModel, write_bus_switches, write_buses
from twin.core.errors import ConfigError

__all__ = ["CGMES_PROFILES", "CGMES_VERSION", "CgmesExport", "write_cgmes"]

CGMES_VERSION: Final[str] = "2.4.15"
#: Profile short name -> (file suffix, Model.profile URIs).
UNSUPPORTED_TABLES: Final[tuple[str, ...]] = (
    "gen",
    "storage",
    "shunt",
    "trafo3w",
    "impedance",
    "ward",
    "xward",
    "dcline",
    "motor",
    "asymmetric_load",
    "asymmetric_sgen",
    "svc",
    "tcsc",
    "ssc",
    "vsc",
)

_HEADER: Final[str] = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<rdf:RDF xmlns:cim="{CIM_NS}" xmlns:entsoe="{ENTSOE_NS}" '
    'xmlns:md="http://iec.ch/TC57/61970-552/ModelDescription/1#" '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
)


@dataclass(frozen=True)
class CgmesExport:
    """What :func:`write_cgmes` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The zip file.
    profiles : tuple of str
        Profiles in the zip, e.g. ``("EQ", "SSH", "TP", "SV", "GL")``.
    counts : dict of str to int
        Number of objects per CIM class.
    """

    path: Path
    profiles: tuple[str, ...]
    counts: dict[str, int]


def write_cgmes(net: Any, path: Path, *, model_name: str = "grid", created: dt.datetime | None = None) -> CgmesExport:
    """Write a pandapower net as a CGMES 2.4.15 zip (EQ, SSH, TP, SV, GL).

    Parameters
    ----------
    net : pandapower.auxiliary.pandapowerNet
        The grid; it is not changed.
    path : pathlib.Path
        Zip file to write (replaced if it exists).
    model_name : str, optional
        Name in the model headers and the files' names.
    created : datetime, optional
        Creation time in the headers (UTC); default now.

    Returns
    -------
    export : CgmesExport
        The file, its profiles and the number of objects per class.

    Raises
    ------
    ConfigError
        If the net holds elements the export does not cover (naming them and how many).
    """
    _refuse_unsupported(net)
    model = CgmesModel(uuid.uuid5(uuid.NAMESPACE_URL, f"beucha-twin:{model_name}"))
    nodes = write_buses(model, net)
    write_lines(model, net, nodes)
    write_transformers(model, net, nodes)
    write_slack(model, net, nodes)
    write_injections(model, net, nodes)
    write_bus_switches(model, net, nodes)
    write_voltages(model, net, nodes)
    stamp = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for profile, uris in CGMES_PROFILES.items():
            text = "".join(_document(model, profile, uris, model_name, stamp))
            archive.writestr(f"{model_name}_{profile}.xml", text)
    tmp.replace(path)
    counts: dict[str, int] = {}
    for cls, _, _ in model.objects["EQ"]:
        counts[cls] = counts.get(cls, 0) + 1
    return CgmesExport(path=path, profiles=tuple(CGMES_PROFILES), counts=counts)


def _refuse_unsupported(net: Any) -> None:
    found = [f"{len(net[t])} {t}" for t in UNSUPPORTED_TABLES if t in net and len(net[t])]
    if found:
        raise ConfigError(
            "the CGMES export covers bus, line, trafo, ext_grid, load, sgen and switch; the net also has "
            + ", ".join(found),
            field="grid",
        )
    if len(net.bus) and not net.bus["in_service"].astype(bool).all():
        names = [str(n) for n in net.bus.loc[~net.bus["in_service"].astype(bool), "name"]]
        raise ConfigError(f"{len(names)} bus(es) out of service, e.g. {names[0]!r}; remove them first", field="grid")
    if len(net.ext_grid) == 0:
        raise ConfigError("the net has no external grid (slack)", field="grid")


def _document(model: CgmesModel, profile: str, uris: Iterable[str], model_name: str, stamp: str) -> Iterator[str]:
    yield _HEADER
    yield f'  <md:FullModel rdf:about="urn:uuid:{model.id("model", profile)[1:]}">\n'
    yield f"    <md:Model.scenarioTime>{stamp}</md:Model.scenarioTime>\n"
    yield f"    <md:Model.created>{stamp}</md:Model.created>\n"
    yield f"    <md:Model.description>{escape(model_name)}</md:Model.description>\n"
    yield "    <md:Model.version>1</md:Model.version>\n"
    if profile != "EQ":
        yield f'    <md:Model.DependentOn rdf:resource="urn:uuid:{model.id("model", "EQ")[1:]}"/>\n'
    for uri in uris:
        yield f"    <md:Model.profile>{uri}</md:Model.profile>\n"
    yield "    <md:Model.modelingAuthoritySet>https://github.com/beucha-twin</md:Model.modelingAuthoritySet>\n"
    yield "  </md:FullModel>\n"
    for cls, rdf_id, items in model.objects[profile]:
        head = f"rdf:about={quoteattr(rdf_id)}" if rdf_id.startswith("#") else f"rdf:ID={quoteattr(rdf_id)}"
        yield f"  <cim:{cls} {head}>\n"
        for attr, value, is_ref in items:
            prefix = "entsoe" if attr.startswith("OperationalLimitType.limitType") else "cim"
            if is_ref:
                yield f"    <{prefix}:{attr} rdf:resource={quoteattr(value)}/>\n"
            else:
                yield f"    <{prefix}:{attr}>{escape(value)}</{prefix}:{attr}>\n"
        yield f"  </cim:{cls}>\n"
    yield "</rdf:RDF>\n"
