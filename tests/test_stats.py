"""Sky statistics: compat mode against stsci.imagestats bit for bit, default mode
invariants, early stopping against the previous implementation, parameter checks."""

import contextlib
import io
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skymatch import read_inputs, sky_methods
from skymatch.cli import main
from skymatch.core import SkyStatParams, StatisticError, sky_statistic
from skymatch.core._staticmask import reference_uses_static
from skymatch.core._stats import StatResult, _median32
from skymatch.exceptions import ParameterError

STATS = ["median", "mode", "mean", "midpt"]


def _sample(rng, n):
    base = rng.normal(1.0, 0.05, n)
    tail = (rng.random(n) < 0.1) * rng.exponential(1.0, n)
    return (base + tail).astype(np.float32)


def _imagestats(x, stat, **kw):
    """(value, npix, mean, std) from stsci.imagestats, or None when it fails."""
    imagestats = pytest.importorskip("stsci.imagestats")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            r = imagestats.ImageStats(x, fields="npix,mean,stddev," + stat, **kw)
    except (ValueError, RuntimeError):
        return None
    return float(getattr(r, stat)), int(r.npix), float(r.mean), float(r.stddev)


def _mine(x, stat, *, nclip, lsig, usig, binwidth, lower=None, upper=None, compat=True):
    try:
        r = sky_statistic(x, SkyStatParams(statistic=stat, nclip=nclip, lsigma=lsig, usigma=usig,
                                           binwidth=binwidth, lower=lower, upper=upper,
                                           compat=compat))
    except StatisticError:
        return None
    return r.value, r.npix, r.mean, r.std


def _bits(v) -> bytes:
    v = np.float64(v)
    return b"nan" if np.isnan(v) else v.tobytes()


def _same(a, b):
    """Bit-for-bit equality of two result tuples (any NaN equals any NaN)."""
    if a is None or b is None:
        return a is b
    return all(_bits(u) == _bits(v) for u, v in zip(a, b))


# ------------------------------------------------------------- compat = imagestats
@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("nclip", [0, 3, 5])
def test_compat_matches_imagestats(stat, nclip):
    rng = np.random.default_rng(100 + nclip)
    for _ in range(12):
        x = _sample(rng, int(rng.integers(100, 60_000)))
        kw = dict(nclip=nclip, lsig=4.0, usig=4.0, binwidth=0.1)
        ref = _imagestats(x, stat, **kw)
        assert _same(_mine(x, stat, **kw), ref), (stat, nclip)


def _dss_like(rng, n, dtype):
    """Photographic-plate sky: ~1e4 ADU, tens of ADU of noise, saturating stars."""
    sky = rng.uniform(5000, 15000)
    x = rng.normal(sky, rng.uniform(8, 60), n)
    stars = rng.random(n) < 0.05
    x[stars] += rng.exponential(3000, stars.sum())
    x = np.clip(np.round(x), 0, 32767)
    if dtype == "bscale":  # int16 stored with BSCALE = 0.5, BZERO = 20000, as astropy reads it
        stored = np.round((x - 20000) / 0.5).astype(np.int16)
        return stored.astype(np.float32) * np.float32(0.5) + np.float32(20000)
    return x.astype(dtype)


@pytest.mark.parametrize("stat", STATS)
def test_compat_bit_identical_to_imagestats_on_dss_like_integers(stat):
    # Integer-valued data of ~1e4 (DSS plates): every clipping pass, the median of
    # tied integers and histogram bins that fall on integer values must agree exactly.
    rng = np.random.default_rng(7)
    checked = 0
    for i in range(40):
        dtype = ["int16", "uint16", "int32", "bscale", "float64"][i % 5]
        x = _dss_like(rng, int(rng.integers(500, 80_000)), dtype)
        kw = dict(nclip=int(rng.choice([0, 1, 3, 5, 10])), lsig=float(rng.choice([2.5, 3.0, 4.0])),
                  usig=float(rng.choice([3.0, 4.0])), binwidth=float(rng.choice([0.05, 0.1, 0.3, 1.0])))
        xf = x.astype(np.float32)
        if i % 3 == 1:
            kw["lower"] = float(np.percentile(xf, 2))
        if i % 4 == 2:
            kw["upper"] = float(np.percentile(xf, 90))
        ref = _imagestats(x, stat, **kw)
        assert ref is not None
        assert _same(_mine(x, stat, **kw), ref), (i, dtype, kw)
        checked += 1
    assert checked == 40


