"""Command line: skymatch run / drizzle / compare / summary and product rules."""

import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from drizzle.resample import Drizzle
from drizzle.utils import calc_pixmap

from skymatch.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_chip(path, out_wcs, out_shape, model, bits=64):
    """An independent drizzle of one input file's (data - model) onto the product frame:
    exact pixel map, weight EXPTIME x (DQ good under ``bits``)."""
    with fits.open(path) as h:
        data = h["SCI"].data.astype(np.float32)
        dq = h["DQ"].data
        exptime = h[0].header["EXPTIME"]
        wcs = WCS(h["SCI"].header, fobj=h)
        idc = h["SCI"].header["IDCSCALE"]
    good = ((dq & ~np.int64(bits)) == 0) & np.isfinite(data)
    data = np.where(np.isfinite(data), data, 0).astype(np.float32)
    pixmap = calc_pixmap(wcs, out_wcs, shape=data.shape)
    ratio = np.hypot(*out_wcs.wcs.cd[:, 0]) * 3600 / idc
    d = Drizzle(out_shape=out_shape, fillval=None, max_ctx_id=0)
    d.add_image(data - np.asarray(model, np.float32), exptime=exptime, pixmap=pixmap, iscale=ratio**2,
                pixel_scale_ratio=ratio, weight_map=good.astype(np.float32) * np.float32(exptime))
    return d.out_img, d.out_wht


def assert_single_inputs_match(folder, sci, header, wht, ctx, hdrtab, model_of, *, bits=64):
    """Where one input alone contributes (one bit in the context), the mosaic equals that
    input's (data - model) drizzled alone, and the weight its EXPTIME x coverage."""
    out_wcs = WCS(header).celestial
    checked = 0
    for k, row in enumerate(hdrtab):
        mask = ctx == (1 << k)
        if mask.sum() < 50:
            continue
        ref, rw = one_chip(folder / f"{row['ROOTNAME']}_flt.fits", out_wcs, sci.shape, model_of(k, row), bits=bits)
        assert np.allclose(sci[mask], ref[mask], rtol=1e-5, atol=2e-5), row["ROOTNAME"]
        assert np.allclose(wht[mask], rw[mask], rtol=1e-5, atol=1e-3), row["ROOTNAME"]
        checked += 1
    assert checked >= 3


def test_run_the_notebook_call(mosaic_copy, capsys, monkeypatch):
    d, _ = mosaic_copy
    monkeypatch.chdir(d)
    code, out, err = run(capsys, "run", "*flt.fits", "--output", "f160w_match", "--skymethod", "match",
                         "--final-bits", "64", "--final-wcs", "--final-rot", "257",
                         "--driz-separate", "false", "--median", "false", "--blot", "false",
                         "--driz-cr", "false", "--stepsize", "1")
    assert code == 0, err
    with fits.open("f160w_match_drz_sci.fits") as h:
        assert h[0].header["ORIENTAT"] == pytest.approx(257.0)
        assert h[0].header["NDRIZIM"] == 18 and h[0].header["BUNIT"] == "ELECTRONS/S"
        assert h[0].header["EXPTIME"] == pytest.approx(18 * 602.937317)
        assert h[0].header["SKYMETH"] == "match" and h[0].header["SKYMODEL"] == "CONSTANT"
        assert h[0].header["SKYSTAT"] == "median" and h[0].header["CTXFMT"] == "PLANES"
        tab = h["HDRTAB"].data
        assert len(tab) == 18 and (tab["MDRIZSKY"] == 0).sum() == 1
        assert set(tab["SKYMODEL"]) == {"CONSTANT"} and np.array_equal(tab["SKYC00"], tab["MDRIZSKY"])
        # The skies drizzled are the ones written into the inputs.
        for row in tab:
            p = f"{row['ROOTNAME']}_flt.fits"
            assert fits.getval(p, "MDRIZSKY", ("SCI", 1)) == pytest.approx(row["MDRIZSKY"], rel=1e-12)
        sci, header = h[0].data, h[0].header
    wht = fits.getdata("f160w_match_drz_wht.fits")
    ctx = fits.getdata("f160w_match_drz_ctx.fits")
    assert sci.shape == wht.shape == ctx.shape and ctx.dtype.kind == "i"
    assert np.all(np.isnan(sci[wht == 0])) and np.all(np.isfinite(sci[wht > 0]))
    assert np.array_equal(ctx != 0, wht > 0)
    # Known truth: single-input pixels are that input minus its MDRIZSKY.
    assert_single_inputs_match(d, sci, header, wht, ctx, tab, lambda k, row: row["MDRIZSKY"])
    # Products get the permissions any program would give them, and no temporary file is left.
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat("f160w_match_drz_sci.fits").st_mode & 0o777 == 0o666 & ~mask
    assert not [p for p in os.listdir(d) if p.startswith(".skymatch-")]
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
    code, out, err = run(capsys, "drizzle", d / "*flt.fits", "--output", d / "m", "--build", "--final-bits", "64",
                         "--stepsize", "1")
    assert code == 0, err
    with fits.open(d / "m_drz.fits") as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI", "WHT", "CTX", "HDRTAB"]
        h.verify("exception")
        tab = h["HDRTAB"].data
        # HDRTAB carries exactly the skies of the input headers.
        for row in tab:
            hdr = fits.getheader(d / f"{row['ROOTNAME']}_flt.fits", ("SCI", 1))
            assert row["MDRIZSKY"] == hdr["MDRIZSKY"]
        assert_single_inputs_match(d, h["SCI"].data, h["SCI"].header, h["WHT"].data, h["CTX"].data, tab,
                                   lambda k, row: row["MDRIZSKY"])


