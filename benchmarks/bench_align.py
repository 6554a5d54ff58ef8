"""Benchmark of ``skymatch align`` + ``skymatch tweakback`` (the notebook's section 2).

    python benchmarks/bench_align.py [--quick]

Whole-process times on nine visit-level DRZ products of a full-size synthetic 3x3 mosaic
(visits mis-aligned by up to 1" and 0.02 deg, 20 000 stars), with the notebook's TweakReg
parameters; prints the accuracy against the known truth too.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

CACHE = H.DATA

ORDER = ["54", "51", "53", "55", "57", "50", "52", "56", "58"]


def _data(size: int) -> str:
    from skymatch.datasets import make_mosaic, make_visit_drz

    d = os.path.join(CACHE, f"align-{size}")
    if not os.path.exists(os.path.join(d, "ibxl58030_drz.fits")):
        nstars = int(20000 * (size / 1014) ** 2)
        t = make_mosaic(d, size=size, nstars=nstars, misalign=(1.0, 0.02), overwrite=True)
        make_visit_drz(t.paths, d, overwrite=True)
    return d


def _accuracy(d: str) -> tuple[float, float]:
    from skymatch.core._wcsfit import wcs_difference

    truth = json.load(open(os.path.join(d, "truth.json"), encoding="utf-8"))
    worst_c, worst_r = 0.0, 0.0
    for p in glob.glob(os.path.join(d, "*_flt.fits")):
        e = truth["exposures"][os.path.basename(p)[:9]]
        with fits.open(p) as h:
            w = WCS(h[1].header, fobj=h)
            shape = h[1].data.shape
        t = w.deepcopy()
        t.wcs.crval, t.wcs.cd = e["true_crval"], np.array(e["true_cd"])
        t.wcs.set()
        c, _, r = wcs_difference(t, w, shape)
        worst_c, worst_r = max(worst_c, c), max(worst_r, abs(r))
    return worst_c, worst_r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="512-px chips")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    src = _data(512 if a.quick else 1014)
    exe = os.path.join(os.path.dirname(sys.executable), "skymatch")
    os.makedirs(H.WORK, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=H.WORK) as tmp:
        work = shutil.copytree(src, os.path.join(tmp, "w"))
        with open(os.path.join(work, "drz.list"), "w", encoding="utf-8") as fh:
            fh.writelines(f"ibxl{v}030_drz.fits\n" for v in ORDER)
        t0 = time.perf_counter()
        subprocess.run([exe, "align", "@drz.list", "--threshold", "10", "--conv-width", "4.5",
                        "--peakmin", "1", "--minobj", "5", "--expand-refcat", "--enforce-user-order",
                        "--searchrad", "3.0", "--update-header"], cwd=work, check=True, capture_output=True)
        t_align = time.perf_counter() - t0
        t0 = time.perf_counter()
        for v in ORDER:
            subprocess.run([exe, "tweakback", f"ibxl{v}030_drz.fits"], cwd=work, check=True, capture_output=True)
        t_back = time.perf_counter() - t0
        c, r = _accuracy(work)
    print(f"align (9 DRZ, whole process): {t_align:.2f} s")
    print(f"tweakback x9 (whole processes): {t_back:.2f} s")
    print(f"worst exposure vs truth: {c:.4f} px at the chip centre, {r:.2e} deg rotation")
    res = H.Results("bench_align", a.quick)
    res.add("align 9 DRZ wall", t_align, "s")
    res.add("tweakback x9 wall", t_back, "s")
    res.add("worst exposure offset vs truth", c, "px")
    res.save()


if __name__ == "__main__":
    main()
