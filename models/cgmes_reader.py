"""A grid operator's CIM/CGMES grid model as a pandapower net, through pandapower's converter.

:func:`load_cgmes` reads a zip of CGMES 2.4.15 (or 3.0) RDF/XML profiles with
``pandapower.converter.cim.cim2pp.from_cim`` and refuses, in one line naming what is missing,
a model the twin cannot use: profiles it needs (EQ and SSH; TP for a model without
ConnectivityNodes), the slack (an ExternalNetworkInjection with voltage control), the
transformer (a PowerTransformer with its two ends, ratings and impedance), line impedances
(ACLineSegment r, x and length) and the geodata (bus positions in the GL profile: the
Location of each bus's Substation, which is where pandapower's reader takes them from).
Buses keep the names of their ConnectivityNodes (TopologicalNodes in a bus-branch model), so
buildings refer to them by name as in any other grid.
"""

from __future__ import annotations

import logging
import re
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from twin.core.errors import ConfigError

__all__ = ["REQUIRED_PROFILES", "cgmes_profiles", "load_cgmes"]

#: Profiles the twin needs: equipment and the steady-state hypothesis (powers, switch states).
REQUIRED_PROFILES: Final[tuple[str, ...]] = ("EQ", "SSH")
_PROFILE_KEYS: Final[tuple[tuple[str, str], ...]] = (
    ("EquipmentBoundary", "EQ_BD"),
    ("TopologyBoundary", "TP_BD"),
    ("EquipmentCore", "EQ"),
    ("CoreEquipment", "EQ"),
    ("SteadyStateHypothesis", "SSH"),
    ("Topology", "TP"),
    ("StateVariables", "SV"),
    ("GeographicalLocation", "GL"),
    ("DiagramLayout", "DL"),
)
_PROFILE_RE: Final[re.Pattern[str]] = re.compile(r"<md:Model\.profile>\s*([^<\s]+)\s*</md:Model\.profile>")
_SHOWN: Final[int] = 3


def cgmes_profiles(path: Path) -> tuple[dict[str, list[str]], str]:
    """Return the profiles in a CGMES zip (short name -> member files) and its CGMES version.

    Parameters
    ----------
    path : pathlib.Path
        The zip.

    Returns
    -------
    profiles : dict of str to list of str
        E.g. ``{"EQ": ["grid_EQ.xml"], "SSH": [...]}``.
    version : str
        ``"3.0"`` when a header names a CGMES 3 profile, else ``"2.4.15"``.

    Raises
    ------
    ConfigError
        If the file is no zip.
    """
    profiles: dict[str, list[str]] = {}
    version = "2.4.15"
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.lower().endswith((".xml", ".rdf")):
                    continue
                with archive.open(member) as stream:
                    head = stream.read(8192).decode("utf-8", errors="replace")
                for uri in _PROFILE_RE.findall(head):
                    if "/CIM100" in uri or "/3.0" in uri or "-EU/" in uri:
                        version = "3.0"
                    short = next((key for word, key in _PROFILE_KEYS if f"/{word}" in uri), None)
                    if short is not None and member not in profiles.setdefault(short, []):
                        profiles[short].append(member)
    except (zipfile.BadZipFile, OSError) as err:
        raise ConfigError(f"grid file {str(path)!r} is not a CGMES zip ({err})") from err
    return profiles, version


def load_cgmes(path: Path, *, file: str | None = None, field: str | None = None) -> Any:
    """Read a grid operator's CGMES zip as a pandapower net.

    Parameters
    ----------
    path : pathlib.Path
        Zip of the RDF/XML profiles (EQ, SSH, TP, GL; SV optional).
    file, field : str, optional
        Where the path was read, for the error message.

    Returns
    -------
    net : pandapower.auxiliary.pandapowerNet
        The net; buses named as their ConnectivityNodes, bus and line coordinates from GL.

    Raises
    ------
    ConfigError
        If the file is missing or no CGMES zip, or the model lacks a profile, the slack, the
        transformer, line impedances or bus coordinates (all named in one line).
    """
    where = repr(str(path))
    if not path.is_file():
        raise ConfigError(f"grid file {where} does not exist", file=file, field=field)
    try:
        profiles, version = cgmes_profiles(path)
    except ConfigError as err:
        raise ConfigError(err.message, file=file, field=field) from err
    missing = [p for p in REQUIRED_PROFILES if p not in profiles]
    if missing:
        found = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"grid {where} lacks the CGMES profile(s) {', '.join(missing)} (found: {found})",
            file=file,
            field=field,
            allowed="a zip with EQ, SSH, TP and GL profiles (SV optional)",
        )
    net = _convert(path, version, where, file=file, field=field)
    problems = cgmes_problems(net, has_gl="GL" in profiles, has_tp="TP" in profiles)
    if problems:
        raise ConfigError(f"grid {where} is not usable: " + "; ".join(problems), file=file, field=field)
    return net


