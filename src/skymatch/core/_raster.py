"""Rasterising overlap polygons onto a chip's pixel grid (SPEC section 6).

Two rules:

* :func:`raster_centres` (default): a pixel belongs to the polygon when its centre is
  inside (even-odd rule, half-open on the right/top edges), vectorised scan lines.
* :func:`raster_reference` (compat): the Reference's scan-line filler — vertices
  rounded to whole pixels (half to even), integer scan lines inclusive, crossings
  ceiled, spans filled inclusive.

Both return ``(row0, col0, mask)``: a boolean mask of the bounding-box slice
``[row0:row0+mask.shape[0], col0:col0+mask.shape[1]]`` of the chip (``mask`` may be
empty).
"""

from __future__ import annotations

import numpy as np

__all__ = ["raster_centres", "raster_reference", "Raster"]

Raster = tuple[int, int, np.ndarray]
_EMPTY: Raster = (0, 0, np.zeros((0, 0), dtype=bool))
_EMPTY[2].flags.writeable = False


def raster_centres(rings: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int]) -> Raster:
    """Pixels whose centres lie inside the polygon given by ``rings`` (pixel coordinates).

    Parameters
    ----------
    rings : list of (x, y)
        Closed or open rings (exterior and holes, even-odd rule), 0-based pixel
        coordinates (pixel centres at integers).
    shape : (rows, cols)
        Chip shape.
    """
    ny, nx = shape
    if len(rings) == 1:
        xs = np.asarray(rings[0][0], float)
        ys = np.asarray(rings[0][1], float)
    else:
        xs = np.concatenate([np.asarray(r[0], float) for r in rings])
        ys = np.concatenate([np.asarray(r[1], float) for r in rings])
    if xs.size < 3 or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return _EMPTY
    r0 = max(0, int(np.ceil(ys.min())))
    r1 = min(ny - 1, int(np.floor(ys.max())))
    c0 = max(0, int(np.ceil(xs.min())))
    c1 = min(nx - 1, int(np.floor(xs.max())))
    if r1 < r0 or c1 < c0:
        return _EMPTY
    crossings = _row_crossings(rings, xs, ys, r0, r1)
    if crossings is None:
        return _EMPTY
    return r0, c0, _fill_spans(*crossings, r0, c0, r1 - r0 + 1, c1 - c0 + 1)


def _row_crossings(rings, xs: np.ndarray, ys: np.ndarray, r0: int, r1: int):
    """Rows ``r0..r1`` where the rings' edges cross them and the crossings' x, sorted by
    row then x (None when nothing crosses)."""
    # All edges of all rings: each vertex to the next one of its ring (np.roll(r, -1)).
    nxt = np.arange(1, xs.size + 1)
    start = 0
    for r in rings:
        start += len(r[0])
        nxt[start - 1] = start - len(r[0])
    ex0, ey0, ex1, ey1 = xs, ys, xs[nxt], ys[nxt]
    keep = ey0 != ey1
    ex0, ey0, ex1, ey1 = ex0[keep], ey0[keep], ex1[keep], ey1[keep]
    # Rows r with ylo <= r < yhi cross the edge (half-open: vertices counted once).
    first = np.maximum(np.ceil(np.minimum(ey0, ey1)), r0).astype(np.int64)
    last = np.minimum(np.ceil(np.maximum(ey0, ey1)) - 1, r1).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    if counts.size == 0:
        return None
    ends = np.cumsum(counts)
    total = int(ends[-1])
    if total == 0:
        return None
    edge_idx = np.repeat(np.arange(counts.size), counts)
    rows = first[edge_idx] + (np.arange(total) - (ends - counts)[edge_idx])
    e0x, e0y = ex0[edge_idx], ey0[edge_idx]
    t = (rows - e0y) / (ey1[edge_idx] - e0y)
    xc = e0x + t * (ex1[edge_idx] - e0x)
    order = np.lexsort((xc, rows))
    return rows[order], xc[order]


