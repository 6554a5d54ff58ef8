"""Benchmark (a): the sky step, whole process, against stsci.skypac and the read floor.

    python benchmarks/bench_sky.py [--quick] [--repeat N]

On the demo mosaic (18 x 1014^2 WFC3/IR-like exposures; --quick: 18 x 256^2), each
repetition on a fresh copy of the inputs (headers are written):

* ``skymatch sky '*flt.fits' --skymethod match``;
* stsci.skypac ``skymatch()`` with AstroDrizzle's settings (``peers/skypac_match.py``) in the
  peer Python ``$SKYMATCH_PEER_PYTHON`` (printed "absent" without it);
* the physical floor: one Python process that imports numpy, reads every pixel of every
  input once and makes one boolean selection per chip (``_floor_read.py``).

Prints wall and CPU medians, peak RSS, the ratios (goal: skymatch >= 10x faster than skypac)
and how far apart the two tools' MDRIZSKY are.
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np
from astropy.io import fits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H


def _mdrizsky(wd: str) -> dict[str, float]:
    return {os.path.basename(p): float(fits.getval(p, "MDRIZSKY", ext=1))
            for p in sorted(glob.glob(os.path.join(wd, "*_flt.fits")))}


def main() -> None:
    a = H.common_args(__doc__.splitlines()[0]).parse_args()
    res = H.Results("bench_sky", a.quick)
    size = 256 if a.quick else 1014
    reps = a.repeat or (1 if a.quick else 3)
    src = H.demo_data(size=size)
    exe = H.skymatch_exe()
    label = f"18 x {size}^2"
    print(f"== (a) sky step, {label}, --skymethod match, whole process, fresh copy per run")

    ours_sky: dict[str, float] = {}
    ours = H.repeat(f"skymatch sky            {label}", reps,
                    lambda wd: [exe, "sky", "*_flt.fits", "--skymethod", "match"],
                    setup=lambda: H.fresh_copy(src, tag="sky"),
                    after=lambda wd, r: ours_sky.update(_mdrizsky(wd)))
    res.add("skymatch sky match wall", ours.wall, "s")
    res.add("skymatch sky match CPU", ours.cpu, "s")
    res.add("skymatch sky match peak RSS", ours.maxrss_mb, "MB")

    floor = H.repeat(f"floor (read all + mask) {label}", reps,
                     lambda wd: [sys.executable, os.path.join(H.HERE, "_floor_read.py"),
                                 *sorted(glob.glob(os.path.join(wd, "*_flt.fits")))],
                     setup=lambda: H.fresh_copy(src, tag="floor"))
    res.add("floor wall", floor.wall, "s")
    H.ratio_line("skymatch / floor (wall)", ours.wall, floor.wall)
    H.ratio_line("skymatch / floor (CPU)", ours.cpu, floor.cpu)
    res.add("skymatch / floor (wall)", ours.wall / floor.wall, "x")

    peer = H.peer_python("stsci.skypac")
    if not peer:
        res.absent("stsci.skypac skymatch()", "absent (set SKYMATCH_PEER_PYTHON to a Python with stsci.skypac)")
    else:
        theirs_sky: dict[str, float] = {}
        theirs = H.repeat(f"stsci.skypac skymatch() {label}", reps,
                          lambda wd: [peer, os.path.join(H.HERE, "peers", "skypac_match.py"), "match"],
                          setup=lambda: H.fresh_copy(src, tag="skypac"),
                          after=lambda wd, r: theirs_sky.update(_mdrizsky(wd)))
        res.add("skypac match wall", theirs.wall, "s")
        res.add("skypac match CPU", theirs.cpu, "s")
        speed = theirs.wall / ours.wall
        H.ratio_line("skypac / skymatch (wall)", theirs.wall, ours.wall, goal=">= 10")
        H.ratio_line("skypac / skymatch (CPU)", theirs.cpu, ours.cpu, goal=">= 10")
        res.add("speed-up vs skypac (wall)", speed, "x", goal=">= 10", ok=speed >= 10)
        res.add("speed-up vs skypac (CPU)", theirs.cpu / ours.cpu, "x", goal=">= 10",
                ok=theirs.cpu / ours.cpu >= 10)
        common = sorted(set(ours_sky) & set(theirs_sky))
        if common:
            d = np.array([ours_sky[k] - theirs_sky[k] for k in common])
            print(f"  max |MDRIZSKY skymatch - skypac| = {np.max(np.abs(d)):.2e} e-/s "
                  f"(skymatch default mode vs skypac without static mask)")
            res.add("max |MDRIZSKY skymatch - skypac|", float(np.max(np.abs(d))), "e-/s")
    res.save()


if __name__ == "__main__":
    main()
