"""Robust statistics in square cells of a chip's grid (for sky models and flatness).

A sky model beyond a constant is fitted to cells, not to single pixels.

* An exposure's own sky (:func:`grid_cell_statistics`): the usable pixels of a cell
  (``size`` x ``size`` pixels of the chip) are sigma-clipped the way the sky statistic
  clips (``lsigma``, ``usigma``, up to ``nclip`` passes, each selecting from all the
  cell's values, stopping as soon as a pass keeps what the previous one kept); the
  clipped mean is the cell's value.
* An overlap (:func:`dense_difference_cells`): for every pixel of chip m usable in both chips,
  the difference between its value and chip n's value interpolated (bilinearly) at the
  same position on the sky; the differences are clipped and averaged per cell.  Common
  sky — nebulae, stars, galaxies — cancels in the difference pixel by pixel, whatever its
  structure inside a cell; what is clipped is what one exposure has and the other has
  not (cosmic rays, the residuals of stars sampled differently).  Averaging the two
  images separately over "the same" cell would not do: their pixels cover the sky
  differently at the cell's edges, and a nebula's gradient there becomes a bias.

Cells are laid out one per row of a dense array (a box of the chip padded to whole cells),
so every per-cell sum is a row sum; clipping passes revisit only the cells still changing.

Every cell carries the mean position of its kept pixels (in each chip, for an overlap)
and, for models of order two and more, the central moments of those positions, so the
mean of any polynomial over exactly those pixels can be computed
(:mod:`skymatch.core._frames`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._skymodel import monomials

__all__ = ["CellStats", "DifferenceCells", "cell_size", "grid_cell_statistics", "dense_difference_cells",
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


def _blocks(a: np.ndarray, size: int, fill, lead: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``a`` (2-D) placed ``lead`` (rows, columns) into a grid of whole cells of ``size``
    filled with ``fill``, laid out one cell per row."""
    ny, nx = a.shape
    pr, pc = lead
    gy, gx = -(-(ny + pr) // size), -(-(nx + pc) // size)
    if (pr, pc) != (0, 0) or (gy * size, gx * size) != (ny, nx):
        # One padded copy (np.pad costs two passes and a Python layer per call).
        full = np.full((gy * size, gx * size), fill, dtype=a.dtype)
        full[pr : pr + ny, pc : pc + nx] = a
        a = full
    return a.reshape(gy, size, gx, size).transpose(0, 2, 1, 3).reshape(gy * gx, size * size)


def grid_cell_statistics(data: np.ndarray, good: np.ndarray, size: int, *, lsigma: float, usigma: float,
                         nclip: int, order: int, min_pix: int) -> CellStats:
    """Clipped statistics of the cells of a whole chip (``data`` where ``good``) in its
    cell grid of ``size`` pixels; cells with fewer than ``min_pix`` kept pixels are
    dropped."""
    nx = good.shape[1]
    w0 = _blocks(good, size, False)
    v = _blocks(np.where(good, data, 0.0).astype(np.float64), size, 0.0)
    w, n, mean, var = _clip_dense(v, w0, lsigma, usigma, nclip)
    present = np.nonzero(n >= max(int(min_pix), 2))[0]
    if present.size == 0:
        return CellStats.empty(order)
    gx = -(-nx // size)
    keys = cell_keys((present // gx) * size, (present % gx) * size, size, nx)
    nn = n[present]
    mx, my, moments = _grid_positions(w[present], nn, (present % gx) * size, (present // gx) * size,
                                      size, order)
    return CellStats(keys.astype(np.int64), mean[present], np.sqrt(var[present] / nn),
                     nn.astype(np.int64), mx, my, moments, order)


def _grid_positions(w: np.ndarray, nn: np.ndarray, x0, y0, size: int, order: int):
    """Mean positions and central moments of the kept pixels (weights ``w``, one cell per
    row) of cells whose first pixel is at column ``x0``, row ``y0``: raw moments of the
    positions inside a cell are matrix products, central ones follow binomially."""
    from math import comb

    lx = np.tile(np.arange(size, dtype=np.float64), size)
    ly = np.repeat(np.arange(size, dtype=np.float64), size)
    deg = max(order, 1)
    # einsum, not w @ v: BLAS would spin its own threads for a matrix-vector product
    raw = {(a, b): np.einsum("ij,j->i", w, lx**a * ly**b) / nn for a in range(deg + 1) for b in range(deg + 1 - a)}
    mlx, mly = raw[1, 0], raw[0, 1]
    mons = monomials(order)
    moments = np.zeros((nn.size, len(mons)))
    moments[:, 0] = 1.0
    for k, (i, j) in enumerate(mons):
        if i + j >= 2:
            moments[:, k] = sum(comb(i, a) * comb(j, b) * raw[a, b] * (-mlx) ** (i - a) * (-mly) ** (j - b)
                                for a in range(i + 1) for b in range(j + 1))
    return np.asarray(x0, float) + mlx, np.asarray(y0, float) + mly, moments


def _dense_positions(xs: np.ndarray, ys: np.ndarray, w: np.ndarray, present: np.ndarray, nn: np.ndarray,
                     order: int):
    """Mean positions and central moments of kept pixels at arbitrary positions (one cell
    per row) of the ``present`` cells."""
    mx = _row_sums(xs, w)[present] / nn
    my = _row_sums(ys, w)[present] / nn
    mons = monomials(order)
    moments = np.zeros((nn.size, len(mons)))
    moments[:, 0] = 1.0
    if order >= 2:
        xs, ys, w = xs[present], ys[present], w[present]
        dx = xs - mx[:, None]
        dy = ys - my[:, None]
        for k, (i, j) in enumerate(mons):
            if i + j >= 2:
                moments[:, k] = (dx**i * dy**j * w).sum(axis=1) / nn
    return mx, my, moments


def dense_difference_cells(bm: np.ndarray, bn: np.ndarray, rho: np.ndarray, xn: np.ndarray, yn: np.ndarray,
                           use: np.ndarray, r0: int, c0: int, size: int, ncols: int, *, lsigma: float,
                           usigma: float, nclip: int, order: int, min_pix: int) -> DifferenceCells:
    """Clipped per-cell means of the differences ``bm - bn`` over a box of chip m.

    ``bm``, ``bn``, ``rho``, ``xn``, ``yn``, ``use`` are 2-D arrays over the box
    ``[r0:r0+h, c0:c0+w]`` of chip m: m's brightness, n's brightness interpolated at the
    same sky positions, the interpolation's variance factor, those positions in n, and
    the pixels to use; the cells are m's (``ncols``: m's width).  The standard error
    assumes both chips have the same pixel noise: the differences' scatter is
    ``s_m**2 + rho * s_n**2``, the cell mean's variance ``(s_m**2 + s_n**2) / n``
    (interpolation spreads each pixel of n over several differences).
    """
    pr, pc = r0 % size, c0 % size

    def lay(a, fill):
        return _blocks(a, size, fill, (pr, pc))

    w0 = lay(use, False)
    w, n, mean, var = _clip_dense(lay(np.where(use, bm - bn, 0.0), 0.0), w0, lsigma, usigma, nclip)
    present = np.nonzero(n >= max(int(min_pix), 2))[0]
    if present.size == 0:
        return DifferenceCells.empty(order)
    gx = -(-(use.shape[1] + pc) // size)
    row0, col0 = (r0 - pr) // size, (c0 - pc) // size
    keys = cell_keys((row0 + present // gx) * size, (col0 + present % gx) * size, size, ncols)
    wp, nn = w[present], n[present]
    rho_mean = _row_sums(lay(rho, 0.0), w)[present] / nn
    value_m = _row_sums(lay(np.where(use, bm, 0.0), 0.0), w)[present] / nn
    sigma = np.sqrt(var[present] * 2.0 / (1.0 + rho_mean) / nn)
    pos_m = _grid_positions(wp, nn, (col0 + present % gx) * size, (row0 + present // gx) * size, size, order)
    pos_n = _dense_positions(lay(xn, 0.0), lay(yn, 0.0), w, present, nn, order)
    return DifferenceCells(keys.astype(np.int64), mean[present], value_m, sigma, nn.astype(np.int64),
                           pos_m, pos_n, order)


def _row_sums(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(a * w).sum(axis=1)``: every row (cell) summed as numpy sums it (pairwise), the
    same bits whichever rows are kept afterwards (so no copy of the kept rows is made)."""
    return (a * w).sum(axis=1)


def _clip_dense(v: np.ndarray, w0: np.ndarray, lsigma: float, usigma: float, nclip: int):
    """Per-cell sigma clipping of cells laid out one per row (``w0``: the usable pixels);
    returns (weights of the kept pixels, n, mean, var) per row.

    Each pass selects from all of a cell's usable values; cells are independent, so a
    pass that keeps what the previous one kept leaves a cell final.  Each pass works only on the rows (cells) whose kept set still changes; the variance
    comes from the sums of values and squares (one pass, no deviations array)."""
    w = w0.astype(np.float64)
    n, mean, var = _dense_stats(v, w)
    rows = np.arange(v.shape[0])
    va, w0a, keep = v, w0, w0
    for _ in range(int(nclip)):
        std = np.sqrt(var[rows])
        with np.errstate(invalid="ignore"):
            new = va >= (mean[rows] - lsigma * std)[:, None]
            new &= va <= (mean[rows] + usigma * std)[:, None]
        new &= w0a
        changed = np.any(new != keep, axis=1)
        if not changed.any():
            break
        rows, va, w0a, keep = rows[changed], va[changed], w0a[changed], new[changed]
        wa = keep.astype(np.float64)
        w[rows] = wa
        n[rows], mean[rows], var[rows] = _dense_stats(va, wa)
    return w, n, mean, var


def _dense_stats(v: np.ndarray, w: np.ndarray):
    """Per row: weight sum, weighted mean and variance (from sums of values and squares:
    sky values are far from large enough against their scatter for that to lose digits)."""
    n = w.sum(axis=1)
    s1 = np.einsum("ij,ij->i", v, w)
    s2 = np.einsum("ij,ij,ij->i", v, v, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.maximum(s2 - s1 * mean, 0.0) / (n - 1)
    return n, mean, var


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
    fx = x - i0
    fy = y - j0
    # One flat index and one "all four neighbours usable" lookup instead of 2-D fancy
    # indexing eight times.
    flat = np.where(ok, j0 * nx + i0, 0).astype(np.intp)
    if ok.any():
        # "All four neighbours usable", over the rows the positions reach only.
        r0 = int(j0[ok].min())
        r1 = int(j0[ok].max()) + 2
        g = good[r0:r1]
        good4 = g.copy()
        good4[:, :-1] &= g[:, 1:]
        good4[:-1, :] &= good4[1:, :]
        ok &= good4.ravel()[np.where(ok, flat - r0 * nx, 0)]
    d = data.ravel()
    v00 = d.take(flat)
    v10 = d.take(flat + 1)
    v01 = d.take(flat + nx)
    v11 = d.take(flat + nx + 1)
    v = (1 - fy) * ((1 - fx) * v00 + fx * v10) + fy * ((1 - fx) * v01 + fx * v11)
    rho = ((1 - fx) ** 2 + fx**2) * ((1 - fy) ** 2 + fy**2)
    return v, ok, rho
