"""Method semantics on small in-memory images: the JWST two-image case and edge cases."""

import warnings

import numpy as np
import pytest
from fsutil import tan_wcs

from skymatch import (
    DisconnectedMosaicWarning,
    InputError,
    ParameterError,
    SkymatchWarning,
    UndeterminedSkyWarning,
    make_chip,
    match_sky,
    sky_methods,
)


def offset_wcs(dx_pix, dy_pix=0.0, **kw):
    base = tan_wcs(**kw)
    ra, dec = base.wcs_pix2world([[base.wcs.crpix[0] + dx_pix, base.wcs.crpix[1] + dy_pix]], 1)[0]
    return tan_wcs(ra=ra, dec=dec, **{k: v for k, v in kw.items() if k not in ("ra", "dec")})


def two_images():
    a = make_chip(np.full((64, 64), 21.0), tan_wcs(), name="a")
    b = make_chip(np.full((64, 64), 42.0), offset_wcs(20.0), name="b")
    return [a, b]


@pytest.mark.parametrize("method, match_down, expected", [
    ("local", True, [21, 42]),
    ("match", True, [0, 21]),
    ("match", False, [-21, 0]),
    ("global", True, [21, 21]),
    ("global+match", True, [21, 42]),
])
def test_jwst_two_image_case(method, match_down, expected):
    res = match_sky(two_images(), method=method, skystat="mean", match_down=match_down)
    assert [c.sky for c in res.chips] == pytest.approx(expected, abs=1e-9)


def test_all_methods_share_one_run():
    results = sky_methods(two_images(), skystat="mean")
    assert [results[m].chips[1].sky for m in ("localmin", "globalmin", "match", "globalmin+match")] == \
        pytest.approx([42, 21, 21, 42])


def test_single_exposure_match_writes_flagged_zero_not_stale():
    chip = make_chip(np.full((32, 32), 5.0), tan_wcs(shape=(32, 32)), name="only")
    with pytest.warns(UndeterminedSkyWarning, match="no usable overlap for only"):
        res = match_sky([chip], method="match")
    assert res.chips[0].sky == 0.0 and not res.chips[0].valid and res.chips[0].how == "no-overlap"


def test_exposure_without_overlap_and_disconnected_groups():
    a = make_chip(np.full((64, 64), 1.0), tan_wcs(), name="a")
    b = make_chip(np.full((64, 64), 3.0), offset_wcs(30.0), name="b")
    c = make_chip(np.full((64, 64), 10.0), offset_wcs(1000.0), name="c")
    d = make_chip(np.full((64, 64), 14.0), offset_wcs(1030.0), name="d")
    e = make_chip(np.full((64, 64), 7.0), offset_wcs(5000.0), name="e")
    with pytest.warns(SkymatchWarning) as rec:
        res = match_sky([a, b, c, d, e], method="match", skystat="mean")
    kinds = {w.category: str(w.message) for w in rec}
    assert "2 disconnected groups ({a, b}; {c, d})" in kinds[DisconnectedMosaicWarning]
    assert "no usable overlap for e" in kinds[UndeterminedSkyWarning]
    sky = {c.name: c.sky for c in res.chips}
    # Each group anchored at its own minimum (default mode).
    assert sky["a"] == pytest.approx(0) and sky["b"] == pytest.approx(2)
    assert sky["c"] == pytest.approx(0) and sky["d"] == pytest.approx(4)
    assert sky["e"] == 0 and not res.chip("e").valid
    assert len([g for g in res.components if len(g) > 1]) == 2
    # globalmin+match per group: each group keeps its absolute level from its own minimum.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = match_sky([a, b, c, d, e], method="globalmin+match", skystat="mean")
    assert [x.sky for x in gm.chips] == pytest.approx([1, 3, 10, 14, 7])


