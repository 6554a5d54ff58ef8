"""Shared plumbing of the benchmark scripts (not a benchmark itself).

* where data and scratch go (``SKYMATCH_BENCH_DIR``, default ``<repo>/bench-out``, git-ignored);
* which peers exist (``SKYMATCH_PEER_PYTHON``: a Python with drizzlepac / stsci.skypac;
  Montage: ``mProjExec`` ... on ``PATH``);
* whether a skymatch feature exists yet (its flag in ``skymatch <cmd> --help``);
* whole-process measurements: wall time, CPU time (user + sys) and peak RSS of one child
  process tree, from ``os.wait4`` (the child's own ``rusage``), repeated, medians;
* cached synthetic data made with ``skymatch demo-data``;
* one results file per script (``results/<script>.json``) that ``run_all.py`` summarises.

The machine is shared: wall times move with the load of the other users, CPU times much
less, so both are printed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BENCH_DIR = os.path.abspath(os.environ.get("SKYMATCH_BENCH_DIR", os.path.join(REPO, "bench-out")))
DATA = os.path.join(BENCH_DIR, "data")
WORK = os.path.join(BENCH_DIR, "work")
RESULTS = os.path.join(BENCH_DIR, "results")
MONTAGE_TOOLS = ("mImgtbl", "mMakeHdr", "mProjExec", "mOverlaps", "mDiffExec", "mFitExec",
                 "mBgModel", "mBgExec", "mAdd")


# ----------------------------------------------------------------------------- executables
def skymatch_exe() -> str:
    """The ``skymatch`` script next to this Python (the project's venv), else on PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "skymatch")
    if os.path.exists(cand):
        return cand
    found = shutil.which("skymatch")
    if not found:
        raise SystemExit("skymatch is not installed in this Python (make bench installs it)")
    return found


@functools.cache
def peer_python(module: str) -> str | None:
    """``$SKYMATCH_PEER_PYTHON`` if it exists and imports ``module``, else None."""
    exe = os.environ.get("SKYMATCH_PEER_PYTHON", "")
    if not exe or not os.path.exists(exe):
        return None
    ok = subprocess.run([exe, "-c", f"import {module}"], capture_output=True).returncode == 0
    return exe if ok else None


def montage_available() -> bool:
    return all(shutil.which(t) for t in MONTAGE_TOOLS)


@functools.cache
def help_text(command: str) -> str:
    out = subprocess.run([skymatch_exe(), command, "--help"], capture_output=True, text=True)
    return out.stdout + out.stderr if out.returncode == 0 else ""


def has_flag(command: str, flag: str) -> bool:
    """True when ``skymatch <command> --help`` lists ``flag``."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text(command)) is not None


# ----------------------------------------------------------------------------- measuring
@dataclass
class Run:
    """One whole-process measurement."""

    wall: float
    cpu: float  # user + sys of the child and its waited-for descendants
    maxrss_mb: float  # peak RSS of the largest process in the tree
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], *, cwd: str | None = None, env: dict | None = None,
                 check: bool = True, limit_gb: float | None = None) -> Run:
    """Run ``cmd`` and measure it with ``os.wait4`` (rusage of that child only).

    ``limit_gb`` caps the address space of the child (RLIMIT_AS) so that a run that would
    exhaust the shared machine fails instead.
    """
    preexec = None
    if limit_gb:
        import resource

        lim = int(limit_gb * 2**30)

        def preexec():
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, preexec_fn=preexec)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        r = Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, p.returncode,
                out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {r.returncode}):\n  " + "\n  ".join(tail))
    return r


@dataclass
class Timing:
    """Repeated measurements of one command."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def maxrss_mb(self) -> float:
        return max(r.maxrss_mb for r in self.runs)

    def line(self) -> str:
        w = [r.wall for r in self.runs]
        spread = f" [{min(w):.2f}-{max(w):.2f}]" if len(w) > 1 else ""
        return (f"{self.label}: {self.wall:8.2f} s wall{spread}, {self.cpu:7.2f} s CPU, "
                f"peak RSS {self.maxrss_mb:7.0f} MB  (median of {len(self.runs)})")


def repeat(label: str, reps: int, make_cmd, *, setup=None, cwd_from_setup: bool = True,
           env: dict | None = None, after=None, limit_gb: float | None = None) -> Timing:
    """Measure ``make_cmd(workdir)`` ``reps`` times; ``setup()`` (untimed) makes a fresh workdir.

    ``after(workdir, run)`` (untimed) may inspect the result before the workdir is removed.
    """
    t = Timing(label)
    for _ in range(reps):
        wd = setup() if setup else None
        try:
            r = run_measured(make_cmd(wd), cwd=wd if cwd_from_setup else None, env=env, limit_gb=limit_gb)
            t.runs.append(r)
            if after:
                after(wd, r)
        finally:
            if wd and os.path.isdir(wd) and wd.startswith(WORK):
                shutil.rmtree(wd, ignore_errors=True)
    print(t.line(), flush=True)
    return t


def fresh_copy(src: str, pattern_suffix: str = "_flt.fits", tag: str = "w") -> str:
    """Copy the inputs of ``src`` into a new scratch folder (inputs get written to)."""
    os.makedirs(WORK, exist_ok=True)
    wd = tempfile.mkdtemp(prefix=f"{tag}-", dir=WORK)
    for f in sorted(os.listdir(src)):
        if f.endswith(pattern_suffix):
            shutil.copyfile(os.path.join(src, f), os.path.join(wd, f))
    return wd


def scratch(tag: str) -> str:
    os.makedirs(WORK, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{tag}-", dir=WORK)


# ----------------------------------------------------------------------------- data
def demo_data(*, size: int = 1014, tiles: tuple[int, int] = (3, 3), seed: int | None = None,
              gradient: float = 0.0, nstars: int | None = None, quiet: bool = False) -> str:
    """A cached ``skymatch demo-data`` folder with these options (made once, timed once)."""
    name = f"demo-{tiles[0]}x{tiles[1]}-{size}"
    args = ["--tiles", str(tiles[0]), str(tiles[1]), "--size", str(size)]
    if seed is not None:
        name += f"-s{seed}"
        args += ["--seed", str(seed)]
    if gradient:
        name += f"-g{gradient:g}"
        args += ["--gradient", str(gradient)]
    if nstars is not None:
        name += f"-n{nstars}"
        args += ["--nstars", str(nstars)]
    d = os.path.join(DATA, name)
    if not os.path.exists(os.path.join(d, "truth.json")):
        os.makedirs(DATA, exist_ok=True)
        tmp = d + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        r = run_measured([skymatch_exe(), "demo-data", tmp, *args])
        os.rename(tmp, d)
        with open(os.path.join(d, "generation.json"), "w", encoding="utf-8") as fh:
            json.dump({"wall_s": r.wall, "cpu_s": r.cpu, "args": args}, fh)
        if not quiet:
            print(f"  (generated {name}: {r.wall:.1f} s wall, {r.cpu:.1f} s CPU; cached in {d})", flush=True)
    return d


def generation_cost(d: str) -> dict | None:
    p = os.path.join(d, "generation.json")
    return json.load(open(p, encoding="utf-8")) if os.path.exists(p) else None


# ----------------------------------------------------------------------------- reporting
class Results:
    """Figures of one script, written to ``results/<script>.json`` for the summary."""

    def __init__(self, script: str, quick: bool):
        self.script = script
        self.quick = quick
        self.rows: list[dict] = []

    def add(self, name: str, value, unit: str = "", *, goal: str = "", ok: bool | None = None,
            note: str = "") -> None:
        if value is not None and not isinstance(value, str):
            value = float(value)
        self.rows.append({"name": name, "value": value, "unit": unit, "goal": goal,
                          "ok": None if ok is None else bool(ok),
                          "note": note})

    def absent(self, name: str, why: str) -> None:
        print(f"{name}: {why}", flush=True)
        self.add(name, None, note=why)

    def save(self) -> None:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, f"{self.script}.json"), "w", encoding="utf-8") as fh:
            json.dump({"script": self.script, "quick": self.quick, "date": time.strftime("%Y-%m-%d %H:%M"),
                       "rows": self.rows}, fh, indent=1)


def ratio_line(label: str, num: float, den: float, goal: str = "") -> str:
    r = num / den if den else float("nan")
    s = f"  ratio {label}: {r:.2f}"
    if goal:
        s += f"  (goal {goal})"
    print(s, flush=True)
    return s


def common_args(description: str, extra=None):
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="short smoke run on small data")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions per measurement")
    if extra:
        extra(ap)
    return ap
