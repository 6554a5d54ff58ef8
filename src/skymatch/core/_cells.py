"""Robust statistics of a chip's pixels in square cells (for sky models and flatness).

A sky model beyond a constant is fitted to cells, not to single pixels: the pixels of a
cell (``size`` x ``size`` pixels of a chip's grid) are sigma-clipped the way the sky
statistic clips (``lsigma``, ``usigma``, up to ``nclip`` passes, each selecting from
all the cell's values; it stops as soon as a pass keeps exactly the pixels the previous
one kept), and the clipped mean is the cell's value, with its standard error.  Sources,
cosmic rays and bright structure are clipped; the mean of what remains has the smallest
noise.  In an overlap, both images measure the same cells of the same sky (pixels usable
in both), so whatever faint emission survives the clip is common to both and cancels in
their difference.

Every cell also carries the mean position of its kept pixels and, for models of order
two and more, the central moments of those positions, so that the mean of any
polynomial over exactly those pixels can be computed (:mod:`skymatch.core._frames`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._skymodel import monomials

__all__ = ["CellStats", "cell_size", "cell_statistics", "cell_keys", "MIN_CELL_FRACTION"]

MIN_CELL_FRACTION = 0.125  # a cell needs this fraction of its area kept to count


def cell_size(shape: tuple[int, int]) -> int:
    """Cell size (pixels) for a chip of ``shape``: about 1/16 of its smaller side, 16-64."""
    return int(min(64, max(16, round(min(shape) / 16))))


def cell_keys(rows: np.ndarray, cols: np.ndarray, size: int, ncols: int) -> np.ndarray:
    """Cell index of pixel positions (0-based row, column) in a chip's cell grid."""
    return (np.asarray(rows, dtype=np.int64) // size) * (ncols // size + 1) + (
        np.asarray(cols, dtype=np.int64) // size)


@dataclass(frozen=True)
class CellStats:
    """Per-cell clipped statistics of one chip's pixels.

    Attributes
    ----------
    key : int64 array
        Cell index in the grid that defined the cells.
    value : float64 array
        Clipped mean of the cell's pixels (data units).
    sigma : float64 array
        Standard error of ``value``.
    npix : int64 array
        Pixels kept by the clip.
    x, y : float64 arrays
        Mean 0-based column and row of the kept pixels in this chip.
    moments : float64 array (n, n_terms(order))
        Central moments ``mean((x - x_mean)**i * (y - y_mean)**j)`` of the kept pixels'
        positions, in :func:`~skymatch.core._skymodel.monomials` order.
    order : int
        Highest total power of ``moments``.
    """

    key: np.ndarray
    value: np.ndarray
    sigma: np.ndarray
    npix: np.ndarray
    x: np.ndarray
    y: np.ndarray
    moments: np.ndarray
    order: int

    def __len__(self) -> int:
        return int(self.key.size)

    def take(self, idx) -> "CellStats":
        """The cells at ``idx`` (index array or boolean mask)."""
        return CellStats(self.key[idx], self.value[idx], self.sigma[idx], self.npix[idx],
                         self.x[idx], self.y[idx], self.moments[idx], self.order)

    @classmethod
    def empty(cls, order: int) -> "CellStats":
        n_mom = len(monomials(order))
        z = np.zeros(0)
        return cls(np.zeros(0, np.int64), z, z, np.zeros(0, np.int64), z, z, np.zeros((0, n_mom)), order)


def cell_statistics(values: np.ndarray, x: np.ndarray, y: np.ndarray, key: np.ndarray, *,
                    lsigma: float, usigma: float, nclip: int, order: int,
                    min_pix: int) -> CellStats:
    """Clipped statistics of ``values`` grouped by cell ``key``.

    Parameters
    ----------
    values : array
        Pixel values (usable pixels only).
    x, y : arrays
        Their 0-based column and row in the chip the statistics describe.
    key : int array
        Cell index of every pixel (small non-negative integers).
    lsigma, usigma, nclip
        Clipping, as for the sky statistic.
    order : int
        Highest power of the position moments to keep.
    min_pix : int
        Cells with fewer kept pixels are dropped.
    """
    key = np.asarray(key, dtype=np.int64).ravel()
    if key.size == 0:
        return CellStats.empty(order)
    v = np.asarray(values, dtype=np.float64).ravel()
    nk = int(key.max()) + 1
    w = np.ones(v.size)
    keep = None
    for it in range(int(nclip) + 1):
        n = np.bincount(key, weights=w, minlength=nk)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(key, weights=v * w, minlength=nk) / n
            d = v - mean[key]
            dw = d * w
            var = np.bincount(key, weights=dw * d, minlength=nk) / (n - 1)
        if it == nclip:
            break
        std = np.sqrt(var)[key]
        with np.errstate(invalid="ignore"):
            new = (d >= -lsigma * std) & (d <= usigma * std)
        if keep is not None and np.array_equal(new, keep):
            break
        keep = new
        w = keep.astype(np.float64)
    present = np.nonzero(n >= max(int(min_pix), 2))[0]
    if present.size == 0:
        return CellStats.empty(order)
    nn = np.maximum(n, 1)
    xf = np.asarray(x, dtype=np.float64).ravel()
    yf = np.asarray(y, dtype=np.float64).ravel()
    mx = np.bincount(key, weights=xf * w, minlength=nk) / nn
    my = np.bincount(key, weights=yf * w, minlength=nk) / nn
    mons = monomials(order)
    moments = np.zeros((present.size, len(mons)))
    moments[:, 0] = 1.0
    if order >= 2:
        dx = xf - mx[key]
        dy = yf - my[key]
        for k, (i, j) in enumerate(mons):
            if i + j >= 2:
                moments[:, k] = (np.bincount(key, weights=dx**i * dy**j * w, minlength=nk) / nn)[present]
    return CellStats(present.astype(np.int64), mean[present], np.sqrt(var[present] / n[present]),
                     n[present].astype(np.int64), mx[present], my[present], moments, order)
