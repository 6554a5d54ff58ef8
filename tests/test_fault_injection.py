"""kill -9 at many moments of ``sky --subtract``, ``run`` and ``compare``.

The command runs in a forked child that SIGKILLs itself just before its k-th
file-system call (``os.write``, ``pwrite``, ``fsync``, ``replace``, ``link``, ``unlink``,
``mkdir``, ``rmdir``, ``fchmod``), k drawn (seeded) over the calls a clean run makes;
the slow variant adds kills at random times.  After each kill:

* every input is wholly old or wholly new (and a valid FITS file);
* every product under its final name is complete (identical to a clean run's);
* the next run (even a read-only one) restores all-or-nothing (every input old, or
  every input new: the journal decides), cleans every leftover, and running the
  command again (when the inputs are old, or it is idempotent) gives the clean result.
"""

import itertools
import os
import random
import shutil
import signal
import time
import warnings
from pathlib import Path

import pytest
from astropy.io import fits
from fsutil import copy_files, digest, leftovers

from skymatch.cli import main
from skymatch.datasets import make_mosaic

_CALLS = ("write", "pwrite", "fsync", "fdatasync", "replace", "rename", "link", "unlink", "mkdir",
          "rmdir", "fchmod")


def _child(argv, kill_at: int, report: Path) -> None:  # pragma: no cover - runs in the fork
    """In a forked child: count the file-system calls of ``main(argv)``, SIGKILL on the
    ``kill_at``-th (0: never); write ``count seconds`` to ``report`` at the end."""
    code = 99
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        warnings.simplefilter("default")
        count = [0]

        def wrap(name):
            real = getattr(os, name)

            def call(*a, **k):
                count[0] += 1
                if count[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*a, **k)

            setattr(os, name, call)

        for name in _CALLS:
            wrap(name)
        t0 = time.monotonic()
        code = main(argv)
        report.write_text(f"{count[0]} {time.monotonic() - t0}")
    finally:
        os._exit(code)


