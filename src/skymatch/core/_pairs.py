"""Overlapping chip pairs and their overlap statistics (SPEC section 6).

Geometry runs in the main process from headers only: footprints, one tangent plane,
an STRtree to find candidate pairs (no all-pairs loop) and shapely intersections.
The pixel work of each chip pair is an independent task (:func:`overlap_task`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from ..models import Chip
from ._footprint import TangentPlane, footprint_world, unit_vectors
from ._masks import BitFlags
from ._cells import MIN_CELL_FRACTION, CellStats, cell_keys, cell_size, cell_statistics
from ._context import RunContext
from ._pixmap import map_pixels
from ._raster import raster_centres, raster_reference
from ._stats import SkyStatParams, StatisticError, StatResult, sky_statistic

__all__ = ["Footprints", "compute_footprints", "candidate_pairs", "overlap_geometry", "CellSpec", "OverlapJob",
           "OverlapResult", "overlap_task", "chip_cells"]


@dataclass(frozen=True)
class Footprints:
    """Footprint polygons of all chips in one tangent plane."""

    plane: TangentPlane
    polygons: tuple  # shapely polygons, one per chip
    corners_xyz: tuple  # unit vectors of the outline vertices (for the identity test)


def compute_footprints(chips: list[Chip], *, compat: bool) -> Footprints:
    """Footprints of ``chips``: outer pixel edges through the full WCS.

    Compat mode uses the four corners only (great-circle edges, as the Reference's
    spherical-geometry 1.3.5); default mode samples every edge densely.
    """
    rings = [footprint_world(c.wcs.deepcopy(), c.shape, corners_only=compat) for c in chips]
    all_ra = np.concatenate([r[0] for r in rings])
    all_dec = np.concatenate([r[1] for r in rings])
    plane = TangentPlane.from_points(all_ra, all_dec)
    polys = tuple(plane.polygon(ra, dec) for ra, dec in rings)
    xyz = tuple(unit_vectors(ra, dec) for ra, dec in rings)
    return Footprints(plane=plane, polygons=polys, corners_xyz=xyz)


def candidate_pairs(fp: Footprints, exposure_index: np.ndarray) -> np.ndarray:
    """Chip index pairs (a < b, different exposures) whose footprints intersect."""
    tree = shapely.STRtree(fp.polygons)
    left, right = tree.query(np.asarray(fp.polygons, dtype=object), predicate="intersects")
    keep = (left < right) & (exposure_index[left] != exposure_index[right])
    pairs = np.column_stack([left[keep], right[keep]])
    if pairs.size == 0:
        return pairs.reshape(0, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def overlap_geometry(fp: Footprints, a: int, b: int, *, compat: bool):
    """Intersection of footprints ``a`` and ``b`` as rings of (RA, Dec) arrays.

    Returns an empty list when the overlap has no area.  In compat mode footprints whose
    sorted outline vertices agree within 1e-8 are treated as identical (the Reference's
    special case) and pieces with fewer than three distinct vertices are dropped.
    """
    pa, pb = fp.polygons[a], fp.polygons[b]
    if compat:
        va = np.sort(fp.corners_xyz[a], axis=0)
        vb = np.sort(fp.corners_xyz[b], axis=0)
        if va.shape == vb.shape and np.allclose(va, vb, rtol=0, atol=1e-8):
            inter = pa
        else:
            inter = shapely.intersection(pa, pb)
    else:
        inter = shapely.intersection(pa, pb)
    if inter.is_empty or inter.area <= 0:
        return []
    rings = []
    for geom in getattr(inter, "geoms", [inter]):
        if not isinstance(geom, shapely.Polygon) or geom.area <= 0:
            continue
        for ring in [geom.exterior, *geom.interiors]:
            xy = np.asarray(ring.coords)
            if len(np.unique(np.round(xy, 15), axis=0)) < 3:
                continue
            ra, dec = fp.plane.unproject(xy[:, 0], xy[:, 1])
            rings.append((ra, dec))
    return rings


@dataclass(frozen=True)
class CellSpec:
    """How to measure cells (sky models, flatness): clipping and position moments."""

    lsigma: float
    usigma: float
    nclip: int
    order: int

    def size(self, shape: tuple[int, int]) -> int:
        return cell_size(shape)

    def min_pix(self, shape: tuple[int, int]) -> int:
        s = self.size(shape)
        return max(8, int(MIN_CELL_FRACTION * s * s))


@dataclass(frozen=True)
class OverlapJob:
    """Pixel work for one overlapping chip pair.

    ``whole``: the overlap statistic of each side (the constant ``match``); ``cells``:
    clipped statistics in cells of chip m's grid, on pixels usable in both chips.
    """

    chip_m: Chip
    chip_n: Chip
    rings: tuple  # ((ra, dec), ...) of the intersection polygon
    flags: BitFlags
    stat: SkyStatParams
    compat: bool
    context: RunContext
    static_m: np.ndarray | None = None  # packed static masks (or None)
    static_n: np.ndarray | None = None
    static_key_m: object = None
    static_key_n: object = None
    whole: bool = True
    cells: CellSpec | None = None


@dataclass(frozen=True)
class OverlapResult:
    """What one chip pair's overlap gave: each side's statistic (None when it failed),
    the rasterised pixel counts, and each side's cells (None unless asked)."""

    stat_m: StatResult | None
    stat_n: StatResult | None
    n_raster_m: int
    n_raster_n: int
    cells_m: CellStats | None = None
    cells_n: CellStats | None = None


