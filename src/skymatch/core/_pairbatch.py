"""Overlap statistics of many chip pairs in one set of array operations.

A small chip pair's :func:`~skymatch.core._pairs.overlap_task` is a few hundred numpy
calls on arrays of a few thousand pixels, so its time is call overhead, not arithmetic
(1,000 exposures of 128² pixels: ~8,000 pairs at ~2 ms each).  For the pairs that need
only the whole-overlap statistic of each side (the constant ``match`` in default mode,
both chips with :class:`~skymatch.core._planemap.PlaneMap` maps) this module does the
same work for a whole batch at once, by the same rules:

* the overlap polygon: the footprints' shapely intersection (one vectorised call);
* its vertices into each chip through the chips' plane maps (all points of the batch in
  one evaluation, each point with its own map's coefficients);
* the pixels whose centres lie inside, by the scan lines of
  :func:`~skymatch.core._raster.raster_centres` (even-odd rule, half-open), the
  crossings of every side sorted together and the spans expanded straight into pixel
  lists (no mask per pair);
* the cross mask of :func:`~skymatch.core._pixmap.map_block`: positions in the other
  chip exact at nodes every ``PIXMAP_STEP`` pixels of the side's bounding box and
  bilinear in float32 between them (the same node grid and arithmetic, evaluated at
  the selected pixels only), the nearest pixel usable there;
* :func:`~skymatch.core._stats.sky_statistic` of each side's values in row-major order.

Pixel positions agree with the one-pair path to the last bits of the plane maps'
evaluation (a batched product instead of one matrix product per pair), far inside the
maps' 1e-6 px validation; ``tests/test_pairbatch.py`` checks equal pixel counts and
statistics pair by pair.  Every other job (compat mode, WCS path, difference cells) runs
through :func:`~skymatch.core._pairs.overlap_task`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import shapely

from ..models import Chip
from ._pairs import OverlapJob, OverlapResult, _plane_rings, _unpack, lookup_padded, overlap_task, padded_mask
from ._pixmap import PIXMAP_STEP
from ._planemap import PlaneMap
from ._stats import StatisticError, StatResult, sky_statistic

__all__ = ["overlap_batch", "whole_overlaps"]

#: Jobs go through :func:`whole_overlaps` in chunks of at most this many chip pixels
#: (both chips of every job), which bounds the running sums over a chunk's side boxes
#: (~35 bytes per box pixel, transient) to ~70 MB.
CHUNK_PIXELS = 1 << 21


def overlap_batch(jobs: Sequence[OverlapJob]) -> list[OverlapResult]:
    """:func:`~skymatch.core._pairs.overlap_task` of every job, in order.

    Jobs :func:`whole_overlaps` can take are computed together in chunks; the others one
    by one, the jobs' chips sharing one WCS copy each.
    """
    out: list[OverlapResult | None] = [None] * len(jobs)
    fast = [k for k, job in enumerate(jobs) if _vectorisable(job)]
    for chunk in _chunks([jobs[k] for k in fast]):
        for k, res in zip(chunk, whole_overlaps([jobs[fast[i]] for i in chunk])):
            out[fast[k]] = res
    copies: dict[str, object] = {}

    def wcs_of(chip: Chip):
        w = copies.get(chip.name)
        if w is None:
            w = copies[chip.name] = chip.wcs.deepcopy()
        return w

    for k, job in enumerate(jobs):
        if out[k] is None:
            out[k] = overlap_task(job, wcs_of=wcs_of)
    return out  # type: ignore[return-value]


def _npix(chip: Chip) -> int:
    return int(chip.shape[0]) * int(chip.shape[1])


def _vectorisable(job: OverlapJob) -> bool:
    return (job.polygons is not None and not job.compat and job.whole and job.cells is None
            and job.map_m is not None and job.map_n is not None)


def _chunks(jobs: Sequence[OverlapJob]) -> Iterator[list[int]]:
    cur: list[int] = []
    size = 0
    for k, job in enumerate(jobs):
        n = _npix(job.chip_m) + _npix(job.chip_n)
        if cur and size + n > CHUNK_PIXELS:
            yield cur
            cur, size = [], 0
        cur.append(k)
        size += n
    if cur:
        yield cur


# ------------------------------------------------------------------ plane maps, batched
class _Maps:
    """The plane maps of a batch, stacked: ``to_plane``/``to_pixel`` of points that each
    name their map (:meth:`PlaneMap.to_plane`, :meth:`PlaneMap.to_pixel`, same formulas)."""

    def __init__(self, maps: list[PlaneMap]) -> None:
        self.centre = np.array([m.centre for m in maps], dtype=float)
        self.half = np.array([m.half for m in maps], dtype=float)
        self.affine = np.array([m.affine for m in maps], dtype=float)
        self.degree = np.array([m.forward.shape[0] for m in maps])
        self.forward = {n: np.array([m.forward if m.forward.shape[0] == n else np.zeros((n, 2 * n)) for m in maps])
                        for n in np.unique(self.degree).tolist()}
        self.inverse = {n: np.array([m.inverse if m.inverse.shape[0] == n else np.zeros((n, 2 * n)) for m in maps])
                        for n in np.unique(self.degree).tolist()}

    def _evaluate(self, power: dict, g: np.ndarray, s: np.ndarray, t: np.ndarray):
        u = np.empty(s.size)
        v = np.empty(s.size)
        for n, stack in power.items():
            k = np.flatnonzero(self.degree[g] == n) if len(power) > 1 else slice(None)
            a = np.einsum("ik,ikj->ij", np.vander(s[k], n, increasing=True), stack[g[k]])
            tk = np.vander(t[k], n, increasing=True)
            u[k] = np.einsum("ij,ij->i", a[:, :n], tk)
            v[k] = np.einsum("ij,ij->i", a[:, n:], tk)
        return u, v

    def to_plane(self, g: np.ndarray, x: np.ndarray, y: np.ndarray):
        s = (x - self.centre[g, 0]) / self.half[g, 0]
        t = (y - self.centre[g, 1]) / self.half[g, 1]
        return self._evaluate(self.forward, g, s, t)

    def to_pixel(self, g: np.ndarray, u: np.ndarray, v: np.ndarray):
        a = self.affine[g]
        p = a[:, 0, 0] + a[:, 0, 1] * u + a[:, 0, 2] * v
        q = a[:, 1, 0] + a[:, 1, 1] * u + a[:, 1, 2] * v
        s, t = self._evaluate(self.inverse, g, p, q)
        outside = (np.abs(p) > 1.0) | (np.abs(q) > 1.0)
        if outside.any():
            s = np.where(outside, p, s)
            t = np.where(outside, q, t)
        return s * self.half[g, 0] + self.centre[g, 0], t * self.half[g, 1] + self.centre[g, 1]


# ------------------------------------------------------------------ the batch
def _expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if ends.size else 0
    return np.repeat(starts - (ends - counts), counts) + np.arange(total)


class _Chips:
    """The usable pixels of a batch's chips, each read once (through the run's cache),
    and on demand their usable masks with a one-pixel unusable border (``padded``): the
    cross mask's lookup then needs no inside test."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.usable: list = []
        self._padded: dict[int, np.ndarray] = {}

    def add(self, job: OverlapJob, chip: Chip, static, key) -> int:
        ck = (chip.pixels.token, job.flags, key)
        i = self.index.get(ck)
        if i is None:
            i = self.index[ck] = len(self.usable)
            self.usable.append(job.context.usable(chip, job.flags, _unpack(static, chip.shape), key))
        return i

    def padded(self, i: int) -> np.ndarray:
        p = self._padded.get(i)
        if p is None:
            p = self._padded[i] = padded_mask(self.usable[i].good)
        return p


