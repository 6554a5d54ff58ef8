"""Benchmark of the sky statistic: the previous implementation against the current one.

    python benchmarks/bench_stats.py [--repeats N]

The previous implementation (always ``nclip + 1`` clipping passes, ``np.median``) is the
verbatim copy kept in ``tests/test_stats.py`` (``_old_sky_statistic``), where the tests
show both give bit-identical results.  Timings are the best of N interleaved runs on the
same usable pixels of a WFC3/IR-like chip (sky 1 e-/s, noise, stars and a galaxy, a bad
column), 1014x1014 and 128x128, for every statistic, default and compat mode, with
AstroDrizzle's clipping (nclip=5) and with a long one (nclip=100), measured as process
CPU time (the machine is shared).  Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _old_implementation():
    path = os.path.join(HERE, "..", "tests", "test_stats.py")
    spec = importlib.util.spec_from_file_location("_stats_reference_copy", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._old_sky_statistic  # noqa: SLF001 - the previous implementation, timed against the new


def wfc3_like(size: int, seed: int = 0) -> np.ndarray:
    """Usable pixel values of a WFC3/IR-like chip (1-D, as the sky step passes them)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(1.0, 0.05, (size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(max(3, size * size // 3400)):
        x0, y0 = rng.uniform(0, size, 2)
        amp, s = 10 ** rng.uniform(-0.5, 2), rng.uniform(1, 3)
        r = int(6 * s)
        sl = (slice(max(0, int(y0) - r), int(y0) + r), slice(max(0, int(x0) - r), int(x0) + r))
        img[sl] += (amp * np.exp(-((xx[sl] - x0) ** 2 + (yy[sl] - y0) ** 2) / (2 * s * s))).astype(np.float32)
    g = np.exp(-((xx - size * 0.6) ** 2 / (size * 0.08) ** 2 + (yy - size * 0.4) ** 2 / (size * 0.04) ** 2))
    img += (0.5 * g).astype(np.float32)
    good = np.ones(img.shape, dtype=bool)
    good[:, size // 2] = False  # a bad column
    return img[good]


def best(fn, repeats: int) -> float:
    # CPU time of this process: the machine is shared, and wall-clock time mostly
    # measures the other jobs.  numpy runs these operations on one thread.
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    from skymatch.core import SkyStatParams, sky_statistic

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    old = _old_implementation()
    print(f"{'size':>9} {'statistic':>9} {'mode':>7} {'nclip':>5} {'old ms':>9} {'new ms':>9} {'old/new':>8}")
    ratios = {}
    for size in (1014, 128):
        values = wfc3_like(size)
        reps = args.repeats if size > 500 else 10 * args.repeats
        for nclip in (5, 100):
            for compat in (False, True):
                for stat in ("median", "mode", "mean", "midpt"):
                    p = SkyStatParams(statistic=stat, nclip=nclip, compat=compat)
                    t_old = t_new = float("inf")
                    for _ in range(2):  # interleave, so load changes hit both alike
                        t_old = min(t_old, best(lambda values=values, p=p: old(values, p), reps))
                        t_new = min(t_new, best(lambda values=values, p=p: sky_statistic(values, p), reps))
                    r = t_old / t_new
                    ratios.setdefault((size, nclip), []).append(r)
                    print(f"{size:>4}x{size:<4} {stat:>9} {'compat' if compat else 'default':>7} "
                          f"{nclip:>5} {t_old * 1e3:9.2f} {t_new * 1e3:9.2f} {r:8.2f}")
    print()
    for (size, nclip), rs in ratios.items():
        gm = float(np.exp(np.mean(np.log(rs))))
        print(f"{size}x{size}, nclip={nclip}: old/new geometric mean {gm:.2f} "
              f"(min {min(rs):.2f}, max {max(rs):.2f})")


if __name__ == "__main__":
    main()
