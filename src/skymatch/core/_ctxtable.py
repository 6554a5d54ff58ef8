"""Context images: which inputs contributed to each output pixel.

Two representations (``docs/products.md`` describes the files):

* **planes** -- AstroDrizzle's: int32 bit planes, bit ``k % 32`` of plane ``k // 32`` set
  where input ``k`` (0-based) contributed.  Compact for a few inputs, but ``N/32`` planes
  over an area that grows with ``N``: quadratic for large mosaics.
* **table** -- an int32 image of context ids (0 = no input) and a table mapping each id
  to the sorted tuple of the inputs that contributed (IRAF drizzle's idea).  One int32
  per pixel whatever the number of inputs.

A block builds its ids incrementally (:class:`ContextIds`); blocks are then merged into
one table whose ids are the ranks of the sets in sorted order, so the result does not
depend on the block size or on the order in which blocks finish.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..exceptions import ParameterError

__all__ = [
    "CONTEXT_FORMATS",
    "PLANES_MAX_INPUTS",
    "ContextIds",
    "choose_context_format",
    "merge_tables",
    "block_lut",
    "set_plane_bits",
    "n_planes",
    "planes_to_sets",
    "ids_to_sets",
]

CONTEXT_FORMATS = ("auto", "planes", "table", "none")
# 'auto' keeps AstroDrizzle's bit planes while they fit one plane (up to 32 inputs:
# 4 bytes per pixel, the same as the table's id image) and uses the table beyond.
PLANES_MAX_INPUTS = 32


def choose_context_format(context_format: str, n_inputs: int) -> str:
    """The representation to write: ``'planes'``, ``'table'`` or ``'none'``.

    ``'auto'`` gives ``'planes'`` up to :data:`PLANES_MAX_INPUTS` inputs, else ``'table'``.
    """
    fmt = str(context_format).strip().lower()
    if fmt not in CONTEXT_FORMATS:
        raise ParameterError(f"context_format={context_format!r}: use one of {', '.join(CONTEXT_FORMATS)}")
    if fmt == "auto":
        return "planes" if n_inputs <= PLANES_MAX_INPUTS else "table"
    return fmt


def n_planes(n_inputs: int) -> int:
    """Number of int32 bit planes for ``n_inputs`` inputs (at least one)."""
    return max(1, (n_inputs + 31) // 32)


_WHOLE = (slice(None), slice(None))


def set_plane_bits(planes: np.ndarray, k: int, where: np.ndarray, window: tuple = _WHOLE) -> None:
    """Set the bit of input ``k`` (0-based) in ``planes`` (n_planes, rows, cols) at ``where``
    (a mask of the ``window`` slices of a plane; default: the whole plane)."""
    bit = np.array(1 << (k % 32), dtype=np.uint32).view(np.int32)
    plane = planes[k // 32][window]
    plane[where] |= bit


class ContextIds:
    """Context ids of one block, built input by input (inputs in increasing order).

    ``ids`` is the block's int32 id image; ``sets[i]`` the inputs of id ``i``
    (``sets[0] == ()``).  After :meth:`compact`, ids are ``1..len(sets)-1`` and every set
    is used somewhere.
    """

    def __init__(self, shape: tuple[int, int]):
        self.ids = np.zeros(shape, dtype=np.int32)
        self.sets: list[tuple[int, ...]] = [()]

    def add(self, k: int, where: np.ndarray, window: tuple = _WHOLE) -> None:
        """Record that input ``k`` contributed at the pixels ``where`` (bool, the shape of
        the ``window`` slices of the block; default: the whole block).  The work is
        proportional to the window, not to the block."""
        if not where.any():
            return
        ids = self.ids[window]
        old = ids[where]
        # np.unique(old, return_inverse=True) without its sort: the ids are small integers.
        present = np.zeros(len(self.sets), dtype=bool)
        present[old] = True
        uniq = np.flatnonzero(present)
        start = len(self.sets)
        # Inputs arrive in increasing order, so set + (k,) is new and sorted.
        self.sets.extend(self.sets[int(o)] + (k,) for o in uniq)
        new_id = np.zeros(start, dtype=np.int32)
        new_id[uniq] = start + np.arange(uniq.size, dtype=np.int32)
        ids[where] = new_id[old]

    def compact(self) -> None:
        """Drop the sets no pixel uses any more and renumber ``1..n``."""
        used = np.unique(self.ids)
        used = used[used > 0]
        lut = np.zeros(len(self.sets), dtype=np.int32)
        lut[used] = np.arange(1, used.size + 1, dtype=np.int32)
        self.ids = lut[self.ids]
        self.sets = [()] + [self.sets[int(u)] for u in used]


def merge_tables(block_sets: Iterable[Sequence[tuple[int, ...]]]) -> list[tuple[int, ...]]:
    """The global table: every non-empty set of every block, once, in sorted order.

    The id of ``table[i]`` is ``i + 1``.
    """
    allsets = set()
    for sets in block_sets:
        allsets.update(s for s in sets if s)
    table = sorted(allsets)
    if len(table) >= 2**31 - 1:
        raise ParameterError(f"{len(table):,} distinct context sets do not fit int32 ids; "
                             "use context_format='none'")
    return table


def block_lut(sets: Sequence[tuple[int, ...]], table_index: dict) -> np.ndarray:
    """Map a block's local ids (0..len(sets)-1) to global ids (0 stays 0)."""
    lut = np.zeros(len(sets), dtype=np.int32)
    for i, s in enumerate(sets):
        if s:
            lut[i] = table_index[s]
    return lut


def ids_to_sets(ids: np.ndarray, table: Sequence[Sequence[int]]) -> np.ndarray:
    """Object array of per-pixel input tuples from an id image and its table."""
    lookup = np.empty(len(table) + 1, dtype=object)
    lookup[0] = ()
    for i, s in enumerate(table, 1):
        lookup[i] = tuple(int(v) for v in s)
    return lookup[np.asarray(ids)]


def planes_to_sets(planes: np.ndarray, n_inputs: int) -> np.ndarray:
    """Object array of per-pixel input tuples from bit planes (2-D or 3-D)."""
    planes = np.asarray(planes, dtype=np.int32)  # native byte order (FITS data are big-endian)
    if planes.ndim == 2:
        planes = planes[None]
    bits = planes.view(np.uint32)
    out = np.empty(planes.shape[1:], dtype=object)
    flat = out.ravel()
    for i in range(flat.size):
        flat[i] = ()
    rows, cols = planes.shape[1:]
    for k in range(n_inputs):
        hit = (bits[k // 32] >> np.uint32(k % 32)) & np.uint32(1)
        for idx in np.flatnonzero(hit):
            flat[idx] = flat[idx] + (k,)
    return out