def whole_overlaps(jobs: Sequence[OverlapJob]) -> list[OverlapResult]:
    """Each side's whole-overlap statistic for jobs with footprint polygons and plane maps
    (default mode, ``whole`` and no cells): :func:`overlap_task`'s results, computed
    together.

    The small-array work (polygons, vertices, scan-line crossings, the cross masks' node
    grids) is done for all jobs at once; the per-pixel work on each side's box, as
    :func:`overlap_task` does it, with a few array calls per side.
    """
    if not jobs:
        return []
    inter = shapely.intersection(np.array([j.polygons[0] for j in jobs], dtype=object),
                                 np.array([j.polygons[1] for j in jobs], dtype=object))
    results: list[OverlapResult | None] = [None] * len(jobs)
    live, rings_of = [], []
    for k, g in enumerate(inter):
        rings = _plane_rings(g)
        if rings:
            live.append(k)
            rings_of.append(rings)
        else:
            results[k] = OverlapResult(None, None, 0, 0, None, empty=True)
    if not live:
        return results  # type: ignore[return-value]
    sides = _Sides([jobs[k] for k in live], rings_of)
    # The overlap's pixels on each side: masks of the sides' boxes, all in one array.
    sp = _spans(*sides.vertices(), sides.ny, sides.nx)
    n = sides.n
    n_raster = np.bincount(sp.side, weights=sp.end - sp.start, minlength=n).astype(np.int64)
    area = np.where(n_raster > 0, sp.h * (sp.w + 1), 0)
    box_off = np.cumsum(area) - area
    row_at = box_off[sp.side] + (sp.row - sp.r0[sp.side]) * (sp.w[sp.side] + 1) - sp.c0[sp.side]
    total = int(area.sum())
    diff = np.bincount(row_at + sp.start, minlength=total) - np.bincount(row_at + sp.end, minlength=total)
    # Each row's +1/-1 sum to zero, so one running sum over all boxes is each row's.
    inside = np.cumsum(diff) > 0
    grid = _NodeGrid(sides.maps, sides.map, sides.other, n_raster > 0, sp.r0, sp.c0, sp.h, sp.w)
    if not grid.finite:
        # A map gave a non-finite position (cannot happen for a validated map): the
        # one-pair path handles it.
        return [r if r is not None else overlap_task(jobs[k]) for k, r in enumerate(results)]
    for i, k in enumerate(live):
        stats = [_side_stat(jobs[k], s, sides, inside, box_off, grid, n_raster) for s in (2 * i, 2 * i + 1)]
        results[k] = OverlapResult(stats[0], stats[1], int(n_raster[2 * i]), int(n_raster[2 * i + 1]), None)
    return results  # type: ignore[return-value]


