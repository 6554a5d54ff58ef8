"""skymatch fetch with an injected fake MAST (no network), plus an opt-in real test."""

import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from skymatch.io._mast import STAGING, fetch_products, plan_fetch


class FakeObservations:
    """Stands in for astroquery.mast.Observations: records calls, serves real FITS files."""

    def __init__(self, files, fail_on=None):
        self.files = files  # productFilename -> (path of a FITS file to serve, subgroup, obsid)
        self.calls = []
        self.fail_on = fail_on

    def query_criteria(self, **kw):
        self.calls.append(("query_criteria", kw))
        return Table({"obsid": sorted({v[2] for v in self.files.values()})})

    def get_product_list(self, table):
        self.calls.append(("get_product_list", list(table["obsid"])))
        names = sorted(self.files)
        rows = {"obsID": [self.files[n][2] for n in names], "productFilename": names,
                "productSubGroupDescription": [self.files[n][1] for n in names],
                "size": [os.path.getsize(self.files[n][0]) for n in names]}
        extra = {"obsID": ["x"], "productFilename": ["ibxl54bgq_raw.fits"],
                 "productSubGroupDescription": ["RAW"], "size": [10]}
        t = Table(rows)
        t.add_row([extra[c][0] for c in t.colnames])
        return t

    def download_products(self, products, download_dir, mrp_only=False):
        self.calls.append(("download_products", list(products["productFilename"]), mrp_only))
        paths, status = [], []
        for r in products:
            name = str(r["productFilename"])
            src = self.files[name][0]
            d = os.path.join(download_dir, "mastDownload", "HST", str(r["obsID"]))
            os.makedirs(d, exist_ok=True)
            dst = os.path.join(d, name)
            if name == self.fail_on:
                with open(src, "rb") as fh, open(dst, "wb") as out:
                    out.write(fh.read()[:5000])  # interrupted: a truncated file
                raise KeyboardInterrupt
            shutil.copy(src, dst)
            paths.append(dst)
            status.append("COMPLETE")
        return Table({"Local Path": paths, "Status": status})


@pytest.fixture
def fake(small_mosaic, tmp_path):
    _, truth = small_mosaic
    files = {}
    for p in truth.paths[:4]:
        name = os.path.basename(p)
        files[name] = (p, "FLT", name[:6])
    # A visit-level "drz" whose ROOTNAME is the association id.
    drz = tmp_path / "src_drz.fits"
    fits.HDUList([fits.PrimaryHDU(header=fits.Header([("ROOTNAME", "IBXL54030")])),
                  fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]).writeto(drz)
    files["ibxl54030_drz.fits"] = (str(drz), "DRZ", "ibxl54")
    return FakeObservations(files)


def test_fetch_queries_and_lays_out_files(fake, tmp_path):
    out = tmp_path / "data"
    plan = plan_fetch(proposal=12812, filters=["F160W"], products=["FLT", "DRZ"], outdir=str(out),
                      observations=fake)
    assert fake.calls[0] == ("query_criteria", {"proposal_id": "12812", "filters": ["F160W"], "project": "HST"})
    assert plan.n_files == 5 and plan.total_bytes > 0  # RAW not wanted
    res = fetch_products(plan, str(out), observations=fake)
    names = sorted(os.listdir(out))
    assert "ibxl54030_drz.fits" in names and len([n for n in names if n.endswith("_flt.fits")]) == 4
    assert STAGING not in names and len(res.written) == 5
    # A second run skips everything already present and complete.
    again = plan_fetch(proposal=12812, filters=["F160W"], products=["FLT", "DRZ"], outdir=str(out),
                       observations=fake)
    assert again.n_files == 0 and len(again.skipped) == 5


def test_interrupted_download_leaves_no_truncated_final_file(fake, tmp_path):
    out = tmp_path / "data"
    victim = sorted(n for n in fake.files if n.endswith("_flt.fits"))[1]
    fake.fail_on = victim
    plan = plan_fetch(proposal=12812, filters=["F160W"], products=["FLT"], outdir=str(out), observations=fake)
    with pytest.raises(KeyboardInterrupt):
        fetch_products(plan, str(out), observations=fake)
    assert not (out / victim).exists()
    for n in os.listdir(out):
        if n.endswith(".fits"):
            with fits.open(out / n) as h:
                h.verify("exception")
    # The next run downloads what is missing and skips what is complete.
    fake.fail_on = None
    plan = plan_fetch(proposal=12812, filters=["F160W"], products=["FLT"], outdir=str(out), observations=fake)
    assert plan.n_files == 3 and len(plan.skipped) == 1
    fetch_products(plan, str(out), observations=fake)
    assert (out / victim).exists()


def test_cli_without_astroquery_says_how_to_install(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_astroquery(name, *a, **k):
        if name.startswith("astroquery"):
            raise ImportError("no astroquery")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_astroquery)
    from skymatch.cli import main
    assert main(["fetch", "--proposal", "12812", "--filter", "F160W", "--dry-run"]) == 1
    assert "pip install 'skymatch[mast]'" in capsys.readouterr().err


@pytest.mark.skipif(os.environ.get("SKYMATCH_NETWORK_TESTS") != "1",
                    reason="needs MAST; set SKYMATCH_NETWORK_TESTS=1 to run")
def test_real_mast_query(tmp_path):  # pragma: no cover - network
    plan = plan_fetch(proposal=12812, filters=["F160W"], products=["DRZ"], outdir=str(tmp_path))
    assert plan.n_files >= 9
