"""Start-up time of the command line.  Prints figures; asserts nothing.

    python benchmarks/bench_startup.py [--repeats N]

Whole-process wall time (median of N runs) of ``skymatch --help`` and ``skymatch
--version`` against ``python -c "import numpy"`` (the goal: at most 3x that) and
``python -c pass`` (the interpreter's own floor), all measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    n = ap.parse_args().repeats
    exe = os.path.join(os.path.dirname(sys.executable), "skymatch")
    wall([exe, "--help"], 2)  # warm the file cache
    floor = wall([sys.executable, "-c", "pass"], n)
    numpy = wall([sys.executable, "-c", "import numpy"], n)
    helps = wall([exe, "--help"], n)
    version = wall([exe, "--version"], n)
    sub = wall([exe, "run", "--help"], n)
    print(f"python -c pass:              {floor * 1e3:7.1f} ms")
    print(f"python -c 'import numpy':    {numpy * 1e3:7.1f} ms")
    print(f"skymatch --help:             {helps * 1e3:7.1f} ms   ({helps / numpy:.2f} x import numpy; goal <= 3)")
    print(f"skymatch --version:          {version * 1e3:7.1f} ms   ({version / numpy:.2f} x import numpy)")
    print(f"skymatch run --help:         {sub * 1e3:7.1f} ms   ({sub / numpy:.2f} x import numpy)")


if __name__ == "__main__":
    main()
