"""Robust statistics in square cells of a chip's grid (for sky models and flatness).

A sky model beyond a constant is fitted to cells, not to single pixels.

* An exposure's own sky (:func:`cell_statistics`): the usable pixels of a cell
  (``size`` x ``size`` pixels of the chip) are sigma-clipped the way the sky statistic
  clips (``lsigma``, ``usigma``, up to ``nclip`` passes, each selecting from all the
  cell's values, stopping as soon as a pass keeps what the previous one kept); the
  clipped mean is the cell's value.
* An overlap (:func:`difference_cells`): for every pixel of chip m usable in both chips,
  the difference between its value and chip n's value interpolated (bilinearly) at the
  same position on the sky; the differences are clipped and averaged per cell.  Common
  sky — nebulae, stars, galaxies — cancels in the difference pixel by pixel, whatever its
  structure inside a cell; what is clipped is what one exposure has and the other has
  not (cosmic rays, the residuals of stars sampled differently).  Averaging the two
  images separately over "the same" cell would not do: their pixels cover the sky
  differently at the cell's edges, and a nebula's gradient there becomes a bias.

Every cell carries the mean position of its kept pixels (in each chip, for an overlap)
and, for models of order two and more, the central moments of those positions, so the
mean of any polynomial over exactly those pixels can be computed
(:mod:`skymatch.core._frames`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._skymodel import monomials

__all__ = ["CellStats", "DifferenceCells", "cell_size", "cell_statistics", "difference_cells",
           "cell_keys", "MIN_CELL_FRACTION", "bilinear"]

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
    """Per-cell clipped statistics of one chip's own pixels.

    Attributes
    ----------
    key : int64 array
        Cell index in the chip's cell grid.
    value : float64 array
        Clipped mean of the cell's pixels (data units).
    sigma : float64 array
        Standard error of ``value``.
    npix : int64 array
        Pixels kept by the clip.
    x, y : float64 arrays
        Mean 0-based column and row of the kept pixels.
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

    @classmethod
    def empty(cls, order: int) -> "CellStats":
        n_mom = len(monomials(order))
        z = np.zeros(0)
        return cls(np.zeros(0, np.int64), z, z, np.zeros(0, np.int64), z, z, np.zeros((0, n_mom)), order)


@dataclass(frozen=True)
class DifferenceCells:
    """Per-cell clipped means of the pixel differences between two chips (brightness).

    ``diff`` = mean of ``b_m - b_n`` (``b`` = brightness, ``conv`` x value), ``value_m``
    the mean of ``b_m`` over the same pixels; ``sigma`` the standard error of ``diff``;
    ``m`` and ``n`` the kept pixels' positions in each chip as ``(x, y, moments)``
    triples (one of them interpolated positions).
    """

    key: np.ndarray
    diff: np.ndarray
    value_m: np.ndarray
    sigma: np.ndarray
    npix: np.ndarray
    m: tuple
    n: tuple
    order: int

    def __len__(self) -> int:
        return int(self.key.size)

    @classmethod
    def empty(cls, order: int) -> "DifferenceCells":
        n_mom = len(monomials(order))
        z = np.zeros(0)
        pos = (z, z, np.zeros((0, n_mom)))
        return cls(np.zeros(0, np.int64), z, z, z, np.zeros(0, np.int64), pos, pos, order)


def _clip(values: np.ndarray, key: np.ndarray, nk: int, lsigma: float, usigma: float, nclip: int):
    """Per-cell sigma clipping; returns (weights of kept pixels, n, mean, var)."""
    w = np.ones(values.size)
    keep = None
    for it in range(int(nclip) + 1):
        n = np.bincount(key, weights=w, minlength=nk)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(key, weights=values * w, minlength=nk) / n
            d = values - mean[key]
            var = np.bincount(key, weights=d * d * w, minlength=nk) / (n - 1)
        if it == nclip:
            break
        std = np.sqrt(var)[key]
        with np.errstate(invalid="ignore"):
            new = (d >= -lsigma * std) & (d <= usigma * std)
        if keep is not None and np.array_equal(new, keep):
            break
        keep = new
        w = keep.astype(np.float64)
    return w, n, mean, var


