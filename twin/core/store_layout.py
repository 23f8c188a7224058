"""How the store's Zarr tables are laid out on disk, and which of their rows are kept.

A table written row by row for years must stay a bounded number of files: the ``value`` and
``quality`` arrays are sharded (Zarr v3 ``sharding_indexed``): one file per shard of
:attr:`TableLayout.shard_rows` rows and up to :attr:`TableLayout.shard_channels` channels, holding
inner chunks of :attr:`TableLayout.chunk_rows` x :attr:`TableLayout.chunk_channels` that are
compressed one by one (Blosc LZ4 with byte shuffle: ~3x faster to read than zstd, files ~30 %
larger) and read one by one, so a day or a few channels are read without the rest of the shard.
The ``time`` array has long plain chunks.

An append rewrites only the shard it touches, and a shard file is replaced atomically (Zarr's
local store writes a temporary file and renames it), so the append-and-commit pattern of
:mod:`twin.core.store` holds as with plain chunks. Tables created before this layout (time
chunks of 96, channel chunks of 256, one file per chunk) keep their layout: they are read and
appended to as they are.

The retention marker ``retention.json`` in a table's folder says from which row on the table is
kept (``first_row``; rows before it were dropped by :mod:`twin.core.retention`); readers start
there. It lives inside the table, so a table made anew never inherits an old marker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle

from twin.core.errors import ConfigError
from twin.core.schema import QUALITY_FLAGS

__all__ = [
    "LEGACY_LAYOUT",
    "TABLE_LAYOUTS",
    "TableLayout",
    "create_table_arrays",
    "first_kept_row",
    "retention_path",
]


@dataclass(frozen=True)
class TableLayout:
    """Shard and chunk shapes of one table.

    Attributes
    ----------
    time_chunk_rows : int
        Rows per file of the ``time`` array.
    shard_rows, shard_channels : int
        Rows and channels per file of ``value`` and ``quality`` (0: not sharded, one file per chunk).
    chunk_rows, chunk_channels : int
        Rows and channels per inner chunk (compressed and read as a unit); divide the shard.
    """

    time_chunk_rows: int
    shard_rows: int
    shard_channels: int
    chunk_rows: int
    chunk_channels: int

    def files_per_rows(self, rows: int, channels: int) -> int:
        """Files of the three arrays for ``rows`` rows of ``channels`` channels (without metadata)."""
        row_files = -(-rows // (self.shard_rows or self.chunk_rows))
        channel_files = -(-channels // (self.shard_channels or self.chunk_channels))
        return 2 * row_files * channel_files + -(-rows // self.time_chunk_rows)


#: Layout of new tables: 1-minute shards of 8 hours (3 files a day per array), 15-minute
#: shards of 10 days; up to 16,384 channels in one shard (channels beyond the table's width
#: cost nothing: inner chunks outside the array are never written).
TABLE_LAYOUTS: Final[dict[str, TableLayout]] = {
    "1min": TableLayout(
        time_chunk_rows=10_080, shard_rows=480, shard_channels=16_384, chunk_rows=96, chunk_channels=256
    ),
    "15min": TableLayout(
        time_chunk_rows=10_080, shard_rows=960, shard_channels=16_384, chunk_rows=96, chunk_channels=256
    ),
}
#: The layout of tables created before sharding (one file per 96 x 256 chunk).
LEGACY_LAYOUT: Final[TableLayout] = TableLayout(
    time_chunk_rows=96, shard_rows=0, shard_channels=0, chunk_rows=96, chunk_channels=256
)
_COMPRESSOR: Final[BloscCodec] = BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.shuffle)
_MISSING: Final[int] = QUALITY_FLAGS["missing"]


def create_table_arrays(group: zarr.Group, name: str, layout: TableLayout | None = None) -> None:
    """Create the empty ``time``, ``value`` and ``quality`` arrays of a new table in ``group``.

    Parameters
    ----------
    group : zarr.Group
        The table's (new, empty) group.
    name : str
        ``"1min"`` or ``"15min"``: picks the layout from :data:`TABLE_LAYOUTS`.
    layout : TableLayout, optional
        Another layout (e.g. :data:`LEGACY_LAYOUT`).
    """
    layout = layout or TABLE_LAYOUTS[name]
    group.create_array("time", shape=(0,), chunks=(layout.time_chunk_rows,), dtype="int64", fill_value=0)
    shape, chunks = (0, layout.chunk_channels), (layout.chunk_rows, layout.chunk_channels)
    options: dict[str, Any] = {"shape": shape, "chunks": chunks}
    if layout.shard_rows:
        options["shards"] = (layout.shard_rows, layout.shard_channels)
        options["compressors"] = _COMPRESSOR
    group.create_array("value", dtype="float64", fill_value=np.nan, **options)
    group.create_array("quality", dtype="int8", fill_value=_MISSING, **options)


def retention_path(table_path: Path) -> Path:
    """The retention marker of a table (``means_1min.zarr/retention.json``)."""
    return table_path / "retention.json"


def first_kept_row(table_path: Path, rows: int | None = None) -> int:
    """The first row a table keeps (0 when it never dropped rows).

    Parameters
    ----------
    table_path : Path
        The table's folder (``means_1min.zarr``).
    rows : int, optional
        The table's committed rows: a marker beyond them disagrees with the commit record.

    Raises
    ------
    ConfigError
        The marker is unreadable, not a retention record, or beyond the committed rows (names the file).
    """
    path = retention_path(table_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    except OSError as err:
        raise ConfigError(f"cannot read the retention marker: {err.strerror or err}", file=str(path)) from err
    try:
        data = json.loads(text)
        row = data["first_row"]
    except (ValueError, TypeError, KeyError):
        raise ConfigError(
            "not a retention marker (expected JSON with first_row); restore it or delete it to show every row",
            file=str(path),
        ) from None
    if not isinstance(row, int) or isinstance(row, bool) or row < 0:
        raise ConfigError(f"first_row must be an integer >= 0, got {row!r}", file=str(path))
    if rows is not None and row > rows:
        raise ConfigError(
            f"the retention marker starts at row {row}, beyond the {rows} committed rows of the table",
            file=str(path),
        )
    return row
