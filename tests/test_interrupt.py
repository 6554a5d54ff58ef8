"""Ctrl-C in the middle of a run (slow tier): SIGINT sent to `skymatch run` as each stage
starts (read from its progress bars) ends the run with "interrupted", exit 130, every input
unchanged and no product left (the run log records the interruption)."""

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from skymatch.datasets import make_mosaic

pytestmark = pytest.mark.slow

EXE = os.path.join(os.path.dirname(sys.executable), "skymatch")


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    d = tmp_path_factory.mktemp("interrupt")
    make_mosaic(d, size=700, nstars=300)
    return str(d)


def _digest(folder):
    out = {}
    for f in sorted(glob.glob(os.path.join(folder, "*_flt.fits"))):
        with open(f, "rb") as fh:
            out[os.path.basename(f)] = hashlib.md5(fh.read()).hexdigest()
    return out


@pytest.mark.parametrize("stage", ["overlaps", "drizzle"])
def test_sigint_as_a_stage_starts_changes_nothing(stage, mosaic, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    for f in glob.glob(os.path.join(mosaic, "*_flt.fits")):
        shutil.copy(f, work)
    before = _digest(work)
    # SIGINT as a terminal gives it: a test run started in the background inherits SIGINT
    # ignored, which the child would keep (and rightly ignore Ctrl-C).
    p = subprocess.Popen([EXE, "run", "*_flt.fits", "--output", "m", "--skymethod", "match", "--progress"],
                         cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509 - no threads in the child yet
    seen = b""
    deadline = time.monotonic() + 120
    while f"{stage}:".encode() not in seen and time.monotonic() < deadline:
        chunk = p.stderr.read1(256) if hasattr(p.stderr, "read1") else p.stderr.read(1)
        if not chunk:
            break
        seen += chunk
    assert f"{stage}:".encode() in seen, seen[-500:]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    err = (seen + err).decode(errors="replace")
    assert p.returncode == 130, err[-800:]
    assert err.rstrip().endswith("skymatch: interrupted")
    assert "Traceback" not in err
    assert _digest(work) == before
    assert not glob.glob(str(work / "m_*.fits")), os.listdir(work)  # the run's log stays: it says why
    assert not [n for n in os.listdir(work) if n.startswith(".skymatch")]
