"""Peak memory of drizzling a large mosaic block by block.  Prints figures.

    python benchmarks/bench_mosaic_memory.py [--quick] [--side 20000] [--jobs 2]

A fast synthetic grid of small exposures (square TAN chips of ``--chip`` pixels with 8 %
overlap, pixels generated on read: a constant sky plus a gradient) is drizzled onto a
square frame of ``--side`` pixels (goal: 20,000 x 20,000 under 2 GB) and onto a smaller
one, each in a fresh subprocess through :func:`skymatch.pipeline.drizzle_products`
(files written block by block, context as an id image + CTXTAB).  Printed per run: wall
time, peak RSS of the main process and of the largest worker (``getrusage``), their sum,
and bytes of RSS per output pixel.  The products are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import json, os, resource, sys, time
import numpy as np
from dataclasses import dataclass
from astropy.wcs import WCS
from skymatch.models import Chip, ChipPixels
from skymatch.core._drizzle import DrizzleParams
from skymatch.core._frame import frame_from_wcs
from skymatch.core._executor import make_executor
from skymatch.pipeline._mosaic import drizzle_products

side, chip, outdir, jobs, block = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
SCALE = 0.1


@dataclass(frozen=True)
class SyntheticPixels:
    """Pixels made on read (nothing travels to the workers but these few numbers)."""
    shape: tuple
    sky: float
    token: str = "synthetic"

    def read(self):
        ny, nx = self.shape
        y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
        return ChipPixels(self.sky + 1e-4 * x + 2e-4 * y, None, None)


def tan(ra, dec, n, crpix=None):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = crpix or [(n + 1) / 2, (n + 1) / 2]
    w.wcs.cd = np.array([[-SCALE / 3600, 0], [0, SCALE / 3600]])
    w.pixel_shape = (n, n)
    return w

frame_wcs = tan(150.0, 2.0, side)
frame = frame_from_wcs(frame_wcs, (side, side))
step = int(chip * 0.92)
chips = []
for j, y0 in enumerate(range(0, side - chip // 2, step)):
    for i, x0 in enumerate(range(0, side - chip // 2, step)):
        ra, dec = frame_wcs.pixel_to_world_values(x0 + (chip - 1) / 2, y0 + (chip - 1) / 2)
        w = tan(float(ra), float(dec), chip)
        name = f"c{j:03d}_{i:03d}"
        chips.append(Chip(name=name, wcs=w, shape=(chip, chip), exposure_id=name,
                          pixels=SyntheticPixels((chip, chip), 1.0 + 0.001 * (i + j)), units="ELECTRONS/S",
                          unit_kind="rate", exptime=100.0, conv=1.0, pixel_scale_arcsec=SCALE))
skies = {"m": {c.name: (1.0 + 0.001 * k, 1e-3, -2e-3) for k, c in enumerate(chips)}}
t0 = time.perf_counter()
out = drizzle_products(chips, skies, frame, {"m": os.path.join(outdir, "big")},
                       params=DrizzleParams(block_size=block), executor=make_executor(jobs, None))
wall = time.perf_counter() - t0
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sizes = sum(os.path.getsize(p) for p in out["m"].paths)
print(json.dumps({"side": side, "chips": len(chips), "wall": wall, "self_kb": self_kb, "child_kb": child_kb,
                  "bytes_written": sizes, "context": out["m"].context_format,
                  "n_contexts": out["m"].n_contexts}))
'''


def run(side: int, chip: int, jobs: int, block: int, folder: str) -> dict:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        res = subprocess.run([sys.executable, "-c", CHILD, str(side), str(chip), tmp, str(jobs), str(block)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr[-3000:])
        return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4,000 and 2,000 px frames")
    ap.add_argument("--side", type=int, default=20000)
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--chip", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--block-size", type=int, default=1024)
    ap.add_argument("--folder", default=None, help="where to write the temporary products")
    a = ap.parse_args()
    sides = (4000, 2000) if a.quick else (a.side, a.small)
    folder = a.folder or tempfile.gettempdir()
    need = 12 * sides[0] ** 2
    if shutil.disk_usage(folder).free < 1.2 * need:
        raise SystemExit(f"{folder}: needs {need / 2**30:.1f} GiB free for the products")
    print(f"block size {a.block_size}, {a.jobs} worker processes, chips {a.chip}^2 px, products in {folder}")
    print(f"{'frame':>15} {'chips':>6} {'wall s':>7} {'main MB':>8} {'worker MB':>9} {'sum MB':>7} "
          f"{'B/out px':>8} {'written GB':>10}")
    for side in sides:
        t0 = time.perf_counter()
        r = run(side, a.chip, a.jobs, a.block_size, folder)
        main_mb, work_mb = r["self_kb"] / 1024, r["child_kb"] / 1024
        total = main_mb + (work_mb * a.jobs if a.jobs > 1 else 0)
        print(f"{side:>7,} x {side:<6,} {r['chips']:>6} {r['wall']:>7.1f} {main_mb:>8.0f} {work_mb:>9.0f} "
              f"{total:>7.0f} {total * 2**20 / side**2:>8.2f} {r['bytes_written'] / 1e9:>10.2f}"
              f"   ({r['context']}, {r['n_contexts']} contexts; {time.perf_counter() - t0:.0f} s with start-up)")
    print("sum = main + jobs x largest worker (an upper bound of the run's total); goal: <= 2048 MB at 20,000^2")


if __name__ == "__main__":
    main()