def cgmes_problems(net: Any, *, has_gl: bool = True, has_tp: bool = True) -> list[str]:
    """What a converted CGMES net lacks for the twin's power flow and grid map, one phrase each.

    Parameters
    ----------
    net : pandapower.auxiliary.pandapowerNet
        A net from ``from_cim``.
    has_gl, has_tp : bool, optional
        Whether the zip had a GL / TP profile (for the wording).

    Returns
    -------
    problems : list of str
        Empty when the net is usable.
    """
    if len(net.bus) == 0:
        hint = "" if has_tp else " (a bus-branch model needs its TP profile)"
        return [f"no buses: no ConnectivityNode or TopologicalNode{hint}"]
    problems = []
    if len(net.ext_grid) == 0:
        problems.append("no slack: no ExternalNetworkInjection with controlEnabled and a voltage RegulatingControl")
    elif not net.ext_grid["in_service"].astype(bool).any():
        problems.append("no slack in service: the ExternalNetworkInjection's Terminal is not connected")
    if len(net.trafo) == 0:
        problems.append("no transformer: no PowerTransformer with two PowerTransformerEnds")
    else:
        bad = _bad_rows(net.trafo, ("sn_mva", "vn_hv_kv", "vn_lv_kv", "vk_percent", "vkr_percent"), positive=True)
        if bad:
            problems.append(f"{len(bad)} transformer(s) without ratedS, ratedU, r or x on their ends, e.g. {bad[0]!r}")
    if len(net.line):
        bad = _bad_rows(net.line, ("length_km", "r_ohm_per_km", "x_ohm_per_km"), positive=False)
        if bad:
            shown = ", ".join(repr(name) for name in bad[:_SHOWN])
            problems.append(f"{len(bad)} ACLineSegment(s) without r, x or length (line impedances), e.g. {shown}")
    if not has_gl:
        problems.append("no geodata: the zip has no GL (GeographicalLocation) profile with the buses' positions")
    else:
        no_geo = net.bus.index[net.bus["geo"].isna()] if "geo" in net.bus else net.bus.index
        if len(no_geo):
            shown = ", ".join(repr(str(net.bus.at[i, "name"])) for i in no_geo[:_SHOWN])
            problems.append(
                f"{len(no_geo)} bus(es) without coordinates (a GL Location of their Substation), e.g. {shown}"
            )
    return problems


def _bad_rows(frame: Any, columns: tuple[str, ...], *, positive: bool) -> list[str]:
    """Names of rows with a missing, infinite or (for ``positive``) non-positive value in a column."""
    import numpy as np

    bad = np.zeros(len(frame), dtype=bool)
    for column in columns:
        values = frame[column].astype(float).to_numpy() if column in frame else np.full(len(frame), np.nan)
        bad |= ~np.isfinite(values)
        if column == "length_km" or positive:
            bad |= ~(values > 0)
    return [str(name) for name in frame.loc[bad, "name"]]


def _convert(path: Path, version: str, where: str, *, file: str | None, field: str | None) -> Any:
    import pandas as pd
    from pandapower.converter.cim.cim2pp import from_cim

    try:
        with _quiet_converter(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", pd.errors.SettingWithCopyWarning)
            net = from_cim.from_cim(file_list=[str(path)], cgmes_version=version, create_tap_controller=False)
    except Exception as err:
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise ConfigError(f"grid {where} could not be converted from CGMES ({reason})", file=file, field=field) from err
    net.pop("report_container", None)
    return net


@contextmanager
def _quiet_converter() -> Iterator[None]:
    """Hold back the converter's info and warning log lines (its findings are checked afterwards)."""
    from pandapower.converter.cim.cim2pp import from_cim

    names = ["cim", "CimParser", "CimConverter", "pandapower"]
    names += [cls.__name__ for cls in from_cim.get_converter_classes().values()]
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
