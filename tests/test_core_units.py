"""Bit flags, units, rasterisers and the sparse solve."""

import numpy as np
import pytest
import shapely

from skymatch.core import brightness_conversion, classify_units, dq_good_mask, parse_bits, solve_match
from skymatch.core._raster import raster_centres, raster_reference
from skymatch.exceptions import ParameterError

DQ = np.array([0, 1, 4, 8, 64, 68, 4096])


@pytest.mark.parametrize("spec, good", [
    ("64", [1, 0, 0, 0, 1, 0, 0]),
    (64, [1, 0, 0, 0, 1, 0, 0]),
    ("~64", [1, 1, 1, 1, 0, 0, 1]),
    ("0", [1, 0, 0, 0, 0, 0, 0]),
    ("4+8", [1, 0, 1, 1, 0, 0, 0]),
    ("4,8", [1, 0, 1, 1, 0, 0, 0]),
    ("~4+8", [1, 1, 0, 0, 1, 0, 1]),
    ("4+64", [1, 0, 1, 0, 1, 1, 0]),
])
def test_bit_flags(spec, good):
    assert dq_good_mask(DQ.astype(np.int16), parse_bits(spec)).tolist() == [bool(g) for g in good]


@pytest.mark.parametrize("spec", [None, "", " ", "None"])
def test_bit_flags_off(spec):
    assert parse_bits(spec) == (None, False)
    assert dq_good_mask(DQ, parse_bits(spec)) is None


@pytest.mark.parametrize("spec", ["4+a", "-4", -1, "4++8", 1.5, True])
def test_bad_bit_flags(spec):
    with pytest.raises(ParameterError, match="sky_bits"):
        parse_bits(spec)


def test_large_bits_on_small_dq_types():
    dq = np.array([0, 2 ** 14, 1], dtype=np.int16)
    assert dq_good_mask(dq, parse_bits(2 ** 14 + 2 ** 20)).tolist() == [True, True, False]
    dq = np.array([0, 1, 2], dtype=np.uint8)
    assert dq_good_mask(dq, parse_bits("~2")).tolist() == [True, True, False]


@pytest.mark.parametrize("bunit, inst, det, kind", [
    ("ELECTRONS/S", "", "", "rate"), ("electrons/sec", "", "", "rate"), ("COUNTS/SECOND", "", "", "rate"),
    ("ELECTRONS", "", "", "counts"), ("DN", "", "", "counts"),
    ("MJy/sr", "", "", "surface"), ("erg/s/cm2/Hz/arcsec2", "", "", "surface"),
    (None, "ACS", "WFC", "counts"), (None, "WFC3", "UVIS", "counts"), (None, "WFC3", "IR", "rate"),
    (None, "", "", "unknown"), ("Jy", "", "", "unknown"),
])
def test_unit_classes(bunit, inst, det, kind):
    assert classify_units(bunit, instrument=inst, detector=det) == kind


def test_conversions_and_the_reference_bug():
    assert brightness_conversion("rate", 0.1, 500.0) == pytest.approx(100.0)
    assert brightness_conversion("counts", 0.1, 500.0) == pytest.approx(0.2)
    assert brightness_conversion("surface", 0.1, 500.0) == 1.0
    # Unknown units: rate rule by default; the Reference divides by EXPTIME anyway.
    assert brightness_conversion("unknown", 0.1, 500.0) == pytest.approx(100.0)
    assert classify_units("MJy/sr", compat=True) == "unknown"
    assert brightness_conversion("unknown", 0.1, 500.0, compat=True) == pytest.approx(0.2)


def _random_polygon(rng, n=7, size=60.0):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(10, 25, n)
    return 30 + r * np.cos(ang), 30 + r * np.sin(ang)


def test_raster_centres_equals_point_in_polygon():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:64]
    for _ in range(20):
        x, y = _random_polygon(rng)
        r0, c0, mask = raster_centres([(x, y)], (64, 64))
        full = np.zeros((64, 64), bool)
        full[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]] = mask
        inside = shapely.contains_xy(shapely.Polygon(np.column_stack([x, y])), xx, yy)
        on_edge = shapely.intersects_xy(shapely.Polygon(np.column_stack([x, y])).boundary, xx, yy)
        assert np.array_equal(full[~on_edge], inside[~on_edge])


def test_raster_centres_clips_to_the_chip():
    r0, c0, mask = raster_centres([(np.array([-10, 5, 5, -10.]), np.array([-10, -10, 5, 5.]))], (20, 20))
    # Half-open rule: centres 0..4 are inside, 5 (on the right/top edge) is not.
    assert (r0, c0) == (0, 0)
    assert mask[:5, :5].all() and mask.sum() == 25


def test_reference_raster_is_a_superset_of_rounded_rectangle():
    # A rectangle with corners at half pixels: the Reference rounds vertices (half to
    # even) and fills spans inclusively.
    x = np.array([1.5, 6.5, 6.5, 1.5])
    y = np.array([2.5, 2.5, 8.5, 8.5])
    r0, c0, mask = raster_reference([(x, y)], (12, 12))
    full = np.zeros((12, 12), bool)
    full[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]] = mask
    rows = np.nonzero(full.any(axis=1))[0]
    cols = np.nonzero(full.any(axis=0))[0]
    assert (rows[0], rows[-1]) == (2, 8) and (cols[0], cols[-1]) == (2, 6)
    assert full[2:9, 2:7].all() and full.sum() == 7 * 5


def test_solve_equals_pseudo_inverse_on_random_graphs():
    rng = np.random.default_rng(9)
    for _ in range(10):
        n = 12
        pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, (30, 2)) if a < b}
        i = np.array([p[0] for p in pairs])
        j = np.array([p[1] for p in pairs])
        s_i, s_j = rng.normal(size=i.size), rng.normal(size=i.size)
        w = rng.uniform(1e3, 1e5, i.size)
        sol = solve_match(n, i, j, s_i, s_j, w)
        K = np.zeros((i.size, n))
        K[np.arange(i.size), i] = w
        K[np.arange(i.size), j] = -w
        d = np.linalg.pinv(K, rcond=1e-12) @ (w * (s_i - s_j))
        used = np.zeros(n, bool)
        used[i] = used[j] = True
        assert np.allclose(sol.d[used], d[used], atol=1e-9)
        assert np.all(np.isnan(sol.d[~used]))
