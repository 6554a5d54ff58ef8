"""Overlap statistics of many chip pairs computed together (core/_pairbatch) against the
one-pair task (core/_pairs.overlap_task) they replace: same pixels, same statistics."""

from __future__ import annotations

import numpy as np
import pytest
from fsutil import tan_wcs

import skymatch.core._pairbatch as pairbatch
from skymatch.chips import make_chip
from skymatch.core._context import RunContext
from skymatch.core._masks import parse_bits
from skymatch.core._pairs import CellSpec, candidate_pairs, compute_footprints, overlap_task, plane_job
from skymatch.core._stats import SkyStatParams
from skymatch.io import read_inputs

STAT = SkyStatParams(statistic="median", nclip=5, lsigma=4.0, usigma=4.0, binwidth=0.1)


def _jobs(chips, stat=STAT, **extra):
    fp = compute_footprints(chips, compat=False)
    assert all(m is not None for m in fp.maps)
    exp_of = np.arange(len(chips))
    common = dict(flags=parse_bits("0"), stat=stat, context=RunContext(), whole=True, cells=None)
    common.update(extra)
    return [plane_job(chips[int(a)], chips[int(b)], fp, int(a), int(b), **common)
            for a, b in candidate_pairs(fp, exp_of)]


def _assert_same(batched, single):
    assert len(batched) == len(single)
    for b, s in zip(batched, single):
        assert (b.empty, b.n_raster_m, b.n_raster_n) == (s.empty, s.n_raster_m, s.n_raster_n)
        for x, y in ((b.stat_m, s.stat_m), (b.stat_n, s.stat_n)):
            assert (x is None) == (y is None)
            if x is not None:
                assert (x.npix, x.value, x.mean, x.std) == (y.npix, y.value, y.mean, y.std)


def test_every_pair_of_the_demo_mosaic(small_mosaic):
    _, truth = small_mosaic
    jobs = _jobs(read_inputs(truth.paths))
    assert len(jobs) > 20
    batched = pairbatch.overlap_batch(jobs)
    _assert_same(batched, [overlap_task(j) for j in jobs])
    assert sum(r.stat_m is not None for r in batched) > 20


def _random_chips(seed: int, n: int = 9):
    """Chips of different shapes, rotations and offsets around one point, with flagged
    pixels, NaNs, a flagged corner region; some pairs overlap in slivers a pixel or two
    wide (boxes one pixel high or wide take the exact-position path)."""
    rng = np.random.default_rng(seed)
    chips = []
    for k in range(n):
        ny, nx = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        w = tan_wcs(ra=10.0, dec=-30.0, shape=(ny, nx), scale_arcsec=0.5, rot=float(rng.uniform(0, 90)))
        w.wcs.crpix = [nx / 2 + rng.uniform(-60, 60), ny / 2 + rng.uniform(-60, 60)]
        w.wcs.set()
        data = (1.0 + 0.1 * k + rng.normal(0, 0.05, (ny, nx))).astype(np.float32)
        data[rng.random((ny, nx)) < 0.01] = np.nan
        dq = (rng.random((ny, nx)) < 0.03).astype(np.int16) * 4
        dq[: ny // 4, : nx // 4] = 8
        chips.append(make_chip(data, w, dq=dq, name=f"c{k}", exposure_id=f"e{k}"))
    # Slivers: a copy of chip 0 shifted by just under / just over its width.
    base = chips[0]
    ny, nx = base.shape
    for k, shift in enumerate((nx - 1.3, nx - 0.6, nx - 2.2)):
        w = base.wcs.deepcopy()
        w.wcs.crpix = [w.wcs.crpix[0] - shift, w.wcs.crpix[1] + 0.37 * k]
        w.wcs.set()
        data = np.full(base.shape, 2.0 + k, dtype=np.float32)
        chips.append(make_chip(data, w, name=f"s{k}", exposure_id=f"s{k}"))
    return chips


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_geometries(monkeypatch, seed):
    jobs = _jobs(_random_chips(seed))
    assert len(jobs) >= 10
    paths = []
    positions = pairbatch._NodeGrid.positions

    def spy(grid, s):
        paths.append(bool(grid.coarse[s]))
        return positions(grid, s)

    monkeypatch.setattr(pairbatch._NodeGrid, "positions", spy)
    batched = pairbatch.overlap_batch(jobs)
    _assert_same(batched, [overlap_task(j) for j in jobs])
    # Both ways of placing pixels in the other chip were used: node grids, and exact
    # positions for the slivers' boxes one pixel wide.
    assert True in paths and False in paths


@pytest.mark.parametrize("statistic", ["mean", "mode", "midpt"])
def test_other_statistics_and_tiny_chunks(monkeypatch, statistic):
    """Chunk boundaries (one job per chunk) and the other statistics change nothing."""
    stat = SkyStatParams(statistic=statistic, nclip=3, lsigma=3.0, usigma=3.0, binwidth=0.1)
    jobs = _jobs(_random_chips(11), stat=stat)
    single = [overlap_task(j) for j in jobs]
    _assert_same(pairbatch.overlap_batch(jobs), single)
    monkeypatch.setattr(pairbatch, "CHUNK_PIXELS", 1)
    _assert_same(pairbatch.overlap_batch(jobs), single)


def test_jobs_it_cannot_take_run_one_by_one_in_order():
    """Jobs with difference cells (the sky models) go through overlap_task, interleaved
    with batched ones; the results come back in the jobs' order."""
    chips = _random_chips(5)
    plain = _jobs(chips)
    cells = _jobs(chips, cells=CellSpec(order=1, lsigma=3.0, usigma=3.0, nclip=3))
    mixed = [j for pair in zip(plain, cells) for j in pair]
    out = pairbatch.overlap_batch(mixed)
    _assert_same(out[0::2], [overlap_task(j) for j in plain])
    single = [overlap_task(j) for j in cells]
    for b, s in zip(out[1::2], single):
        assert (b.cells is None) == (s.cells is None)
        if s.cells is not None:
            np.testing.assert_array_equal(b.cells.diff, s.cells.diff)


def test_nearest_pixel_lookup_is_exact_on_chips_beyond_2_to_the_24_pixels():
    # Positions arrive as float32; the flat index of a pixel of a 4,200 x 4,300 chip
    # (> 2**24) must not be computed in float32, where odd indices round away.
    from skymatch.core._pairs import _lookup_good, lookup_padded, padded_mask

    rng = np.random.default_rng(24)
    good = rng.random((4200, 4300)) < 0.5
    y, x = np.mgrid[4100:4200, 4200:4300]
    xf = (x + rng.uniform(-0.49, 0.49, x.shape)).astype(np.float32)
    yf = (y + rng.uniform(-0.49, 0.49, y.shape)).astype(np.float32)
    want = good[y, x]
    assert np.array_equal(_lookup_good(xf, yf, good), want)
    assert np.array_equal(lookup_padded(xf, yf, padded_mask(good), good.shape), want)
    # Outside the chip and not-a-number positions are unusable.
    odd = np.array([-0.6, 4299.6, np.nan, 10.0], dtype=np.float32)
    assert not _lookup_good(odd, np.array([5, 5, 5, np.nan], dtype=np.float32), good).any()