def _random_case(rng):
    kind = int(rng.integers(0, 8))
    n = int(rng.choice([2, 3, 5, 10, 50, 300, 5000]))
    if kind == 0:
        x = rng.normal(0, 1, n)
    elif kind == 1:
        x = np.round(rng.normal(rng.uniform(-3e4, 3e4), rng.uniform(0.2, 50), n))
    elif kind == 2:
        x = rng.integers(0, 4, n) * rng.uniform(0.1, 1e4)
    elif kind == 3:
        x = np.full(n, rng.normal())
    elif kind == 4:
        x = rng.exponential(1, n) + rng.uniform(-1, 1) * 1e5
    elif kind == 5:
        x = np.round(rng.normal(1e4, 3, n))
        x[0] = rng.choice([0.0, 3e4, 1e4])  # first element outside the clipped range
    elif kind == 6:
        x = rng.standard_cauchy(n)
    else:
        x = rng.normal(1, 0.05, n) + (rng.random(n) < 0.2) * rng.exponential(3, n)
    x = x.astype(np.float32)
    kw = dict(nclip=int(rng.choice([0, 1, 2, 5, 20, 200])), lsig=float(rng.choice([1.0, 2.0, 3.0, 4.0])),
              usig=float(rng.choice([1.0, 2.5, 4.0])), binwidth=float(rng.choice([0.01, 0.1, 0.5, 2.0])))
    if rng.random() < 0.25:
        kw["lower"] = float(np.quantile(x, rng.uniform(0, 0.5)))
    if rng.random() < 0.25:
        kw["upper"] = float(np.quantile(x, rng.uniform(0.5, 1)))
    return x, kw


@pytest.mark.parametrize("stat", STATS)
def test_compat_bit_identical_to_imagestats_random(stat):
    # Small and degenerate arrays, constant data, heavy tails, a first element outside
    # the range, up to 200 clipping iterations; failures must coincide too.
    rng = np.random.default_rng({"median": 1, "mode": 2, "mean": 3, "midpt": 4}[stat])
    for i in range(300):
        x, kw = _random_case(rng)
        assert _same(_mine(x, stat, **kw), _imagestats(x, stat, **kw)), (i, kw)


def test_compat_one_pixel_histogram_fails_like_imagestats():
    # One pixel left and a non-zero histogram range: imagestats fails (int(nan)).
    x = np.array([1.0, 2.0], dtype=np.float32)
    kw = dict(nclip=2, lsig=4.0, usig=4.0, binwidth=0.1, lower=1.5)
    for stat in ("mode", "midpt"):
        assert _imagestats(x, stat, **kw) is None
        with pytest.raises(StatisticError, match="one pixel"):
            sky_statistic(x, SkyStatParams(statistic=stat, nclip=2, lower=1.5, compat=True))
        assert sky_statistic(x, SkyStatParams(statistic=stat, nclip=2, lower=1.5)).value == 2.0


def _cycle_case():
    """An array whose clipping limits cycle (period > 1) and that period, found by
    running the previous implementation (which does every pass)."""
    rng = np.random.default_rng(11)
    for _ in range(2000):
        x = rng.normal(0, 1, int(rng.choice([5, 7, 10]))).astype(np.float32)
        ls, us = float(rng.uniform(0.5, 3)), float(rng.uniform(0.5, 3))
        runs = []
        for n in range(40):
            try:
                r = _old_sky_statistic(x, SkyStatParams(statistic="mean", nclip=n, lsigma=ls, usigma=us))
            except StatisticError:
                break
            runs.append((r.npix, r.mean, r.std))
        if len(runs) < 40:
            continue
        for p in range(2, 8):
            if all(runs[n] == runs[n + p] for n in range(20, 40 - p)) and runs[30] != runs[31]:
                return x, ls, us, p
    raise AssertionError("no cycling case found")


