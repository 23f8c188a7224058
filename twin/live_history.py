"""The live twin's year so far from its store: the stored quarters' flows, all at once.

A store back-filled with a year of meter data (``twin import``) holds tens of thousands of
quarters of every boundary's flows; :func:`stored_flows` turns the 15-minute table's flow
columns into one (boundary x flow) array of energies and one of quality flags per quarter with
array operations, so that ``twin live`` starts in about a second on such a store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from twin.core.vocabulary import QUALITY_FLAGS

__all__ = ["stored_flows"]


def stored_flows(
    channels: Sequence[str],
    values: np.ndarray,
    quality: np.ndarray,
    starts: np.ndarray,
    flow_index: Mapping[str, tuple[int, int]],
    shape: tuple[int, int],
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The quarters with a stored flow: (start [s], energies [kWh], quality flags) per quarter.

    Parameters
    ----------
    channels : sequence of str
        The table's channels (columns of ``values`` and ``quality``).
    values, quality : numpy.ndarray
        The table's rows (time x channel).
    starts : numpy.ndarray
        The rows' quarter starts. [s]
    flow_index : mapping
        Flow channel -> (boundary, flow) position in ``shape``.
    shape : tuple of int
        Boundaries x flows of one quarter's arrays; a flow without a value is NaN and missing.
    """
    columns = [(index, flow_index[c]) for index, c in enumerate(channels) if c in flow_index]
    if not columns:
        return
    source = np.asarray([index for index, _ in columns])
    at_b, at_f = (np.asarray(axis) for axis in zip(*(where for _, where in columns), strict=True))
    block = values[:, source]
    finite = np.isfinite(block)
    missing = QUALITY_FLAGS["missing"]
    flows = np.full((len(starts), *shape), np.nan)
    flags = np.full((len(starts), *shape), missing, dtype=np.int8)
    flows[:, at_b, at_f] = np.where(finite, block, np.nan)
    flags[:, at_b, at_f] = np.where(finite, quality[:, source], missing)
    for row in np.flatnonzero(finite.any(axis=1)).tolist():
        yield int(starts[row]), flows[row], flags[row]
