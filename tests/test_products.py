"""Products written block by block: layouts, context formats, refusal of frames that cannot fit."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skymatch.core._ctxtable import ids_to_sets, planes_to_sets
from skymatch.exceptions import WriteError
from skymatch.pipeline import run_drizzle


def _sets_from_table_file(path, ext_ids=0):
    with fits.open(path) as h:
        ids = h[ext_ids].data
        tab = h["CTXTAB"].data
        assert list(tab["ID"]) == list(range(1, len(tab) + 1))
        assert all(len(s) == n for s, n in zip(tab["INPUTS"], tab["NINPUTS"]))
        return ids_to_sets(ids, [tuple(s) for s in tab["INPUTS"]])


def test_context_formats_and_block_sizes_give_the_same_products(small_mosaic, tmp_path):
    d, _ = small_mosaic
    inputs = str(d / "*_flt.fits")
    # (Blocks run in worker processes here; their chips' WCS come through pickling, which
    # moves positions by ~1e-9 px: enough to change drizzle's slivers at 1e-5 of a pixel
    # compared with a serial run, never between block sizes.  All runs use processes.)
    ref = run_drizzle(inputs, str(tmp_path / "planes"), bits="64", context_format="planes", block_size=300, jobs=2)
    tab = run_drizzle(inputs, str(tmp_path / "table"), bits="64", context_format="table", block_size=97, jobs=2)
    none = run_drizzle(inputs, str(tmp_path / "none"), bits="64", context_format="none", block_size=150, build=True,
                       jobs=2)
    sci0 = fits.getdata(tmp_path / "planes_drz_sci.fits")
    wht0 = fits.getdata(tmp_path / "planes_drz_wht.fits")
    # Same science and weight whatever the blocks, the workers and the context format.
    for sci, wht in ((fits.getdata(tmp_path / "table_drz_sci.fits"),
                      fits.getdata(tmp_path / "table_drz_wht.fits")),
                     (fits.getdata(tmp_path / "none_drz.fits", "SCI"),
                      fits.getdata(tmp_path / "none_drz.fits", "WHT"))):
        assert np.array_equal(sci, sci0, equal_nan=True)
        assert np.array_equal(wht, wht0)
    # The table context decodes to exactly the bit planes' sets.
    planes = fits.getdata(tmp_path / "planes_drz_ctx.fits")
    a = planes_to_sets(planes, 18)
    b = _sets_from_table_file(tmp_path / "table_drz_ctx.fits")
    assert all(x == y for x, y in zip(a.ravel(), b.ravel()))
    assert fits.getheader(tmp_path / "table_drz_ctx.fits")["CTXFMT"] == "TABLE"
    assert tab.mosaics["mosaic"].n_contexts == len(fits.getdata(tmp_path / "table_drz_ctx.fits", "CTXTAB"))
    # No context product with 'none'; the built file has no CTX extension.
    assert ref.products["mosaic"][-1].endswith("_ctx.fits") and none.products["mosaic"] == [
        str(tmp_path / "none_drz.fits")]
    with fits.open(tmp_path / "none_drz.fits") as h:
        assert [x.name for x in h] == ["PRIMARY", "SCI", "WHT", "HDRTAB"]
        h.verify("exception")


def test_built_table_product_has_ctxtab_last(small_mosaic, tmp_path):
    d, _ = small_mosaic
    run_drizzle(str(d / "*_flt.fits"), str(tmp_path / "b"), bits="64", context_format="table", build=True,
                block_size=120, jobs=1)
    with fits.open(tmp_path / "b_drz.fits") as h:
        h.verify("exception")
        assert [x.name for x in h] == ["PRIMARY", "SCI", "WHT", "CTX", "HDRTAB", "CTXTAB"]
        assert h["SCI"].header["CTXFMT"] == "TABLE" and h["CTX"].data.dtype.kind == "i"
        ids = h["CTX"].data
        assert np.array_equal(ids > 0, h["WHT"].data > 0)
        assert ids.max() == len(h["CTXTAB"].data)
        assert len(h["HDRTAB"].data) == 18


def test_overwrite_and_failures_leave_no_partial_products(small_mosaic, tmp_path):
    d, _ = small_mosaic
    out = str(tmp_path / "m")
    run_drizzle(str(d / "*_flt.fits"), out, jobs=1)
    before = fits.getdata(tmp_path / "m_drz_sci.fits")
    with pytest.raises(WriteError, match="already exists; use --overwrite"):
        run_drizzle(str(d / "*_flt.fits"), out, jobs=1)
    run_drizzle(str(d / "*_flt.fits"), out, jobs=1, overwrite=True, bits="64")
    after = fits.getdata(tmp_path / "m_drz_sci.fits")
    assert not np.array_equal(np.isnan(before), np.isnan(after))  # replaced (bits 64 keeps more)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m_drz_ctx.fits", "m_drz_sci.fits", "m_drz_wht.fits"]


def _write_image(path, ra, dec, shape=(50, 50), scale=0.13):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [25.5, 25.5]
    w.wcs.cd = np.array([[-scale / 3600, 0], [0, scale / 3600]])
    h = w.to_header()
    h["BUNIT"] = "ELECTRONS/S"
    h["EXPTIME"] = 100.0
    fits.PrimaryHDU(np.ones(shape, np.float32), header=h).writeto(path)


def test_a_frame_that_cannot_fit_is_refused_before_any_work(tmp_path):
    # Two images 10 degrees apart (diagonally): the default frame is ~196,000 px a side.
    _write_image(tmp_path / "a.fits", 10.0, 0.0)
    _write_image(tmp_path / "b.fits", 17.07, 7.07)
    with pytest.raises(WriteError) as err:
        run_drizzle([str(tmp_path / "a.fits"), str(tmp_path / "b.fits")], str(tmp_path / "huge"))
    msg = str(err.value)
    assert "px output frame need" in msg and "bytes" in msg and "GiB are free" in msg
    nx = int(msg.split(" x ", maxsplit=1)[0].rsplit(maxsplit=1)[-1].replace(",", ""))
    assert 190_000 < nx < 200_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits", "b.fits"]


def test_in_memory_mosaics_write_the_same_files(tmp_path):
    from skymatch import make_chip
    from skymatch.core._drizzle import DrizzleParams, drizzle_mosaics
    from skymatch.core._frame import default_frame, frame_chip
    from skymatch.io import write_products
    chips = []
    for k in range(40):
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [10.0 + (k % 8) * 3e-4, (k // 8) * 3e-4]
        w.wcs.crpix = [10.5, 10.5]
        w.wcs.cd = np.array([[-0.1 / 3600, 0], [0, 0.1 / 3600]])
        chips.append(make_chip(np.full((20, 20), 2.0 + k, np.float32), w, name=f"c{k}", exptime=10.0))
    frame = default_frame([frame_chip(c) for c in chips])
    skies = {c.name: (2.0 + k, 0.0, 0.0) for k, c in enumerate(chips)}
    m = drizzle_mosaics(chips, {"s": skies}, frame, params=DrizzleParams(block_size=30))["s"]
    assert m.context_format == "table"
    paths = write_products(m, chips, str(tmp_path / "mem"), sky_info={"method": "user", "model": "PLANE"})
    with fits.open(paths[0]) as h:
        assert np.array_equal(h[0].data, m.sci, equal_nan=True)
        assert h[0].header["SKYMETH"] == "user" and h[0].header["SKYMODEL"] == "PLANE"
        tab = h["HDRTAB"].data
        assert list(tab["MDRIZSKY"]) == [2.0 + k for k in range(40)] and set(tab["SKYMODEL"]) == {"PLANE"}
    ok = m.wht > 0
    assert np.allclose(m.sci[ok], 0.0, atol=1e-5)  # each chip minus its own sky
    assert np.array_equal(fits.getdata(paths[1]), m.wht)
    b = _sets_from_table_file(paths[2])
    a = ids_to_sets(m.ctx, m.ctx_table)
    assert all(x == y for x, y in zip(a.ravel(), b.ravel()))


def test_headers_read_once_give_the_products_inputs_of_a_second_read(small_mosaic):
    """``read_inputs(headers=...)`` collects, from its own header reads, exactly what
    ``read_product_inputs`` reads again from the files (HDRTAB rows, pixel locations)."""
    from skymatch.io import read_inputs
    from skymatch.io._pieces import read_product_inputs

    d, _ = small_mosaic
    headers: dict = {}
    chips = read_inputs(str(d / "*_flt.fits"), headers=headers)
    assert len(headers) == len(chips) == 18
    rows, locations = read_product_inputs(chips, known=headers)
    rows_again, locations_again = read_product_inputs(chips)
    assert rows == rows_again
    assert locations == locations_again
    assert all(loc is not None for loc in locations)
    # Chips it does not know are read from their files.
    partial = dict(list(headers.items())[:5])
    assert read_product_inputs(chips, known=partial) == (rows, locations)
