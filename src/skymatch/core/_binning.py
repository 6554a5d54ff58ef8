"""Binning an image down for a picture: the mean of each square block of pixels."""

from __future__ import annotations

import numpy as np

__all__ = ["bin_factor", "block_mean"]


def bin_factor(shape: tuple[int, ...], max_side: int) -> int:
    """The smallest block size that brings the last two axes of ``shape`` to at most
    ``max_side`` pixels a side (1: no binning needed)."""
    return max(1, -(-max(shape[-2:]) // max(1, int(max_side))))


def block_mean(image: np.ndarray, step: int) -> np.ndarray:
    """Mean of the finite pixels of every ``step`` x ``step`` block of a 2-D ``image``.

    Blocks at the right and top edges that the image covers only partly average the
    pixels they have; a block without a finite pixel is NaN.

    Parameters
    ----------
    image : numpy.ndarray
        2-D, any float dtype and byte order (a FITS memmap works).
    step : int
        Block side, pixels.

    Returns
    -------
    numpy.ndarray
        float32, ``ceil(ny / step)`` x ``ceil(nx / step)``.
    """
    step = int(step)
    h, w = image.shape
    ny, nx = -(-h // step), -(-w // step)
    a = np.empty((ny * step, nx * step), np.float32)  # one native copy, padded with NaN
    a[:h, :w] = image
    a[h:] = np.nan
    a[:h, w:] = np.nan
    if step == 1:
        a[~np.isfinite(a)] = np.nan
        return a
    # Plain sums by strided slices (fast for small blocks); blocks that met a non-finite
    # pixel (the footprint's edges, no-data areas) are redone from their finite pixels.
    rows = a[0::step].copy()
    for k in range(1, step):
        rows += a[k::step]
    out = rows[:, 0::step].copy()
    for k in range(1, step):
        out += rows[:, k::step]
    bad = ~np.isfinite(out)
    out /= step * step
    if bad.any():
        bi, bj = np.nonzero(bad)
        sub = a.reshape(ny, step, nx, step)[bi, :, bj, :].reshape(bi.size, step * step)
        ok = np.isfinite(sub)
        n = ok.sum(axis=1)
        total = np.where(ok, sub, np.float32(0)).sum(axis=1, dtype=np.float64)
        out[bi, bj] = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return out
