"""Benchmark of ``skymatch align`` + ``skymatch tweakback`` (the notebook's section 2).

    python benchmarks/bench_align.py [--quick]

On a synthetic 3x3 mosaic (1014-px chips, or 512 with ``--quick``; visits mis-aligned by
up to 1" and 0.02 deg, 20 000 stars at full size) with the notebook's TweakReg parameters:

1. DRZ path: whole-process ``align`` of the nine visit products and ``tweakback`` of each,
   and the worst exposure against the truth.
2. The peer: finding sources on every whole product in one process (what ``align`` did
   before it measured only sources within the search radius of another image), as a
   ratio to the ``align`` run.
3. FLT path: whole-process ``align`` of the 18 FLTs grouped by association, worst chip.
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
from bench_sky import CACHE

ORDER = ["54", "51", "53", "55", "57", "50", "52", "56", "58"]
NOTEBOOK = ["--threshold", "10", "--conv-width", "4.5", "--peakmin", "1", "--minobj", "5", "--expand-refcat",
            "--enforce-user-order", "--searchrad", "3.0", "--update-header"]


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

    with open(os.path.join(d, "truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
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


def _run(exe: str, args: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([exe, *args], cwd=cwd, check=False, capture_output=True)
    return time.perf_counter() - t0


def _all_sources(d: str) -> float:
    """Sources of every whole DRZ product, in this process (the peer)."""
    from skymatch.core._masks import dq_good_mask, parse_bits
    from skymatch.core._sources import SourceFindParams, find_sources
    from skymatch.io import read_chips

    find = SourceFindParams(threshold=10, conv_width=4.5, peakmin=1)
    t0 = time.perf_counter()
    for v in ORDER:
        chip = read_chips(os.path.join(d, f"ibxl{v}030_drz.fits"))[0]
        px = chip.pixels.read()
        good = np.isfinite(px.data)
        dq = dq_good_mask(px.dq, parse_bits(0))
        find_sources(px.data, good if dq is None else good & dq, find)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="512-px chips")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    src = _data(512 if a.quick else 1014)
    exe = os.path.join(os.path.dirname(sys.executable), "skymatch")
    with open(os.path.join(src, "truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        work = shutil.copytree(src, os.path.join(tmp, "drz"))
        with open(os.path.join(work, "drz.list"), "w", encoding="utf-8") as fh:
            fh.writelines(f"ibxl{v}030_drz.fits\n" for v in ORDER)
        t_align = _run(exe, ["align", "@drz.list", *NOTEBOOK], work)
        t_back = sum(_run(exe, ["tweakback", f"ibxl{v}030_drz.fits"], work) for v in ORDER)
        c, r = _accuracy(work)
        t_peer = _all_sources(src)
        flt = shutil.copytree(src, os.path.join(tmp, "flt"))
        flts = sorted((os.path.basename(p) for p in glob.glob(os.path.join(flt, "*_flt.fits"))),
                      key=lambda p: ORDER.index(truth["exposures"][p[:9]]["visit"]))
        t_flt = _run(exe, ["align", *flts, *NOTEBOOK], flt)
        c_flt, r_flt = _accuracy(flt)
    print(f"align, 9 DRZ (whole process): {t_align:.2f} s")
    print(f"tweakback x9 (whole processes): {t_back:.2f} s")
    print(f"worst exposure vs truth: {c:.4f} px at the chip centre, {r:.2e} deg rotation")
    print(f"peer: sources of the 9 whole DRZ in one process: {t_peer:.2f} s "
          f"(align whole process / peer = {t_align / t_peer:.2f})")
    print(f"align, 18 FLT by association (whole process): {t_flt:.2f} s; "
          f"worst chip {c_flt:.4f} px, {r_flt:.2e} deg")


if __name__ == "__main__":
    main()