class _Sides:
    """The two sides of every job with an overlap (side 2i: job i's chip m, 2i+1 its chip
    n): chips (``chip``, index into ``chips``), maps (``map``, index into ``maps``), the
    other side (``other``), chip shapes (``ny``, ``nx``) and the overlap rings."""

    def __init__(self, jobs: list[OverlapJob], rings_of: list) -> None:
        self.chips = _Chips()
        index: dict[int, int] = {}
        maps: list[PlaneMap] = []

        def map_of(pm: PlaneMap) -> int:
            i = index.get(id(pm))
            if i is None:
                i = index[id(pm)] = len(maps)
                maps.append(pm)
            return i

        chip, pmap = [], []
        for j in jobs:
            chip += [self.chips.add(j, j.chip_m, j.static_m, j.static_key_m),
                     self.chips.add(j, j.chip_n, j.static_n, j.static_key_n)]
            pmap += [map_of(j.map_m), map_of(j.map_n)]
        self.n = len(chip)
        self.chip = np.array(chip)
        self.map = np.array(pmap)
        self.other = np.arange(self.n) ^ 1
        self.maps = _Maps(maps)
        self.ny = np.array([u.good.shape[0] for u in self.chips.usable])[self.chip]
        self.nx = np.array([u.good.shape[1] for u in self.chips.usable])[self.chip]
        self.rings_of = rings_of

    def vertices(self):
        """The rings' vertices in each side's pixels: ``(x, y, ring lengths, side of each
        vertex, number of sides)``."""
        ring_len, ring_u, ring_v = [], [], []
        for rings in self.rings_of:
            for _ in range(2):
                for u, v in rings:
                    ring_len.append(len(u))
                    ring_u.append(u)
                    ring_v.append(v)
        ring_len = np.array(ring_len)
        per_side = np.repeat([len(r) for r in self.rings_of], 2)
        side = np.repeat(np.repeat(np.arange(self.n), per_side), ring_len)
        x, y = self.maps.to_pixel(self.map[side], np.concatenate(ring_u), np.concatenate(ring_v))
        return x, y, ring_len, side, self.n


def _side_stat(job: OverlapJob, s: int, sides: _Sides, inside, box_off, grid: "_NodeGrid",
               n_raster) -> StatResult | None:
    """One side's statistic: its usable overlap pixels whose position in the other chip is
    usable there (``_side_selection`` and ``_whole_stat`` of :mod:`._pairs`)."""
    if not n_raster[s]:
        return None
    h, w, r0, c0 = int(grid.h[s]), int(grid.w[s]), int(grid.r0[s]), int(grid.c0[s])
    chips, o = sides.chips, int(sides.other[s])
    own = chips.usable[sides.chip[s]]
    b = int(box_off[s])
    sel = inside[b : b + h * (w + 1)].reshape(h, w + 1)[:, :w] & own.good[r0 : r0 + h, c0 : c0 + w]
    if not sel.any():
        return None
    x, y = grid.positions(s)
    sel &= lookup_padded(x, y, chips.padded(sides.chip[o]), (int(sides.ny[o]), int(sides.nx[o])))
    values = own.data[r0 : r0 + h, c0 : c0 + w][sel]
    if not values.size:
        return None
    try:
        return sky_statistic(values, job.stat)
    except StatisticError:
        return None


