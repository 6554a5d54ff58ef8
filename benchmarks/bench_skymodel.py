"""Benchmark (f): ``skymatch sky --sky-model plane`` against ``--sky-model constant``.

    python benchmarks/bench_skymodel.py [--quick] [--repeat N] [--gradient G]

On the gradient demo (``skymatch demo-data --gradient 0.1``: 18 x 1014^2; --quick: 256^2),
``skymatch sky '*flt.fits' --skymethod match --sky-model {constant,plane}``, whole process,
fresh copy per run (goal: plane <= 1.5x constant), and each model's accuracy against the
truth (``skyeval``: MDRIZSKY / SKYMODEL / SKYCij from the headers, rms after one global
plane). Prints "not available yet" while ``skymatch sky --help`` has no ``--sky-model``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H
import skyeval as E


def main() -> None:
    a = H.common_args(__doc__.splitlines()[0],
                      lambda p: p.add_argument("--gradient", type=float, default=0.1)).parse_args()
    res = H.Results("bench_skymodel", a.quick)
    print("== (f) sky models: plane vs constant")
    if not H.has_flag("sky", "--sky-model"):
        res.absent("sky --sky-model plane vs constant", "not available yet (no --sky-model in `skymatch sky --help`)")
        res.save()
        return
    size = 256 if a.quick else 1014
    reps = a.repeat or (1 if a.quick else 3)
    src = H.demo_data(size=size, gradient=a.gradient)
    exposures = E.load_truth(src)
    exe = H.skymatch_exe()
    t, scores = {}, {}
    for model in ("constant", "plane"):
        def after(wd, r, model=model):
            scores[model] = E.score(E.models_from_headers(E.flt_paths(wd)), exposures)

        t[model] = H.repeat(f"sky --sky-model {model:8s} 18 x {size}^2 g={a.gradient:g}", reps,
                            lambda wd, model=model: [exe, "sky", "*_flt.fits", "--skymethod", "match",
                                                     "--sky-model", model],
                            setup=lambda model=model: H.fresh_copy(src, tag=f"model-{model}"), after=after)
        print("  " + scores[model].line(f"{model} vs truth"))
        res.add(f"sky-model {model} wall", t[model].wall, "s")
        res.add(f"sky-model {model} rms", scores[model].rms_plane, "e-/s")
    r = t["plane"].wall / t["constant"].wall
    H.ratio_line("plane / constant (wall)", t["plane"].wall, t["constant"].wall, goal="<= 1.5")
    res.add("plane / constant (wall)", r, "x", goal="<= 1.5", ok=r <= 1.5)
    res.save()


if __name__ == "__main__":
    main()
