"""Pixel-to-pixel maps between two WCSs, exact on a coarse grid and interpolated between.

This is what drizzle does for its pixel maps: the WCS transforms are smooth, so
evaluating them every ``step`` pixels and interpolating bilinearly is accurate to far
better than a pixel at a small fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["PIXMAP_STEP", "Transform", "grid_nodes", "map_block", "map_pixels", "wcs_transform"]

PIXMAP_STEP = 16

#: A map of pixel positions ``(x, y) -> (x', y')`` (float arrays of one shape).
Transform = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def grid_nodes(start: int, stop: int, step: int) -> np.ndarray:
    """Coarse nodes covering ``start .. stop-1`` inclusive of both ends."""
    nodes = np.arange(start, stop, step, dtype=float)
    if nodes.size == 0 or nodes[-1] != stop - 1:
        nodes = np.append(nodes, float(stop - 1))
    return nodes


def map_pixels(wcs_from, wcs_to, row0: int, col0: int, height: int, width: int,
               *, step: int = PIXMAP_STEP, dtype=np.float32):
    """Positions in ``wcs_to``'s pixel grid of the pixel centres of a block of ``wcs_from``.

    Parameters
    ----------
    wcs_from, wcs_to : astropy.wcs.WCS
        Celestial WCSs (APE-14 ``pixel_to_world_values``/``world_to_pixel_values``);
        astropy WCS objects are not documented as thread-safe, so a task running in a
        thread passes its own copies (``wcs.deepcopy()``).
    row0, col0, height, width : int
        The block ``[row0:row0+height, col0:col0+width]`` of the ``from`` image.
    step : int
        Spacing of the exactly evaluated nodes.
    dtype : numpy dtype
        Precision of the interpolation: float32 (~1e-4 px at 1000 px) is ample for
        locating pixels; float64 keeps an affine map exact (for interpolating values).

    Returns
    -------
    x, y : ndarray of shape (height, width)
        0-based pixel coordinates in the ``to`` image.
    """
    return map_block(wcs_transform(wcs_from, wcs_to), row0, col0, height, width, step=step, dtype=dtype)


def wcs_transform(wcs_from, wcs_to) -> Transform:
    """Pixel positions of ``wcs_from`` -> pixel positions of ``wcs_to`` through the sky."""

    def transform(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        world = wcs_from.pixel_to_world_values(x, y)
        tx, ty = wcs_to.world_to_pixel_values(*world)
        return np.asarray(tx, float), np.asarray(ty, float)

    return transform


def map_block(transform: Transform, row0: int, col0: int, height: int, width: int,
              *, step: int = PIXMAP_STEP, dtype=np.float32):
    """:func:`map_pixels` with any pixel-to-pixel ``transform(x, y) -> (x', y')``
    (exact at coarse nodes, interpolated between)."""
    ys = grid_nodes(row0, row0 + height, step)
    xs = grid_nodes(col0, col0 + width, step)
    # np.meshgrid(xs, ys), raveled.
    tx, ty = transform(np.tile(xs, ys.size), np.repeat(ys, xs.size))
    if ys.size < 2 or xs.size < 2:
        # Degenerate block: evaluate exactly.
        fx, fy = np.meshgrid(np.arange(col0, col0 + width, dtype=float),
                             np.arange(row0, row0 + height, dtype=float))
        ox, oy = transform(fx.ravel(), fy.ravel())
        return ox.reshape(fx.shape), oy.reshape(fx.shape)
    ky, ty_ = _segments(ys, np.arange(row0, row0 + height, dtype=float), dtype)
    kx, tx_ = _segments(xs, np.arange(col0, col0 + width, dtype=float), dtype)
    both = np.stack((tx, ty)).reshape(2, ys.size, xs.size)
    out = _upsample(both, ky, ty_, kx, tx_, dtype)
    return out[0], out[1]


def _segments(nodes: np.ndarray, points: np.ndarray, dtype=np.float32):
    """Index of the node interval holding each point and the fraction along it."""
    # np.clip(..., 0, nodes.size - 2): the points start at the first node.
    k = np.minimum(np.searchsorted(nodes, points, side="right") - 1, nodes.size - 2)
    t = ((points - nodes[k]) / (nodes[k + 1] - nodes[k])).astype(dtype)
    return k, t


def _upsample(values: np.ndarray, ky, ty, kx, tx, dtype=np.float32) -> np.ndarray:
    """Bilinear interpolation of grid ``values`` (``(..., n_row_nodes, n_col_nodes)``:
    several maps at once) onto all pixels, one axis at a time.

    No BLAS call, so nothing competes with the task threads.
    """
    v = values.astype(dtype)
    cols = v[..., kx] * (1.0 - tx) + v[..., kx + 1] * tx  # (..., n_row_nodes, width)
    out = cols[..., ky, :] * (1.0 - ty)[:, None]
    out += cols[..., ky + 1, :] * ty[:, None]
    return out
