"""Benchmarks of the sky step.  Prints figures; asserts nothing.

    python benchmarks/bench_sky.py [--quick]

1. Whole-process time of ``skymatch sky --skymethod match`` on the default demo mosaic
   (18 x 1014^2 WFC3/IR-like exposures), median of 3 runs on fresh copies, plus the
   compute time of the sky step alone as reported by the run.
2. ``match`` on synthetic mosaics of 100, 300 and 1,000 small exposures (in memory),
   to show that the cost grows about linearly with the number of exposures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from astropy.wcs import WCS

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "..", "bench-out")


def demo_mosaic(size: int) -> str:
    from skymatch.datasets import make_mosaic

    d = os.path.join(CACHE, f"demo-{size}")
    if not os.path.exists(os.path.join(d, "truth.json")):
        make_mosaic(d, size=size, overwrite=True)
    return d


def whole_process(size: int, repeats: int = 3) -> None:
    src = demo_mosaic(size)
    exe = os.path.join(os.path.dirname(sys.executable), "skymatch")
    walls, computes = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            for f in os.listdir(src):
                if f.endswith("_flt.fits"):
                    shutil.copy(os.path.join(src, f), tmp)
            t0 = time.perf_counter()
            out = subprocess.run([exe, "-v", "sky", os.path.join(tmp, "*_flt.fits"), "--skymethod", "match"],
                                 capture_output=True, text=True, check=True)
            walls.append(time.perf_counter() - t0)
            for line in out.stderr.splitlines():
                if "sky computed" in line:
                    computes.append(float(line.split(" in ")[1].split()[0]))
    print(f"skymatch sky --skymethod match, 18 x {size}^2 (whole process, writes headers): "
          f"{statistics.median(walls):.2f} s  (sky compute {statistics.median(computes):.2f} s)")


def synthetic_chips(n: int, size: int = 128, seed: int = 1):
    from skymatch import make_chip

    rng = np.random.default_rng(seed)
    ncol = int(np.ceil(np.sqrt(n)))
    scale = 0.1 / 3600
    step = size * 0.8 * scale
    chips, truth = [], []
    for k in range(n):
        r, c = divmod(k, ncol)
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        dec = -10 + r * step
        w.wcs.crval = [150 + c * step / np.cos(np.radians(dec)), dec]
        w.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
        w.wcs.cd = [[-scale, 0], [0, scale]]
        sky = rng.uniform(0.5, 1.5)
        data = (sky + rng.normal(0, 0.05, (size, size))).astype(np.float32)
        chips.append(make_chip(data, w, name=f"e{k:05d}"))
        truth.append(sky)
    return chips, np.array(truth)


def scaling(counts) -> None:
    from skymatch import match_sky

    base = None
    for n in counts:
        chips, truth = synthetic_chips(n)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = match_sky(chips, method="match", skystat="median")
        dt = time.perf_counter() - t0
        m = np.array([c.sky for c in res.chips])
        err = np.max(np.abs((m - m.mean()) - (truth - truth.mean())))
        base = base or dt
        print(f"match, {n:5d} exposures of 128^2, {len(res.pairs):5d} pairs: {dt:6.2f} s "
              f"({dt / base:5.1f} x the {counts[0]}-exposure time; max error {err:.1e})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller demo mosaic and counts")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    whole_process(256 if a.quick else 1014)
    scaling([50, 100] if a.quick else [100, 300, 1000])


if __name__ == "__main__":
    main()
