"""Sky statistics: compat mode against stsci.imagestats, default mode invariants."""

import contextlib
import io

import numpy as np
import pytest

from skymatch.core import SkyStatParams, StatisticError, sky_statistic
from skymatch.exceptions import ParameterError


def _sample(rng, n):
    base = rng.normal(1.0, 0.05, n)
    tail = (rng.random(n) < 0.1) * rng.exponential(1.0, n)
    return (base + tail).astype(np.float32)


@pytest.mark.parametrize("stat", ["median", "mean", "mode", "midpt"])
@pytest.mark.parametrize("nclip", [0, 3, 5])
def test_compat_matches_imagestats(stat, nclip):
    imagestats = pytest.importorskip("stsci.imagestats")
    rng = np.random.default_rng(100 + nclip)
    for _ in range(12):
        x = _sample(rng, int(rng.integers(100, 60_000)))
        with contextlib.redirect_stdout(io.StringIO()):
            ref = imagestats.ImageStats(x, fields="npix," + stat, nclip=nclip,
                                        lsig=4.0, usig=4.0, binwidth=0.1)
        mine = sky_statistic(x, SkyStatParams(statistic=stat, nclip=nclip, compat=True))
        assert mine.npix == ref.npix
        assert abs(mine.value - getattr(ref, stat)) <= 1e-4 * ref.stddev


@pytest.mark.parametrize("stat", ["median", "mean"])
def test_default_equals_compat_for_mean_and_median(stat):
    rng = np.random.default_rng(5)
    x = _sample(rng, 50_000)
    a = sky_statistic(x, SkyStatParams(statistic=stat, compat=True))
    b = sky_statistic(x, SkyStatParams(statistic=stat))
    assert a.value == b.value and a.npix == b.npix


@pytest.mark.parametrize("stat", ["mode", "midpt"])
def test_default_within_half_sigma_of_compat(stat):
    rng = np.random.default_rng(6)
    for _ in range(10):
        x = _sample(rng, 40_000)
        a = sky_statistic(x, SkyStatParams(statistic=stat, compat=True))
        b = sky_statistic(x, SkyStatParams(statistic=stat))
        assert abs(a.value - b.value) < 0.5 * a.std


def test_known_gaussian_median_and_mode():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 0.1, 400_000).astype(np.float32)
    for stat in ("median", "mean", "mode", "midpt"):
        r = sky_statistic(x, SkyStatParams(statistic=stat))
        assert r.value == pytest.approx(3.0, abs=0.01), stat
    assert sky_statistic(x, SkyStatParams()).std == pytest.approx(0.1, rel=0.01)


def test_nonfinite_values_are_dropped():
    x = np.array([1.0, 2.0, np.nan, 3.0, np.inf], dtype=np.float32)
    r = sky_statistic(x, SkyStatParams(statistic="mean", nclip=0))
    assert r.value == pytest.approx(2.0) and r.npix == 3


def test_failures_raise_statistic_error():
    with pytest.raises(StatisticError):
        sky_statistic(np.array([np.nan], dtype=np.float32), SkyStatParams())
    with pytest.raises(StatisticError):
        sky_statistic(np.ones(10, np.float32), SkyStatParams(lower=5.0))
    with pytest.raises(StatisticError):
        sky_statistic(np.ones(10, np.float32), SkyStatParams(upper=0.5))


def test_single_bin_midpt_quirk_only_in_compat():
    # Constant data give a one-bin histogram; the Reference returns that bin's count
    # (here 0: its half-open bin [min, min + 0) is empty).  Default mode: the value.
    x = np.full(100, 7.0, dtype=np.float32)
    assert sky_statistic(x, SkyStatParams(statistic="midpt", compat=True)).value == 0.0
    assert sky_statistic(x, SkyStatParams(statistic="midpt")).value == pytest.approx(7.0)
    assert sky_statistic(x, SkyStatParams(statistic="mode")).value == pytest.approx(7.0)


@pytest.mark.parametrize("kwargs, text", [
    (dict(statistic="average"), "is not a sky statistic"),
    (dict(nclip=-1), "skyclip"),
    (dict(binwidth=0), "skywidth"),
    (dict(lower=2.0, upper=1.0), "swap"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        SkyStatParams(**kwargs)
