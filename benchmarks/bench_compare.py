"""Benchmark (b): ``skymatch compare`` (four methods, four mosaics) against four AstroDrizzle runs.

    python benchmarks/bench_compare.py [--quick] [--repeat N] [--peer-repeat N]

On the demo mosaic (18 x 1014^2; --quick: 18 x 256^2) with the notebook's drizzle settings:

* ``skymatch compare '*flt.fits' --outdir X --final-bits 64 --final-wcs --final-rot 257``
  (whole process: four skies, four mosaics with weight and context images, table, CSV,
  the flatness score, plots, GIF, page);
* the same with ``--no-flatness --no-pictures``: the work the four AstroDrizzle runs do
  (four skies, four mosaics with weight and context images) and the table;
* the notebook's four AstroDrizzle calls (``peers/astrodrizzle_run.py``: ``skymethod`` =
  localmin, globalmin, match, globalmin+match, ``driz_separate=False, median=False,
  blot=False, driz_cr=False, final_bits='64', final_wcs=True, final_rot=257.``), each in its
  own process on its own fresh copy; the figure is the sum of the four processes.
  --quick runs only the ``match`` call and multiplies by four (printed as an estimate).

Goal: skymatch >= 10x faster.
"""

from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H

METHODS = ("localmin", "globalmin", "match", "globalmin+match")


def _copy_for_drizzlepac(src: str) -> str:
    """Fresh copy with the keywords AstroDrizzle insists on and demo-data omits (untimed).

    Real calwf3 FLTs carry them: ``NGOODPIX`` (DQ == 0 pixels) and ``GOODMEAN`` (their mean),
    ``EXPNAME``, ``MEANDARK``, the ``LTV``/``LTM`` subarray keywords, ``VAFACTOR``,
    ``SDQFLAGS``; in the primary header ``EXPEND``, the amplifiers' gains ``ATODGN[A-D]`` and
    read noises ``READNSE[A-D]`` (WFC3/IR values), ``NPOLFILE``/``D2IMFILE`` = N/A.
    """
    import glob

    import numpy as np
    from astropy.io import fits

    wd = H.fresh_copy(src, tag="adriz")
    for p in glob.glob(os.path.join(wd, "*_flt.fits")):
        with fits.open(p, mode="update") as h:
            ph = h[0].header
            prim = {"NPOLFILE": "N/A", "D2IMFILE": "N/A",
                    "EXPEND": float(ph.get("EXPSTART", 56230.0)) + float(ph.get("EXPTIME", 0.0)) / 86400.0,
                    "ATODGNA": 2.34, "ATODGNB": 2.37, "ATODGNC": 2.31, "ATODGND": 2.38,
                    "READNSEA": 20.2, "READNSEB": 19.8, "READNSEC": 19.9, "READNSED": 20.1}
            for k, v in prim.items():
                ph.setdefault(k, v)
            for hdu in h:
                if hdu.name != "SCI":
                    continue
                good = h["DQ", hdu.ver].data == 0
                extra = {"NGOODPIX": int(good.sum()), "GOODMEAN": float(np.mean(hdu.data[good])),
                         "EXPNAME": h[0].header.get("ROOTNAME", "unknown"), "LTV1": 0.0, "LTV2": 0.0,
                         "LTM1_1": 1.0, "LTM2_2": 1.0, "VAFACTOR": 1.0, "SDQFLAGS": 31743, "MEANDARK": 0.0}
                for k, v in extra.items():
                    hdu.header.setdefault(k, v)
    return wd