class _Spans:
    """Scan-line spans ``start <= col < end`` of every side's overlap (sorted by side, row,
    column) and each side's box (``r0, c0, h, w``: the polygon's vertex box clipped to the
    chip, as :func:`~skymatch.core._raster.raster_centres` uses)."""

    def __init__(self, side, row, start, end, r0, c0, h, w) -> None:
        self.side, self.row, self.start, self.end = side, row, start, end
        self.r0, self.c0, self.h, self.w = r0, c0, h, w


def _spans(xs, ys, ring_len, pts_side, n_sides: int, ny, nx) -> _Spans:
    """:func:`~skymatch.core._raster.raster_centres` of every side's rings at once, as
    spans."""
    finite = np.isfinite(xs) & np.isfinite(ys)
    npts = np.bincount(pts_side, minlength=n_sides)
    bad = np.bincount(pts_side, weights=~finite, minlength=n_sides) > 0
    x0 = np.where(finite, xs, 0.0)
    y0 = np.where(finite, ys, 0.0)
    starts = np.cumsum(npts) - npts
    # max(0, ceil(min)) .. min(n - 1, floor(max)), clipped so that the casts are exact.
    r0 = np.clip(np.ceil(np.minimum.reduceat(y0, starts)), 0, ny).astype(np.int64)
    r1 = np.clip(np.floor(np.maximum.reduceat(y0, starts)), -1, ny - 1).astype(np.int64)
    c0 = np.clip(np.ceil(np.minimum.reduceat(x0, starts)), 0, nx).astype(np.int64)
    c1 = np.clip(np.floor(np.maximum.reduceat(x0, starts)), -1, nx - 1).astype(np.int64)
    valid = (npts >= 3) & ~bad & (r1 >= r0) & (c1 >= c0)

    # Every ring's edges: each vertex to the next one of its ring.
    ends = np.cumsum(ring_len)
    nxt = np.arange(1, xs.size + 1)
    nxt[ends - 1] = ends - ring_len
    keep = valid[pts_side] & (ys != ys[nxt])
    ex0, ey0, ex1, ey1, es = xs[keep], ys[keep], xs[nxt][keep], ys[nxt][keep], pts_side[keep]
    # Rows r with ylo <= r < yhi cross the edge (half-open: vertices counted once).
    first = np.minimum(np.maximum(np.ceil(np.minimum(ey0, ey1)), r0[es]), r1[es] + 1).astype(np.int64)
    last = np.maximum(np.minimum(np.ceil(np.maximum(ey0, ey1)) - 1, r1[es]), r0[es] - 1).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    rows = _expand(first, counts)
    e = np.repeat(np.arange(counts.size), counts)
    e0x, e0y = ex0[e], ey0[e]
    t = (rows - e0y) / (ey1[e] - e0y)
    xc = e0x + t * (ex1[e] - e0x)
    cside = es[e]
    order = np.lexsort((xc, rows, cside))
    rows, xc, cside = rows[order], xc[order], cside[order]
    n_cross = np.bincount(cside, minlength=n_sides)
    odd = n_cross % 2 == 1
    if odd.any():
        # Degenerate geometry (should not happen for closed rings): drop the side's last one.
        drop = np.ones(rows.size, dtype=bool)
        drop[(np.cumsum(n_cross) - 1)[odd]] = False
        rows, xc, cside = rows[drop], xc[drop], cside[drop]
    # Between consecutive crossings of a row (even-odd), the pixel centres xa <= c < xb.
    ra, rb, sa, xa, xb = rows[0::2], rows[1::2], cside[0::2], xc[0::2], xc[1::2]
    ok = ra == rb
    ra, sa, xa, xb = ra[ok], sa[ok], xa[ok], xb[ok]
    lo, hi = c0[sa], c1[sa] + 1
    cs = np.clip(np.ceil(xa), lo, hi).astype(np.int64)
    ce = np.clip(np.ceil(xb), lo, hi).astype(np.int64)
    ok = ce > cs
    return _Spans(sa[ok], ra[ok], cs[ok], ce[ok], r0, c0, r1 - r0 + 1, c1 - c0 + 1)


