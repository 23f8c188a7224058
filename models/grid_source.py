"""The district's low-voltage grid as a pandapower net, from SimBench or a pandapower JSON file.

``simbench.get_simbench_net`` takes ~3.7 s (FIELD-NOTES), so a SimBench net is
cached twice: on disk as a pandapower JSON file without its ``profiles`` tables
(under :func:`cache_dir`), and in the process. Callers always get their own deep
copy, so no caller can change another's net. A grid operator's net comes as a
pandapower JSON file (``pandapower.to_json``). Every failure to load a grid is a
one-line :class:`~twin.core.errors.ConfigError`. :func:`grid_summary` counts
buses, feeders (branches leaving the transformers' LV busbars) and the
transformer rating for ``twin district show``.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.core.errors import ConfigError

__all__ = [
    "CACHE_DIR_ENV",
    "GridSummary",
    "cache_dir",
    "check_net",
    "grid_summary",
    "load_pandapower_excel",
    "load_pandapower_json",
    "load_simbench_net",
    "place_net",
    "simbench_codes",
    "write_pandapower",
]

logger = logging.getLogger(__name__)

#: Environment variable that overrides the cache folder (tests use it).
CACHE_DIR_ENV = "TWIN_CACHE_DIR"


@dataclass(frozen=True)
class GridSummary:
    """A few figures of a low-voltage grid.

    Attributes
    ----------
    n_buses : int
        Number of buses, including the medium-voltage bus of the transformer.
    n_lines : int
        Number of lines.
    n_loads : int
        Number of loads in the net as delivered.
    n_feeders : int
        Number of lines leaving the low-voltage busbars of the transformers.
    transformer_s_rated_kva : float
        Sum of the rated apparent power of the transformers. [kVA]
    line_length_km : float
        Total length of all lines. [km]
    """

    n_buses: int
    n_lines: int
    n_loads: int
    n_feeders: int
    transformer_s_rated_kva: float
    line_length_km: float


def cache_dir() -> Path:
    """Return the folder of cached grids.

    ``$TWIN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/beucha-twin``, else
    ``~/.cache/beucha-twin``. The folder need not exist.

    Returns
    -------
    path : pathlib.Path
        The cache folder.
    """
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "beucha-twin"


@functools.cache
def simbench_codes() -> frozenset[str]:
    """Return every SimBench code the installed ``simbench`` package knows.

    Returns
    -------
    codes : frozenset of str
        E.g. ``"1-LV-semiurb5--0-sw"``.
    """
    import simbench

    return frozenset(simbench.collect_all_simbench_codes())


def load_simbench_net(code: str, *, file: str | None = None, field: str | None = None) -> Any:
    """Return the pandapower net of a SimBench grid, cached on disk and in the process.

    Parameters
    ----------
    code : str
        SimBench code, e.g. ``"1-LV-semiurb5--0-sw"``.
    file, field : str, optional
        Where the code was read, for the error message.

    Returns
    -------
    net : pandapower.auxiliary.pandapowerNet
        A deep copy the caller may change, without the ``profiles`` tables.

    Raises
    ------
    ConfigError
        If the code is not a SimBench code.
    """
    if code not in simbench_codes():
        lv_examples = sorted(c for c in simbench_codes() if "-LV-" in c and c.endswith("--0-sw"))
        raise ConfigError(
            f"unknown SimBench code {code!r}",
            file=file,
            field=field,
            allowed="a code of simbench.collect_all_simbench_codes(), e.g. " + ", ".join(lv_examples[:6]),
        )
    return copy.deepcopy(_simbench_net_cached(code, str(cache_dir())))


def place_net(net: Any, latitude_deg: float, longitude_deg: float) -> tuple[float, float] | None:
    """Shift a net's geodata so the centroid of its buses lies at a location (in place).

    SimBench places its grids near 53.4 N, 11.8 E; a district elsewhere draws its grid at its own
    location: every bus and line coordinate (GeoJSON in ``geo``) moves by the same offset in
    degrees, so shapes and distances stay as SimBench drew them.

    Returns
    -------
    tuple of float or None
        The shift (longitude, latitude) in degrees; ``None`` when the buses have no coordinates.
    """
    points = [_geo(value) for value in net.bus["geo"]] if "geo" in net.bus else []
    coordinates = [c for point in points if point and isinstance((c := point.get("coordinates")), list) and len(c) >= 2]
    if not coordinates:
        return None
    d_lon = longitude_deg - sum(float(c[0]) for c in coordinates) / len(coordinates)
    d_lat = latitude_deg - sum(float(c[1]) for c in coordinates) / len(coordinates)
    for table in ("bus", "line"):
        frame = net[table]
        if "geo" in frame:
            frame["geo"] = [_shifted(value, d_lon, d_lat) for value in frame["geo"]]
    return d_lon, d_lat


def _geo(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _shifted(value: Any, d_lon: float, d_lat: float) -> Any:
    """A GeoJSON Point or LineString string moved by the offset (anything else unchanged)."""
    data = _geo(value)
    if data is None:
        return value

    def move(c: Any) -> Any:
        if isinstance(c, list) and len(c) >= 2 and all(isinstance(v, int | float) for v in c[:2]):
            return [round(float(c[0]) + d_lon, 7), round(float(c[1]) + d_lat, 7), *c[2:]]
        return [move(inner) for inner in c] if isinstance(c, list) else c

    data["coordinates"] = move(data.get("coordinates"))
    return json.dumps(data)


def load_pandapower_json(path: Path, *, file: str | None = None, field: str | None = None) -> Any:
    """Read a grid operator's pandapower net from a JSON file.

    Parameters
    ----------
    path : pathlib.Path
        File written by ``pandapower.to_json``.
    file, field : str, optional
        Where the path was read, for the error message.

    Returns
    -------
    net : pandapower.auxiliary.pandapowerNet
        The net.

    Raises
    ------
    ConfigError
        If the file is missing, is not a pandapower net, or lacks what a power flow needs
        (:func:`check_net`).
    """
    import pandapower as pp

    return _load(path, pp.from_json, "a JSON file written by pandapower.to_json", file=file, field=field)


def load_pandapower_excel(path: Path, *, file: str | None = None, field: str | None = None) -> Any:
    """Read a grid operator's pandapower net from an Excel file (``pandapower.to_excel``).

    As :func:`load_pandapower_json`, for the Excel format grid operators exchange.
    """
    import pandapower as pp

    return _load(path, pp.from_excel, "an Excel file written by pandapower.to_excel", file=file, field=field)


def write_pandapower(net: Any, path: Path) -> None:
    """Write a net as a pandapower JSON (``.json``) or Excel (``.xlsx``) file, which the loaders read back.

    Parameters
    ----------
    net : pandapower.auxiliary.pandapowerNet
        The grid.
    path : pathlib.Path
        File to write; the suffix chooses the format.
    """
    import pandapower as pp

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        pp.to_excel(net, str(path))
    else:
        pp.to_json(net, str(path))


def check_net(net: Any, *, where: str, file: str | None = None, field: str | None = None) -> None:
    """Refuse a net that lacks what the twin's power flow needs, naming what is missing.

    A net needs buses, an external grid (the slack), a transformer to the medium-voltage grid,
    and lines with impedances (from a standard type or their own ``r_ohm_per_km``/``x_ohm_per_km``).
    Bus coordinates are optional (the dashboard's grid map and matching buildings to buses by
    location need them).
    """
    problems = []
    if "bus" not in net or len(net.bus) == 0:
        problems.append("no buses")
    if "ext_grid" not in net or len(net.ext_grid) == 0:
        problems.append("no external grid (slack) - add pandapower.create_ext_grid at the medium-voltage bus")
    if "trafo" not in net or len(net.trafo) == 0:
        problems.append("no transformer - the twin rates the district against it")
    if "line" in net and len(net.line):
        for column in ("r_ohm_per_km", "x_ohm_per_km", "length_km"):
            bad = net.line[column].isna() if column in net.line else None
            if bad is None or bad.any():
                count = len(net.line) if bad is None else int(bad.sum())
                problems.append(f"{count} line(s) without {column} (a line type or its own values)")
    if problems:
        raise ConfigError(f"grid {where} is not usable: " + "; ".join(problems), file=file, field=field)


def _load(path: Path, reader: Any, allowed: str, *, file: str | None, field: str | None) -> Any:
    import pandapower as pp

    if not path.is_file():
        raise ConfigError(f"grid file {str(path)!r} does not exist", file=file, field=field)
    try:
        net = reader(str(path))
    except Exception as err:
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise ConfigError(
            f"grid file {str(path)!r} is not a pandapower net ({reason})", file=file, field=field, allowed=allowed
        ) from err
    if not isinstance(net, pp.pandapowerNet):
        raise ConfigError(f"grid file {str(path)!r} is not a pandapower net", file=file, field=field, allowed=allowed)
    check_net(net, where=repr(str(path)), file=file, field=field)
    return net


def grid_summary(net: Any) -> GridSummary:
    """Count buses, lines, loads and feeders of a net and sum its transformer ratings.

    Parameters
    ----------
    net : pandapower.auxiliary.pandapowerNet
        A low-voltage grid fed by one or more transformers.

    Returns
    -------
    summary : GridSummary
        The figures; ``n_feeders`` counts the lines attached to a transformer's
        low-voltage bus.
    """
    lv_buses = set(net.trafo.lv_bus) if len(net.trafo) else set()
    feeders = net.line[net.line.from_bus.isin(lv_buses) | net.line.to_bus.isin(lv_buses)]
    return GridSummary(
        n_buses=len(net.bus),
        n_lines=len(net.line),
        n_loads=len(net.load),
        n_feeders=len(feeders),
        transformer_s_rated_kva=float(net.trafo.sn_mva.sum() * 1000.0) if len(net.trafo) else 0.0,
        line_length_km=float(net.line.length_km.sum()),
    )


@functools.lru_cache(maxsize=4)
def _simbench_net_cached(code: str, folder: str) -> Any:
    """Load one SimBench net from the disk cache, or build it and write the cache."""
    import pandapower as pp
    import simbench

    path = Path(folder) / f"simbench-{simbench.__version__}-{code}.json"
    if path.is_file():
        try:
            return pp.from_json(str(path))
        except Exception:
            logger.warning("cached grid %s is unreadable; rebuilding it", path, exc_info=True)
    net = simbench.get_simbench_net(code)
    if "profiles" in net:
        del net["profiles"]
    _write_atomically(path, pp.to_json(net))
    return net


def _write_atomically(path: Path, text: str) -> None:
    """Write a cache file through a temporary file and a rename; skip if the folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as tmp:
            tmp.write(text)
        Path(tmp.name).replace(path)
    except OSError as err:
        logger.info("grid cache %s not written: %s", path, err)
