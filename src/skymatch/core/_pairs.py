"""Overlapping chip pairs and their overlap statistics (SPEC section 6).

Geometry runs in the main process from headers only: footprints, one tangent plane,
an STRtree to find candidate pairs (no all-pairs loop) and shapely intersections.
The pixel work of each chip pair is an independent task (:func:`overlap_task`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import shapely

from ..exceptions import InputError
from ..models import Chip
from ._cells import (
    MIN_CELL_FRACTION,
    CellStats,
    DifferenceCells,
    bilinear,
    cell_size,
    dense_difference_cells,
    grid_cell_statistics,
)
from ._context import RunContext
from ._footprint import TangentPlane, footprint_pixels, footprint_world, unit_vectors
from ._masks import BitFlags
from ._pixmap import Transform, map_block, wcs_transform
from ._planemap import PlaneMap, PlaneMapFitter, fit_nodes
from ._raster import raster_centres, raster_reference
from ._skymodel import monomials
from ._stats import SkyStatParams, StatisticError, StatResult, sky_statistic

__all__ = ["Footprints", "compute_footprints", "candidate_pairs", "overlap_geometry", "CellSpec", "OverlapJob",
           "OverlapResult", "plane_job", "overlap_task", "chip_cells"]


@dataclass(frozen=True)
class Footprints:
    """Footprint polygons of all chips in one tangent plane."""

    plane: TangentPlane
    polygons: tuple  # shapely polygons, one per chip
    corners_xyz: tuple  # compat: unit vectors of the outline vertices (for the identity test)
    maps: tuple  # default mode: each chip's PlaneMap (None where the WCS needs its own calls)


def compute_footprints(chips: list[Chip], *, compat: bool) -> Footprints:
    """Footprints of ``chips``: outer pixel edges through the full WCS.

    Compat mode uses the four corners only (great-circle edges, as the Reference's
    spherical-geometry 1.3.5); default mode samples every edge densely and fits each
    chip's :class:`~skymatch.core._planemap.PlaneMap` (used by the overlap tasks).
    """
    # The main thread, before any task of the stage runs: the chips' WCSs are not in use
    # elsewhere, so no copies.
    if compat:
        rings = [footprint_world(c.wcs, c.shape, corners_only=True) for c in chips]
    else:
        rings, nodes = _outlines_and_nodes(chips)
    for c, (ra, dec) in zip(chips, rings):
        if not (np.isfinite(ra).all() and np.isfinite(dec).all()):
            raise InputError(f"{c.name}: its WCS gives no sky position for part of the chip's edge (NaN); "
                             "check its WCS and distortion keywords (CRVAL, CD, A_p_q/B_p_q)")
    all_ra = np.concatenate([r[0] for r in rings])
    all_dec = np.concatenate([r[1] for r in rings])
    plane = TangentPlane.from_points(all_ra, all_dec)
    polys = _polygons(plane, chips, rings, all_ra, all_dec)
    if compat:
        xyz = tuple(unit_vectors(ra, dec) for ra, dec in rings)  # the identity test
        maps = (None,) * len(chips)
    else:
        xyz = ()
        fitter = PlaneMapFitter(plane)
        maps = tuple(fitter.fit_many([c.wcs for c in chips], [c.shape for c in chips], sky=nodes))
    return Footprints(plane=plane, polygons=polys, corners_xyz=xyz, maps=maps)


def _outlines_and_nodes(chips: list[Chip]):
    """Each chip's outline (:func:`footprint_world`) and its plane-map nodes
    (:func:`~skymatch.core._planemap.fit_nodes`) on the sky, from one WCS call per chip
    (RA, Dec pairs; None for nodes where that call fails: the outline alone then)."""
    rings, nodes, grid = [], [], {}
    for c in chips:
        ox, oy = footprint_pixels(c.shape, corners_only=False)
        shape = tuple(c.shape)
        if shape not in grid:
            grid[shape] = fit_nodes(shape)
        gx, gy = grid[shape]
        try:
            with np.errstate(all="ignore"):
                ra, dec = c.wcs.pixel_to_world_values(np.concatenate([ox, gx]), np.concatenate([oy, gy]))
        except (ValueError, ArithmeticError):
            rings.append(footprint_world(c.wcs, c.shape))
            nodes.append(None)
            continue
        ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
        rings.append((ra[: ox.size], dec[: ox.size]))
        nodes.append((ra[ox.size :], dec[ox.size :]))
    return rings, nodes


def _polygons(plane: TangentPlane, chips: list[Chip], rings, all_ra, all_dec) -> tuple:
    """Every chip's footprint polygon on ``plane`` (one projection, one shapely call for
    all; :meth:`TangentPlane.polygon` chip by chip when one is beyond the plane)."""
    try:
        x, y = plane.project(all_ra, all_dec)
    except ValueError:
        return tuple(_polygon(plane, c, ra, dec) for c, (ra, dec) in zip(chips, rings))
    lengths = [len(r[0]) for r in rings]
    polys = shapely.polygons(shapely.linearrings(np.column_stack([x, y]),
                                                 indices=np.repeat(np.arange(len(rings)), lengths)))
    bad = ~shapely.is_valid(polys)
    if bad.any():
        polys[bad] = shapely.make_valid(polys[bad])
    return tuple(polys)


def _polygon(plane: TangentPlane, chip: Chip, ra, dec):
    """``chip``'s footprint on the mosaic's tangent plane; a footprint reaching the far
    hemisphere is a broken WCS (a CD matrix of degrees per pixel), not a mosaic."""
    try:
        return plane.polygon(ra, dec)
    except ValueError:
        raise InputError(f"{chip.name}: its WCS puts the chip more than 90 degrees from the other inputs' "
                         "centre (check CD1_1..CD2_2 / CDELT: degrees per pixel)") from None


def candidate_pairs(fp: Footprints, exposure_index: np.ndarray) -> np.ndarray:
    """Chip index pairs (a < b, different exposures) whose footprints intersect."""
    tree = shapely.STRtree(fp.polygons)
    left, right = tree.query(np.asarray(fp.polygons, dtype=object), predicate="intersects")
    keep = (left < right) & (exposure_index[left] != exposure_index[right])
    pairs = np.column_stack([left[keep], right[keep]])
    if pairs.size == 0:
        return pairs.reshape(0, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def overlap_geometry(fp: Footprints, a: int, b: int, *, compat: bool, plane: bool = False):
    """Intersection of footprints ``a`` and ``b`` as rings of (RA, Dec) arrays.

    Returns an empty list when the overlap has no area; with ``plane``, the pair
    ``(rings, plane_rings)``, the second the same rings in ``fp.plane``'s coordinates.
    In compat mode footprints whose sorted outline vertices agree within 1e-8 are treated
    as identical (the Reference's special case) and pieces with fewer than three distinct
    vertices are dropped.
    """
    pa, pb = fp.polygons[a], fp.polygons[b]
    inter = None
    if compat:
        va = np.sort(fp.corners_xyz[a], axis=0)
        vb = np.sort(fp.corners_xyz[b], axis=0)
        if va.shape == vb.shape and np.allclose(va, vb, rtol=0, atol=1e-8):
            inter = pa
    if inter is None:
        inter = shapely.intersection(pa, pb)
    plane_rings = _plane_rings(inter)
    rings = [fp.plane.unproject(x, y) for x, y in plane_rings]
    return (rings, plane_rings) if plane else rings


def _plane_rings(inter) -> list:
    """The rings (x, y arrays on the plane) of the polygons of an intersection with area."""
    if inter.is_empty or inter.area <= 0:
        return []
    rings = []
    for geom in getattr(inter, "geoms", [inter]):
        if not isinstance(geom, shapely.Polygon) or geom.area <= 0:
            continue
        for ring in [geom.exterior, *geom.interiors]:
            xy = np.asarray(ring.coords)
            if _n_distinct_rows(np.round(xy, 15)) < 3:
                continue
            rings.append((xy[:, 0], xy[:, 1]))
    return rings


def _n_distinct_rows(a: np.ndarray) -> int:
    """``len(np.unique(a, axis=0))`` of an (n, 2) array, without its structured-array sort."""
    if a.shape[0] < 2 or not np.isfinite(a).all():
        return len(np.unique(a, axis=0))
    s = a[np.lexsort((a[:, 1], a[:, 0]))]
    return 1 + int(np.count_nonzero((s[1:] != s[:-1]).any(axis=1)))


@dataclass(frozen=True)
class CellSpec:
    """How to measure cells (sky models, flatness): clipping and position moments."""

    lsigma: float
    usigma: float
    nclip: int
    order: int
    step: int = 1  # own-sky cells on every step-th pixel of every step-th row (chip_cells)

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
    # Default mode: the rings in the mosaic's tangent plane and both chips' fitted maps to
    # it (_planemap), used instead of WCS calls when both chips have one.
    plane_rings: tuple | None = None
    map_m: PlaneMap | None = None
    map_n: PlaneMap | None = None
    # Or the two footprint polygons (plane coordinates): the task intersects them itself
    # (``rings`` and ``plane_rings`` empty), so the main process only pairs chips up.
    polygons: tuple | None = None


def plane_job(chip_m: Chip, chip_n: Chip, fp: Footprints, a: int, b: int, **options: object) -> OverlapJob:
    """An :class:`OverlapJob` (default mode) for chips ``a`` (m) and ``b`` (n) of ``fp``, both
    with plane maps, that computes its own overlap polygon; ``options``: the other fields."""
    return OverlapJob(chip_m, chip_n, (), compat=False, map_m=fp.maps[a], map_n=fp.maps[b],
                      polygons=(fp.polygons[a], fp.polygons[b]), **options)


@dataclass(frozen=True)
class OverlapResult:
    """What one chip pair's overlap gave: each side's statistic (None when it failed),
    the rasterised pixel counts, and the difference cells (None unless asked)."""

    stat_m: StatResult | None
    stat_n: StatResult | None
    n_raster_m: int
    n_raster_n: int
    cells: DifferenceCells | None = None  # m - n on m's pixels
    empty: bool = False  # the footprints only touch: no overlap (a job with ``polygons``)


def _unpack(packed: np.ndarray | None, shape) -> np.ndarray | None:
    if packed is None:
        return None
    return np.unpackbits(packed, count=shape[0] * shape[1]).astype(bool).reshape(shape)


def _raster(side: _Side, job: OverlapJob):
    pix = []
    if side.pmap is not None and job.plane_rings is not None:
        pix = [side.pmap.to_pixel(u, v) for u, v in job.plane_rings]
        return raster_centres(pix, side.chip.shape)
    for ra, dec in job.rings:
        if job.compat:
            x, y = side.wcs.all_world2pix(ra, dec, 0)
        else:
            x, y = side.wcs.world_to_pixel_values(ra, dec)
        pix.append((np.asarray(x, float), np.asarray(y, float)))
    return (raster_reference if job.compat else raster_centres)(pix, side.chip.shape)


def _lookup_good(x: np.ndarray, y: np.ndarray, good_to: np.ndarray) -> np.ndarray:
    """Whether the positions ``x, y`` (pixels of the other chip) land on a usable pixel
    there (nearest pixel; outside the chip, or not a number, counts as unusable)."""
    return lookup_padded(x, y, padded_mask(good_to), good_to.shape)


def padded_mask(good: np.ndarray) -> np.ndarray:
    """``good`` with a one-pixel unusable border, raveled (for :func:`lookup_padded`)."""
    p = np.zeros((good.shape[0] + 2, good.shape[1] + 2), dtype=bool)
    p[1:-1, 1:-1] = good
    return p.ravel()


def lookup_padded(x: np.ndarray, y: np.ndarray, padded: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The usable flag of the nearest pixel (``np.rint``) of each position in a chip of
    ``shape`` through its :func:`padded_mask`: a position outside (or NaN) lands on the
    border, so one lookup replaces masks of the positions inside."""
    ny, nx = shape
    xi = np.rint(x)
    yi = np.rint(y)
    np.fmax(xi, -1, out=xi)  # fmax/fmin: a NaN becomes the bound (outside)
    np.fmin(xi, nx, out=xi)
    np.fmax(yi, -1, out=yi)
    np.fmin(yi, ny, out=yi)
    # The flat index in integers (float32 positions would round it beyond 2**24 pixels).
    idx = yi.astype(np.intp)
    idx += 1
    idx *= nx + 2
    idx += xi.astype(np.intp)
    idx += 1
    return padded[idx]


class _Side:
    """One chip of a pair: its usable pixels, its WCS (made on first use), its plane map
    (both sides have one, or neither)."""

    def __init__(self, chip: Chip, wcs_of, usable, pmap: PlaneMap | None) -> None:
        self.chip = chip
        self.usable = usable
        self.pmap = pmap
        self._wcs_of = wcs_of
        self._wcs = None

    @property
    def wcs(self):
        if self._wcs is None:
            self._wcs = self._wcs_of(self.chip)
        return self._wcs


def _transform(side: _Side, other: _Side) -> Transform:
    """``side``'s pixels -> ``other``'s pixels: through the plane maps when the sides have
    them, else through the WCSs."""
    if side.pmap is not None and other.pmap is not None:
        to_plane, to_pixel = side.pmap.to_plane, other.pmap.to_pixel
        return lambda x, y: to_pixel(*to_plane(x, y))
    return wcs_transform(side.wcs, other.wcs)


@dataclass
class _Selection:
    count: int
    r0: int
    c0: int
    sel: np.ndarray | None  # rasterised overlap & usable, on the bounding box
    mapped: tuple | None  # the box's pixel positions in the other chip


def _side_selection(side: _Side, other: _Side, job: OverlapJob, cross: bool) -> _Selection:
    """Rasterised overlap of ``side`` and its usable pixels there (and, when ``cross``,
    where the box's pixels land in the other chip)."""
    r0, c0, mask = _raster(side, job)
    n_raster = int(mask.sum())
    if mask.size == 0 or not mask.any():
        return _Selection(n_raster, r0, c0, None, None)
    h, w = mask.shape
    sel = mask & side.usable.good[r0 : r0 + h, c0 : c0 + w]
    mapped = map_block(_transform(side, other), r0, c0, h, w) if (cross and sel.any()) else None
    return _Selection(n_raster, r0, c0, sel, mapped)


def overlap_task(job: OverlapJob, *, wcs_of=None) -> OverlapResult:
    """Overlap statistics of both chips of ``job`` on their own pixels, and (when asked)
    the cells of their pixel differences.

    In default mode a pixel counts only where the position it sees is usable in the
    other chip too (both sides measure the same sky); compat mode lets each side use
    its own usable pixels (the Reference).  ``wcs_of(chip)`` gives the WCS object the
    task may use (default: a copy of the chip's); it is not needed when both chips have
    plane maps.
    """
    if job.polygons is not None:
        plane_rings = _plane_rings(shapely.intersection(*job.polygons))
        if not plane_rings:
            return OverlapResult(None, None, 0, 0, None, empty=True)
        job = replace(job, plane_rings=tuple(plane_rings), polygons=None)
    ctx = job.context
    um = ctx.usable(job.chip_m, job.flags, _unpack(job.static_m, job.chip_m.shape), job.static_key_m)
    un = ctx.usable(job.chip_n, job.flags, _unpack(job.static_n, job.chip_n.shape), job.static_key_n)
    # astropy WCS objects are not documented as thread-safe: every task (or batch of
    # tasks run in one thread) has its own.
    wcs_of = wcs_of or (lambda chip: chip.wcs.deepcopy())
    fast = not job.compat and job.plane_rings is not None and job.map_m is not None and job.map_n is not None
    m = _Side(job.chip_m, wcs_of, um, job.map_m if fast else None)
    n = _Side(job.chip_n, wcs_of, un, job.map_n if fast else None)
    cross = not job.compat
    stats, counts, selections = [], [], []
    for side, other in ((m, n), (n, m)):
        # Only the constant statistics look at n's side beyond its pixel count.
        s = _side_selection(side, other, job, cross and (job.whole or side is m))
        counts.append(s.count)
        selections.append(s)
        stats.append(_whole_stat(job, side, other, s) if job.whole else None)
    cells = None
    if job.cells is not None:
        size = _pair_cell_size(job.cells, selections[0], m.chip.shape)
        cells = _difference_cells(job.cells, m, n, selections[0], size)
    return OverlapResult(stats[0], stats[1], counts[0], counts[1], cells)


def _whole_stat(job: OverlapJob, side: _Side, other: _Side, s: _Selection) -> StatResult | None:
    if s.sel is None:
        return None
    h, w = s.sel.shape
    sel = s.sel
    if not job.compat and s.mapped is not None:
        sel = sel & _lookup_good(s.mapped[0], s.mapped[1], other.usable.good)
    values = side.usable.data[s.r0 : s.r0 + h, s.c0 : s.c0 + w][sel]
    try:
        return sky_statistic(values, job.stat)
    except StatisticError:
        return None


def _difference_cells(spec: CellSpec, m: _Side, n: _Side, s: _Selection, size: int) -> DifferenceCells:
    """Cells (chip m's grid) of chip m's pixels minus chip n interpolated at the same sky.

    One direction is enough: measuring n's pixels minus m interpolated as well and
    averaging (as this code once did) halves the interpolation bias at undersampled
    stars in principle, but on the 18 x 1014² gradient demo with 2,000 stars it changed
    the recovered planes by less than their noise (0.00089 against 0.00094 e-/s rms,
    0.00116 against 0.00127 on another realisation) at 40 % of the cost of the models.
    """
    if s.sel is None or not s.sel.any():
        return DifferenceCells.empty(spec.order)
    h, w = s.sel.shape
    mx, my = map_block(_transform(m, n), s.r0, s.c0, h, w, dtype=np.float64)
    vn, ok, rho = bilinear(n.usable.data, n.usable.good, mx, my)
    bm = m.chip.conv * m.usable.data[s.r0 : s.r0 + h, s.c0 : s.c0 + w].astype(np.float64)
    return dense_difference_cells(bm, n.chip.conv * vn, rho, mx, my, s.sel & ok, s.r0, s.c0, size,
                                  m.chip.shape[1], lsigma=spec.lsigma, usigma=spec.usigma, nclip=spec.nclip,
                                  order=spec.order, min_pix=max(8, int(MIN_CELL_FRACTION * size * size)))


def _pair_cell_size(spec: CellSpec, s: _Selection, shape_m) -> int:
    """Cell size for an overlap: the chip's usual size, smaller where the overlap is too
    narrow to have five cells across (enough to resolve a cubic; the same cells for
    every model, so their flatness scores compare)."""
    default = spec.size(shape_m)
    if s.sel is None or not s.count:
        return default
    width = s.count / max(s.sel.shape)
    return int(min(default, max(8, width // 5)))


def chip_cells(spec: CellSpec, usable) -> CellStats:
    """Cells of a chip's own usable pixels (its own sky, for local model fits).

    With ``spec.step`` > 1 the cells are measured on every step-th pixel of every step-th
    row (positions in the full chip's pixels): ``match`` alone uses an exposure's own sky
    only where its overlaps say nothing (:mod:`skymatch.core._modelfit`), where the own
    fit's noise is far below its systematic error, at a quarter of the cost.
    """
    shape = usable.good.shape
    k = max(1, int(spec.step))
    size = spec.size(shape)
    if k == 1 or size % k:
        return grid_cell_statistics(usable.data, usable.good, size, lsigma=spec.lsigma,
                                    usigma=spec.usigma, nclip=spec.nclip, order=spec.order,
                                    min_pix=spec.min_pix(shape))
    c = grid_cell_statistics(usable.data[::k, ::k], usable.good[::k, ::k], size // k, lsigma=spec.lsigma,
                             usigma=spec.usigma, nclip=spec.nclip, order=spec.order,
                             min_pix=max(2, spec.min_pix(shape) // (k * k)))
    scale = np.array([float(k) ** (i + j) for i, j in monomials(spec.order)]) if len(c) else 1.0
    return CellStats(c.key, c.value, c.sigma, c.npix, c.x * k, c.y * k, c.moments * scale, c.order)
