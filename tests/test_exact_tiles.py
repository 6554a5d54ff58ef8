"""reproject's exact tile-and-offset test, for ``match``.

One random image with a celestial WCS is cut into overlapping tiles, each with its own
sliced WCS (``wcs[view]``), exactly as reproject's
``mosaicking/tests/test_coadd.py::test_coadd_background_matching`` does (same WCS, same
views); every tile gets a known offset, and ``match`` must recover the offsets modulo
one constant to 1e-9 of the image's robust sigma.

What limits the precision, and why these data reach 1e-9:

* The tiles share one pixel grid, so both sides of every overlap see the same pixels:
  the overlap polygon rasterises to the same pixel centres in both tiles, and the
  default mode's cross-mask (nearest pixel) maps pixel to pixel exactly.  This holds
  with a rotated, SIP-distorted WCS too (tested).
* The statistic is float32 by specification (SPEC section 4: "the usable pixels, cast
  to float32", the mean "accumulated in float64, stored float32").  With arbitrary
  float64 pixels the recovered offsets are therefore good to a few float32 ulps of the
  data (~1e-7 relative; ``test_float64_data_are_limited_by_the_float32_statistic``),
  not 1e-9.  Pixels and offsets that are multiples of 2**-10, kept within one binade
  ([64, 128)), make every float32 step exact or shift-invariant: the cast is exact, the
  float64 sum is exact, and rounding ``sum/n + offset`` to float32 rounds the common part
  identically for every offset (all are multiples of the binade's ulp, 2**-17).  Then
  every statistic (mean, median, mode, midpt; with or without clipping) gives pair
  differences equal to the offset differences and ``match`` recovers them to ~1e-14.
* Compat mode (the Reference's rounded-vertex rasteriser, no cross-mask) measures
  slightly different pixels on the two sides and is not exact (~2e-2 sigma on these
  tiles, ~5e-3 sigma with the complementary NaN masks).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from skymatch import make_chip, match_sky, sky_methods
from skymatch.datasets import simulate_exposure_headers

# reproject's views: 4 x 5 tiles, 10 pixels of overlap, some 11 pixels wide.
IE = (0, 122, 233, 245, 334)
JE = (0, 44, 45, 333, 335, 399)
VIEWS = [np.s_[JE[j]: JE[j + 1] + 10, IE[i]: IE[i + 1] + 10] for i in range(4) for j in range(5)]
SHAPE = (399, 334)
DYADIC = 2.0 ** -10


def reproject_wcs() -> WCS:
    """reproject's test WCS: TAN, 0.1 degree pixels (the tiles span ~40 degrees)."""
    w = WCS(naxis=2)
    w.wcs.ctype = "RA---TAN", "DEC--TAN"
    w.wcs.crpix = 322, 151
    w.wcs.crval = 43, 23
    w.wcs.cdelt = -0.1, 0.1
    w.wcs.equinox = 2000.0
    return w


def distorted_wcs() -> WCS:
    """A WFC3/IR-like WCS: rotated CD matrix and 4th-order SIP distortion."""
    return WCS(simulate_exposure_headers(crval=(85.25, -2.46), orientat=166.0, size=400,
                                         distortion=True))


WCSES = {"tan": reproject_wcs, "sip": distorted_wcs}


def robust_sigma(a: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(a - np.median(a))))


def dyadic_image(rng) -> np.ndarray:
    """Gaussian noise about 100 on a 2**-10 grid: exact in float32, within [64, 128)."""
    return 100.0 + np.round(rng.normal(0.0, 1.0, SHAPE) / DYADIC) * DYADIC


def dyadic_offsets(rng, n) -> np.ndarray:
    return np.round(rng.uniform(0.0, 20.0, n) / DYADIC) * DYADIC


def tiles(image, offsets, wcs):
    return [make_chip(image[v] + o, wcs[v], name=f"tile{k}", units="MJy/sr")
            for k, (v, o) in enumerate(zip(VIEWS, offsets, strict=True))]


def gauge_free_error(sky, truth) -> float:
    """Largest error of ``sky`` against ``truth`` modulo one constant."""
    sky, truth = np.asarray(sky), np.asarray(truth)
    return float(np.max(np.abs((sky - sky.mean()) - (truth - truth.mean()))))


CASES = [("tan", stat, nclip) for stat in ("mean", "median", "mode", "midpt") for nclip in (0, 5)]
CASES += [("sip", "mean", 0), ("sip", "median", 5)]


