"""``ruff check src tests benchmarks`` passes with the configuration committed in
pyproject.toml (every ignored rule there has its reason)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PINNED_MINOR = "0.17"  # pyproject.toml's test extra: ruff>=0.17.6,<0.18


def _ruff() -> str | None:
    return shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")


def test_ruff_check_passes():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    version = subprocess.run([ruff, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    assert version.startswith(PINNED_MINOR + "."), (
        f"ruff {version} is installed but the configuration is written for ruff {PINNED_MINOR}.x "
        "(select = ALL changes with each minor release): pip install -e '.[test]'")
    r = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", "src", "tests", "benchmarks"],
                       cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"ruff check failed:\n{r.stdout}{r.stderr}"
