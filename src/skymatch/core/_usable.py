"""Loading a chip's pixels and its usable-pixel mask, with a small in-process cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..models import Chip
from ._masks import BitFlags, usable_mask

__all__ = ["UsablePixels", "load_usable", "clear_cache", "CACHE_BYTES"]

CACHE_BYTES = 1_500_000_000  # about 300 full WFC3/IR chips with their masks

_cache: "OrderedDict[tuple, UsablePixels]" = OrderedDict()
_cache_bytes = 0
_lock = threading.Lock()


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


def load_usable(chip: Chip, flags: BitFlags, static_mask: np.ndarray | None = None,
                static_key: object = None) -> UsablePixels:
    """Pixels and usable mask of ``chip`` (DQ bits, user mask, finite data, static mask).

    Results are cached per process (keyed by the chip's pixel source, the bit flags and
    ``static_key``) within :data:`CACHE_BYTES`; the arrays are read-only.
    """
    global _cache_bytes
    key = (chip.name, chip.pixels.token, flags, static_key)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    px = chip.pixels.read()
    data = _native_float32(px.data)
    good = usable_mask(data, px.dq, flags=flags, user_mask=px.mask, static=static_mask)
    data = data.view()  # never touch the caller's array flags
    data.flags.writeable = False
    good.flags.writeable = False
    out = UsablePixels(data, good)
    with _lock:
        if key not in _cache:
            _cache[key] = out
            _cache_bytes += out.nbytes
        while _cache_bytes > CACHE_BYTES and len(_cache) > 1:
            _, old = _cache.popitem(last=False)
            _cache_bytes -= old.nbytes
    return out


def clear_cache() -> None:
    """Forget every cached chip (call between runs whose inputs may have changed)."""
    global _cache_bytes
    with _lock:
        _cache.clear()
        _cache_bytes = 0
