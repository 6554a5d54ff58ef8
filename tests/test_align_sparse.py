"""A sparse field: alignment says "cannot align" rather than guess (issue: false SUCCESS).

The notebook's 3x3 mosaic (400-px chips, visits mis-aligned by up to 1" and 0.02 deg)
with 170 stars: 20-45 sources per visit, a handful shared between neighbours.  FLT files
grouped by association, the issue's command (``--expand-refcat --enforce-user-order
--searchrad 3 --minobj 5``).  skymatch on ``tweakwcs.align_wcs`` reported 6 visits NOT
ALIGNED and 2 SUCCESS on this field, one of them 7.4 px off: it had matched the
uncorrected sources of visits that failed.  Now one visit is aligned (to 0.003 px) and the
other seven are reported NOT ALIGNED.
"""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

pytest.importorskip("tweakwcs")
pytest.importorskip("photutils")

from skymatch.cli import main
from skymatch.core._wcsfit import wcs_difference
from skymatch.datasets import make_mosaic

ORDER = ["54", "51", "53", "55", "57", "50", "52", "56", "58"]


def _digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _centre_error(path, truth):
    e = truth["exposures"][os.path.basename(path)[:9]]
    with fits.open(path) as h:
        w = WCS(h[1].header, fobj=h)
        shape = h[1].data.shape
    t = w.deepcopy()
    t.wcs.crval = e["true_crval"]
    t.wcs.cd = np.array(e["true_cd"])
    t.wcs.set()
    return wcs_difference(t, w, shape)[0]


def test_sparse_field_reports_no_false_solution(tmp_path, capsys):
    orig = tmp_path / "orig"
    make_mosaic(orig, size=400, nstars=170, misalign=(1.0, 0.02), seed=5)
    truth = json.loads((orig / "truth.json").read_text())
    work = tmp_path / "work"
    shutil.copytree(orig, work)
    flts = sorted((p.name for p in work.glob("*_flt.fits")),
                  key=lambda p: ORDER.index(truth["exposures"][p[:9]]["visit"]))
    (work / "flt.list").write_text("".join(f"{p}\n" for p in flts))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        rc = main(["align", "@flt.list", "--expand-refcat", "--enforce-user-order", "--searchrad", "3",
                   "--minobj", "5", "--update-header", "--table", "fits.ecsv"])
    finally:
        os.chdir(cwd)
    assert rc == 3  # some visits cannot be aligned: said so, exit status 3
    assert "not aligned" in capsys.readouterr().out
    status = {row["image"]: row["status"] for row in Table.read(work / "fits.ecsv")}
    aligned = {v for v in ORDER[1:] if status[f"ibxl{v}030"] == "SUCCESS"}
    assert aligned and len(aligned) < 8  # both outcomes occur on this field
    for name in flts:
        visit = truth["exposures"][name[:9]]["visit"]
        before, after = _centre_error(str(orig / name), truth), _centre_error(str(work / name), truth)
        if visit in aligned:
            assert after < 0.05 and before > 1.0, (name, before, after)  # a real error, removed
        else:  # the reference and the visits not aligned: not a byte changed
            assert _digest(work / name) == _digest(orig / name)
            assert visit == "54" or status[f"ibxl{visit}030"].startswith("NOT ALIGNED: ")
        assert after <= before + 1e-9  # no file made worse
