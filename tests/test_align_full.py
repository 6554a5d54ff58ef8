"""Full-size alignment runs (slow: minutes; CI runs them, ``-m "not slow"`` skips them).

* The notebook's section 2 on a full-size 3x3 mosaic (1014-px chips, 20 000 stars, noise):
  visit DRZ products aligned in its order with its TweakReg parameters, then tweakback:
  every exposure within 0.02 px and 1e-3 deg of the truth, no doubled stars.
* FLT mode on a dense independent field (8 000 stars, chips grouped by association, the
  notebook's order): every chip within 0.05 px (the issue; measured 0.008 px).
* The issue's sparse field (600 stars: 40-100 sources per visit): no visit reported
  aligned with an error above 0.05 px, no file made worse (tweakwcs.align_wcs gave one
  visit SUCCESS 2.5 px off on it).
"""

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("tweakwcs")
pytest.importorskip("photutils")

from astropy.table import Table
from test_align import NOTEBOOK_ALIGN, ORDER, _centroid_offsets, _digest, _errors, _overlap_stars

from skymatch.cli import main
from skymatch.datasets import make_mosaic, make_visit_drz

pytestmark = pytest.mark.slow


def _in(folder, argv):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return main(argv)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def notebook_full(tmp_path_factory):
    d = tmp_path_factory.mktemp("align_full")
    orig = d / "original"
    truth = make_mosaic(orig, size=1014, nstars=20000, misalign=(1.0, 0.02), seed=12812)
    make_visit_drz(truth.paths, str(orig))
    work = d / "work"
    shutil.copytree(orig, work)
    (work / "drz.list").write_text("".join(f"ibxl{v}030_drz.fits\n" for v in ORDER))
    rc_align = _in(work, ["align", "@drz.list", *NOTEBOOK_ALIGN])
    rc_back = [_in(work, ["tweakback", f"ibxl{v}030_drz.fits"]) for v in sorted(ORDER)]
    return orig, work, json.loads((orig / "truth.json").read_text()), rc_align, rc_back


def test_full_size_notebook_path_recovers_every_visit(notebook_full):
    orig, work, truth, rc_align, rc_back = notebook_full
    assert rc_align == 0 and rc_back == [0] * 9
    before = {n: c for n, _, c, _ in _errors(orig, truth)}
    for name, visit, c, r in _errors(work, truth):
        if visit == "54":
            assert _digest(work / name) == _digest(orig / name)
            continue
        assert before[name] > 1.0
        # Measured 0.004 px and 5.3e-4 deg at worst; the tolerances are the issue's.
        assert c < 0.02 and abs(r) < 1e-3, (name, before[name], c, r)


def test_full_size_mosaic_has_no_doubled_stars(notebook_full, tmp_path):
    orig, work, truth, *_ = notebook_full
    flts = sorted(p for p in os.listdir(work) if p.endswith("_flt.fits"))
    ra, dec = _overlap_stars([str(work / p) for p in flts], str(work / "truth.json"), flux_min=150.0)
    assert len(ra) > 30
    offsets = {}
    for label, folder in (("aligned", work), ("original", orig)):
        out = tmp_path / label
        assert main(["drizzle", *[str(folder / p) for p in flts], "--output", str(out)]) == 0
        offsets[label] = _centroid_offsets(f"{out}_drz_sci.fits", ra, dec)
    import numpy as np

    assert np.median(offsets["original"]) > 0.5
    assert np.median(offsets["aligned"]) < 0.03
    assert np.percentile(offsets["aligned"], 95) < 0.1


def _flts_in_order(folder, truth):
    return sorted((p.name for p in folder.glob("*_flt.fits")),
                  key=lambda p: ORDER.index(truth["exposures"][p[:9]]["visit"]))


def test_full_size_flt_mode_on_a_dense_field(tmp_path):
    truth_file = make_mosaic(tmp_path / "orig", size=1014, nstars=8000, misalign=(1.0, 0.02), seed=4321).truth_file
    truth = json.loads(Path(truth_file).read_text(encoding="utf-8"))
    work = tmp_path / "work"
    shutil.copytree(tmp_path / "orig", work)
    rc = _in(work, ["align", *_flts_in_order(work, truth), "--threshold", "10", "--conv-width", "4.5", "--peakmin", "1",
                    "--minobj", "5", "--expand-refcat", "--enforce-user-order", "--searchrad", "3.0",
                    "--update-header"])
    assert rc == 0
    for name, visit, c, r in _errors(work, truth):
        if visit != "54":
            # Measured 0.008 px and 4.8e-4 deg (0.041 px and 4e-3 deg before the fit frame
            # was made square).
            assert c < 0.05 and abs(r) < 1e-3, (name, c, r)


def test_full_size_sparse_field_reports_no_false_solution(tmp_path):
    truth_file = make_mosaic(tmp_path / "orig", size=1014, nstars=600, misalign=(1.0, 0.02), seed=777).truth_file
    truth = json.loads(Path(truth_file).read_text(encoding="utf-8"))
    work = tmp_path / "work"
    shutil.copytree(tmp_path / "orig", work)
    (work / "flt.list").write_text("".join(f"{p}\n" for p in _flts_in_order(work, truth)))
    rc = _in(work, ["align", "@flt.list", "--expand-refcat", "--enforce-user-order", "--searchrad", "3",
                    "--minobj", "5", "--update-header", "--table", "fits.ecsv"])
    assert rc == 3
    status = {row["image"]: row["status"] for row in Table.read(work / "fits.ecsv")}
    aligned = {v for v in ORDER[1:] if status[f"ibxl{v}030"] == "SUCCESS"}
    assert aligned and len(aligned) < 8
    before = {n: c for n, _, c, _ in _errors(tmp_path / "orig", truth)}
    for name, visit, c, _ in _errors(work, truth):
        if visit in aligned:
            assert c < 0.05 and before[name] > 1.0, (name, before[name], c)
        else:
            assert _digest(work / name) == _digest(tmp_path / "orig" / name)
        assert c <= before[name] + 1e-9
