"""Benchmark of ``skymatch compare`` (four skies and four mosaics).  Prints figures.

    python benchmarks/bench_compare.py [--quick]

Whole-process time of ``skymatch compare`` on the default demo mosaic (18 x 1014^2) with
the notebook's drizzle settings (final_bits=64, final_wcs, final_rot=257): all four sky
methods, four mosaics with weight and context images, the table, CSV, plots, GIF and page.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sky import CACHE, demo_mosaic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    size = 256 if a.quick else 1014
    src = demo_mosaic(size)
    exe = os.path.join(os.path.dirname(sys.executable), "skymatch")
    walls, steps = [], []
    for _ in range(1 if a.quick else 3):
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            t0 = time.perf_counter()
            out = subprocess.run([exe, "compare", os.path.join(src, "*_flt.fits"), "--outdir", tmp,
                                  "--final-bits", "64", "--final-wcs", "--final-rot", "257"],
                                 capture_output=True, text=True, check=True)
            walls.append(time.perf_counter() - t0)
            m = re.search(r"in [\d.]+ s \((.*)\)", out.stdout)
            steps.append(m.group(1) if m else "")
    k = walls.index(statistics.median(walls))
    print(f"skymatch compare, 18 x {size}^2, four methods and mosaics (whole process): "
          f"{walls[k]:.2f} s  [{steps[k]}]")


if __name__ == "__main__":
    main()