def test_cycling_limits_are_jumped_over_exactly():
    x, ls, us, period = _cycle_case()
    for stat in STATS:
        for n in range(45):
            kw = dict(nclip=n, lsig=ls, usig=us, binwidth=0.1)
            assert _same(_mine(x, stat, **kw), _imagestats(x, stat, **kw)), (stat, n)
        # Any number of iterations terminates and lands on the right phase of the cycle.
        for huge in (10**9, 10**9 + 1, 10**12 + 7):
            equiv = 30 + (huge - 30) % period
            kw = dict(lsig=ls, usig=us, binwidth=0.1)
            assert _same(_mine(x, stat, nclip=huge, **kw), _imagestats(x, stat, nclip=equiv, **kw))


def test_huge_skyclip_terminates_with_the_converged_answer():
    rng = np.random.default_rng(12)
    x = _sample(rng, 400_000)
    for compat in (False, True):
        for stat in STATS:
            big = sky_statistic(x, SkyStatParams(statistic=stat, nclip=10**15, compat=compat))
            ref = sky_statistic(x, SkyStatParams(statistic=stat, nclip=60, compat=compat))
            assert big == ref


# ------------------------------------------------------ new = previous implementation
@pytest.mark.parametrize("compat", [False, True])
def test_early_stop_is_bit_identical_to_previous_implementation(compat):
    # The previous implementation always made nclip + 1 passes.  Everything it computed
    # (npix, mean, std, the pass's min/max and, but for the compat histogram fixes,
    # the value) must come out bit for bit the same.
    rng = np.random.default_rng(21 + compat)
    for i in range(400):
        x, kw = _random_case(rng) if i % 2 else (_sample(rng, int(rng.integers(10, 30_000))),
                                                  dict(nclip=int(rng.integers(0, 12)), lsig=3.0,
                                                       usig=float(rng.choice([2.0, 4.0])), binwidth=0.1))
        stat = STATS[i % 4]
        params = SkyStatParams(statistic=stat, nclip=kw["nclip"], lsigma=kw["lsig"], usigma=kw["usig"],
                               binwidth=kw["binwidth"], lower=kw.get("lower"), upper=kw.get("upper"),
                               compat=compat)
        try:
            old = _old_sky_statistic(x, params)
        except StatisticError:
            with pytest.raises(StatisticError):
                sky_statistic(x, params)
            continue
        if compat and stat in ("mode", "midpt") and old.npix == 1:
            continue  # the previous version did not fail where imagestats does
        new = sky_statistic(x, params)
        fields = ["npix", "mean", "std", "vmin", "vmax"]
        if not (compat and stat in ("mode", "midpt")):
            fields.append("value")  # compat mode/midpt: checked against imagestats above
        for f in fields:
            assert _bits(getattr(new, f)) == _bits(getattr(old, f)), (i, f)


def test_median_is_np_median_bit_for_bit():
    rng = np.random.default_rng(31)
    for i in range(3000):
        n = int(rng.integers(1, 300))
        kind = i % 4
        if kind == 0:
            a = rng.normal(0, 1, n)
        elif kind == 1:
            a = rng.integers(-3, 4, n)
        elif kind == 2:
            a = rng.choice([-0.0, 0.0, 1.0, -1.0], n)  # the sign of a zero median too
        else:
            a = rng.normal(1e4, 1, n)
        a = a.astype(np.float32)
        assert np.float32(_median32(a)).tobytes() == np.median(a).tobytes(), i
    big = np.float32([3.0e38, 3.0e38])  # the float32 sum of the two middles overflows
    with np.errstate(over="ignore"):
        assert _median32(big) == np.median(big) == np.inf


