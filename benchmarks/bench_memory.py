"""Benchmark (e): peak memory (RSS) of building a large mosaic.

    python benchmarks/bench_memory.py [--quick] [--max-gb G] [--frames N [N ...]]

The 18-exposure demo mosaic (1014^2 chips; --quick: 256^2) drizzled onto square output
frames of N x N pixels whose scale is chosen so that the inputs cover the whole frame
(``skymatch run '*flt.fits' --readonly --skymethod match --final-wcs --final-scale S
--final-outnx N --final-outny N``): every output pixel is drizzled, as in a real
20,000 x 20,000 mosaic. Peak RSS of the whole process (``wait4`` rusage).

Frames 2,000 / 4,000 / 8,000 give the bytes per output pixel; the 20,000^2 run (goal: peak
RSS <= 2 GB) is made only when that slope predicts at most --max-gb (default 12 GB of the
machine's 24, shared): otherwise the script prints what it would need. Each run is capped
at --max-gb + 4 GB of address space so that a bad estimate fails instead of exhausting the
machine. --quick: frames 1,000 and 2,000, no 20,000 run.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H

TARGET = 20000


def main() -> None:
    def extra(p):
        p.add_argument("--max-gb", type=float, default=12.0, help="largest predicted peak RSS to attempt")
        p.add_argument("--frames", type=int, nargs="+", default=None, help="frame sizes to measure")

    a = H.common_args(__doc__.splitlines()[0], extra).parse_args()
    res = H.Results("bench_memory", a.quick)
    size = 256 if a.quick else 1014
    frames = a.frames or ([1000, 2000] if a.quick else [2000, 4000, 8000])
    src = H.demo_data(size=size)
    exe = H.skymatch_exe()
    # The demo mosaic spans ~2.67 x 2.95 chip widths of 0.12825"; keep the frame inside it.
    extent_arcsec = 0.9 * 2.67 * size * 0.12825
    print(f"== (e) peak RSS of `run` onto N x N frames filled by 18 x {size}^2 exposures")
    pts = []

    def measure(n: int, limit: float | None) -> H.Timing:
        scale = extent_arcsec / n
        wd = H.scratch(f"mem{n}")
        try:
            return H.repeat(f'run onto {n:6d} x {n:<6d} ({scale:.4f}"/px)', 1,
                            lambda _: [exe, "run", os.path.join(src, "*_flt.fits"), "--readonly",
                                       "--skymethod", "match", "--output", os.path.join(wd, "big"),
                                       "--final-wcs", "--final-scale", f"{scale:.6f}",
                                       "--final-outnx", str(n), "--final-outny", str(n)],
                            limit_gb=limit)
        finally:
            shutil.rmtree(wd, ignore_errors=True)

    for n in frames:
        t = measure(n, a.max_gb + 4)
        pts.append((n * n, t.maxrss_mb * 2**20))
        res.add(f"peak RSS {n}^2", t.maxrss_mb, "MB", note=f"{t.wall:.1f} s wall")
        print(f"  {t.maxrss_mb * 2**20 / (n * n):6.1f} bytes per output pixel (whole process)")
    npix = np.array([p[0] for p in pts], float)
    rss = np.array([p[1] for p in pts], float)
    if len(pts) >= 2:
        slope, icpt = np.polyfit(npix, rss, 1)
    else:
        slope, icpt = rss[0] / npix[0], 0.0
    pred = (slope * TARGET**2 + icpt) / 2**30
    print(f"  fit: {slope:.1f} bytes per output pixel + {icpt / 2**20:.0f} MB -> predicted peak RSS at "
          f"{TARGET}^2: {pred:.1f} GB (goal <= 2 GB)")
    res.add("bytes per output pixel", float(slope), "B/px")
    res.add(f"predicted peak RSS {TARGET}^2", float(pred), "GB", goal="<= 2", ok=pred <= 2)
    if a.quick:
        print(f"  (--quick: no {TARGET}^2 run)")
    elif pred > a.max_gb:
        res.absent(f"peak RSS {TARGET}^2", f"not run: predicted {pred:.1f} GB > --max-gb {a.max_gb:g} "
                   f"(needs ~{pred:.0f} GB with today's code)")
    else:
        try:
            t = measure(TARGET, a.max_gb + 4)
            gb = t.maxrss_mb / 1024
            print(f"  peak RSS at {TARGET}^2: {gb:.2f} GB (goal <= 2 GB), {t.wall:.0f} s wall")
            res.add(f"peak RSS {TARGET}^2", gb, "GB", goal="<= 2", ok=gb <= 2, note=f"{t.wall:.0f} s wall")
        except RuntimeError as e:
            res.absent(f"peak RSS {TARGET}^2", f"failed under a {a.max_gb + 4:g} GB address-space cap: "
                       f"{str(e).splitlines()[-1][:200]}")
    res.save()


if __name__ == "__main__":
    main()