def _fill_spans(rows: np.ndarray, xc: np.ndarray, r0: int, c0: int, height: int, width: int) -> np.ndarray:
    """The mask of the box: between consecutive crossings of each row (even-odd), the
    pixel centres c with xa <= c < xb."""
    if rows.size % 2:
        # Degenerate geometry (should not happen for closed rings); drop the odd one.
        rows, xc = rows[:-1], xc[:-1]
    ra, rb = rows[0::2], rows[1::2]
    xa, xb = xc[0::2], xc[1::2]
    ok = ra == rb
    ra, xa, xb = ra[ok], xa[ok], xb[ok]
    c1 = c0 + width - 1
    cs = np.clip(np.ceil(xa), c0, c1 + 1).astype(np.int64) - c0
    ce = np.clip(np.ceil(xb), c0, c1 + 1).astype(np.int64) - c0
    good = ce > cs
    ra, cs, ce = ra[good] - r0, cs[good], ce[good]
    # +1 where a span starts, -1 after it ends (np.add.at's result, by counting).
    n = height * (width + 1)
    diff = np.bincount(ra * (width + 1) + cs, minlength=n) - np.bincount(ra * (width + 1) + ce, minlength=n)
    return np.cumsum(diff.reshape(height, width + 1)[:, :width], axis=1) > 0


def raster_reference(rings: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int]) -> Raster:
    """The Reference (stsci.skypac ``region.Polygon.scan``) filler, reproduced exactly.

    Each ring is rounded to whole pixels (round half to even), closed, and scanned on its
    own; the results are OR-ed (as the Reference does for multi-part overlaps).
    """
    ny, nx = shape
    full = np.zeros(shape, dtype=bool)
    any_fill = False
    for rx, ry in rings:
        vx = np.rint(np.asarray(rx, float)).astype(np.int64)
        vy = np.rint(np.asarray(ry, float)).astype(np.int64)
        if vx.size < 3:
            continue
        if vx[0] != vx[-1] or vy[0] != vy[-1]:
            vx = np.append(vx, vx[0])
            vy = np.append(vy, vy[0])
        any_fill |= _scan_reference(vx, vy, full)
    if not any_fill:
        return _EMPTY
    rows = np.nonzero(full.any(axis=1))[0]
    cols = np.nonzero(full.any(axis=0))[0]
    if rows.size == 0:
        return _EMPTY
    r0, r1, c0, c1 = rows[0], rows[-1], cols[0], cols[-1]
    return int(r0), int(c0), full[r0 : r1 + 1, c0 : c1 + 1].copy()


def _scan_reference(vx: np.ndarray, vy: np.ndarray, out: np.ndarray) -> bool:
    """Scan one closed integer polygon into ``out`` with the Reference's rules."""
    ny, nx = out.shape
    shiftx = min(0, int(vx.min()))
    shifty = min(0, int(vy.min()))
    vx = vx - shiftx
    vy = vy - shifty
    bx, by = int(vx.min()), int(vy.min())
    bw, bh = int(vx.max()) - bx, int(vy.max()) - by
    if bw <= 0:
        return False
    x0, y0, x1, y1 = vx[:-1], vy[:-1], vx[1:], vy[1:]
    ymin = np.minimum(y0, y1)
    ymax = np.maximum(y0, y1)
    nonhoriz = y0 != y1
    last = by + bh
    filled = False
    for y in range(by, last + 1):
        if y < last:
            active = nonhoriz & (ymin <= y) & (ymax > y)
        else:  # the last scan line keeps the edges that end there (no AET update)
            active = nonhoriz & (ymin < last) & (ymax == last)
        if not active.any():
            continue
        row = y + shifty
        if row < 0 or row >= ny:
            continue
        ax0, ay0 = x0[active], y0[active]
        ux, uy = (x1 - x0)[active], (y1 - y0)[active]
        # Edge.intersection with the scan line [(bx, y), (bx + bw, y)], as computed there.
        cross_vw = bw * (ay0 - y)
        det = -uy * bw
        xs = np.ceil((cross_vw / det) * ux + ax0).astype(np.int64)
        xs.sort()
        for i, j in zip(xs[0::2], xs[1::2]):
            xstart = i + shiftx if (i + shiftx) >= 0 else 0
            xend = j + shiftx if (j + shiftx) < nx else nx - 1
            out[row][xstart : xend + 1] = True
            filled = True
    return filled