# ------------------------------------------------------------- default-mode rules
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
    for stat in STATS:
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


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("kwargs, text", [
    (dict(statistic="average"), "is not a sky statistic"),
    (dict(nclip=-1), "skyclip"),
    (dict(nclip=1.5), "skyclip=1.5"),
    (dict(nclip=float("nan")), "skyclip=nan"),
    (dict(nclip=float("inf")), "skyclip=inf"),
    (dict(nclip=True), "skyclip=True"),
    (dict(binwidth=0), "skywidth"),
    (dict(binwidth=float("nan")), "skywidth=nan"),
    (dict(binwidth=float("inf")), "skywidth=inf"),
    (dict(lsigma=float("nan")), "skylsigma=nan"),
    (dict(lsigma=-1.0), "skylsigma=-1.0"),
    (dict(usigma=float("inf")), "skyusigma=inf"),
    (dict(lower=float("nan")), "skylower=nan"),
    (dict(lower=float("inf")), "skylower=inf"),
    (dict(lower=-float("inf")), "skylower=-inf"),
    (dict(upper=float("nan")), "skyupper=nan"),
    (dict(upper=float("inf")), "skyupper=inf"),
    (dict(lower="1"), "skylower='1'"),
    (dict(lower=2.0, upper=1.0), "swap"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text.replace("(", r"\(").replace("+", r"\+")):
        SkyStatParams(**kwargs)


def test_limits_beyond_float32_range_are_infinite():
    # The C code converts them to float32 (+-inf) without complaint; so do we.
    x = np.arange(100, dtype=np.float32)
    kw = dict(nclip=3, lsig=1e300, usig=1e300, binwidth=0.1)
    for stat in STATS:
        with np.errstate(over="ignore"):  # imagestats' own float32 comparison warns
            ref = _imagestats(x, stat, upper=1e300, lower=-1e300, **kw)
        assert ref is not None and _same(_mine(x, stat, upper=1e300, lower=-1e300, **kw), ref)


def test_integral_skyclip_is_stored_as_int():
    assert SkyStatParams(nclip=np.int64(3)).nclip == 3
    p = SkyStatParams(nclip=4.0)
    assert p.nclip == 4 and isinstance(p.nclip, int)


# ------------------------------------------------- DSS-like tiles (task: compat on any data)
def _dss_tiles(d, *, n=420, tile=240, step=180, seed=3, bunit=None):
    """Overlapping int16 tiles of a vignetted photographic plate, each with its own WCS.

    The plate is flat in the middle and falls off steeply towards its edges, so in some
    tiles a corner is far below that tile's mode: exactly what AstroDrizzle's static
    mask removes, and (all tiles having one shape) from every tile.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    r2 = ((xx - 0.45 * n) ** 2 + (yy - 0.55 * n) ** 2) / (0.7 * n) ** 2
    plate = 11000 + 150 * np.sin(xx / 90.0) - 2500 * np.clip(r2 - 0.55, 0, None) ** 1.5
    plate += rng.normal(0, 35, (n, n))
    for _ in range(150):
        x0, y0 = rng.uniform(0, n, 2)
        plate += 10 ** rng.uniform(2, 4.5) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 8.0)
    plate = np.clip(np.round(plate), -32768, 32767).astype(np.int16)
    paths = []
    for r0 in range(0, n - tile + 1, step):
        for c0 in range(0, n - tile + 1, step):
            w = WCS(naxis=2)
            w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
            w.wcs.crval = [83.8, -5.4]
            w.wcs.crpix = [n / 2 - c0 + 0.5, n / 2 - r0 + 0.5]
            w.wcs.cd = [[-1.7 / 3600, 0], [0, 1.7 / 3600]]
            p = d / f"plate{r0:03d}x{c0:03d}.fits"
            hdr = w.to_header()
            if bunit:
                hdr["BUNIT"] = bunit
            fits.PrimaryHDU(plate[r0:r0 + tile, c0:c0 + tile], header=hdr).writeto(p)
            paths.append(p)
    return paths


@pytest.fixture(scope="module")
def dss_tiles(tmp_path_factory):
    d = tmp_path_factory.mktemp("dss")
    return d, _dss_tiles(d)


@pytest.mark.parametrize("stat", STATS)
def test_compat_localmin_on_int16_tiles_is_the_reference(dss_tiles, stat):
    # For non-HST images the Reference is stsci.skypac's skymatch(): per tile,
    # ImageStats of the whole int16 array (cast to float32), no static mask.
    d, paths = dss_tiles
    chips = read_inputs(str(d / "*.fits"), compat=True)
    assert not reference_uses_static(chips)
    res = sky_methods(chips, methods=["localmin"], compat="drizzlepac", skystat=stat)["localmin"]
    static = sky_methods(chips, methods=["localmin"], compat="drizzlepac", skystat=stat,
                         use_static=True)["localmin"]
    moved = 0
    for p, cs, cst in zip(paths, res.chips, static.chips):
        ref = _imagestats(fits.getdata(p), stat, nclip=5, lsig=4.0, usig=4.0, binwidth=0.1)
        assert cs.local == ref[0] and cs.npix > 0, p.name
        assert cs.sky == pytest.approx(ref[0], rel=1e-15, abs=0)
        moved += cst.local != ref[0]
    assert moved > 0  # the static mask (AstroDrizzle's, not skypac's) would move them


def test_reference_uses_static_only_for_astrodrizzle_instruments(reference_dir):
    hst = read_inputs(str(reference_dir / "inputs" / "*_flt.fits"), compat=True)
    assert reference_uses_static(hst)
    assert not reference_uses_static([])


def _tile(tmp_path):
    return _dss_tiles(tmp_path, n=240, tile=240, step=240, bunit="COUNTS/S")[0]


@pytest.mark.parametrize("args, name", [
    (["--skylower", "nan"], "skylower=nan"),
    (["--skylower", "inf"], "skylower=inf"),
    (["--skyupper", "nan"], "skyupper=nan"),
    (["--skyupper=-inf"], "skyupper=-inf"),
    (["--skylsigma", "nan"], "skylsigma=nan"),
    (["--skyusigma", "inf"], "skyusigma=inf"),
    (["--skywidth", "nan"], "skywidth=nan"),
    (["--skywidth", "0"], "skywidth=0"),
])
def test_cli_refuses_non_finite_statistic_options(tmp_path, capsys, args, name):
    path = _tile(tmp_path)
    code = main(["sky", str(path), "--readonly", *args])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skymatch: error: ") and name in lines[0], err


def test_cli_huge_skyclip_finishes(tmp_path, capsys):
    path = _tile(tmp_path)
    assert main(["sky", str(path), "--readonly", "--skyclip", "100000000000",
                 "--table", str(tmp_path / "t.csv")]) == 0
    capsys.readouterr()
    chips = read_inputs(str(path))
    a = sky_methods(chips, methods=["localmin"], nclip=10**11)["localmin"].chips[0].local
    b = sky_methods(chips, methods=["localmin"], nclip=200)["localmin"].chips[0].local
    assert a == b


# ------------------------------------------------ the previous implementation (kept)
# Verbatim copy of sky_statistic before early stopping (commit de47b0e), which always
# made nclip + 1 passes; used above to show the new one is bit-identical, and by
# benchmarks/bench_stats.py as the "old" timing.
_EPS10 = 10.0 * float(np.finfo(np.float32).eps)


def _old_sky_statistic(values: np.ndarray, params: SkyStatParams) -> StatResult:
    x = np.asarray(values)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    x = x.ravel()
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    if x.size == 0:
        raise StatisticError("no usable pixels")

    xmin32, xmax32 = x.min(), x.max()
    gmin = float(xmin32)
    gmax = float(xmax32)
    lower, upper = params.lower, params.upper
    if lower is not None and lower > gmax:
        raise StatisticError(f"lower limit {lower} is above the largest value {gmax}")
    if upper is not None and upper < gmin:
        raise StatisticError(f"upper limit {upper} is below the smallest value {gmin}")
    lo = gmin if lower is None else float(lower)
    hi = gmax if upper is None else float(upper)

    first = float(x[0])
    cmin, cmax = lo, hi
    sel = x
    sel_range = (-math.inf, math.inf)
    npix = 0
    mean = std = math.nan
    c32min = c32max = np.float32(0)
    for it in range(params.nclip + 1):
        c32min, c32max = np.float32(cmin), np.float32(cmax)
        # Passes after the first usually shrink the range: then select from the
        # previous selection (same result, less work).
        base = sel if (sel_range[0] <= c32min and c32max <= sel_range[1]) else x
        # (if the range holds every value there is nothing to select)
        sel = x if base is x and c32min <= xmin32 and c32max >= xmax32 else base[(base >= c32min) & (base <= c32max)]
        sel_range = (c32min, c32max)
        npix = int(sel.size)
        if npix == 0:
            raise StatisticError(
                f"no value inside the clipping range [{cmin:.6g}, {cmax:.6g}] at pass {it}"
            )
        total = float(np.sum(sel, dtype=np.float64))
        mean32 = np.float32(total / npix)
        mean = float(mean32)
        # imagestats: float32 deviations, squared in float32, accumulated in double.
        dev = np.subtract(sel, mean32)
        np.square(dev, out=dev)
        sumdiff = float(np.sum(dev, dtype=np.float64))
        del dev
        std = float(np.float32(math.sqrt(sumdiff / (npix - 1)))) if npix > 1 else math.nan
        if it < params.nclip:
            cmin = _old_max(lo, mean - params.lsigma * std)
            cmax = _old_min(hi, mean + params.usigma * std)

    # The last pass's minimum and maximum (only the histogram statistics need them).
    smin, smax = float(sel.min()), float(sel.max())
    if params.compat:
        # Reference quirk: the running min/max start from the first input element.
        pmin = min(max(float(c32min), first), smin)
        pmax = max(min(float(c32max), first), smax)
    else:
        pmin, pmax = smin, smax
    stat = params.statistic
    if stat == "mean":
        value = mean
    elif stat == "median":
        value = float(np.median(sel if params.nclip > 0 else x))
    else:
        value = _old_histogram_statistic(x, pmin, pmax, std, params)
    return StatResult(value=value, npix=npix, mean=mean, std=std, vmin=pmin, vmax=pmax)


def _old_max(a: float, b: float) -> float:
    # Python's max(a, b) keeps ``a`` when ``b`` is NaN, as the Reference does.
    return max(a, b)


def _old_min(a: float, b: float) -> float:
    return min(a, b)


def _old_layout(vmin: float, vmax: float, std: float, binwidth: float):
    """(hw, nbins, dz) of the imagestats histogram."""
    hw = binwidth * std
    dr = vmax - vmin
    if not (hw >= _EPS10) or abs(dr) < _EPS10 or hw > dr:
        return hw, 1, dr
    nbins = int(dr / hw) + 1
    return hw, nbins, dr / (nbins - 1)


def _old_histogram_statistic(
    x: np.ndarray, vmin: float, vmax: float, std: float, params: SkyStatParams
) -> float:
    """``mode`` or ``midpt`` from the histogram of the whole input (imagestats rules)."""
    hw, nbins, dz = _old_layout(vmin, vmax, std, params.binwidth)
    dr = vmax - vmin
    # Binning as the Reference's compiled C code does it: float32 parameters, and the
    # float32 difference multiplied by the float32 reciprocal of the bin width (its
    # source divides in double, but the shipped build evaluates this; checked bin for
    # bin against stsci.imagestats 1.8.4).  Indices are clamped to the histogram.
    min32 = np.float32(vmin)
    dz32 = np.float32(dz)
    max32 = min32 + dz32 * np.float32(nbins)
    inside = x[(x >= min32) & (x < max32)]
    if dz32 > 0:
        with np.errstate(over="ignore"):
            idx = ((inside - min32) * (np.float32(1.0) / dz32)).astype(np.int64)
    else:
        idx = np.zeros(inside.size, dtype=np.int64)
    np.clip(idx, 0, nbins - 1, out=idx)
    hist = np.bincount(idx, minlength=nbins)[:nbins]

    step = hw if params.compat else dz
    if params.statistic == "mode":
        if nbins == 1:
            return vmin + 0.5 * (hw if params.compat else dr)
        if nbins == 2:
            if hist[0] > hist[1]:
                return vmin + 0.5 * step
            if hist[0] < hist[1]:
                return vmin + 1.5 * step
            return vmin + step
        p = int(np.argmax(hist))
        if p == 0:
            return vmin + 0.5 * step
        if p == nbins - 1:
            return vmin + (nbins - 0.5) * step
        d1 = int(hist[p]) - int(hist[p - 1])
        d2 = int(hist[p]) - int(hist[p + 1])
        if d1 + d2 == 0:
            return vmin + (p + 0.5) * step
        return vmin + (p + 0.5 + 0.5 * (d1 - d2) / (d1 + d2)) * step

    # midpt
    if nbins == 1:
        if params.compat:
            return float(hist[0])  # Reference bug: the bin count, not a value
        return vmin + 0.5 * dr
    csum = np.cumsum(hist).astype(np.float32)
    csum = csum / csum[-1]
    lo = int(np.nonzero(csum >= 0.5)[0][0])
    h1 = vmin + lo * step
    cprev = float(csum[lo - 1]) if lo > 0 else 0.0
    frac = float(csum[lo]) - cprev if lo > 0 else float(csum[0])
    if frac == 0:
        return h1
    return h1 + (0.5 - cprev) / frac * step
