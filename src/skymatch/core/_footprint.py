"""Chip footprints on the sky and their polygons in one gnomonic tangent plane.

Great-circle arcs are straight lines in a gnomonic (TAN) projection, whatever its tangent
point, so intersecting footprints whose edges are great circles in that plane is exact;
densely sampled distorted edges are followed to the sampling step (SPEC section 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

__all__ = [
    "FOOTPRINT_STEP",
    "footprint_pixels",
    "footprint_world",
    "TangentPlane",
    "unit_vectors",
]

FOOTPRINT_STEP = 64  # pixels between footprint vertices along each edge (default mode)


def footprint_pixels(shape: tuple[int, int], *, corners_only: bool, step: int = FOOTPRINT_STEP):
    """0-based pixel coordinates of a chip's outline (outer pixel edges), counter-clockwise.

    Returns ``(x, y)`` arrays of an open ring starting at (-0.5, -0.5).
    """
    ny, nx = shape
    x0, y0, x1, y1 = -0.5, -0.5, nx - 0.5, ny - 0.5
    if corners_only:
        return np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1])

    def edge(a, b, n):
        k = max(1, int(np.ceil((n) / step)))
        return np.linspace(a, b, k, endpoint=False)

    bx = edge(x0, x1, nx)
    ry = edge(y0, y1, ny)
    tx = edge(x1, x0, nx)
    ly = edge(y1, y0, ny)
    xs = np.concatenate([bx, np.full(ry.size, x1), tx, np.full(ly.size, x0)])
    ys = np.concatenate([np.full(bx.size, y0), ry, np.full(tx.size, y1), ly])
    return xs, ys


def footprint_world(wcs, shape, *, corners_only: bool = False, step: int = FOOTPRINT_STEP):
    """RA, Dec (degrees) of a chip's outline through its full, distorted WCS."""
    x, y = footprint_pixels(shape, corners_only=corners_only, step=step)
    ra, dec = wcs.pixel_to_world_values(x, y)
    return np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    """Unit vectors (N, 3) of sky positions."""
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


@dataclass(frozen=True)
class TangentPlane:
    """A gnomonic projection about ``center`` (unit vector), in degrees-like units."""

    center: np.ndarray
    east: np.ndarray
    north: np.ndarray

    @classmethod
    def from_points(cls, ra_deg, dec_deg) -> "TangentPlane":
        """Tangent plane at the normalised mean of the unit vectors of the points."""
        v = unit_vectors(ra_deg, dec_deg).reshape(-1, 3).sum(axis=0)
        c = v / np.linalg.norm(v)
        pole = np.array([0.0, 0.0, 1.0])
        east = np.cross(pole, c)
        if np.linalg.norm(east) < 1e-12:  # centre at a pole
            east = np.array([0.0, 1.0, 0.0])
        east /= np.linalg.norm(east)
        north = np.cross(c, east)
        return cls(center=c, east=east, north=north)

    def project(self, ra_deg, dec_deg):
        """Sky → plane coordinates (radians on the tangent plane)."""
        v = unit_vectors(ra_deg, dec_deg)
        w = v @ self.center
        if np.any(w <= 1e-6):
            raise ValueError("footprint spans more than a hemisphere around the mosaic centre")
        return (v @ self.east) / w, (v @ self.north) / w

    def unproject(self, x, y):
        """Plane → sky (RA, Dec in degrees)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        v = self.center[None, :] + x[:, None] * self.east[None, :] + y[:, None] * self.north[None, :]
        v /= np.linalg.norm(v, axis=1)[:, None]
        ra = np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360.0
        dec = np.degrees(np.arcsin(np.clip(v[:, 2], -1.0, 1.0)))
        return ra, dec

    def polygon(self, ra_deg, dec_deg) -> shapely.Polygon:
        """Shapely polygon of a footprint ring in this plane (made valid if needed)."""
        x, y = self.project(ra_deg, dec_deg)
        poly = shapely.Polygon(np.column_stack([x, y]))
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
        return poly
