"""Issue acceptance on the full-size gradient demo (slow tier, ``make test-slow``).

18 WFC3/IR-like exposures of 1014², SIP distortion, noise, 2,000 stars and a nebula,
every exposure with its own linear sky gradient (``skymatch demo-data --gradient 0.125``,
the default seed).  ``match --sky-model plane`` must recover every exposure's true sky
plane, after removing one global plane (what no overlap can determine), to <= 0.001 e-/s
rms over all pixels; the best any constant-per-exposure model can do there is ~0.026.
"""

import glob
import json
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import skymatch
from skymatch.core._skymodel import evaluate, monomials
from skymatch.datasets import make_mosaic

pytestmark = pytest.mark.slow

GRADIENT = 0.125
TOLERANCE = 0.001  # e-/s rms after one global plane (issue 8 acceptance)


@pytest.fixture(scope="module")
def gradient_demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("gradient_demo")
    make_mosaic(d, gradient=GRADIENT)
    return str(d)


def _errors(folder, model_of):
    """Per exposure: model - truth on every 8th pixel, and the pixels' tangent-plane
    positions (arcsec about the first exposure)."""
    with open(os.path.join(folder, "truth.json")) as f:
        truth = json.load(f)
    size = truth["size"]
    frame = None
    errs, us, vs = [], [], []
    for path in sorted(glob.glob(os.path.join(folder, "*_flt.fits"))):
        name = os.path.basename(path).split("_flt")[0]
        t = truth["exposures"][name]
        with fits.open(path) as hdul:
            hdr = hdul["SCI", 1].header
            wcs = WCS(hdr, hdul)
        if frame is None:
            frame = WCS(naxis=2)
            frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
            frame.wcs.crval = wcs.wcs.crval
            frame.wcs.cdelt = [-1 / 3600.0, 1 / 3600.0]
        y, x = np.mgrid[0:size:8, 0:size:8].astype(float)
        c = (size - 1) / 2.0
        true = t["sky"] + t["gx"] * (x - c) / size + t["gy"] * (y - c) / size
        errs.append((model_of(hdr, x, y) - true).ravel())
        u, v = frame.all_world2pix(*wcs.all_pix2world(x.ravel(), y.ravel(), 0), 0)
        us.append(u)
        vs.append(v)
    return np.concatenate(errs), np.concatenate(us), np.concatenate(vs)


def _rms_after_global_plane(e, u, v):
    s = max(np.ptp(u), np.ptp(v))
    a = np.column_stack([np.ones_like(u), (u - u.mean()) / s, (v - v.mean()) / s])
    coef, *_ = np.linalg.lstsq(a, e, rcond=None)
    return float(np.sqrt(np.mean((e - a @ coef) ** 2)))


def _header_model(hdr, x, y):
    names = [k for k in hdr if len(k) == 6 and k.startswith("SKYC") and k[4:].isdigit()]
    order = max(int(k[4]) + int(k[5]) for k in names)
    coeffs = [hdr[f"SKYC{i}{j}"] for i, j in monomials(order)]
    return evaluate(coeffs, x, y, (hdr["NAXIS2"], hdr["NAXIS1"]))


def test_match_plane_recovers_the_true_sky_planes(gradient_demo, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for p in [*glob.glob(os.path.join(gradient_demo, "*_flt.fits")), os.path.join(gradient_demo, "truth.json")]:
        shutil.copy(p, work)
    r = skymatch.sky(sorted(glob.glob(str(work / "*_flt.fits"))), skymethod="match", sky_model="plane",
                     progress=False, log_file=None)
    assert r.result.sky_model == "plane"
    e, u, v = _errors(str(work), _header_model)
    rms_plane = _rms_after_global_plane(e, u, v)

    # The best constant per exposure: the mean of its true sky (what no constant method beats).
    with open(work / "truth.json") as f:
        truth = json.load(f)
    eb = []
    for _, t in sorted(truth["exposures"].items()):
        size = truth["size"]
        y, x = np.mgrid[0:size:8, 0:size:8].astype(float)
        c = (size - 1) / 2.0
        true = t["sky"] + t["gx"] * (x - c) / size + t["gy"] * (y - c) / size
        eb.append((true.mean() - true).ravel())
    rms_best_constant = _rms_after_global_plane(np.concatenate(eb), u, v)

    assert rms_plane <= TOLERANCE, f"match plane: {rms_plane:.5f} e-/s rms (goal <= {TOLERANCE})"
    assert rms_best_constant > 0.02
    assert rms_best_constant / rms_plane >= 25.0
    # Every exposure's reported uncertainty is of the size of its actual error.
    errs = [cs.error for cs in r.result.chips]
    assert all(np.isfinite(errs)) and 1e-5 < np.median(errs) < 5e-3