class _NodeGrid:
    """For every side with overlap pixels, the positions of its box's pixels in the other
    chip as :func:`~skymatch.core._pixmap.map_block` gives them: exact at coarse nodes
    (every ``PIXMAP_STEP`` pixels and the box's last row and column) and bilinear in
    float32 between them; exact at every pixel of a box one pixel high or wide.  The
    nodes of all sides are mapped in one evaluation, and the interpolation weights of all
    rows and columns computed together."""

    def __init__(self, tab: _Maps, side_map, other, used, r0, c0, h, w) -> None:
        self.tab, self.side_map, self.other = tab, side_map, other
        self.r0, self.c0, self.h, self.w = r0, c0, h, w
        step = PIXMAP_STEP
        nny = np.where(used, -(-h // step) + ((h - 1) % step != 0), 0)
        nnx = np.where(used, -(-w // step) + ((w - 1) % step != 0), 0)
        self.coarse = used & (nny >= 2) & (nnx >= 2)
        nny = np.where(self.coarse, nny, 0)
        nnx = np.where(self.coarse, nnx, 0)
        self.nny, self.nnx = nny, nnx
        n_nodes = nny * nnx
        self.node_off = np.cumsum(n_nodes) - n_nodes
        cs = np.flatnonzero(self.coarse)
        node_side = np.repeat(cs, n_nodes[cs])
        iy, ix = np.divmod(np.arange(node_side.size) - self.node_off[node_side], nnx[node_side])
        ry = np.minimum(r0[node_side] + step * iy, r0[node_side] + h[node_side] - 1).astype(float)
        rx = np.minimum(c0[node_side] + step * ix, c0[node_side] + w[node_side] - 1).astype(float)
        tx, ty = tab.to_pixel(side_map[other[node_side]], *tab.to_plane(side_map[node_side], rx, ry))
        self.finite = bool(np.isfinite(tx).all() and np.isfinite(ty).all())
        self.nodes = np.stack((tx, ty)).astype(np.float32)
        # Interpolation weights of every box row and column (_pixmap._segments).
        self.ky, self.ty, self.row_off = self._segments(np.where(self.coarse, h, 0), nny)
        self.kx, self.tx, self.col_off = self._segments(np.where(self.coarse, w, 0), nnx)

    @staticmethod
    def _segments(size, n_nodes):
        step = PIXMAP_STEP
        off = np.cumsum(size) - size
        side = np.repeat(np.arange(size.size), size)
        p = np.arange(side.size) - off[side]  # position in the box
        k = np.minimum(p // step, n_nodes[side] - 2)
        last = size[side] - 1
        a = np.minimum(step * k, last)
        t = ((p - a) / (np.minimum(a + step, last) - a)).astype(np.float32)
        return k, t, off

    def positions(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = int(self.h[s]), int(self.w[s])
        if not self.coarse[s]:
            r0, c0 = int(self.r0[s]), int(self.c0[s])
            fx, fy = np.meshgrid(np.arange(c0, c0 + w, dtype=float), np.arange(r0, r0 + h, dtype=float))
            g = np.full(fx.size, self.side_map[s])
            x, y = self.tab.to_pixel(np.full(fx.size, self.side_map[self.other[s]]),
                                     *self.tab.to_plane(g, fx.ravel(), fy.ravel()))
            return x.reshape(h, w), y.reshape(h, w)
        n0 = int(self.node_off[s])
        v = self.nodes[:, n0 : n0 + int(self.nny[s] * self.nnx[s])].reshape(2, int(self.nny[s]), int(self.nnx[s]))
        a, b = int(self.row_off[s]), int(self.col_off[s])
        ky, ty = self.ky[a : a + h], self.ty[a : a + h]
        kx, tx = self.kx[b : b + w], self.tx[b : b + w]
        # _pixmap._upsample, operation for operation.
        cols = v[..., kx] * (1.0 - tx) + v[..., kx + 1] * tx
        out = cols[..., ky, :] * (1.0 - ty)[:, None]
        out += cols[..., ky + 1, :] * ty[:, None]
        return out[0], out[1]
