"""Benchmark (c): start-up, ``skymatch --help`` against ``python -c "import numpy"``.

    python benchmarks/bench_startup.py [--quick] [--repeat N]

Both whole processes, medians of N runs (default 7; --quick 3). Goal: <= 3x.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H


def main() -> None:
    a = H.common_args(__doc__.splitlines()[0]).parse_args()
    res = H.Results("bench_startup", a.quick)
    reps = a.repeat or (3 if a.quick else 7)
    print("== (c) start-up")
    H.run_measured([H.skymatch_exe(), "--help"])  # warm the file cache once, untimed
    ours = H.repeat("skymatch --help           ", reps, lambda wd: [H.skymatch_exe(), "--help"])
    sub = H.repeat("skymatch sky --help       ", reps, lambda wd: [H.skymatch_exe(), "sky", "--help"])
    base = H.repeat('python -c "import numpy"  ', reps, lambda wd: [sys.executable, "-c", "import numpy"])
    H.ratio_line("skymatch --help / import numpy (wall)", ours.wall, base.wall, goal="<= 3")
    H.ratio_line("skymatch --help / import numpy (CPU)", ours.cpu, base.cpu, goal="<= 3")
    res.add("skymatch --help wall", ours.wall, "s")
    res.add("skymatch sky --help wall", sub.wall, "s")
    res.add("import numpy wall", base.wall, "s")
    res.add("--help / import numpy (wall)", ours.wall / base.wall, "x", goal="<= 3", ok=ours.wall / base.wall <= 3)
    res.add("--help / import numpy (CPU)", ours.cpu / base.cpu, "x", goal="<= 3", ok=ours.cpu / base.cpu <= 3)
    res.save()


if __name__ == "__main__":
    main()
