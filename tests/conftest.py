"""Shared fixtures: small synthetic mosaics from skymatch.datasets (fixed seeds)."""

import json
import os
import shutil
from pathlib import Path

import pytest

from skymatch.datasets import make_mosaic

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
if "SKYMATCH_REFERENCE" in os.environ:
    REFERENCE = Path(os.environ["SKYMATCH_REFERENCE"])


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path, monkeypatch):
    """Run every test in its own empty directory: commands write their default log file
    (skymatch.log) into the current directory, and nothing may land in the source tree."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def small_mosaic(tmp_path_factory):
    """3x3 tiles x 2 exposures of 200x200 px, constant skies, nebula and stars (pristine)."""
    d = tmp_path_factory.mktemp("mosaic")
    truth = make_mosaic(d, size=200, seed=2024)
    return d, truth


@pytest.fixture()
def mosaic_copy(small_mosaic, tmp_path):
    """A writable copy of the small mosaic for tests that update headers."""
    src, truth = small_mosaic
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
