"""Input forms: @file lists with masks, generic single-HDU images, multi-chip files, dask."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skymatch import InputError, expand_inputs, read_inputs, run_sky, sky_methods


def car_image(path, crval, value, shape=(80, 90)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    w.wcs.crval = crval
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    h = w.to_header()
    h["BUNIT"] = "MJy/sr"
    rng = np.random.default_rng(int(value * 10))
    fits.PrimaryHDU((value + rng.normal(0, 0.01, shape)).astype(np.float32), header=h).writeto(path)


def test_generic_car_images_in_surface_brightness(tmp_path):
    car_image(tmp_path / "a.fits", [30.0, 0.0], 5.0)
    car_image(tmp_path / "b.fits", [30.0 + 40 * 0.2 / 3600, 0.0], 7.5)
    chips = read_inputs(str(tmp_path / "*.fits"))
    assert [c.name for c in chips] == ["a.fits[0]", "b.fits[0]"]
    assert all(c.unit_kind == "surface" and c.conv == 1.0 for c in chips)
    res = sky_methods(chips, methods=["match", "localmin"])
    # Pixel noise 0.01 MJy/sr: a median over >= 3,000 pixels is good to ~2e-4.
    assert [c.sky for c in res["match"].chips] == pytest.approx([0.0, 2.5], abs=2e-3)
    assert [c.sky for c in res["localmin"].chips] == pytest.approx([5.0, 7.5], abs=2e-3)
    # The pixels read are the file's, and the overlap is the 50 columns both images see.
    assert np.array_equal(chips[0].pixels.read().data, fits.getdata(tmp_path / "a.fits"))
    (pair,) = res["match"].pairs
    assert pair.npix_i == pair.npix_j == 80 * 50


def test_at_file_with_user_masks(small_mosaic, tmp_path):
    _, truth = small_mosaic
    files = truth.paths[:4]
    # Mask out everything but a corner of the first file: its local sky comes from there.
    data = fits.getdata(files[0], ("SCI", 1))
    mask = np.zeros(data.shape, np.uint8)
    mask[:40, :40] = 1
    fits.PrimaryHDU(mask).writeto(tmp_path / "m0.fits")
    lst = tmp_path / "inputs.lst"
    lst.write_text(f"{files[0]} m0.fits\n# a comment\n" + "\n".join(files[1:]) + "\n")
    specs = expand_inputs(f"@{lst}")
    assert [s.path for s in specs] == list(files)
    assert specs[0].masks == (str(tmp_path / "m0.fits"),)
    res = run_sky(f"@{lst}", method="localmin", readonly=True, sky_bits=None)
    from skymatch.core import SkyStatParams, sky_statistic
    expected = sky_statistic(data[:40, :40], SkyStatParams()).value
    assert res.result.chips[0].sky == pytest.approx(expected, rel=1e-6)
    # Only the 1,600 unmasked pixels counted (clipping drops a few outliers) ...
    assert 1500 <= res.result.chips[0].npix <= 1600
    # ... and the mask belongs to the first file only: the others get what they get alone.
    plain = run_sky(list(files), method="localmin", readonly=True, sky_bits=None)
    assert [c.sky for c in res.result.chips[1:]] == [c.sky for c in plain.result.chips[1:]]
    assert plain.result.chips[0].npix > 30000
    assert res.result.chips[0].sky != plain.result.chips[0].sky


def test_at_file_mask_of_wrong_shape(small_mosaic, tmp_path):
    _, truth = small_mosaic
    fits.PrimaryHDU(np.ones((5, 5), np.uint8)).writeto(tmp_path / "bad.fits")
    lst = tmp_path / "l.lst"
    lst.write_text(f"{truth.paths[0]} bad.fits\n")
    with pytest.raises(InputError, match=r"bad.fits: mask shape \(5, 5\) differs"):
        run_sky(f"@{lst}", method="localmin", readonly=True)


def test_two_chip_file_counts_converted_by_exptime(tmp_path):
    # ACS-like: two SCI extensions in counts, one exposure, EXPTIME 400 s.
    w1 = WCS(naxis=2)
    w1.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w1.wcs.crval = [50.0, 10.0]
    w1.wcs.crpix = [50.5, 50.5]
    w1.wcs.cd = [[-0.05 / 3600, 0], [0, 0.05 / 3600]]
    w2 = w1.deepcopy()
    w2.wcs.crpix = [50.5, 50.5 - 100]
    prim = fits.PrimaryHDU()
    prim.header["INSTRUME"] = "ACS"
    prim.header["DETECTOR"] = "WFC"
    prim.header["EXPTIME"] = 400.0
    hdus = [prim]
    for ver, (w, level) in enumerate([(w1, 800.0), (w2, 840.0)], 1):
        h = w.to_header()
        h["EXTNAME"], h["EXTVER"], h["BUNIT"] = "SCI", ver, "ELECTRONS"
        h["IDCSCALE"] = 0.05
        hdus.append(fits.ImageHDU(np.full((100, 100), level, np.float32), header=h))
        dq = fits.ImageHDU(np.zeros((100, 100), np.int16))
        dq.header["EXTNAME"], dq.header["EXTVER"] = "DQ", ver
        hdus.append(dq)
    fits.HDUList(hdus).writeto(tmp_path / "j_flt.fits")
    chips = read_inputs(str(tmp_path / "j_flt.fits"))
    assert [c.name for c in chips] == ["j_flt.fits[SCI,1]", "j_flt.fits[SCI,2]"]
    assert chips[0].exposure_id == chips[1].exposure_id
    assert chips[0].conv == pytest.approx(1 / (0.05 ** 2 * 400.0))
    res = sky_methods(chips, methods=["localmin"], skystat="mean")["localmin"]
    # One sky for the exposure: the lower chip's, in each chip's data units.
    assert [c.sky for c in res.chips] == pytest.approx([800.0, 800.0])


@pytest.mark.slow
def test_dask_executor_gives_the_same_answer(small_mosaic):
    distributed = pytest.importorskip("dask.distributed")
    d, _ = small_mosaic
    serial = run_sky(str(d / "*_flt.fits"), method="match", readonly=True, jobs=1)
    # The scheduler always serves HTTP (dashboard_address=None still means port 8787, and
    # a busy 8787 is a warning, i.e. an error here): bind loopback on a free port.
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address="127.0.0.1:0") as client:
        dist = run_sky(str(d / "*_flt.fits"), method="match", readonly=True, dask=client)
    assert [c.sky for c in serial.result.chips] == pytest.approx([c.sky for c in dist.result.chips], abs=1e-12)


def test_gradient_dataset_pixels_follow_the_truth(tmp_path):
    """The pixels of a gradient mosaic are the recorded plane: a least-squares plane
    through the DQ == 0 pixels gives back sky, gx and gy (noise-limited: ~5e-4 e-/s for
    the sky, ~2e-3 for a gradient over ~9,000 pixels of sigma 0.049)."""
    from skymatch.datasets import make_mosaic
    t = make_mosaic(tmp_path, tiles=(2, 1), size=96, gradient=0.1, seed=3, nebula=0.0, nstars=0)
    truth = json.loads(Path(t.truth_file).read_text())
    assert len(t.paths) == 4
    chips = read_inputs(str(tmp_path / "*_flt.fits"), compat=False)
    grads = []
    for c in chips:
        e = truth["exposures"][c.meta["ROOTNAME"]]
        px = c.pixels.read()
        rows, cols = np.nonzero(px.dq == 0)
        h = (96 - 1) / 2.0
        A = np.column_stack([np.ones(rows.size), (cols - h) / 96, (rows - h) / 96])
        (sky, gx, gy), *_ = np.linalg.lstsq(A, px.data[rows, cols].astype(float), rcond=None)
        assert sky == pytest.approx(e["sky"], abs=3e-3)
        assert (gx, gy) == pytest.approx((e["gx"], e["gy"]), abs=0.012)
        assert (e["gx"], e["gy"]) == t.gradient[c.meta["ROOTNAME"]]
        grads.append((e["gx"], e["gy"]))
    assert all(abs(g) <= 0.1 for pair in grads for g in pair)
    # The gradients are real (well above the fit's noise) for some exposure.
    assert max(abs(g) for pair in grads for g in pair) > 0.05


def test_chips_hold_the_files_pixels_true_sky_and_dq_flags(blank_mosaic):
    """Chips read from files carry the files' pixels and DQ, and those pixels are what
    the generator says: the sky of truth.json where DQ == 0, and each DQ flag on pixels
    changed the way the generator changes them (datasets._render)."""
    d, truth = blank_mosaic
    chips = read_inputs(str(d / "*_flt.fits"))
    assert len(chips) == len(truth.paths) == 8
    for c in chips:
        px = c.pixels.read()
        path = c.source[0]
        assert np.array_equal(px.data, fits.getdata(path, ("SCI", 1)))
        assert np.array_equal(px.dq, fits.getdata(path, ("DQ", 1)))
        sky = truth.sky[c.meta["ROOTNAME"]]
        data, dq = px.data.astype(float), px.dq
        n = dq.size
        # Clean pixels: the true sky (median over ~25,000 px, sigma ~4e-4; stars bias up).
        assert np.median(data[dq == 0]) == pytest.approx(sky, abs=2.5e-3)
        # 512 = reduced throughput (x 0.9) in a blob of a few pixels' radius.
        blob = dq == 512
        assert blob.sum() >= 20
        assert np.median(data[blob]) / sky == pytest.approx(0.9, abs=0.03)
        # 16 = hot: +1 to +5 e-/s; 64 = warm: +0 to +0.15; 8192 = cosmic ray: +0.5 to +20.
        for flag, lo, hi, frac in ((16, 1.0, 5.0, 0.002), (64, 0.0, 0.15, 0.01),
                                   (8192, 0.5, 20.0, 0.005)):
            sel = dq == flag
            excess = data[sel] - sky
            assert abs(sel.sum() / n - frac) < 5 * np.sqrt(frac / n), flag
            assert np.percentile(excess, 5) > lo - 0.15 and np.percentile(excess, 95) < hi + 0.15, flag
            assert np.median(excess) == pytest.approx((lo + hi) / 2, abs=0.3 * (hi - lo) + 0.02), flag
        # 4 = bad: one bad column over a third of the rows, values N(5, 1) ...
        bad = (dq & 4) != 0
        column = np.zeros_like(bad)
        column[:, np.argmax(bad.sum(axis=0))] = True
        assert (bad & column).sum() >= 160 // 3
        assert np.median(data[bad & column]) == pytest.approx(5.0, abs=0.5)
        # ... and isolated bad pixels (0.4 %) whose values are N(0, 3), not the sky.
        lone = bad & ~column
        assert abs(lone.sum() / n - 0.004) < 5 * np.sqrt(0.004 / n)
        assert abs(np.median(data[lone])) < 1.2 and np.std(data[lone]) == pytest.approx(3.0, abs=0.8)


@pytest.mark.slow
def test_misaligned_visits_are_recorded_and_drz_products_list_inputs(tmp_path):
    import json

    from skymatch.datasets import make_mosaic, make_visit_drz
    t = make_mosaic(tmp_path, size=96, seed=5, misalign=(1.0, 0.02))
    truth = json.loads((tmp_path / "truth.json").read_text())
    ref = truth["reference_visit"]
    assert ref == "54" and truth["visits"][ref] == {"dx_arcsec": 0.0, "dy_arcsec": 0.0, "rot_deg": 0.0}
    errs = [v for k, v in truth["visits"].items() if k != ref]
    assert all(0.3 - 1e-9 <= np.hypot(e["dx_arcsec"], e["dy_arcsec"]) <= 1.0 for e in errs)
    assert all(abs(e["rot_deg"]) <= 0.02 for e in errs)
    # The header WCS carries the error: CRVAL moved by exactly the recorded shift.
    root = next(r for r, x in truth["exposures"].items() if x["visit"] == "51")
    hdr = fits.getheader(tmp_path / f"{root}_flt.fits", ("SCI", 1))
    tc = truth["exposures"][root]["true_crval"]
    e = truth["visits"]["51"]
    dx = (hdr["CRVAL1"] - tc[0]) * np.cos(np.radians(tc[1])) * 3600
    dy = (hdr["CRVAL2"] - tc[1]) * 3600
    assert (dx, dy) == pytest.approx((e["dx_arcsec"], e["dy_arcsec"]), abs=1e-6)
    drz = make_visit_drz(t.paths, str(tmp_path))
    assert len(drz) == 9 and os.path.basename(drz[0]) == "ibxl50030_drz.fits"
    h = fits.getheader(drz[0], 0)
    assert h["ROOTNAME"] == "ibxl50030"
    assert {h["D001DATA"], h["D002DATA"]} == {"ibxl50clq_flt.fits[sci,1]", "ibxl50cqq_flt.fits[sci,1]"}
