"""Synthetic WFC3/IR-like mosaics with known sky, written as real ``_flt.fits`` files.

The default layout is the STScI sky-matching notebook's: 3x3 tiles, two dithered
exposures per tile, 1014x1014 pixels of ~0.13", SIP distortion of a few pixels at the
corners (the real WFC3/IR IDC coefficients), ORIENTAT near 166 degrees, a diffuse
nebula over a large part of the field, stars, Poisson and read noise, DQ flags (4, 16,
64, 512, 8192) and one constant sky per exposure between 0.8 and 1.4 e-/s (optionally
with a gradient).  ``truth.json`` records every exposure's true sky.

The generator is deterministic for a given seed: every random draw is indexed by tile
and exposure, so a file does not depend on how many others were made.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from astropy.wcs import WCS
from scipy.interpolate import RectBivariateSpline

from ._version import __version__
from .core._skymodel import SKY_MODELS
from .exceptions import ParameterError, WriteError
from .io._synthetic import new_header, write_image_file, write_json

__all__ = ["NOTEBOOK_ROOTNAMES", "NOTEBOOK_ALIGN_ORDER", "MosaicTruth", "make_mosaic", "make_visit_drz",
           "simulate_exposure_headers", "star_catalog", "sky_truth_errors", "wcs_truth_errors"]

EXPTIME = 602.937317
PIXEL_SCALE = 0.12825  # IDCSCALE of WFC3/IR, arcsec
RA0, DEC0 = 85.25, -2.46

# Notebook visits laid out as in its tile diagram (detector x to the right, y up).
_NOTEBOOK_TILES = MappingProxyType({
    "54": (0, 0), "51": (1, 0), "57": (-1, 0), "55": (0, 1), "53": (0, -1),
    "52": (1, 1), "58": (-1, 1), "50": (1, -1), "56": (-1, -1),
})
NOTEBOOK_ROOTNAMES = MappingProxyType({
    "50": ("ibxl50clq", "ibxl50cqq"), "51": ("ibxl51eoq", "ibxl51etq"),
    "52": ("ibxl52k0q", "ibxl52k5q"), "53": ("ibxl53kxq", "ibxl53l9q"),
    "54": ("ibxl54bgq", "ibxl54blq"), "55": ("ibxl55f0q", "ibxl55f5q"),
    "56": ("ibxl56huq", "ibxl56i2q"), "57": ("ibxl57adq", "ibxl57aiq"),
    "58": ("ibxl58sqq", "ibxl58svq"),
})
# The notebook's drz.list: the reference tile first, then the tiles overlapping most.
NOTEBOOK_ALIGN_ORDER = ("54", "51", "53", "55", "57", "50", "52", "56", "58")
_NOTEBOOK_ORIENTAT = MappingProxyType({
    "50": 170.667, "51": 166.653, "52": 166.665, "53": 165.608, "54": 166.631,
    "55": 166.622, "56": 162.590, "57": 166.609, "58": 166.614,
})

# WFC3/IR geometry: CD matrix at ORIENTAT 166.04 and the IDC SIP coefficients
# (IDC_w3m18525i), as in calibrated FLT headers.
_CD_166 = np.array([[3.65350884222603e-05, 8.10513012994813e-06],
                    [8.95199027058008e-06, -3.2604855185894e-05]])
_CD_166.flags.writeable = False
_ORIENT_166 = math.degrees(math.atan2(_CD_166[0, 1], _CD_166[1, 1]))
_SIP_A = MappingProxyType({"0_2": 2.77482030873749e-08, "0_3": 4.55691839657869e-11, "0_4": -2.0083179974495e-13,
          "1_1": 2.44176437155426e-05, "1_2": 3.11477338242516e-11, "1_3": 6.08832045645843e-13,
          "2_0": -2.0701735553551e-07, "2_1": 1.2225549929939e-10, "2_2": 1.11275247848408e-13,
          "3_0": -1.9851733613323e-10, "3_1": 4.13947711822547e-13, "4_0": -3.2156784473326e-13})
_SIP_B = MappingProxyType({"0_2": 2.98815054868485e-05, "0_3": -2.2777970488111e-10, "0_4": 1.03978470894974e-12,
          "1_1": -2.8538202053351e-07, "1_2": 7.47270961118588e-11, "1_3": 1.69983940010457e-13,
          "2_0": 6.92276069494587e-06, "2_1": -2.3836656728517e-10, "2_2": 1.38557115814168e-13,
          "3_0": 5.14014553890418e-11, "3_1": 3.8104419996301e-13, "4_0": -5.7352409055905e-13})


@dataclass(frozen=True)
class MosaicTruth:
    """What :func:`make_mosaic` wrote: file paths and every exposure's true sky."""

    paths: tuple[str, ...]
    sky: dict[str, float]  # rootname -> true constant sky (e-/s)
    gradient: dict[str, tuple[float, float]] = field(default_factory=dict)
    truth_file: str = ""


