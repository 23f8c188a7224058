"""A disk cache of the shared inputs of scenario runs, so that a new process need not rebuild them.

Preparing the shared inputs (:func:`scenarios.runner.prepare_shared`: the district and
its grid, the weather, the BDEW load and heat shapes, and the prepared power flow of
the unchanged grid) costs a new process more than a second. :func:`cached_shared`
keeps them as one pickle file per key under ``<cache dir>/shared/`` (the cache folder
of :func:`models.grid_source.cache_dir`: ``$TWIN_CACHE_DIR``, else
``$XDG_CACHE_HOME/beucha-twin``, else ``~/.cache/beucha-twin``).

The key is a sha256 over everything the shared inputs depend on: the district, weather
and year as asked for, the bytes of the district file, of its pandapower JSON grid file
and of the weather file, the source files that build them (the packages ``models`` and
``twin.core``, :mod:`scenarios.runner` and this module), the Python version and the names
of every installed distribution (which carry their versions). Any change to
one of them is a new key; old files are never read again. A file starts with a magic
line and the sha256 of its payload: a torn, truncated or otherwise corrupt file fails
that check (or unpickling) and is rebuilt; a cache that cannot be written is skipped. A
file is written to a temporary name in the same folder and renamed over the target, so
concurrent writers of the same key never leave a torn file.

Nets are stored as :class:`models.net_tables.NetTables` with their pandapower JSON
template, so that a run on cached inputs neither unpickles nor writes through pandapower.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import yaml

import models
import twin.core
from models.district import BUILT_IN_DISTRICTS, district_path
from models.grid_source import cache_dir
from models.net_tables import light_net
from models.weather import default_weather_path
from scenarios.runner import SharedInputs, prepare_shared
from twin.core.errors import ConfigError
from twin.core.yaml_files import parse_yaml

__all__ = ["SHARED_CACHE_FOLDER", "cached_shared", "shared_cache_key", "shared_cache_path"]

logger = logging.getLogger(__name__)

#: Sub-folder of the cache folder that holds the shared inputs.
SHARED_CACHE_FOLDER: Final[str] = "shared"
#: First line of every cache file; a new layout gets a new line.
_MAGIC: Final[bytes] = b"beucha-twin shared inputs v2\n"
_DIGEST_BYTES: Final[int] = 32
#: Modules of this package that decide what the shared inputs hold.
_SCENARIO_MODULES: Final[tuple[str, ...]] = ("runner.py", "shared_cache.py")


def cached_shared(
    district: str, weather: str | None, year: int, *, threads: int = 1, use_cache: bool = True
) -> SharedInputs:
    """The shared inputs of a district, weather and year: from the disk cache, else prepared and stored.

    Parameters
    ----------
    district : str
        Built-in district name or district file.
    weather : str, optional
        Weather file; default the embedded DWD TRY2010 region 4.
    year : int
        Calendar year.
    threads : int
        Power-flow solver threads.
    use_cache : bool
        False: prepare them and neither read nor write the cache.

    Returns
    -------
    shared : SharedInputs
        Equal to ``prepare_shared(district, weather, year, threads=threads)``, with the
        power flow of the unchanged grid prepared.

    Raises
    ------
    ConfigError
        For bad input files, as :func:`scenarios.runner.prepare_shared`.
    """
    if not use_cache:
        return prepare_shared(district, weather, year, threads=threads)
    path = shared_cache_path(district, weather, year)
    shared = _read(path) if path is not None else None
    if shared is None or shared.key != (district, weather, year):
        shared = prepare_shared(district, weather, year, threads=threads)
        shared.flow_for(None)
        if path is not None:
            _write(path, shared)
    shared.threads = threads
    for _net, flow in shared._flows.values():
        flow.options = dataclasses.replace(flow.options, threads=threads)
    return shared


def shared_cache_path(district: str, weather: str | None, year: int) -> Path | None:
    """The cache file of a district, weather and year; None when an input file cannot be read."""
    key = shared_cache_key(district, weather, year)
    return None if key is None else cache_dir() / SHARED_CACHE_FOLDER / f"{key}.pkl"


def shared_cache_key(district: str, weather: str | None, year: int) -> str | None:
    """sha256 of everything the shared inputs depend on; None when an input file cannot be read.

    Unreadable inputs are left to :func:`scenarios.runner.prepare_shared`, which names them.
    """
    digest = hashlib.sha256()
    digest.update(_MAGIC + repr((district, weather, year, sys.version)).encode())
    try:
        district_file = district_path(district)
        digest.update(b"district\n" + district_file.read_bytes())
        grid_file = _grid_file(district_file)
        if grid_file is not None:
            digest.update(b"grid\n" + grid_file.read_bytes())
        weather_file = Path(weather) if weather is not None else default_weather_path()
        digest.update(b"weather\n" + weather_file.read_bytes())
    except (OSError, ValueError, yaml.YAMLError, ConfigError):
        return None
    if district in BUILT_IN_DISTRICTS:
        digest.update(f"built-in {district}\n".encode())
    digest.update(_code_digest())
    return digest.hexdigest()


def _grid_file(district_file: Path) -> Path | None:
    """The pandapower JSON file a district file names, if any."""
    text = district_file.read_text(encoding="utf-8")
    if "pandapower_json" not in text:  # a SimBench grid: no need to parse the whole file
        return None
    data = parse_yaml(text)
    grid = data.get("grid") if isinstance(data, dict) else None
    name = grid.get("pandapower_json") if isinstance(grid, dict) else None
    if not isinstance(name, str):
        return None
    path = Path(name)
    return path if path.is_absolute() else district_file.parent / path


def _code_digest() -> bytes:
    """sha256 over the sources that build the shared inputs and the installed distributions."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for package in (models, twin.core):
        root = Path(next(iter(package.__path__)))
        files.extend(sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()))
    here = Path(__file__).parent
    files.extend(here / name for name in _SCENARIO_MODULES)
    for path in files:
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    for entry in sys.path:
        try:
            names = sorted(p.name for p in Path(entry or ".").iterdir() if p.suffix in (".dist-info", ".egg-info"))
        except OSError:
            continue
        digest.update("\n".join(names).encode())
    return digest.digest()


def _read(path: Path) -> SharedInputs | None:
    """The shared inputs of a cache file; None when it is missing, torn or corrupt."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + _DIGEST_BYTES
    payload = data[head:]
    if data[: len(_MAGIC)] != _MAGIC or hashlib.sha256(payload).digest() != data[len(_MAGIC) : head]:
        logger.warning("shared-input cache %s is corrupt; rebuilding it", path)
        return None
    try:
        shared = pickle.loads(payload)
    except Exception:
        logger.warning("shared-input cache %s is unreadable; rebuilding it", path, exc_info=True)
        return None
    return shared if isinstance(shared, SharedInputs) else None


class _Pickler(pickle.Pickler):
    """Pickles pandapower nets as :class:`models.net_tables.NetTables`, which read without pandapower."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind.__name__ == "pandapowerNet" and kind.__module__.startswith("pandapower"):
            return light_net(obj).__reduce__()
        return NotImplemented


def _write(path: Path, shared: SharedInputs) -> None:
    """Write a cache file through a temporary file and a rename; skip it if the folder is not writable."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(shared)
    payload = buffer.getvalue()
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=".", suffix=".tmp", delete=False) as file:
            tmp = Path(file.name)
            file.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        tmp.replace(path)
        tmp = None
    except OSError as err:
        logger.info("shared-input cache %s not written: %s", path, err)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