def test_nan_pixels_are_ignored():
    data = np.full((64, 64), 4.0)
    data[10:20, :] = np.nan
    data[0, 0] = np.inf
    chip = make_chip(data, tan_wcs(), name="nan")
    other = make_chip(np.full((64, 64), 6.0), offset_wcs(10.0), name="ok")
    # Every method and statistic: the non-finite pixels change nothing (a single NaN
    # would give the Reference a failed statistic and a silent sky of 0).
    expected = {"localmin": [4.0, 6.0], "globalmin": [4.0, 4.0], "match": [0.0, 2.0],
                "globalmin+match": [4.0, 6.0]}
    for skystat in ("median", "mean", "mode", "midpt"):
        res = sky_methods([chip, other], skystat=skystat)
        for method, sky in expected.items():
            assert [c.sky for c in res[method].chips] == pytest.approx(sky, abs=1e-9), (skystat, method)
            assert all(c.valid for c in res[method].chips)
    # The NaN rows and the inf pixel are not counted: 64*64 - 10*64 - 1 usable pixels.
    assert res["localmin"].chip("nan").npix == 64 * 64 - 640 - 1


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_globalmin_never_depends_on_order(order):
    empty = make_chip(np.full((32, 32), np.nan), tan_wcs(shape=(32, 32)), name="empty")
    full = make_chip(np.full((32, 32), 2.0), offset_wcs(5.0, shape=(32, 32)), name="full")
    chips = [[empty, full][k] for k in order]
    with pytest.warns(UndeterminedSkyWarning):
        res = match_sky(chips, method="globalmin", on_empty="warn")
    assert res.chip("full").sky == pytest.approx(2.0)
    assert res.chip("empty").sky == pytest.approx(2.0)


def test_all_masked_chip_is_an_error_by_default():
    chip = make_chip(np.ones((16, 16)), tan_wcs(shape=(16, 16)), dq=np.full((16, 16), 4), name="bad[SCI,1]")
    with pytest.raises(InputError, match=r"bad\[SCI,1\]: no usable pixels after sky_bits=0 .*relax sky_bits"):
        match_sky([chip], method="localmin")
    res = match_sky([chip], method="localmin", sky_bits="4")
    assert res.chips[0].sky == pytest.approx(1.0)


def test_identical_footprints_match():
    for compat in (None, "drizzlepac"):
        a = make_chip(np.full((64, 64), 3.0), tan_wcs(), name="a")
        b = make_chip(np.full((64, 64), 5.0), tan_wcs(), name="b")
        c = make_chip(np.full((64, 64), 4.0), offset_wcs(1e-9), name="c")
        res = match_sky([a, b, c], method="match", skystat="mean", compat=compat)
        assert [x.sky for x in res.chips] == pytest.approx([0, 2, 1], abs=1e-9)


def test_multi_chip_exposure_shares_one_sky():
    a1 = make_chip(np.full((64, 64), 2.0), tan_wcs(), name="a1", exposure_id="A")
    a2 = make_chip(np.full((64, 64), 2.5), offset_wcs(64.0), name="a2", exposure_id="A")
    b = make_chip(np.full((64, 64), 5.0), offset_wcs(32.0), name="b", exposure_id="B")
    res = match_sky([a1, a2, b], method="localmin", skystat="mean")
    assert [c.sky for c in res.chips] == pytest.approx([2.0, 2.0, 5.0])
    res = match_sky([a1, a2, b], method="match", skystat="mean")
    # b overlaps half of a1 and half of a2 (32 columns each): A's overlap sky is their
    # npix-weighted mean, (2.0 + 2.5) / 2.
    assert res.chip("b").sky == pytest.approx(5.0 - 2.25, abs=1e-9)
    (pair,) = res.pairs
    assert (pair.npix_i, pair.npix_j) == (64 * 64, 64 * 64)


def test_counts_are_compared_as_rates():
    # Same sky brightness; one image in counts with EXPTIME 100: MDRIZSKY scales with EXPTIME.
    a = make_chip(np.full((64, 64), 1.0), tan_wcs(), units="ELECTRONS/S", name="rate")
    b = make_chip(np.full((64, 64), 100.0), offset_wcs(10.0), units="ELECTRONS", exptime=100.0, name="counts")
    res = match_sky([a, b], method="globalmin", skystat="mean")
    assert res.chip("rate").sky == pytest.approx(1.0)
    assert res.chip("counts").sky == pytest.approx(100.0)
    res = match_sky([a, b], method="match", skystat="mean")
    assert [c.sky for c in res.chips] == pytest.approx([0, 0], abs=1e-9)


@pytest.mark.parametrize("kwargs, text", [
    ({"method": "median"}, "is not a sky method"),
    ({"skystat": "average"}, "is not a sky statistic"),
    ({"sky_bits": "4+x"}, "cannot read 'x'"),
    ({"compat": "astrodrizzle"}, "compat="),
])
def test_bad_options(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        match_sky(two_images(), **kwargs)


def test_duplicate_chip_names_rejected():
    a = make_chip(np.ones((8, 8)), tan_wcs(shape=(8, 8)), name="same")
    b = make_chip(np.ones((8, 8)), tan_wcs(shape=(8, 8)), name="same")
    with pytest.raises(InputError, match="same: given more than once"):
        match_sky([a, b], method="localmin")
