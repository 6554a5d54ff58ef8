"""The state of one run, created by the run and passed to its tasks.

skymatch keeps no module-level caches: a run creates a :class:`RunContext`, which holds
the pixels (and usable masks) its tasks have loaded, within a byte budget, and drops
them when the run ends.  Two runs in one process (a notebook, a Dask worker) therefore
never see each other's data.  A context sent to another process (a task for a process
pool or a Dask worker) arrives empty and caches for that task only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..models import Chip
from ._masks import BitFlags, usable_mask

__all__ = ["RunContext", "UsablePixels", "DEFAULT_CACHE_BYTES"]

DEFAULT_CACHE_BYTES = 1_500_000_000  # about 300 full WFC3/IR chips with their masks


@dataclass(frozen=True)
class UsablePixels:
    """Native float32 data and the boolean usable mask (True = usable) of a chip."""

    data: np.ndarray
    good: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.good.nbytes


def _native_float32(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.float32 and a.dtype.isnative:
        return a
    return a.astype(np.float32)


def read_usable(chip: Chip, flags: BitFlags, static_mask: np.ndarray | None = None) -> UsablePixels:
    """Read ``chip``'s pixels and build its usable mask (DQ bits, user mask, finite data,
    static mask); the arrays are read-only."""
    px = chip.pixels.read()
    data = _native_float32(px.data)
    good = usable_mask(data, px.dq, flags=flags, user_mask=px.mask, static=static_mask)
    data = data.view()  # never touch the caller's array flags
    data.flags.writeable = False
    good.flags.writeable = False
    return UsablePixels(data, good)


class RunContext:
    """Per-run cache of chips' usable pixels, bounded in bytes (least recently used out).

    Parameters
    ----------
    cache_bytes : int
        Budget for cached pixels and masks.
    """

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[tuple, UsablePixels] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        # Sent to another process: the budget travels, the cached pixels do not.
        return {"cache_bytes": self.cache_bytes}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["cache_bytes"])

    def __enter__(self) -> "RunContext":
        return self

    def __exit__(self, *exc) -> None:
        self.clear()

    def usable(self, chip: Chip, flags: BitFlags, static_mask: np.ndarray | None = None,
               static_key: object = None) -> UsablePixels:
        """Pixels and usable mask of ``chip``, read once per run (see :func:`read_usable`).

        ``static_key`` identifies ``static_mask`` in the cache key (None: no static mask).
        """
        key = (chip.pixels.token, flags, static_key)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        out = read_usable(chip, flags, static_mask)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = out
                self._bytes += out.nbytes
            while self._bytes > self.cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._bytes -= old.nbytes
        return out

    def clear(self) -> None:
        """Forget every cached chip."""
        with self._lock:
            self._cache.clear()
            self._bytes = 0
