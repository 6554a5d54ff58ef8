"""AstroDrizzle's static mask (SPEC section 2, item 4).

For each detector signature a pixel is masked in every image of that signature when, in
any of them, its value is below ``mode - static_sig * sigma`` of that chip, where mode and
sigma come from the clipped statistic over the whole chip (``nclip=3``,
``lsigma=usigma=3``, ``binwidth=0.1``, limits = the chip's finite min/max).  Nothing is
masked from a chip whose histogram has a single bin.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..models import Chip
from ._stats import SkyStatParams, StatisticError, _histogram_nbins, sky_statistic

__all__ = ["ASTRODRIZZLE_INSTRUMENTS", "STATIC_SIG", "combine_packed", "reference_uses_static",
           "static_keep_mask"]

STATIC_SIG = 4.0
#: Instruments AstroDrizzle reads (``drizzlepac.processInput._getInputImage`` raises
#: "Instrument ... not yet supported!" for any other ``INSTRUME``).
ASTRODRIZZLE_INSTRUMENTS = ("ACS", "WFC3", "WFPC2", "STIS", "NICMOS")


def reference_uses_static(chips: Sequence[Chip]) -> bool:
    """Whether the Reference applies the static mask to ``chips`` (compat's default).

    AstroDrizzle builds a static mask and hands it to stsci.skypac as a user mask, but it
    only runs on HST data (:data:`ASTRODRIZZLE_INSTRUMENTS`).  For any other image (DSS
    plates, ground-based tiles, in-memory arrays) the Reference is stsci.skypac's own
    ``skymatch()``, which has no static mask: with it, every tile of the same shape would
    share one signature and lose the pixels that are low in *any* tile, which moved
    ``localmin`` by up to 0.5 % on DSS-like tiles.

    Parameters
    ----------
    chips : sequence of Chip
        The inputs; ``meta['INSTRUME']`` names the instrument.

    Returns
    -------
    bool
        True when there is at least one chip and every chip comes from an instrument
        AstroDrizzle processes.
    """
    return bool(chips) and all(
        str(c.meta.get("INSTRUME", "")).strip().upper() in ASTRODRIZZLE_INSTRUMENTS for c in chips
    )


def static_keep_mask(data: np.ndarray, *, static_sig: float = STATIC_SIG,
                     compat: bool = True) -> np.ndarray | None:
    """Pixels of one chip that survive its static-mask threshold (True = keep).

    Returns None when the chip does not contribute (no finite data, a failed statistic
    or a one-bin histogram).
    """
    d = np.asarray(data, dtype=np.float32)
    finite = d[np.isfinite(d)]
    if finite.size == 0:
        return None
    params = SkyStatParams(statistic="mode", lower=float(finite.min()), upper=float(finite.max()),
                           nclip=3, lsigma=3.0, usigma=3.0, binwidth=0.1, compat=compat)
    try:
        res = sky_statistic(finite, params)
    except StatisticError:
        return None
    if _histogram_nbins(res, params) < 2:
        return None
    threshold = res.value - static_sig * res.std
    with np.errstate(invalid="ignore"):
        return ~(d < threshold)


def combine_packed(masks: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """AND of bit-packed keep masks (``np.packbits`` of the raveled mask)."""
    n = shape[0] * shape[1]
    acc = None
    for m in masks:
        acc = m.copy() if acc is None else (acc & m)
    if acc is None:
        return np.ones(shape, dtype=bool)
    return np.unpackbits(acc, count=n).astype(bool).reshape(shape)