def test_drizzle_subtracts_header_models_and_honours_smsubtr(mosaic_copy, capsys):
    from skymatch.core._skymodel import evaluate_block
    d, _ = mosaic_copy
    paths = sorted(d.glob("*_flt.fits"))
    plane = (1.1, 0.05, -0.08)
    quad = (0.9, 0.02, 0.01, -0.03, 0.02, 0.04)
    with fits.open(paths[0], mode="update") as h:
        h["SCI"].header.update(MDRIZSKY=1.1, SKYMODEL="PLANE", SKYC00=plane[0], SKYC10=plane[1], SKYC01=plane[2])
    with fits.open(paths[1], mode="update") as h:
        h["SCI"].header.update(MDRIZSKY=0.9, SKYMODEL="POLY2",
                               **dict(zip(("SKYC00", "SKYC10", "SKYC01", "SKYC20", "SKYC11",
                                                         "SKYC02"), quad)))
    with fits.open(paths[2], mode="update") as h:
        h["SCI"].header.update(MDRIZSKY=5.0, SMSUBTR=True)  # already subtracted: nothing more
    for p in paths[3:]:
        with fits.open(p, mode="update") as h:
            h["SCI"].header["MDRIZSKY"] = 1.0
    code, _, err = run(capsys, "drizzle", d / "*flt.fits", "--output", d / "m", "--final-bits", "64",
                       "--stepsize", "1")
    assert code == 0, err
    with fits.open(d / "m_drz_sci.fits") as h:
        tab = h["HDRTAB"].data
        assert list(tab["SKYMODEL"][:3]) == ["PLANE", "POLY2", "CONSTANT"]
        assert tuple(tab["SKYC00"][:2]) == (1.1, 0.9) and tab["SKYC20"][1] == -0.03 and tab["SKYC20"][0] == 0
        sci, header = h[0].data, h[0].header
    models = {0: evaluate_block(plane, (200, 200)), 1: evaluate_block(quad, (200, 200)), 2: 0.0}
    assert_single_inputs_match(d, sci, header, fits.getdata(d / "m_drz_wht.fits"),
                               fits.getdata(d / "m_drz_ctx.fits"), tab, lambda k, row: models.get(k, 1.0))


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
                       "--final-ra", "85.25", "--final-dec", "-2.46", "--stepsize", "1")
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
    # Each mosaic carries its own method's skies, and they are the table's.
    from astropy.table import Table
    table = Table.read(tmp_path / "cmp" / "mdrizsky_methods.csv")
    col = {"localmin": "local", "globalmin": "globalmin", "match": "match", "globalmin_match": "globalmin_match"}
    sci = {}
    for m, c in col.items():
        with fits.open(tmp_path / "cmp" / f"f160w_{m}_drz_sci.fits") as h:
            assert np.allclose(h[1].data["MDRIZSKY"], table[c], rtol=0, atol=1e-7)
            assert h[0].header["SKYMETH"] == m.replace("_", "+")
            sci[m], tab = h[0].data, h[1].data
    loc = fits.getdata(tmp_path / "cmp" / "f160w_localmin_drz_sci.fits", 1)["MDRIZSKY"]
    mat = fits.getdata(tmp_path / "cmp" / "f160w_match_drz_sci.fits", 1)["MDRIZSKY"]
    assert np.all(loc > mat)
    # One shared resampling: two mosaics differ, pixel by pixel, by the difference of the
    # skies subtracted where a single exposure contributes.
    ctx = fits.getdata(tmp_path / "cmp" / "f160w_match_drz_ctx.fits")
    for k in range(len(tab)):
        one = ctx == (1 << k)
        if one.any():
            assert np.allclose(sci["match"][one] - sci["localmin"][one], loc[k] - mat[k], atol=2e-5)


def test_summary_command(small_mosaic, tmp_path, capsys):
    d, _ = small_mosaic
    code, out, _ = run(capsys, "summary", d / "*flt.fits", "--table", tmp_path / "s.csv")
    assert code == 0
    head = out.splitlines()[0].split()
    assert head == ["file", "asn_id", "detector", "filter", "exptime", "postarg1", "postarg2"]
    assert "IBXL54030" in out and "F160W" in out