def main() -> None:
    ap = H.common_args(__doc__.splitlines()[0],
                       lambda p: p.add_argument("--peer-repeat", type=int, default=None,
                                                help="repetitions of the four AstroDrizzle runs (default 1)"))
    a = ap.parse_args()
    res = H.Results("bench_compare", a.quick)
    size = 256 if a.quick else 1014
    reps = a.repeat or (1 if a.quick else 3)
    src = H.demo_data(size=size)
    exe = H.skymatch_exe()
    label = f"18 x {size}^2"
    print(f"== (b) compare: four methods + four mosaics, {label}, whole process")

    steps: list[str] = []

    def _steps(wd, r):
        m = re.search(r"in [\d.]+ s \((.*)\)", r.stdout)
        steps.append(m.group(1) if m else "")

    ours = H.repeat(f"skymatch compare            {label}", reps,
                    lambda wd: [exe, "compare", os.path.join(src, "*_flt.fits"), "--outdir", wd,
                                "--final-bits", "64", "--final-wcs", "--final-rot", "257"],
                    setup=lambda: H.scratch("compare"), cwd_from_setup=False, after=_steps)
    if steps and steps[0]:
        print(f"  steps of one run: {steps[len(steps) // 2]}")
    res.add("skymatch compare wall", ours.wall, "s")
    res.add("skymatch compare CPU", ours.cpu, "s")
    res.add("skymatch compare peak RSS", ours.maxrss_mb, "MB")
    bare = H.repeat(f"  --no-flatness --no-pictures {label}", reps,
                    lambda wd: [exe, "compare", os.path.join(src, "*_flt.fits"), "--outdir", wd,
                                "--final-bits", "64", "--final-wcs", "--final-rot", "257", "--no-flatness",
                                "--no-pictures"],
                    setup=lambda: H.scratch("compare"), cwd_from_setup=False)
    res.add("skymatch compare --no-flatness --no-pictures wall", bare.wall, "s")

    peer = H.peer_python("drizzlepac")
    if not peer:
        res.absent("AstroDrizzle x4", "absent (set SKYMATCH_PEER_PYTHON to a Python with drizzlepac)")
        res.save()
        return
    methods = ("match",) if a.quick else METHODS
    wall = cpu = rss = 0.0
    for m in methods:
        t = H.repeat(f"AstroDrizzle {m:16s}{label}", a.peer_repeat or 1,
                     lambda wd, m=m: [peer, os.path.join(H.HERE, "peers", "astrodrizzle_run.py"), m,
                                      "f160w_" + m.replace("+", "_")],
                     setup=lambda: _copy_for_drizzlepac(src))
        wall, cpu, rss = wall + t.wall, cpu + t.cpu, max(rss, t.maxrss_mb)
    scale = len(METHODS) / len(methods)
    est = " (estimate: 4 x the match run)" if scale != 1 else ""
    wall, cpu = wall * scale, cpu * scale
    print(f"AstroDrizzle, four methods{est}: {wall:8.2f} s wall, {cpu:7.2f} s CPU, peak RSS {rss:7.0f} MB")
    res.add("AstroDrizzle x4 wall", wall, "s", note=est.strip())
    res.add("AstroDrizzle x4 CPU", cpu, "s", note=est.strip())
    H.ratio_line("AstroDrizzle x4 / skymatch compare (wall)", wall, ours.wall, goal=">= 10")
    H.ratio_line("AstroDrizzle x4 / skymatch compare (CPU)", cpu, ours.cpu, goal=">= 10")
    H.ratio_line("AstroDrizzle x4 / compare --no-flatness --no-pictures (wall; the same work)", wall, bare.wall,
                 goal=">= 10")
    res.add("speed-up vs AstroDrizzle x4 (wall)", wall / ours.wall, "x", goal=">= 10", ok=wall / ours.wall >= 10)
    res.add("speed-up vs AstroDrizzle x4 (CPU)", cpu / ours.cpu, "x", goal=">= 10", ok=cpu / ours.cpu >= 10)
    res.add("speed-up vs AstroDrizzle x4, the same work (wall)", wall / bare.wall, "x", goal=">= 10",
            ok=wall / bare.wall >= 10)
    res.save()


if __name__ == "__main__":
    main()
