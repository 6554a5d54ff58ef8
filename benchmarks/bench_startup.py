"""Start-up time of the command line.  Prints figures; asserts nothing.

    python benchmarks/bench_startup.py [--repeats N]

Whole-process wall time (median of N runs) of ``skymatch --help`` and ``skymatch
--version`` against ``python -c "import numpy"`` (the goal: at most 3x that) and
``python -c pass`` (the interpreter's own floor), all measured in the same run; also
the processes' CPU time (user + system), which a busy machine disturbs less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmd: list[str], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of ``cmd``, seconds."""
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = _cpu(), time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    n = ap.parse_args().repeats
    exe = os.path.join(os.path.dirname(sys.executable), "skymatch")
    measure([exe, "--help"], 2)  # warm the file cache
    rows = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import numpy'", [sys.executable, "-c", "import numpy"]),
            ("skymatch --help", [exe, "--help"]),
            ("skymatch --version", [exe, "--version"]),
            ("skymatch run --help", [exe, "run", "--help"])]
    res = {label: measure(cmd, n) for label, cmd in rows}
    wall_np, cpu_np = res["python -c 'import numpy'"]
    print(f"{'':26s} {'wall':>9s} {'cpu':>9s}   ratio to import numpy (wall, cpu)")
    for label, (w, c) in res.items():
        goal = "   goal <= 3" if label == "skymatch --help" else ""
        print(f"{label:26s} {w * 1e3:7.1f}ms {c * 1e3:7.1f}ms   {w / wall_np:5.2f} x, {c / cpu_np:5.2f} x{goal}")


if __name__ == "__main__":
    main()