def _fork(argv, kill_at: int, report: Path, *, kill_after: float | None = None) -> int:
    """Run ``main(argv)`` in a forked child (no interpreter start-up: the kills are what
    costs); returns its exit status (negative: the signal that ended it)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        _child(argv, kill_at, report)
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


COMMANDS = {
    "sky --subtract": lambda inp, out: ["sky", *inp, "--subtract", "--skymethod", "localmin",
                                        "--table", out / "t.csv"],
    "run": lambda inp, out: ["run", *inp, "--output", out / "m", "--skymethod", "match", "--overwrite"],
    "compare": lambda inp, out: ["compare", *inp, "--outdir", out, "--methods", "localmin", "match",
                                 "--prefix", "t", "--overwrite"],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return sorted(make_mosaic(d, tiles=(2, 1), size=64, seed=11).paths)


def _products(out: Path) -> dict[str, str]:
    if not out.exists():
        return {}
    # The run's log file is a record, not a product: it says how far a killed run got.
    return digest(sorted(p for p in out.iterdir() if not p.name.startswith(".skymatch-")
                         and not p.name.endswith("skymatch.log")))


class Scenario:
    """One command on fresh copies of the inputs, with its clean outcome."""

    def __init__(self, name, tiny, tmp: Path):
        self.name, self.tiny, self.tmp = name, tiny, tmp
        inp, out = self.fresh("clean")
        self.old = {os.path.basename(k): v for k, v in digest(inp).items()}
        assert _fork(self.argv(inp, out), 0, tmp / "count") == 0
        n, seconds = (tmp / "count").read_text().split()
        self.n_calls, self.duration = int(n), float(seconds)
        self.new = {os.path.basename(k): v for k, v in digest(inp).items()}
        self.products = {os.path.basename(k): v for k, v in _products(out).items()}
        assert self.products and (self.new != self.old or name == "compare")
        # The same command once more on updated inputs (what a rerun after a kill that
        # came after the commit of the inputs does): products may carry the inputs' new
        # keywords (HDRTAB).
        self.products_again = self.products
        if name != "sky --subtract":
            assert main(self.argv(inp, out)) == 0
            assert {os.path.basename(k): v for k, v in digest(inp).items()} == self.new
            self.products_again = {os.path.basename(k): v for k, v in _products(out).items()}

    def fresh(self, label):
        base = self.tmp / label
        if base.exists():
            shutil.rmtree(base)
        inp = copy_files(self.tiny, base / "in")
        out = base / "out"
        if self.name != "compare":
            out.mkdir()
        return inp, out

    def argv(self, inp, out):
        return [str(a) for a in COMMANDS[self.name](inp, out)]

    def check_after_kill(self, inp, out):
        now = {os.path.basename(k): v for k, v in digest(inp).items()}
        for name, d in now.items():
            assert d in (self.old[name], self.new[name]), f"{name} is neither old nor new"
            with fits.open(Path(inp[0]).parent / name) as hl:
                hl.verify("exception")
        for name, d in {os.path.basename(k): v for k, v in _products(out).items()}.items():
            assert d == self.products[name], f"{name} is incomplete"
        return now

    def check_rerun(self, inp, out, capsys):
        # Any later run in the folder first finishes the story: all old, or all new.
        assert main(["sky", *map(str, inp), "--readonly"]) == 0
        state = {os.path.basename(k): v for k, v in digest(inp).items()}
        assert state in (self.old, self.new), "inputs mixed after recovery"
        if self.name == "sky --subtract" and state == self.new:
            # Committed before the kill: running it again would subtract again; a run
            # writing the table cleans the output folder.
            argv = ["sky", *inp, "--readonly", "--table", out / "t.csv"]
        else:
            argv = self.argv(inp, out)
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 0, err
        after = {os.path.basename(k): v for k, v in digest(inp).items()}
        assert after == self.new  # the clean result
        if argv == self.argv(inp, out):
            expected = self.products if state == self.old else self.products_again
            assert {os.path.basename(k): v for k, v in _products(out).items()} == expected
        assert leftovers(Path(inp[0]).parent) == [] and (not out.exists() or leftovers(out) == [])

    def kill_at(self, k, capsys):
        inp, out = self.fresh(f"k{k}")
        assert _fork(self.argv(inp, out), k, self.tmp / "count2") in (-signal.SIGKILL, 0)
        self.check_after_kill(inp, out)
        self.check_rerun(inp, out, capsys)

    def kill_after(self, delay, capsys):
        inp, out = self.fresh("t")
        status = _fork(self.argv(inp, out), 0, self.tmp / "count2", kill_after=delay)
        assert status in (-signal.SIGKILL, 0)
        self.check_after_kill(inp, out)
        self.check_rerun(inp, out, capsys)


def _points(n: int, count: int, seed: int) -> list[int]:
    """``count`` kill points spread over ``1..n`` (one drawn in each of ``count`` bins)."""
    rng = random.Random(seed)
    edges = [1 + round(i * n / count) for i in range(count + 1)]
    return sorted({rng.randrange(a, max(a + 1, b)) for a, b in itertools.pairwise(edges)})


@pytest.mark.parametrize("name", list(COMMANDS))
def test_kill_9_at_a_few_moments(name, tiny, tmp_path, capsys):
    sc = Scenario(name, tiny, tmp_path)
    for k in _points(sc.n_calls, 3, seed=2024):
        sc.kill_at(k, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_kill_9_at_many_moments(name, tiny, tmp_path, capsys):
    sc = Scenario(name, tiny, tmp_path)
    for k in _points(sc.n_calls, 8, seed=7):
        sc.kill_at(k, capsys)
    rng = random.Random(11)
    for _ in range(4):
        sc.kill_after(rng.uniform(0.0, sc.duration), capsys)
