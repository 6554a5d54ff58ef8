"""Fitted pixel <-> tangent-plane maps (core/_planemap) against the WCS they replace, and
the overlap tasks that use them against the tasks that call the WCS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from fsutil import tan_wcs

from skymatch.core._context import RunContext
from skymatch.core._footprint import TangentPlane, footprint_world
from skymatch.core._masks import parse_bits
from skymatch.core._pairs import (
    OverlapJob,
    candidate_pairs,
    compute_footprints,
    overlap_geometry,
    overlap_task,
    plane_job,
)
from skymatch.core._planemap import MAX_ERROR_PX, fit_plane_map
from skymatch.core._stats import SkyStatParams
from skymatch.io import read_inputs


def _plane_of(wcs, shape) -> TangentPlane:
    ra, dec = footprint_world(wcs, shape)
    return TangentPlane.from_points(ra + 0.01, dec - 0.01)  # tangent point off the chip centre


def _sip_wcs(shape=(1014, 1014), strength=1.0) -> WCS:
    """A WFC3/IR-like TAN-SIP WCS: ~``strength`` x 2 px of distortion at the corners."""
    w = tan_wcs(ra=150.0, dec=2.0, shape=shape, scale_arcsec=0.13, rot=33.0)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[2, 0], a[1, 1], a[0, 2], a[3, 0] = 2e-6 * strength, 1e-6 * strength, -1e-6 * strength, 1e-9 * strength
    b[0, 2], b[1, 1], b[2, 0], b[0, 3] = 2e-6 * strength, -1.5e-6 * strength, 5e-7 * strength, 1e-9 * strength
    from astropy.wcs import Sip

    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.wcs.set()
    return w


def _errors(wcs, shape, plane, pmap, margin=20.0, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-margin, shape[1] - 1 + margin, n)
    y = rng.uniform(-margin, shape[0] - 1 + margin, n)
    u, v = plane.project(*wcs.pixel_to_world_values(x, y))
    bx, by = pmap.to_pixel(u, v)
    fu, fv = pmap.to_plane(x, y)
    scale = np.radians(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))))  # plane units per pixel
    inverse = max(np.abs(bx - x).max(), np.abs(by - y).max())
    forward = max(np.abs(fu - u).max(), np.abs(fv - v).max()) / scale
    return inverse, forward


@pytest.mark.parametrize("strength", [0.0, 1.0, 4.0])
def test_fitted_map_reproduces_a_tan_sip_wcs_both_ways(strength):
    shape = (1014, 1014)
    w = _sip_wcs(shape, strength) if strength else tan_wcs(shape=shape, rot=20.0)
    plane = _plane_of(w, shape)
    pmap = fit_plane_map(w, shape, plane)
    assert pmap is not None
    inverse, forward = _errors(w, shape, plane, pmap)
    # The fit is checked midway between its nodes; random points inside and around the chip
    # must be as good (astropy's own world_to_pixel stops iterating at 1e-4 px).
    assert inverse < 2 * MAX_ERROR_PX
    assert forward < 2 * MAX_ERROR_PX


def test_small_chips_of_the_demo_mosaic(small_mosaic):
    d, truth = small_mosaic
    chips = read_inputs(truth.paths)
    fp = compute_footprints(chips, compat=False)
    assert all(m is not None for m in fp.maps)
    for chip, pmap in zip(chips[:6], fp.maps):
        inverse, forward = _errors(chip.wcs, chip.shape, fp.plane, pmap)
        assert inverse < 2 * MAX_ERROR_PX and forward < 2 * MAX_ERROR_PX


def test_wcs_it_cannot_reproduce_is_left_to_astropy():
    shape = (200, 200)
    w = tan_wcs(shape=shape)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.set()
    assert fit_plane_map(w, shape, _plane_of(w, shape)) is None  # not a gnomonic chip
    # A distortion no polynomial of degree <= 9 follows to 1e-6 px: a 15th-order SIP term
    # worth ~1 px at the chip's edge.
    shape = (1014, 1014)
    w = _sip_wcs(shape)
    a = np.zeros((16, 16))
    a[15, 0] = 1.0 / 507.0**15
    from astropy.wcs import Sip

    w.sip = Sip(a, np.zeros((16, 16)), None, None, w.wcs.crpix)
    w.wcs.set()
    assert fit_plane_map(w, shape, _plane_of(w, shape)) is None
    # No celestial axes.
    assert fit_plane_map(WCS(naxis=2), shape, _plane_of(tan_wcs(shape=shape), shape)) is None


def test_positions_far_outside_stay_outside():
    shape = (128, 128)
    w = _sip_wcs(shape, 1.0)
    plane = _plane_of(w, shape)
    pmap = fit_plane_map(w, shape, plane)
    x = np.array([-5 * 128.0, 6 * 128.0, 64.0, 64.0])
    y = np.array([64.0, 64.0, -5 * 128.0, 6 * 128.0])
    bx, by = pmap.to_pixel(*plane.project(*w.pixel_to_world_values(x, y)))
    # Beyond the fitted domain the affine inverse answers: a few pixels off, never inside.
    assert np.abs(bx - x).max() < 5 and np.abs(by - y).max() < 5


def test_overlap_tasks_with_plane_maps_equal_those_calling_the_wcs(small_mosaic):
    """Every pair of the demo mosaic: the same pixels counted and the same statistics
    whether the overlap is rasterised and cross-masked through the fitted maps or the WCS."""
    d, truth = small_mosaic
    chips = read_inputs(truth.paths)
    fp = compute_footprints(chips, compat=False)
    ids = {e: k for k, e in enumerate(dict.fromkeys(c.exposure_id for c in chips))}
    exp_of = np.array([ids[c.exposure_id] for c in chips])
    stat = SkyStatParams(statistic="median", lower=None, upper=None, nclip=5, lsigma=4.0, usigma=4.0,
                         binwidth=0.1, compat=False)
    common = dict(flags=parse_bits("0"), stat=stat, context=RunContext())
    n_pairs = 0
    for a, b in candidate_pairs(fp, exp_of):
        a, b = int(a), int(b)
        rings, plane_rings = overlap_geometry(fp, a, b, compat=False, plane=True)
        if not rings:
            continue
        slow = overlap_task(OverlapJob(chips[a], chips[b], tuple(rings), compat=False, **common))
        fast = overlap_task(plane_job(chips[a], chips[b], fp, a, b, **common))
        for s, f in ((slow.stat_m, fast.stat_m), (slow.stat_n, fast.stat_n)):
            assert (s is None) == (f is None)
            if s is not None:
                assert f.npix == s.npix
                assert f.value == s.value
        assert (fast.n_raster_m, fast.n_raster_n) == (slow.n_raster_m, slow.n_raster_n)
        n_pairs += 1
    assert n_pairs > 20


@pytest.mark.parametrize("ra, dec", [(0.0, 12.0), (137.0, 89.99)])
def test_fast_path_equals_wcs_path_across_ra_zero_and_at_the_pole(ra, dec):
    """Four rotated chips around RA = 0 (their corners on both sides of 0/360) or around the
    celestial pole: maps fitted, and every pair measured alike by both paths."""
    from skymatch.chips import make_chip

    rng = np.random.default_rng(7)
    chips = []
    for k, (dx, dy) in enumerate([(-1, -1), (1, -1), (-1, 1), (1, 1)]):
        w = tan_wcs(ra=ra, dec=dec, shape=(150, 150), scale_arcsec=0.2, rot=17.0 * k)
        w.wcs.crpix = [75.5 + dx * 55, 75.5 + dy * 55]  # the reference point near a corner
        w.wcs.set()
        data = (1.0 + 0.1 * k + rng.normal(0, 0.05, (150, 150))).astype(np.float32)
        dq = (rng.random((150, 150)) < 0.02).astype(np.int16) * 4
        chips.append(make_chip(data, w, dq=dq, name=f"c{k}", exposure_id=f"e{k}"))
    fp = compute_footprints(chips, compat=False)
    assert all(m is not None for m in fp.maps)
    stat = SkyStatParams(statistic="median", lower=None, upper=None, nclip=5, lsigma=4.0, usigma=4.0,
                         binwidth=0.1, compat=False)
    common = dict(flags=parse_bits("0"), stat=stat, context=RunContext())
    pairs = candidate_pairs(fp, np.arange(4))
    assert len(pairs) == 6
    for a, b in pairs:
        a, b = int(a), int(b)
        rings, _ = overlap_geometry(fp, a, b, compat=False, plane=True)
        slow = overlap_task(OverlapJob(chips[a], chips[b], tuple(rings), compat=False, **common))
        fast = overlap_task(plane_job(chips[a], chips[b], fp, a, b, **common))
        assert (fast.n_raster_m, fast.n_raster_n) == (slow.n_raster_m, slow.n_raster_n) != (0, 0)
        assert (fast.stat_m.npix, fast.stat_m.value) == (slow.stat_m.npix, slow.stat_m.value)
        assert (fast.stat_n.npix, fast.stat_n.value) == (slow.stat_n.npix, slow.stat_n.value)


def test_absurd_sip_terms_are_left_to_the_wcs_path(tmp_path):
    """Found by the property test: A_2_0 = 2**31 in one of two 48-px chips made the fit's
    equations singular (a LinAlgError traceback); such a chip gets no map (the WCS path
    judges it) and the other keeps its own."""
    from astropy.io import fits

    from skymatch.datasets import make_mosaic

    paths = sorted(make_mosaic(tmp_path, tiles=(2, 1), size=48, exposures_per_tile=1, seed=5).paths)
    with fits.open(paths[0], mode="update") as h:
        h[1].header["A_2_0"] = 2147483648
    fp = compute_footprints(read_inputs(paths), compat=False)
    assert fp.maps[0] is None
    assert fp.maps[1] is not None


def test_maps_fitted_together_equal_maps_fitted_one_by_one():
    """A run's chips are fitted in batches per shape: the same maps as one at a time, for a
    mixture of shapes, SIP strengths, a WCS without a map (non-TAN) and a singular one."""
    from skymatch.core._planemap import PlaneMapFitter

    wcss, shapes = [], []
    for k, (shape, strength) in enumerate([((128, 128), 1.0), ((128, 128), 0.0), ((90, 140), 4.0),
                                            ((128, 128), 2.0), ((90, 140), 1.0)]):
        w = _sip_wcs(shape, strength)
        w.wcs.crval = [150.0 + 0.003 * k, 2.0 - 0.002 * k]
        w.wcs.set()
        wcss.append(w)
        shapes.append(shape)
    odd = tan_wcs(ra=150.0, dec=2.0, shape=(128, 128))
    odd.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    odd.wcs.set()
    absurd = _sip_wcs((128, 128), 1.0)
    absurd.sip.a[2, 0] = 2.0**31
    wcss += [odd, absurd]
    shapes += [(128, 128), (128, 128)]
    fitter = PlaneMapFitter(_plane_of(wcss[0], shapes[0]))
    together = fitter.fit_many(wcss, shapes)
    alone = [PlaneMapFitter(fitter.plane).fit(w, s) for w, s in zip(wcss, shapes)]
    assert [m is None for m in together] == [m is None for m in alone] == [False] * 5 + [True, True]
    for a, b in zip(together[:5], alone[:5]):
        np.testing.assert_allclose(a.inverse, b.inverse, rtol=0, atol=1e-12 * np.abs(b.inverse).max())
        np.testing.assert_allclose(a.forward, b.forward, rtol=0, atol=1e-12 * np.abs(b.forward).max())
        assert a.error_px <= MAX_ERROR_PX