@pytest.mark.parametrize("wcs_kind, skystat, nclip", CASES)
def test_match_recovers_tile_offsets_exactly(wcs_kind, skystat, nclip):
    rng = np.random.default_rng(1234)
    image = dyadic_image(rng)
    offsets = dyadic_offsets(rng, len(VIEWS))
    assert image.min() + offsets.min() >= 64 and image.max() + offsets.max() < 128  # one binade
    res = match_sky(tiles(image, offsets, WCSES[wcs_kind]()), method="match", skystat=skystat,
                    nclip=nclip)
    sky = [c.sky for c in res.chips]
    assert all(c.valid for c in res.chips)
    assert gauge_free_error(sky, offsets) <= 1e-9 * robust_sigma(image)
    # match's zero is the tile with the lowest offset, and every pair equation is exact.
    assert sky[int(np.argmin(offsets))] == 0.0
    assert max(abs(p.residual) for p in res.pairs) <= 1e-9 * robust_sigma(image)
    # Every overlap of the layout was used (each tile touches its grid neighbours).
    assert len(res.components) == 1


def test_other_methods_on_the_tiles_are_exact():
    """localmin is each tile's own float32 mean; globalmin and globalmin+match follow."""
    rng = np.random.default_rng(99)
    image = dyadic_image(rng)
    offsets = dyadic_offsets(rng, len(VIEWS))
    res = sky_methods(tiles(image, offsets, reproject_wcs()), skystat="mean", nclip=0)
    # The tile mean of dyadic data: exact float64 mean, then float32 (SPEC section 4).
    local = np.array([np.float32(np.mean(image[v] + o)) for v, o in zip(VIEWS, offsets, strict=True)],
                     dtype=float)
    assert [c.sky for c in res["localmin"].chips] == pytest.approx(local, rel=0, abs=1e-12)
    assert [c.sky for c in res["globalmin"].chips] == pytest.approx([local.min()] * len(local),
                                                                   rel=0, abs=1e-12)
    match = np.array([c.sky for c in res["match"].chips])
    gm = np.array([c.sky for c in res["globalmin+match"].chips])
    assert gm == pytest.approx(match + np.min(local - match), rel=0, abs=1e-12)
    assert gauge_free_error(gm, offsets) <= 1e-9 * robust_sigma(image)


def test_complementary_nan_masks_are_exact():
    """reproject's NaN test: three images of one footprint, each NaN in other columns.

    The default mode counts a pixel only where the other image is usable too, so both
    sides of each overlap measure the same sky and the offsets come back exactly;
    compat mode lets each image use its own mask and is off by ~5e-3 sigma here.
    """
    rng = np.random.default_rng(7)
    image = dyadic_image(rng)
    offsets = np.array([1.5, -2.25, 0.75])
    arrays = [image + o for o in offsets]
    arrays[0][:, 122:] = np.nan
    arrays[1][:, :50] = np.nan
    arrays[1][:, 266:] = np.nan
    arrays[2][:, :199] = np.nan
    wcs = reproject_wcs()
    chips = [make_chip(a, wcs, name=f"masked{k}", units="MJy/sr") for k, a in enumerate(arrays)]
    res = match_sky(chips, method="match", skystat="mean", nclip=0)
    sky = [c.sky for c in res.chips]
    assert gauge_free_error(sky, offsets) <= 1e-9 * robust_sigma(image)
    # Images 0 and 2 share no usable column: only the pairs (0, 1) and (1, 2) count.
    assert sorted((p.exposure_i, p.exposure_j) for p in res.pairs) == [
        ("masked0", "masked1"), ("masked1", "masked2")]


def test_float64_data_are_limited_by_the_float32_statistic():
    """reproject's own data (uniform float64 pixels and offsets) reach float32 precision.

    The statistic casts pixels to float32 and stores the mean in float32 (SPEC section
    4), so the bound is a few float32 ulps of the largest value, not 1e-9.
    """
    rng = np.random.default_rng(2024)
    image = rng.random(SHAPE)
    offsets = rng.uniform(-3.0, 3.0, len(VIEWS))
    res = match_sky(tiles(image, offsets, reproject_wcs()), method="match", skystat="mean",
                    nclip=0)
    err = gauge_free_error([c.sky for c in res.chips], offsets)
    ulp = float(np.finfo(np.float32).eps) * float(np.max(np.abs(image)) + np.max(np.abs(offsets)))
    assert err <= 4 * ulp


def test_compat_mode_is_close_but_not_exact():
    """The Reference's rasteriser takes a superset of each overlap (vertices rounded to
    whole pixels, spans filled inclusively) on each side separately, so the two sides
    differ by a row or column of other sky: good to a few percent of sigma, not 1e-9."""
    rng = np.random.default_rng(1234)
    image = dyadic_image(rng)
    offsets = dyadic_offsets(rng, len(VIEWS))
    res = match_sky(tiles(image, offsets, reproject_wcs()), method="match", skystat="mean",
                    nclip=0, compat="drizzlepac")
    err = gauge_free_error([c.sky for c in res.chips], offsets)
    assert err <= 0.05 * robust_sigma(image)