def _positions(x, y, key, w, n, present, nk, order):
    """Mean positions and central moments of the kept pixels of the ``present`` cells."""
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
    return mx[present], my[present], moments


def cell_statistics(values: np.ndarray, x: np.ndarray, y: np.ndarray, key: np.ndarray, *,
                    lsigma: float, usigma: float, nclip: int, order: int,
                    min_pix: int) -> CellStats:
    """Clipped statistics of one chip's ``values`` grouped by cell ``key``.

    Parameters
    ----------
    values : array
        Pixel values (usable pixels only).
    x, y : arrays
        Their 0-based column and row.
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
    w, n, mean, var = _clip(v, key, nk, lsigma, usigma, nclip)
    present = np.nonzero(n >= max(int(min_pix), 2))[0]
    if present.size == 0:
        return CellStats.empty(order)
    mx, my, moments = _positions(x, y, key, w, n, present, nk, order)
    return CellStats(present.astype(np.int64), mean[present], np.sqrt(var[present] / n[present]),
                     n[present].astype(np.int64), mx, my, moments, order)


def bilinear(data: np.ndarray, good: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Bilinear interpolation of ``data`` at pixel positions ``x, y``.

    Returns ``(values, ok, rho)``: ``ok`` where the position lies inside the chip with
    its four neighbours usable; ``rho = sum(weights**2)``, the factor by which
    interpolation lowers the variance of independent pixel noise.
    """
    ny, nx = data.shape
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    i0 = np.floor(x)
    j0 = np.floor(y)
    ok = (i0 >= 0) & (j0 >= 0) & (i0 <= nx - 2) & (j0 <= ny - 2)
    i0 = np.where(ok, i0, 0).astype(np.intp)
    j0 = np.where(ok, j0, 0).astype(np.intp)
    fx = x - i0
    fy = y - j0
    ok &= good[j0, i0] & good[j0, i0 + 1] & good[j0 + 1, i0] & good[j0 + 1, i0 + 1]
    v = ((1 - fy) * ((1 - fx) * data[j0, i0] + fx * data[j0, i0 + 1])
         + fy * ((1 - fx) * data[j0 + 1, i0] + fx * data[j0 + 1, i0 + 1]))
    rho = ((1 - fx) ** 2 + fx**2) * ((1 - fy) ** 2 + fy**2)
    return v, ok, rho


def difference_cells(bm: np.ndarray, bn: np.ndarray, rho: np.ndarray, xm, ym, xn, yn, key, *,
                     lsigma: float, usigma: float, nclip: int, order: int,
                     min_pix: int) -> DifferenceCells:
    """Clipped per-cell means of the differences ``bm - bn`` of two chips' brightness at
    the same sky positions (``bn`` interpolated, with variance factor ``rho``).

    The standard error assumes both chips have the same pixel noise: the differences'
    scatter is ``s_m**2 + rho * s_n**2``, the cell mean's variance ``(s_m**2 + s_n**2) / n``
    (interpolation spreads each pixel of n over several differences).
    """
    key = np.asarray(key, dtype=np.int64).ravel()
    if key.size == 0:
        return DifferenceCells.empty(order)
    d = np.asarray(bm, dtype=np.float64) - np.asarray(bn, dtype=np.float64)
    nk = int(key.max()) + 1
    w, n, mean, var = _clip(d, key, nk, lsigma, usigma, nclip)
    present = np.nonzero(n >= max(int(min_pix), 2))[0]
    if present.size == 0:
        return DifferenceCells.empty(order)
    nn = np.maximum(n, 1)
    rho_mean = (np.bincount(key, weights=rho * w, minlength=nk) / nn)[present]
    value_m = (np.bincount(key, weights=np.asarray(bm, dtype=np.float64) * w, minlength=nk) / nn)[present]
    sigma = np.sqrt(var[present] * 2.0 / (1.0 + rho_mean) / n[present])
    pos_m = _positions(xm, ym, key, w, n, present, nk, order)
    pos_n = _positions(xn, yn, key, w, n, present, nk, order)
    return DifferenceCells(present.astype(np.int64), mean[present], value_m, sigma,
                           n[present].astype(np.int64), pos_m, pos_n, order)
