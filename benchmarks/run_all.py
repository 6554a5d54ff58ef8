"""Run every benchmark (``make bench``), one after the other, then print one summary.

    python benchmarks/run_all.py [--quick] [--large] [--sizes N ...] [--only NAME ...]

Each ``bench_*.py`` runs in its own process (they can also be run alone, each with
``--quick``); a failing script is reported and the others still run. Figures and ratios are
collected from ``bench-out/results/<script>.json``. Peers: ``SKYMATCH_PEER_PYTHON`` (a Python
with drizzlepac, stsci.skypac) and Montage on PATH; without them the peer lines say "absent".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _harness as H  # noqa: E402

ORDER = ["bench_startup", "bench_sky", "bench_compare", "bench_skymodel", "bench_montage",
         "bench_memory", "bench_scaling", "bench_align"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run of every benchmark")
    ap.add_argument("--large", action="store_true", help="include the 10,000-exposure scaling point")
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help="numbers of exposures for bench_scaling (e.g. 1000 3000 10000)")
    ap.add_argument("--only", nargs="+", default=None, help="script names (e.g. bench_sky)")
    a = ap.parse_args()
    names = sorted(n[:-3] for n in os.listdir(HERE) if n.startswith("bench_") and n.endswith(".py"))
    names = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]
    if a.only:
        names = [n for n in names if n in a.only or n.replace("bench_", "") in a.only]
    peer = os.environ.get("SKYMATCH_PEER_PYTHON") or "(unset)"
    print(f"skymatch benchmarks {'(quick)' if a.quick else ''}; bench dir {H.BENCH_DIR}; "
          f"peer Python {peer}; Montage {'on PATH' if H.montage_available() else 'absent'}", flush=True)
    failed, walls = [], {}
    t_all = time.perf_counter()
    for n in names:
        args = [sys.executable, os.path.join(HERE, n + ".py")]
        if a.quick:
            args.append("--quick")
        if a.large and n == "bench_scaling":
            args.append("--large")
        if a.sizes and n == "bench_scaling":
            args += ["--sizes", *map(str, a.sizes)]
        try:
            os.remove(os.path.join(H.RESULTS, n + ".json"))
        except FileNotFoundError:
            pass
        print(f"\n#### {n}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(args)
        walls[n] = time.perf_counter() - t0
        if rc != 0:
            failed.append(n)
            print(f"#### {n} FAILED (exit {rc})", flush=True)
    print(f"\n#### summary ({time.perf_counter() - t_all:.0f} s in all)")
    for n in names:
        p = os.path.join(H.RESULTS, n + ".json")
        print(f"{n} ({walls.get(n, 0):.0f} s){'  FAILED' if n in failed else ''}")
        if not os.path.exists(p):
            continue
        with open(p, encoding="utf-8") as fh:
            rows = json.load(fh)["rows"]
        for r in rows:
            if r["value"] is None:
                print(f"    {r['name']}: {r['note']}")
                continue
            v = r["value"]
            vs = f"{v:.4g}" if isinstance(v, float) else str(v)
            goal = f"  goal {r['goal']}: {'met' if r['ok'] else 'NOT met'}" if r["goal"] else ""
            note = f"  ({r['note']})" if r["note"] else ""
            print(f"    {r['name']}: {vs} {r['unit']}{goal}{note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
