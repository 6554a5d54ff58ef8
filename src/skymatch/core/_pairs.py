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
from ._pixmap import WCS_LOCK, map_pixels
from ._raster import raster_centres, raster_reference
from ._stats import SkyStatParams, StatisticError, StatResult, sky_statistic
from ._usable import load_usable

__all__ = ["Footprints", "compute_footprints", "overlap_geometry", "OverlapJob", "overlap_task"]


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
    rings = [footprint_world(c.wcs, c.shape, corners_only=compat) for c in chips]
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
class OverlapJob:
    """Pixel work for one overlapping chip pair."""

    chip_m: Chip
    chip_n: Chip
    rings: tuple  # ((ra, dec), ...) of the intersection polygon
    flags: BitFlags
    stat: SkyStatParams
    compat: bool
    static_m: np.ndarray | None = None  # packed static masks (or None)
    static_n: np.ndarray | None = None
    static_key_m: object = None
    static_key_n: object = None


def _unpack(packed: np.ndarray | None, shape) -> np.ndarray | None:
    if packed is None:
        return None
    return np.unpackbits(packed, count=shape[0] * shape[1]).astype(bool).reshape(shape)


def _raster(chip: Chip, rings, compat: bool):
    pix = []
    with WCS_LOCK:
        for ra, dec in rings:
            if compat:
                x, y = chip.wcs.all_world2pix(ra, dec, 0)
            else:
                x, y = chip.wcs.world_to_pixel_values(ra, dec)
            pix.append((np.asarray(x, float), np.asarray(y, float)))
    return (raster_reference if compat else raster_centres)(pix, chip.shape)


def _cross_good(chip_from: Chip, chip_to: Chip, good_to_padded: np.ndarray, r0: int, c0: int,
                h: int, w: int) -> np.ndarray:
    """Whether the position seen by each pixel of a block of ``chip_from`` is usable in
    ``chip_to`` (nearest pixel; outside the chip counts as unusable).

    ``good_to_padded`` is ``chip_to``'s usable mask with a one-pixel False border.
    """
    x, y = map_pixels(chip_from.wcs, chip_to.wcs, r0, c0, h, w)
    ny, nx = chip_to.shape
    # Nearest pixel, shifted into the padded frame; anything outside lands on the border.
    np.rint(x, out=x)
    np.rint(y, out=y)
    np.clip(x, -1, nx, out=x)
    np.clip(y, -1, ny, out=y)
    flat = (y.astype(np.int32) + 1) * np.int32(nx + 2) + (x.astype(np.int32) + 1)
    return good_to_padded.ravel()[flat]


def _padded(good: np.ndarray) -> np.ndarray:
    return np.pad(good, 1, constant_values=False)


def overlap_task(job: OverlapJob) -> tuple[StatResult | None, StatResult | None, int, int]:
    """Overlap statistics of both chips of ``job`` on their own pixels.

    Returns ``(stat_m, stat_n, n_raster_m, n_raster_n)``; a side whose statistic failed
    is None.  In default mode a pixel counts only where the position it sees is usable in
    the other chip too (both sides measure the same sky).
    """
    um = load_usable(job.chip_m, job.flags, _unpack(job.static_m, job.chip_m.shape), job.static_key_m)
    un = load_usable(job.chip_n, job.flags, _unpack(job.static_n, job.chip_n.shape), job.static_key_n)
    out = []
    counts = []
    for chip, usable, other, other_usable in (
        (job.chip_m, um, job.chip_n, un),
        (job.chip_n, un, job.chip_m, um),
    ):
        r0, c0, mask = _raster(chip, job.rings, job.compat)
        counts.append(int(mask.sum()))
        if mask.size == 0 or not mask.any():
            out.append(None)
            continue
        h, w = mask.shape
        sel = mask & usable.good[r0 : r0 + h, c0 : c0 + w]
        if not job.compat and sel.any():
            sel &= _cross_good(chip, other, _padded(other_usable.good), r0, c0, h, w)
        values = usable.data[r0 : r0 + h, c0 : c0 + w][sel]
        try:
            out.append(sky_statistic(values, job.stat))
        except StatisticError:
            out.append(None)
    return out[0], out[1], counts[0], counts[1]
