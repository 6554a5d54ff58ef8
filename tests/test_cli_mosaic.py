"""Command line: skymatch run / drizzle / compare / summary and product rules."""

import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

from skymatch.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_the_notebook_call(mosaic_copy, capsys, monkeypatch):
    d, _ = mosaic_copy
    monkeypatch.chdir(d)
    code, out, err = run(capsys, "run", "*flt.fits", "--output", "f160w_match", "--skymethod", "match",
                         "--final-bits", "64", "--final-wcs", "--final-rot", "257",
                         "--driz-separate", "false", "--median", "false", "--blot", "false",
                         "--driz-cr", "false")
    assert code == 0, err
    with fits.open("f160w_match_drz_sci.fits") as h:
        assert h[0].header["ORIENTAT"] == pytest.approx(257.0)
        assert h[0].header["NDRIZIM"] == 18 and h[0].header["BUNIT"] == "ELECTRONS/S"
        tab = h["HDRTAB"].data
        assert len(tab) == 18 and (tab["MDRIZSKY"] == 0).sum() == 1
        # The skies drizzled are the ones written into the inputs.
        for row in tab:
            p = f"{row['ROOTNAME']}_flt.fits"
            assert fits.getval(p, "MDRIZSKY", ("SCI", 1)) == pytest.approx(row["MDRIZSKY"])
        sci = h[0].data
    wht = fits.getdata("f160w_match_drz_wht.fits")
    ctx = fits.getdata("f160w_match_drz_ctx.fits")
    assert sci.shape == wht.shape == ctx.shape and ctx.dtype.kind == "i"
    assert np.all(np.isnan(sci[wht == 0])) and np.all(np.isfinite(sci[wht > 0]))
    # A second run refuses to overwrite.
    code, _, err = run(capsys, "run", "*flt.fits", "--output", "f160w_match", "--skymethod", "match")
    assert code == 1 and "already exists; use --overwrite" in err


def test_cosmic_ray_steps_are_refused(mosaic_copy, capsys):
    d, _ = mosaic_copy
    code, _, err = run(capsys, "run", d / "*flt.fits", "--output", d / "x", "--driz-cr", "true")
    assert code == 1 and "cosmic-ray rejection is not supported" in err
    assert not list(d.glob("x_*"))


def test_drizzle_uses_header_skies_and_build(mosaic_copy, capsys):
    d, _ = mosaic_copy
    assert run(capsys, "sky", d / "*flt.fits", "--skymethod", "localmin")[0] == 0
    code, out, err = run(capsys, "drizzle", d / "*flt.fits", "--output", d / "m", "--build", "--final-bits", "64")
    assert code == 0, err
    with fits.open(d / "m_drz.fits") as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI", "WHT", "CTX", "HDRTAB"]
        skies = h["HDRTAB"].data["MDRIZSKY"]
        assert np.all(skies > 0)
        # localmin removes each exposure's own sky: the mosaic's sky is near 0.
        sci = h["SCI"].data
        assert abs(np.nanpercentile(sci, 5)) < 0.2


def test_flc_inputs_give_drc_products(small_mosaic, tmp_path, capsys):
    _, truth = small_mosaic
    for p in truth.paths[:2]:
        shutil.copy(p, tmp_path / os.path.basename(p).replace("_flt", "_flc"))
    code, _, err = run(capsys, "drizzle", tmp_path / "*_flc.fits", "--output", tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out_drc_sci.fits").exists() and (tmp_path / "out_drc_wht.fits").exists()


def test_final_parameters_without_final_wcs_warn(mosaic_copy, capsys):
    d, _ = mosaic_copy
    code, _, err = run(capsys, "drizzle", d / "*flt.fits", "--output", d / "m", "--final-rot", "10")
    assert code == 0 and "ignored without final_wcs" in err


def test_final_scale_and_size(mosaic_copy, capsys):
    d, _ = mosaic_copy
    code, _, err = run(capsys, "drizzle", d / "*flt.fits", "--output", d / "s", "--final-wcs",
                       "--final-scale", "0.2", "--final-outnx", "300", "--final-outny", "250",
                       "--final-ra", "85.25", "--final-dec", "-2.46")
    assert code == 0, err
    h = fits.getheader(d / "s_drz_sci.fits")
    assert (h["NAXIS1"], h["NAXIS2"]) == (300, 250)
    assert np.hypot(h["CD1_1"], h["CD2_1"]) * 3600 == pytest.approx(0.2)
    assert (h["CRVAL1"], h["CRVAL2"]) == pytest.approx((85.25, -2.46))
    assert (h["CRPIX1"], h["CRPIX2"]) == pytest.approx((150.5, 125.5))


def test_compare_command(small_mosaic, tmp_path, capsys):
    d, _ = small_mosaic
    code, out, err = run(capsys, "compare", d / "*flt.fits", "--outdir", tmp_path / "cmp",
                         "--final-bits", "64", "--final-wcs", "--final-rot", "257")
    assert code == 0, err
    assert "table:" in out and "index.html" in out
    for m in ("localmin", "globalmin", "match", "globalmin_match"):
        assert (tmp_path / "cmp" / f"f160w_{m}_drz_sci.fits").exists()
    # Each mosaic carries its own method's skies.
    loc = fits.getdata(tmp_path / "cmp" / "f160w_localmin_drz_sci.fits", 1)["MDRIZSKY"]
    mat = fits.getdata(tmp_path / "cmp" / "f160w_match_drz_sci.fits", 1)["MDRIZSKY"]
    assert np.all(loc > mat)


def test_summary_command(small_mosaic, tmp_path, capsys):
    d, _ = small_mosaic
    code, out, _ = run(capsys, "summary", d / "*flt.fits", "--table", tmp_path / "s.csv")
    assert code == 0
    head = out.splitlines()[0].split()
    assert head == ["file", "asn_id", "detector", "filter", "exptime", "postarg1", "postarg2"]
    assert "IBXL54030" in out and "F160W" in out
