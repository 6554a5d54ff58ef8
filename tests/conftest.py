"""Shared fixtures: small synthetic mosaics from skymatch.datasets (fixed seeds).

Session mosaics are made once and shared read-only; a test that changes files asks
for ``mosaic_copy`` (its own writable copy).  Each session mosaic is checked at the
end of the session: a test that wrote into it fails there with the file's name.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from skymatch.datasets import make_mosaic

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
if "SKYMATCH_REFERENCE" in os.environ:
    REFERENCE = Path(os.environ["SKYMATCH_REFERENCE"])
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed"


def _digest(paths):
    out = {}
    for p in paths:
        with open(p, "rb") as fh:
            out[p] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _shared_mosaic(tmp_path_factory, name, **kwargs):
    """Make a mosaic once per session; yield it; fail if any test changed its files."""
    d = tmp_path_factory.mktemp(name)
    truth = make_mosaic(d, **kwargs)
    files = [*truth.paths, truth.truth_file]
    before = _digest(files)
    yield d, truth
    changed = [os.path.basename(p) for p, h in _digest(files).items() if before[p] != h]
    assert not changed, f"a test wrote into the shared {name} fixture: {changed}; use mosaic_copy"


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path, monkeypatch):
    """Run every test in its own empty directory: commands write their default log file
    (skymatch.log) into the current directory, and nothing may land in the source tree."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def small_mosaic(tmp_path_factory):
    """3x3 tiles x 2 exposures of 200x200 px, constant skies, nebula and stars (shared)."""
    yield from _shared_mosaic(tmp_path_factory, "mosaic", size=200, seed=2024)


@pytest.fixture(scope="session")
def blank_mosaic(tmp_path_factory):
    """2x2 tiles x 2 exposures of 160x160 px, constant skies, stars, no nebula (shared).

    Without a nebula every method has a sharp known answer: ``localmin`` is the true sky
    (plus the small upward bias of faint stars), ``match`` the true sky minus the lowest.
    """
    yield from _shared_mosaic(tmp_path_factory, "blank", tiles=(2, 2), size=160, seed=31,
                              nebula=0.0)


@pytest.fixture
def mosaic_copy(small_mosaic, tmp_path):
    """A writable copy of the small mosaic for tests that update headers."""
    _, truth = small_mosaic
    for p in truth.paths:
        shutil.copy(p, tmp_path / os.path.basename(p))
    shutil.copy(truth.truth_file, tmp_path / "truth.json")
    return tmp_path, json.loads((tmp_path / "truth.json").read_text())


@pytest.fixture(scope="session")
def reference_dir():
    d = REFERENCE / "notebook-small"
    if not (d / "inputs").is_dir():
        pytest.skip("shared/reference is not present")
    return d


@pytest.fixture(scope="session")
def seed_table():
    """The STScI notebook's published MDRIZSKY table (shared/seed), as float columns."""
    import csv

    p = SEED / "mdrizsky_table.csv"
    if not p.exists():
        pytest.skip("shared/seed is not present")
    with p.open() as fh:
        return list(csv.DictReader(fh))