def _unpack(packed: np.ndarray | None, shape) -> np.ndarray | None:
    if packed is None:
        return None
    return np.unpackbits(packed, count=shape[0] * shape[1]).astype(bool).reshape(shape)


def _raster(wcs, shape, rings, compat: bool):
    pix = []
    for ra, dec in rings:
        if compat:
            x, y = wcs.all_world2pix(ra, dec, 0)
        else:
            x, y = wcs.world_to_pixel_values(ra, dec)
        pix.append((np.asarray(x, float), np.asarray(y, float)))
    return (raster_reference if compat else raster_centres)(pix, shape)


def _lookup_good(x: np.ndarray, y: np.ndarray, good_to: np.ndarray) -> np.ndarray:
    """Whether the positions ``x, y`` (pixels of the other chip) land on a usable pixel
    there (nearest pixel; outside the chip counts as unusable)."""
    ny, nx = good_to.shape
    xi = np.rint(x)
    yi = np.rint(y)
    np.clip(xi, -1, nx, out=xi)
    np.clip(yi, -1, ny, out=yi)
    padded = np.pad(good_to, 1, constant_values=False)
    flat = (yi.astype(np.int32) + 1) * np.int32(nx + 2) + (xi.astype(np.int32) + 1)
    return padded.ravel()[flat]


@dataclass
class _Side:
    chip: Chip
    wcs: object
    usable: object


def _side_selection(side: _Side, other: _Side, rings, compat: bool, cross: bool):
    """Rasterised overlap of ``side`` and its selection of usable pixels.

    Returns ``(n_raster, r0, c0, sel, mapped)``: the bounding-box origin, the boolean
    selection there and (when ``cross``) the positions of the box's pixels in the other
    chip (x, y arrays), else None.
    """
    r0, c0, mask = _raster(side.wcs, side.chip.shape, rings, compat)
    n_raster = int(mask.sum())
    if mask.size == 0 or not mask.any():
        return n_raster, r0, c0, None, None
    h, w = mask.shape
    sel = mask & side.usable.good[r0 : r0 + h, c0 : c0 + w]
    mapped = None
    if cross and sel.any():
        mapped = map_pixels(side.wcs, other.wcs, r0, c0, h, w)
    return n_raster, r0, c0, sel, mapped


def overlap_task(job: OverlapJob) -> OverlapResult:
    """Overlap statistics of both chips of ``job`` on their own pixels.

    In default mode a pixel counts only where the position it sees is usable in the
    other chip too (both sides measure the same sky); compat mode lets each side use
    its own usable pixels (the Reference).  Cells always use the cross-masked pixels.
    """
    ctx = job.context
    um = ctx.usable(job.chip_m, job.flags, _unpack(job.static_m, job.chip_m.shape), job.static_key_m)
    un = ctx.usable(job.chip_n, job.flags, _unpack(job.static_n, job.chip_n.shape), job.static_key_n)
    # astropy WCS objects are not documented as thread-safe: every task has its own.
    m = _Side(job.chip_m, job.chip_m.wcs.deepcopy(), um)
    n = _Side(job.chip_n, job.chip_n.wcs.deepcopy(), un)
    need_cross = (not job.compat) or job.cells is not None
    stats, counts, cells = [], [], []
    for side, other in ((m, n), (n, m)):
        count, r0, c0, sel, mapped = _side_selection(side, other, job.rings, job.compat, need_cross)
        counts.append(count)
        if sel is None:
            stats.append(None)
            cells.append(None if job.cells is None else CellStats.empty(job.cells.order))
            continue
        h, w = sel.shape
        both = sel
        if mapped is not None:
            both = sel & _lookup_good(mapped[0], mapped[1], other.usable.good)
        block = side.usable.data[r0 : r0 + h, c0 : c0 + w]
        if job.whole:
            values = block[both if not job.compat else sel]
            try:
                stats.append(sky_statistic(values, job.stat))
            except StatisticError:
                stats.append(None)
        else:
            stats.append(None)
        if job.cells is not None:
            cells.append(_overlap_cells(job.cells, side is m, block, both, r0, c0, mapped,
                                        job.chip_m.shape))
    return OverlapResult(stats[0], stats[1], counts[0], counts[1],
                         cells[0] if job.cells is not None else None,
                         cells[1] if job.cells is not None else None)


def _overlap_cells(spec: CellSpec, is_m: bool, block, both, r0: int, c0: int, mapped,
                   shape_m) -> CellStats:
    """Cells (in chip m's grid) of one side's pixels usable in both chips."""
    rows, cols = np.nonzero(both)
    values = block[rows, cols]
    y = rows + r0
    x = cols + c0
    size = spec.size(shape_m)
    if is_m:
        key = cell_keys(y, x, size, shape_m[1])
    else:  # position in chip m, nearest pixel
        key = cell_keys(np.rint(mapped[1][rows, cols]), np.rint(mapped[0][rows, cols]), size, shape_m[1])
    return cell_statistics(values, x, y, key, lsigma=spec.lsigma, usigma=spec.usigma,
                           nclip=spec.nclip, order=spec.order, min_pix=spec.min_pix(shape_m))


def chip_cells(spec: CellSpec, usable) -> CellStats:
    """Cells of a chip's own usable pixels (its own sky, for local model fits)."""
    rows, cols = np.nonzero(usable.good)
    shape = usable.good.shape
    size = spec.size(shape)
    return cell_statistics(usable.data[rows, cols], cols, rows, cell_keys(rows, cols, size, shape[1]),
                           lsigma=spec.lsigma, usigma=spec.usigma, nclip=spec.nclip,
                           order=spec.order, min_pix=spec.min_pix(shape))