def _rotation(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def _cd_for(orientat: float) -> np.ndarray:
    # ORIENTAT = atan2(CD1_2, CD2_2): turning the columns (east, north) of the CD matrix
    # by delta from north towards east raises ORIENTAT by delta.
    delta = orientat - _ORIENT_166
    return _rotation(delta).T @ _CD_166


def _layout(tiles: tuple[int, int]):
    nx, ny = tiles
    if (nx, ny) == (3, 3):
        for visit, (ix, iy) in sorted(_NOTEBOOK_TILES.items()):
            yield visit, ix, iy, _NOTEBOOK_ORIENTAT[visit]
        return
    k = 0
    for iy in range(ny):
        for ix in range(nx):
            visit = f"{k:02d}"
            yield visit, ix - (nx - 1) / 2, iy - (ny - 1) / 2, 166.0 + 0.02 * ((k * 7) % 5 - 2)
            k += 1


def _names(visit: str, e: int, tiles) -> tuple[str, str]:
    if tuple(tiles) == (3, 3):
        return NOTEBOOK_ROOTNAMES[visit][e], f"IBXL{visit}030"
    return f"sm{int(visit):04d}{e:02d}q", f"SM{int(visit):04d}030"


def simulate_exposure_headers(*, crval, orientat: float, size: int, distortion: bool = True) -> Any:
    """Primary-less SCI WCS header (an astropy ``Header``) of a WFC3/IR-like chip at
    ``crval`` and ``orientat``."""
    h = new_header()
    h["WCSAXES"] = 2
    h["CRPIX1"] = (size + 1) / 2.0
    h["CRPIX2"] = (size + 1) / 2.0
    h["CRVAL1"] = float(crval[0])
    h["CRVAL2"] = float(crval[1])
    sip = "-SIP" if distortion else ""
    h["CTYPE1"] = "RA---TAN" + sip
    h["CTYPE2"] = "DEC--TAN" + sip
    cd = _cd_for(orientat)
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = (float(v) for v in cd.ravel())
    h["ORIENTAT"] = (float(orientat), "position angle of image y axis (deg. e of n)")
    h["RADESYS"] = "ICRS"
    h["IDCSCALE"] = PIXEL_SCALE
    if distortion:
        h["A_ORDER"] = 4
        for k, v in _SIP_A.items():
            h[f"A_{k}"] = v
        h["B_ORDER"] = 4
        for k, v in _SIP_B.items():
            h[f"B_{k}"] = v
    h["WCSNAME"] = "IDC_w3m18525i" if distortion else "SYNTHETIC"
    return h


def _plane_coords(wcs: WCS, size: int, step: int = 32):
    """Tangent-plane coordinates (arcsec about RA0, DEC0) of every pixel, via a grid."""
    nodes = np.arange(0, size, step, dtype=float)
    if nodes[-1] != size - 1:
        nodes = np.append(nodes, size - 1.0)
    gx, gy = np.meshgrid(nodes, nodes)
    ra, dec = wcs.pixel_to_world_values(gx.ravel(), gy.ravel())
    xi, eta = _gnomonic(np.asarray(ra), np.asarray(dec))
    full = np.arange(size, dtype=float)
    k = min(3, nodes.size - 1)
    sx = RectBivariateSpline(nodes, nodes, xi.reshape(gx.shape), kx=k, ky=k)
    sy = RectBivariateSpline(nodes, nodes, eta.reshape(gx.shape), kx=k, ky=k)
    return sx(full, full), sy(full, full)


def _gnomonic(ra, dec):
    ra0, dec0 = math.radians(RA0), math.radians(DEC0)
    r, d = np.radians(ra), np.radians(dec)
    cosc = math.sin(dec0) * np.sin(d) + math.cos(dec0) * np.cos(d) * np.cos(r - ra0)
    xi = np.cos(d) * np.sin(r - ra0) / cosc
    eta = (math.cos(dec0) * np.sin(d) - math.sin(dec0) * np.cos(d) * np.cos(r - ra0)) / cosc
    return np.degrees(xi) * 3600.0, np.degrees(eta) * 3600.0


def _nebula(xi, eta, extent: float, strength: float, rng_seed: int):
    """IC 434-like nebula in e-/s: a bright ridge with a dark pillar, clumps, broad glows."""
    u = xi / extent
    v = eta / extent
    ridge = 0.55 / (1.0 + np.exp(-(u * 0.8 + v * 0.6 - 0.05) / 0.08))
    pillar = np.exp(-(((u + 0.05) / 0.10) ** 2 + ((v - 0.10) / 0.28) ** 2))
    head = np.exp(-(((u + 0.02) / 0.12) ** 2 + ((v - 0.30) / 0.12) ** 2))
    neb = ridge * (1.0 - 0.9 * np.clip(pillar + head, 0, 1))
    rng = np.random.default_rng(rng_seed)
    for _ in range(6):
        cu, cv = rng.uniform(-0.8, 0.8, 2)
        w = rng.uniform(0.05, 0.25)
        a = rng.uniform(0.05, 0.35)
        neb = neb + a * np.exp(-(((u - cu) ** 2 + (v - cv) ** 2) / (2 * w * w)))
    return strength * neb


def make_mosaic(
    outdir: str | os.PathLike,
    *,
    tiles: tuple[int, int] = (3, 3),
    size: int = 1014,
    exposures_per_tile: int = 2,
    seed: int = 12812,
    gradient: float = 0.0,
    nebula: float = 1.0,
    nstars: int | None = None,
    noise: bool = True,
    distortion: bool = True,
    misalign: tuple[float, float] | None = None,
    overwrite: bool = False,
) -> MosaicTruth:
    """Write a synthetic mosaic of WFC3/IR-like ``_flt.fits`` files and ``truth.json``.

    Parameters
    ----------
    outdir : path
        Directory to write into (created if needed).
    tiles : (int, int)
        Tiles along detector x and y (3x3 gives the notebook's visits and rootnames).
    size : int
        Chip size in pixels (square).
    exposures_per_tile : int
        Dithered exposures per tile (dither of (3.5, 4.5) px, scaled with ``size``).
    seed : int
        Random seed; every draw is indexed by tile and exposure.
    gradient : float
        Maximum absolute sky gradient across a chip (e-/s per chip width); 0 = constant.
    nebula : float
        Nebula brightness scale (0 = blank sky with stars).
    nstars : int, optional
        Number of stars (default scales with the mosaic area).
    noise : bool
        Add Poisson and read noise.
    distortion : bool
        Use the SIP distortion (off: pure TAN).
    misalign : (float, float), optional
        ``(max shift in arcsec, max rotation in degrees)``: every visit but the first of
        the notebook's alignment order (the reference) gets a random, known WCS error —
        the pixels are rendered with the true WCS, the headers carry the erroneous one.
        ``truth.json`` records each visit's error and each exposure's true WCS.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    MosaicTruth
    """
    outdir = _folder(outdir)
    tiles = (int(tiles[0]), int(tiles[1]))
    pix_dx = size * 0.85 * 1.056  # ~15 % overlap in x (pixels are 0.1355" wide along x)
    pix_dy = size * 0.86 * 0.946  # ~14 % overlap in y (0.1211" along y)
    layout = list(_layout(tiles))
    extent = 0.5 * PIXEL_SCALE * size * max(tiles) * 0.9
    if nstars is None:
        nstars = int(2000 * (size / 1014.0) ** 2 * tiles[0] * tiles[1] / 9)
    scene = _Scene(size=size, seed=seed, gradient=gradient, nebula=nebula, extent=extent, noise=noise,
                   distortion=distortion, stars=_stars(seed, nstars, extent))
    center_wcs = WCS(simulate_exposure_headers(crval=(RA0, DEC0), orientat=166.0, size=size,
                                               distortion=False))
    truth = {"generator": "skymatch.datasets.make_mosaic", "version": __version__,
             "seed": seed, "tiles": f"{tiles[0]}x{tiles[1]}", "size": size,
             "gradient": gradient, "nebula": nebula, "nstars": nstars, "exptime": EXPTIME,
             "sky_definition": "sky(x,y) = sky + gx*(x-xc)/size + gy*(y-yc)/size in e-/s "
                               "per pixel, x,y 0-based, xc=yc=(size-1)/2",
             "exposures": {}}
    reference_visit = "54" if tuple(tiles) == (3, 3) else layout[len(layout) // 2][0]
    truth["reference_visit"] = reference_visit
    truth["visits"] = {}
    for t, (visit, ix, iy, orientat) in enumerate(layout):
        cx = (size + 1) / 2.0 + ix * pix_dx
        cy = (size + 1) / 2.0 + iy * pix_dy
        tile_ra, tile_dec = center_wcs.wcs_pix2world([[cx, cy]], 1)[0]
        visit_sky = np.random.default_rng([seed, t, 999]).uniform(0.8, 1.38)
        err = _visit_error(seed, t, misalign) if misalign and visit != reference_visit else (0.0, 0.0, 0.0)
        truth["visits"][visit] = {"dx_arcsec": err[0], "dy_arcsec": err[1], "rot_deg": err[2]}
        for e in range(exposures_per_tile):
            root, asn = _names(visit, e, tiles)
            path = os.path.join(outdir, f"{root}_flt.fits")
            truth["exposures"][root] = _write_exposure(
                path, scene, t=t, e=e, tile=(tile_ra, tile_dec), tile_index=(ix, iy), orientat=orientat,
                visit_sky=visit_sky, err=err, names=(root, asn, visit), overwrite=overwrite)
    truth_file = os.path.join(outdir, "truth.json")
    write_json(truth_file, truth)
    exposures = truth["exposures"]
    return MosaicTruth(paths=tuple(sorted(os.path.join(outdir, f"{root}_flt.fits") for root in exposures)),
                       sky={root: x["sky"] for root, x in exposures.items()},
                       gradient={root: (x["gx"], x["gy"]) for root, x in exposures.items()},
                       truth_file=truth_file)


def _folder(outdir: str | os.PathLike) -> str:
    """``outdir`` as str, created if needed (a path that is a file is refused)."""
    if not isinstance(outdir, (str, os.PathLike)):
        raise ParameterError(f"outdir={outdir!r}: give a folder path")
    outdir = os.fspath(outdir)
    if os.path.exists(outdir) and not os.path.isdir(outdir):
        raise WriteError(f"outdir={outdir!r}: is a file, not a folder; give a folder path")
    os.makedirs(outdir, exist_ok=True)
    return outdir


@dataclass(frozen=True)
class _Scene:
    """What every exposure of one synthetic mosaic shares."""

    size: int
    seed: int
    gradient: float
    nebula: float
    extent: float
    noise: bool
    distortion: bool
    stars: tuple  # (ra, dec, flux) arrays


def _visit_error(seed: int, t: int, misalign: tuple[float, float]) -> tuple[float, float, float]:
    """Tile ``t``'s known WCS error: (dx arcsec, dy arcsec, rotation deg)."""
    mrng = np.random.default_rng([seed, t, 4242])
    r = mrng.uniform(0.3, 1.0) * misalign[0]
    phi = mrng.uniform(0, 2 * np.pi)
    return float(r * np.cos(phi)), float(r * np.sin(phi)), float(mrng.uniform(-1, 1) * misalign[1])


def _write_exposure(path: str, scene: _Scene, *, t: int, e: int, tile: tuple[float, float],
                    tile_index: tuple[float, float], orientat: float, visit_sky: float,
                    err: tuple[float, float, float], names: tuple[str, str, str], overwrite: bool) -> dict:
    """Render and write exposure ``e`` of tile ``t`` (dithered from the tile centre, with
    the visit's WCS error in its header); its entry of ``truth.json``."""
    size = scene.size
    root, asn, visit = names
    rng = np.random.default_rng([scene.seed, t, e])
    base = WCS(simulate_exposure_headers(crval=tile, orientat=orientat, size=size, distortion=False))
    off = np.array([3.5, 4.5]) * size / 1014.0 * e
    ra_e, dec_e = base.wcs_pix2world([[(size + 1) / 2.0 + off[0], (size + 1) / 2.0 + off[1]]], 1)[0]
    o_e = orientat + 0.0004 * e
    hdr = simulate_exposure_headers(crval=(ra_e, dec_e), orientat=o_e, size=size, distortion=scene.distortion)
    wcs = WCS(hdr)
    sky = float(min(1.4, max(0.8, visit_sky + rng.normal(0.0, 0.02))))
    gx = float(rng.uniform(-scene.gradient, scene.gradient)) if scene.gradient else 0.0
    gy = float(rng.uniform(-scene.gradient, scene.gradient)) if scene.gradient else 0.0
    sci, errarr, dq = _render(wcs, size, sky, gx, gy, scene.nebula, scene.extent, scene.seed, *scene.stars,
                              rng, scene.noise)
    true_crval = [float(hdr["CRVAL1"]), float(hdr["CRVAL2"])]
    true_cd = [[float(hdr["CD1_1"]), float(hdr["CD1_2"])], [float(hdr["CD2_1"]), float(hdr["CD2_2"])]]
    if any(err):
        _perturb(hdr, *err)
    _write_flt(path, hdr, sci, errarr, dq, root=root, asn=asn, visit=visit, e=e, dither=off, overwrite=overwrite)
    return {"sky": sky, "gx": gx, "gy": gy, "visit": visit, "asn_id": asn,
            "tile_ix": tile_index[0], "tile_iy": tile_index[1], "orientat": o_e,
            "crval": [ra_e, dec_e], "dither_pix": [float(off[0]), float(off[1])],
            "true_crval": true_crval, "true_cd": true_cd}


def _stars(seed: int, nstars: int, extent: float):
    master = np.random.default_rng(seed)
    star_xi = master.uniform(-1.2, 1.2, nstars) * extent
    star_eta = master.uniform(-1.2, 1.2, nstars) * extent
    star_flux = 10.0 * (1.0 - master.random(nstars)) ** (-1.0 / 1.3)  # e-/s, power law
    star_flux = np.minimum(star_flux, 5000.0)
    star_ra, star_dec = _inverse_gnomonic(star_xi, star_eta)
    return star_ra, star_dec, star_flux


def star_catalog(truth_file: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true stars of a synthetic mosaic: ``(ra, dec, flux)`` arrays (deg, deg, e-/s).

    They are drawn again from the seed recorded in ``truth.json`` (the generator is
    deterministic), so the catalogue needs no file of its own.
    """
    with open(truth_file, encoding="utf-8") as fh:
        t = json.load(fh)
    nx, ny = (int(v) for v in str(t["tiles"]).split("x"))
    extent = 0.5 * PIXEL_SCALE * int(t["size"]) * max(nx, ny) * 0.9
    return _stars(int(t["seed"]), int(t["nstars"]), extent)


def _perturb(hdr, dx_arcsec: float, dy_arcsec: float, rot_deg: float) -> None:
    """Give a header WCS a known error: shift CRVAL by (dx, dy) arcsec on the sky and
    turn the CD matrix by ``rot_deg`` (ORIENTAT grows by it)."""
    dec = math.radians(hdr["CRVAL2"])
    hdr["CRVAL1"] = hdr["CRVAL1"] + dx_arcsec / 3600.0 / math.cos(dec)
    hdr["CRVAL2"] = hdr["CRVAL2"] + dy_arcsec / 3600.0
    cd = np.array([[hdr["CD1_1"], hdr["CD1_2"]], [hdr["CD2_1"], hdr["CD2_2"]]])
    cd = _rotation(rot_deg).T @ cd
    hdr["CD1_1"], hdr["CD1_2"], hdr["CD2_1"], hdr["CD2_2"] = (float(v) for v in cd.ravel())
    hdr["ORIENTAT"] = hdr["ORIENTAT"] + rot_deg


def make_visit_drz(flt_paths, outdir: str, *, overwrite: bool = False) -> list[str]:
    """Visit-level drizzled products ``<asn_id>_drz.fits`` (as MAST's DRZ files), one per
    association, drizzled by skymatch from the visit's FLTs (their header WCS, localmin
    sky); each lists its inputs (``D###DATA`` keywords and ``HDRTAB``)."""
    from .io import read_chips
    from .pipeline import run

    by_asn: dict[str, list[str]] = {}
    for p in sorted(flt_paths):
        by_asn.setdefault(str(read_chips(p)[0].meta["ASN_ID"]).lower(), []).append(p)
    out = []
    for asn, paths in by_asn.items():
        r = run(paths, os.path.join(outdir, asn), method="localmin", readonly=True, build=True,
                overwrite=overwrite, drizzle=dict(bits="64"))
        out.extend(r.products["localmin"])
    return out


def _inverse_gnomonic(xi_arcsec, eta_arcsec):
    x = np.radians(np.asarray(xi_arcsec) / 3600.0)
    y = np.radians(np.asarray(eta_arcsec) / 3600.0)
    ra0, dec0 = math.radians(RA0), math.radians(DEC0)
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(np.cos(c) * math.sin(dec0) + np.where(rho > 0, y * np.sin(c) * math.cos(dec0) / rho, 0))
    ra = ra0 + np.arctan2(x * np.sin(c), rho * math.cos(dec0) * np.cos(c) - y * math.sin(dec0) * np.sin(c))
    return np.degrees(ra), np.degrees(dec)


def _render(wcs, size, sky, gx, gy, nebula, extent, seed, star_ra, star_dec, star_flux,
            rng, noise):
    xi, eta = _plane_coords(wcs, size)
    scene = _nebula(xi, eta, extent, nebula, seed) if nebula else np.zeros((size, size))
    # Stars: Gaussian PSF (FWHM 1.6 px) on a 9x9 stamp.
    sx, sy = wcs.world_to_pixel_values(star_ra, star_dec)
    sx, sy = np.asarray(sx), np.asarray(sy)
    inside = (sx > -5) & (sx < size + 4) & (sy > -5) & (sy < size + 4)
    sigma = 1.6 / 2.3548
    half = 4
    offs = np.arange(-half, half + 1)
    for x0, y0, f in zip(sx[inside], sy[inside], star_flux[inside]):
        ix, iy = int(round(x0)), int(round(y0))  # noqa: RUF046 - numpy < 2 rounds a float64 to a float64
        cols = ix + offs
        rows = iy + offs
        px = np.exp(-0.5 * ((cols - x0) / sigma) ** 2)
        py = np.exp(-0.5 * ((rows - y0) / sigma) ** 2)
        stamp = f * np.outer(py, px) / (2 * math.pi * sigma * sigma)
        rs = (rows >= 0) & (rows < size)
        cs = (cols >= 0) & (cols < size)
        if rs.any() and cs.any():
            scene[np.ix_(rows[rs], cols[cs])] += stamp[np.ix_(rs, cs)]
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2.0
    skymap = sky + gx * (xx - c) / size + gy * (yy - c) / size
    rate = scene + skymap
    dq = np.zeros((size, size), dtype=np.int16)
    # Blobs (512): reduced throughput.
    for _ in range(max(1, size // 300)):
        bx, by, br = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(6, 14) * size / 1014 + 3
        blob = (xx - bx) ** 2 + (yy - by) ** 2 < br * br
        dq[blob] |= 512
        rate = np.where(blob, rate * 0.9, rate)
    electrons = rate * EXPTIME
    if noise:
        electrons = rng.poisson(np.clip(electrons, 0, None)).astype(float) + rng.normal(0.0, 15.0, electrons.shape)
    sci = electrons / EXPTIME
    u = rng.random((size, size))
    bad = u < 0.004
    dq[bad] |= 4
    col = int(rng.integers(0, size))
    r0 = int(rng.integers(0, size // 2))
    dq[r0 : r0 + size // 3, col] |= 4
    sci[r0 : r0 + size // 3, col] = rng.normal(5.0, 1.0, size // 3)
    hot = (u >= 0.004) & (u < 0.006)
    dq[hot] |= 16
    sci[hot] += rng.uniform(1.0, 5.0, int(hot.sum()))
    warm = (u >= 0.006) & (u < 0.016)
    dq[warm] |= 64
    sci[warm] += rng.uniform(0.0, 0.15, int(warm.sum()))
    cr = (u >= 0.016) & (u < 0.021)
    dq[cr] |= 8192
    sci[cr] += rng.uniform(0.5, 20.0, int(cr.sum()))
    unflagged = (u >= 0.021) & (u < 0.0212)
    sci[unflagged] += rng.uniform(1.0, 30.0, int(unflagged.sum()))
    sci[bad] = rng.normal(0.0, 3.0, int(bad.sum()))
    err = np.sqrt(np.clip(rate, 0, None) * EXPTIME + 15.0 ** 2) / EXPTIME
    return sci.astype(np.float32), err.astype(np.float32), dq


def _write_flt(path, sci_hdr, sci, err, dq, *, root, asn, visit, e, dither, overwrite):
    prim = new_header()
    prim["NEXTEND"] = (3, "Number of standard extensions")
    prim["FILENAME"] = (os.path.basename(path), "name of file")
    prim["TELESCOP"] = ("HST", "telescope used to acquire data")
    prim["INSTRUME"] = ("WFC3", "identifier for instrument used to acquire data")
    prim["EQUINOX"] = 2000.0
    prim["ROOTNAME"] = (root, "rootname of the observation set")
    prim["TARGNAME"] = "HORSEHEAD"
    prim["PROPOSID"] = 12812
    prim["SYNTHETC"] = (True, "synthetic data made by skymatch.datasets")
    prim["DATE-OBS"] = "2012-10-30"
    prim["TIME-OBS"] = f"0{e}:{int(visit) % 60:02d}:00"
    prim["EXPSTART"] = 56230.0 + int(visit) * 0.01 + e * 0.001
    prim["EXPTIME"] = (EXPTIME, "exposure duration (seconds)--calculated")
    prim["OBSTYPE"] = "IMAGING"
    prim["DETECTOR"] = ("IR", "detector in use: UVIS or IR")
    prim["FILTER"] = ("F160W", "element selected from filter wheel")
    prim["APERTURE"] = "IR"
    prim["POSTARG1"] = (round(float(dither[0]) * 0.1355, 4), "POSTARG in axis 1 direction")
    prim["POSTARG2"] = (round(float(dither[1]) * 0.1211, 4), "POSTARG in axis 2 direction")
    prim["ASN_ID"] = (asn, "unique identifier assigned to association")
    prim["ASN_TAB"] = f"{asn.lower()}_asn.fits"
    prim["PHOTFLAM"] = (1.9275602e-20, "inverse sensitivity, ergs/cm2/A/e-")
    prim["IDCTAB"] = "N/A"
    hdr = new_header()
    hdr["EXTNAME"] = "SCI"
    hdr["EXTVER"] = 1
    hdr["ROOTNAME"] = root
    hdr["BUNIT"] = ("ELECTRONS/S", "brightness units")
    hdr.extend(sci_hdr, update=True)
    extensions = [(hdr, sci)]
    for name, arr, unit in (("ERR", err, "ELECTRONS/S"), ("DQ", dq, "UNITLESS")):
        h = new_header()
        h["EXTNAME"] = name
        h["EXTVER"] = 1
        h["BUNIT"] = unit
        extensions.append((h, arr))
    write_image_file(path, prim, extensions, overwrite=overwrite)


#: A comparison table's MDRIZSKY columns: a method, then a sky model when there are several.
_SKY_COLUMN = re.compile(r"(?:globalmin_match|globalmin|match|local)(?:_(?:" + "|".join(SKY_MODELS) + r"))?\Z")


def sky_truth_errors(table, truth_file: str | os.PathLike) -> dict[str, dict[str, float]]:
    """How well each sky method of a comparison table reproduces the true skies.

    Parameters
    ----------
    table : astropy.table.Table
        A table with a ``Rootname`` column and one column of MDRIZSKY per method
        (``globalmin``, ``globalmin_match``, ``match``, ``local``; with several sky models
        ``match_constant``, ``match_plane``, ...), e.g. ``skymatch.compare(...).to_table()``.
    truth_file : path
        The mosaic's ``truth.json``.

    Returns
    -------
    dict
        ``{column: {"rms": r, "max": m, "offset": o}}`` in e-/s: ``rms`` and ``max``
        of the error of the sky differences between exposures,
        ``(s - mean s) - (t - mean t)`` (what ``match`` determines), and ``offset`` =
        ``mean(s - t)`` (the common level, which only ``localmin`` and
        ``globalmin+match`` estimate).

    Raises
    ------
    ValueError
        The table has no such column.
    """
    with open(truth_file, encoding="utf-8") as fh:
        true = json.load(fh)["exposures"]
    t = np.array([true[str(r)]["sky"] for r in table["Rootname"]], dtype=float)
    out: dict[str, dict[str, float]] = {}
    columns = [c for c in table.colnames if _SKY_COLUMN.match(c)]
    if not columns:
        raise ValueError(f"no sky column in the table (columns: {', '.join(table.colnames)}); give "
                         "a comparison table, e.g. skymatch.compare(...).to_table()")
    for col in columns:
        s = np.asarray(table[col], dtype=float)
        err = (s - s.mean()) - (t - t.mean())
        out[col] = {"rms": float(np.sqrt(np.mean(err ** 2))), "max": float(np.max(np.abs(err))),
                    "offset": float(np.mean(s - t))}
    return out


def wcs_truth_errors(paths, truth_file: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """How far each exposure's header WCS is from its true WCS (``make_mosaic(misalign=...)``).

    Parameters
    ----------
    paths : iterable of path
        ``_flt.fits`` files of a synthetic mosaic (their headers as they are now).
    truth_file : path
        The mosaic's ``truth.json``.

    Returns
    -------
    dict
        ``{rootname: (centre, maximum)}``: the displacement, in pixels, at the chip
        centre and the largest over the chip.
    """
    from .core._wcsfit import wcs_difference

    with open(truth_file, encoding="utf-8") as fh:
        true = json.load(fh)["exposures"]
    from .io import read_chips

    out: dict[str, tuple[float, float]] = {}
    for p in paths:
        chip = read_chips(p)[0]
        root = str(chip.meta["ROOTNAME"]).strip().lower()
        shape = chip.shape
        header_wcs = chip.wcs
        true_wcs = chip.wcs.deepcopy()
        true_wcs.wcs.crval = true[root]["true_crval"]
        true_wcs.wcs.cd = np.array(true[root]["true_cd"])
        true_wcs.wcs.set()
        centre, worst, _ = wcs_difference(true_wcs, header_wcs, shape)
        out[root] = (centre, worst)
    return out
