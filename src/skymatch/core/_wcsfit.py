"""Carrying a sky transformation into a chip's WCS (TweakBack's job).

A correction found on a drizzled product is a map ``T`` of the sky onto itself: a sky
position seen at DRZ pixel ``p`` under the old DRZ WCS is at ``new(p)``.  Each input
chip must then see every one of its pixels at ``T(old_chip(pixel))``.  The chip keeps
its reference pixel and its distortion (SIP, lookup tables); only ``CRVAL`` and the
linear matrix change, fitted by least squares on a grid of chip pixels.  For the rigid
and linear maps alignment produces, the fit is exact to rounding.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from astropy.wcs import WCS

__all__ = ["linear_matrix", "linear_part", "conformal_frame", "remap_wcs", "drz_transform", "wcs_difference"]


def linear_matrix(wcs: WCS) -> np.ndarray:
    """The CD matrix of ``wcs`` (degrees per pixel), whichever form the header uses."""
    w = wcs.wcs
    if w.has_cd():
        return np.array(w.cd, dtype=float)
    return np.array(w.get_pc(), dtype=float) * np.asarray(w.cdelt, float)[:, None]


def linear_part(wcs: WCS) -> WCS:
    """A copy of ``wcs`` without its distortions (SIP, lookup tables): projection and
    linear matrix only."""
    w = wcs.deepcopy()
    w.sip = None
    w.cpdis1 = w.cpdis2 = None
    w.det2im1 = w.det2im2 = None
    w.wcs.ctype = [c.replace("-SIP", "") for c in w.wcs.ctype]
    return w


def conformal_frame(wcs: WCS) -> WCS:
    """A distortion-free WCS like ``wcs`` whose pixels are square: the frame of alignment.

    Same projection, ``CRVAL`` and ``CRPIX``; the linear matrix is the rotation (with the
    parity) nearest to ``wcs``'s, times the square root of its determinant, so a pixel
    has the same area.  For a drizzled product (square pixels already) this is
    ``linear_part(wcs)`` exactly.

    Notes
    -----
    Alignment fits a shift, rotation and scale (TweakReg's ``rscale``) in this frame.
    In a frame with non-square or skewed pixels, such as a WFC3/IR or ACS chip's own
    (0.136" x 0.121"), a rotation on the sky is not a rotation of the pixel grid but a
    rotation plus a shear, which ``rshift``/``rscale`` cannot express: the fit then
    settles on a wrong rotation (about 10 % of the true one, 2e-3 deg for a 0.02 deg
    visit error) and the chips are left up to 0.1 px off.  TweakReg fits in such a
    square-pixel "output" frame too.
    """
    cd = linear_matrix(wcs)
    u, _, vt = np.linalg.svd(cd)
    lin = wcs.wcs
    out = WCS(naxis=2)
    out.wcs.ctype = [c.replace("-SIP", "") for c in lin.ctype]
    out.wcs.cunit = list(lin.cunit)
    out.wcs.crval = list(lin.crval)
    out.wcs.crpix = list(lin.crpix)
    out.wcs.cd = math.sqrt(abs(np.linalg.det(cd))) * (u @ vt)
    out.wcs.lonpole, out.wcs.latpole = lin.lonpole, lin.latpole
    if lin.radesys:
        out.wcs.radesys = lin.radesys
    if np.isfinite(lin.equinox):
        out.wcs.equinox = lin.equinox
    out.wcs.set()
    out.pixel_shape = wcs.pixel_shape
    return out


def _plane(ctype, crval) -> WCS:
    """A WCS whose 1-based 'pixels' are the intermediate world coordinates (degrees)."""
    p = WCS(naxis=2)
    p.wcs.ctype = [c.replace("-SIP", "") for c in ctype]
    p.wcs.crval = crval
    p.wcs.crpix = [0.0, 0.0]
    p.wcs.cd = np.eye(2)
    p.wcs.set()
    return p


def _grid(shape, n: int = 17) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    xs = np.linspace(0, nx - 1, n)
    ys = np.linspace(0, ny - 1, n)
    gx, gy = np.meshgrid(xs, ys)
    return gx.ravel(), gy.ravel()


def remap_wcs(wcs: WCS, transform: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
              shape: tuple[int, int]) -> WCS:
    """Return a copy of ``wcs`` whose sky positions are ``transform`` of the old ones.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        The chip's full WCS (with its distortion).
    transform : callable
        ``(ra, dec) -> (ra', dec')`` in degrees.
    shape : (int, int)
        Chip shape (rows, cols); the fit uses a grid spanning it.

    Returns
    -------
    astropy.wcs.WCS
        Same CRPIX, projection and distortion; new CRVAL and CD.
    """
    x, y = _grid(shape)
    ra, dec = wcs.all_pix2world(x, y, 0)
    ra_t, dec_t = transform(ra, dec)
    # Distortion-corrected pixel offsets from CRPIX, as the linear part sees them.
    px, py = linear_part(wcs).wcs_world2pix(ra, dec, 1)
    u = np.column_stack([px - wcs.wcs.crpix[0], py - wcs.wcs.crpix[1], np.ones_like(px)])
    crval = np.array(transform(np.array([wcs.wcs.crval[0]]), np.array([wcs.wcs.crval[1]]))).ravel()
    cd = linear_matrix(wcs)
    for _ in range(3):
        plane = _plane(list(wcs.wcs.ctype), crval)
        xi, eta = plane.wcs_world2pix(ra_t, dec_t, 1)
        coef, *_ = np.linalg.lstsq(u, np.column_stack([xi, eta]), rcond=None)
        cd = coef[:2].T
        off = coef[2]
        crval = np.array(plane.wcs_pix2world([[off[0], off[1]]], 1)[0])
        if np.hypot(*off) < 1e-13:
            break
    out = wcs.deepcopy()
    if out.wcs.has_cd():
        out.wcs.cd = cd
    else:
        out.wcs.pc = cd / np.asarray(out.wcs.cdelt, float)[:, None]
    out.wcs.crval = crval
    out.wcs.set()
    return out


def drz_transform(old: WCS, new: WCS) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The sky map of an aligned product: old WCS to pixels, pixels to the new WCS."""

    def t(ra, dec):
        x, y = old.all_world2pix(ra, dec, 0)
        r, d = new.all_pix2world(x, y, 0)
        return np.asarray(r), np.asarray(d)

    return t


def wcs_difference(a: WCS, b: WCS, shape: tuple[int, int]) -> tuple[float, float, float]:
    """How far apart two WCS put a chip, in pixels of ``a``.

    Returns
    -------
    (centre, maximum, rotation)
        The displacement at the chip centre and the largest over the chip (pixels),
        and the rotation of ``b`` relative to ``a`` (degrees, counter-clockwise on the
        sky, from the CD matrices).
    """
    x, y = _grid(shape, 9)
    ra, dec = b.all_pix2world(x, y, 0)
    xa, ya = a.all_world2pix(ra, dec, 0)
    d = np.hypot(xa - x, ya - y)
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    ra_c, dec_c = b.all_pix2world([cx], [cy], 0)
    xc, yc = a.all_world2pix(ra_c, dec_c, 0)
    ca, cb = linear_matrix(a), linear_matrix(b)
    m = cb @ np.linalg.inv(ca)
    rot = float(np.degrees(np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])))
    return float(np.hypot(xc[0] - cx, yc[0] - cy)), float(d.max()), rot
