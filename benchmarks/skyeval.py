"""Score per-exposure sky models against the known truth of a ``skymatch demo-data`` mosaic.

Used by ``bench_montage.py`` (Montage's fitted planes) and ``bench_skymodel.py`` (skymatch's
``MDRIZSKY`` / ``SKYMODEL`` / ``SKYCij`` keywords); any other method can be scored the same
way by giving one callable per exposure.

The truth (``truth.json``, ``sky_definition``): exposure e has, at 0-based pixel column x and
row y of its chip, ``sky_e(x, y) = sky + gx*(x - xc)/size + gy*(y - yc)/size`` e-/s,
``xc = yc = (size - 1)/2``.

A method's model ``m_e(x, y)`` is the sky it would subtract. Its error ``err_e = m_e - sky_e``
is only defined up to what no overlap can tell: one sky common to the whole mosaic. For
planes that is one global plane on the sky, so ONE plane in a common tangent-plane frame is
fitted (least squares) to all exposures' errors together and removed; the score is the rms
of what is left over all pixels of all exposures (evaluated on a regular grid of every
``step``-th pixel). The rms after removing only one global constant is reported too.

The best any constant-per-exposure method can do is the mean of the exposure's true sky over
its pixels (:func:`best_constant_models`).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

Model = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Exposure:
    """Truth and geometry of one single-chip exposure."""

    name: str
    path: str
    shape: tuple[int, int]  # rows, cols
    wcs: WCS
    sky: float
    gx: float
    gy: float
    size: int

    def true_sky(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        c = (self.size - 1) / 2.0
        return self.sky + self.gx * (x - c) / self.size + self.gy * (y - c) / self.size


@dataclass(frozen=True)
class Score:
    """Errors of one method: rms after removing the gauge (global plane / constant)."""

    rms_plane: float  # e-/s, after removing one global plane (the gauge of plane methods)
    rms_const: float  # e-/s, after removing one global constant
    max_abs_plane: float
    per_exposure_rms: dict[str, float]  # after the global plane
    n_points: int

    def line(self, label: str) -> str:
        return (f"{label}: rms {self.rms_plane:.4f} e-/s after one global plane "
                f"({self.rms_const:.4f} after one global constant; max |err| {self.max_abs_plane:.4f})")


def load_truth(folder: str) -> list[Exposure]:
    """The exposures of a demo-data folder with their true skies (``truth.json``)."""
    with open(os.path.join(folder, "truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    size = int(truth["size"])
    out = []
    for name, e in sorted(truth["exposures"].items()):
        path = os.path.join(folder, f"{name}_flt.fits")
        with fits.open(path) as h:
            hdr = h["SCI", 1].header
            w = WCS(hdr, fobj=h)
            shape = (int(hdr["NAXIS2"]), int(hdr["NAXIS1"]))
        out.append(Exposure(name, path, shape, w, float(e["sky"]), float(e["gx"]), float(e["gy"]), size))
    return out


def best_constant_models(exposures: list[Exposure], *, step: int = 8) -> dict[str, Model]:
    """For each exposure the best constant: the mean of its true sky over its pixels."""
    out = {}
    for e in exposures:
        y, x = np.mgrid[0 : e.shape[0] : step, 0 : e.shape[1] : step]
        c = float(np.mean(e.true_sky(x.astype(float), y.astype(float))))
        out[e.name] = lambda x, y, c=c: np.full(np.shape(x), c)
    return out


def models_from_headers(paths: list[str], *, ext=("SCI", 1)) -> dict[str, Model]:
    """Sky models written by skymatch into FLT headers, keyed by rootname (``name_flt.fits``).

    ``SKYMODEL`` + ``SKYCij`` when present (sky = sum SKYCij u^i v^j, u = (x - xc)/h,
    v = (y - yc)/h, xc = (nx - 1)/2, yc = (ny - 1)/2, h = max(nx, ny)/2, data units);
    otherwise the constant ``MDRIZSKY``. Data units are taken to be the truth's (e-/s), as
    for WFC3/IR FLTs.
    """
    out = {}
    for p in paths:
        hdr = fits.getheader(p, ext=ext)
        name = os.path.basename(p).split("_flt")[0]
        nx, ny = int(hdr["NAXIS1"]), int(hdr["NAXIS2"])
        coeffs = {}
        for k in hdr:
            if len(k) == 6 and k.startswith("SKYC") and k[4:].isdigit():
                coeffs[(int(k[4]), int(k[5]))] = float(hdr[k])
        if str(hdr.get("SKYMODEL", "CONSTANT")).upper() != "CONSTANT" and coeffs:
            xc, yc, h = (nx - 1) / 2.0, (ny - 1) / 2.0, max(nx, ny) / 2.0

            def model(x, y, coeffs=coeffs, xc=xc, yc=yc, h=h):
                u, v = (np.asarray(x, float) - xc) / h, (np.asarray(y, float) - yc) / h
                return sum(c * u**i * v**j for (i, j), c in coeffs.items())
        else:
            sky = float(hdr["MDRIZSKY"])

            def model(x, y, sky=sky):
                return np.full(np.shape(x), sky)
        out[name] = model
    return out


def score(models: dict[str, Model], exposures: list[Exposure], *, step: int = 8,
          frame: WCS | None = None) -> Score:
    """Errors of ``models`` (one callable per exposure name, of 0-based col x and row y).

    ``frame``: the common frame in which the global gauge plane is fitted (default: a TAN
    projection about the first exposure's reference point, in arcsec).
    """
    missing = [e.name for e in exposures if e.name not in models]
    if missing:
        raise ValueError(f"no model for {len(missing)} exposure(s), e.g. {missing[:3]}")
    if frame is None:
        frame = WCS(naxis=2)
        frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        frame.wcs.crval = exposures[0].wcs.wcs.crval
        frame.wcs.crpix = [0.0, 0.0]
        frame.wcs.cdelt = [-1 / 3600.0, 1 / 3600.0]
    errs, us, vs, names = [], [], [], []
    for e in exposures:
        y, x = np.mgrid[0 : e.shape[0] : step, 0 : e.shape[1] : step]
        x, y = x.ravel().astype(float), y.ravel().astype(float)
        err = np.asarray(models[e.name](x, y), float) - e.true_sky(x, y)
        ra, dec = e.wcs.all_pix2world(x, y, 0)
        u, v = frame.all_world2pix(ra, dec, 0)
        errs.append(err)
        us.append(u)
        vs.append(v)
        names.append(np.full(err.size, len(names)))
    err, u, v, idx = (np.concatenate(a) for a in (errs, us, vs, names))
    s = max(np.ptp(u), np.ptp(v), 1.0)
    a = np.column_stack([np.ones_like(u), (u - u.mean()) / s, (v - v.mean()) / s])
    coef, *_ = np.linalg.lstsq(a, err, rcond=None)
    rp = err - a @ coef
    rc = err - err.mean()
    per = {e.name: float(np.sqrt(np.mean(rp[idx == k] ** 2))) for k, e in enumerate(exposures)}
    return Score(float(np.sqrt(np.mean(rp**2))), float(np.sqrt(np.mean(rc**2))),
                 float(np.max(np.abs(rp))), per, int(err.size))


def flt_paths(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*_flt.fits")))
