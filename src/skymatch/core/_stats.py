"""Sky statistics with iterative sigma clipping (SPEC section 4).

Two flavours share one entry point, :func:`sky_statistic`:

* ``compat=True`` reproduces ``stsci.imagestats.ImageStats`` 1.8.4 (which every STScI
  tool uses) bit for bit, quirks included: float32 clipping limits, float32 deviations
  squared in float32 and accumulated in double, the pass minimum/maximum seeded from the
  first input element, histogram indices as its compiled C code computes them (the
  float32 difference times the float32 reciprocal of the bin width; an index equal to
  the number of bins is dropped), bins converted back with the nominal width ``hw``,
  ``midpt`` evaluated in float32 as its Python code is under numpy 2, and ``midpt``
  returning a bin *count* when the histogram has one bin.
* ``compat=False`` (default) does the same clipping, order-independent, with bins
  converted with their real width.  ``mean`` and ``median`` are identical in both.

Non-finite values are always dropped first (the Reference lets one NaN poison the
statistic; see ``docs/conventions.md``).

The Reference does exactly ``nclip + 1`` passes.  Each pass depends only on the pixels
the previous one selected, so once a pass selects the same pixels as the one before,
every remaining pass would repeat it: the loop stops there (and jumps over whole cycles
when the clipping limits repeat), which gives bit-identical results in less time and
makes any ``nclip`` terminate.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..exceptions import ParameterError

__all__ = ["SKY_STATISTICS", "SkyStatParams", "StatResult", "StatisticError", "sky_statistic"]

SKY_STATISTICS = ("median", "mode", "mean", "midpt")
_F32_EPS10 = 10.0 * float(np.finfo(np.float32).eps)
#: Largest histogram the statistic builds (the Reference would try any size).
MAX_HISTOGRAM_BINS = 10_000_000


class StatisticError(ValueError):
    """The statistic could not be computed (no data, empty clipping range ...)."""


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def _finite_number(name: str, value, *, positive: bool) -> float:
    if not _is_real(value) or not math.isfinite(float(value)) or (positive and not value > 0):
        need = "a positive finite number" if positive else "a finite number or None"
        raise ParameterError(f"{name}={value!r}: must be {need}")
    return float(value)


@dataclass(frozen=True)
class SkyStatParams:
    """Parameters of the sky statistic (AstroDrizzle names in brackets).

    Attributes
    ----------
    statistic : {'median', 'mode', 'mean', 'midpt'}
        [skystat] The statistic reported as the sky.
    lower, upper : float or None
        [skylower, skyupper] Data-unit limits of usable values (finite numbers).
    nclip : int
        [skyclip] Number of clipping iterations (at most ``nclip + 1`` passes are made;
        the passes stop early when they can no longer change anything).
    lsigma, usigma : float
        [skylsigma, skyusigma] Lower and upper clipping limits in units of sigma.
    binwidth : float
        [skywidth] Histogram bin width in units of sigma (``mode`` and ``midpt``).
    compat : bool
        Reproduce stsci.imagestats exactly, quirks included.

    Raises
    ------
    ParameterError
        For an unknown statistic, a negative or non-integer ``nclip``, a non-finite or
        non-positive ``lsigma``/``usigma``/``binwidth``, a non-finite ``lower``/``upper``
        or ``lower > upper``; the message names the AstroDrizzle parameter.
    """

    statistic: str = "median"
    lower: float | None = None
    upper: float | None = None
    nclip: int = 5
    lsigma: float = 4.0
    usigma: float = 4.0
    binwidth: float = 0.1
    compat: bool = False

    def __post_init__(self) -> None:
        if self.statistic not in SKY_STATISTICS:
            raise ParameterError(
                f"skystat={self.statistic!r} is not a sky statistic; use one of "
                + ", ".join(SKY_STATISTICS)
            )
        nclip = self.nclip
        if (not _is_real(nclip) or not math.isfinite(float(nclip)) or int(nclip) != nclip
                or nclip < 0):
            raise ParameterError(f"skyclip={nclip!r}: must be a non-negative integer")
        object.__setattr__(self, "nclip", int(nclip))
        _finite_number("skylsigma", self.lsigma, positive=True)
        _finite_number("skyusigma", self.usigma, positive=True)
        _finite_number("skywidth", self.binwidth, positive=True)
        for name, value in (("skylower", self.lower), ("skyupper", self.upper)):
            if value is not None:
                _finite_number(name, value, positive=False)
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ParameterError(
                f"skylower={self.lower} is larger than skyupper={self.upper}; swap them"
            )


@dataclass(frozen=True)
class StatResult:
    """Value of a statistic and the number of pixels of its last clipping pass."""

    value: float
    npix: int
    mean: float
    std: float
    vmin: float = float("nan")  # minimum of the last pass (Reference rule in compat)
    vmax: float = float("nan")


class _Pass(NamedTuple):
    """Outcome of the last clipping pass."""

    sel: np.ndarray  # the selected values, in input order
    npix: int
    mean: float
    std: float
    cmin32: np.float32  # the pass's clipping limits as the Reference uses them
    cmax32: np.float32


def sky_statistic(values: np.ndarray, params: SkyStatParams) -> StatResult:
    """Compute the sky statistic of ``values``.

    Parameters
    ----------
    values : array_like
        Usable pixel values (any shape, any real dtype; cast to float32 as the
        Reference does).
    params : SkyStatParams
        Statistic and clipping parameters.

    Returns
    -------
    StatResult

    Raises
    ------
    StatisticError
        When no finite value is given, the limits exclude all data, a clipping pass
        selects nothing, or (compat) the Reference would fail on the histogram.
    """
    x = np.asarray(values)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    x = x.ravel()
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    del finite
    if x.size == 0:
        raise StatisticError("no usable pixels")

    xmin32, xmax32 = x.min(), x.max()
    lower, upper = params.lower, params.upper
    # Limits beyond the float32 range become +-inf, as in the Reference's C code.
    with np.errstate(over="ignore"):
        # The Reference compares its limits with the float32 extremes in float32 (numpy 2).
        if lower is not None and np.float32(lower) > xmax32:
            raise StatisticError(f"lower limit {lower} is above the largest value {float(xmax32)}")
        if upper is not None and np.float32(upper) < xmin32:
            raise StatisticError(f"upper limit {upper} is below the smallest value {float(xmin32)}")
        lo = float(xmin32) if lower is None else float(lower)
        hi = float(xmax32) if upper is None else float(upper)
        last = _clip(x, xmin32, xmax32, lo, hi, params)
    sel = last.sel
    # The last pass's minimum and maximum (only the histogram statistics need them).
    smin, smax = float(sel.min()), float(sel.max())
    if params.compat:
        # Reference quirk: the running min/max start from the first input element.
        first = float(x[0])
        pmin = min(max(float(last.cmin32), first), smin)
        pmax = max(min(float(last.cmax32), first), smax)
    else:
        pmin, pmax = smin, smax
    stat = params.statistic
    if stat == "mean":
        value = last.mean
    elif stat == "median":
        value = _median32(sel if params.nclip > 0 else x)
    else:
        value = _histogram_statistic(x, pmin, pmax, last.std, params)
    return StatResult(value=value, npix=last.npix, mean=last.mean, std=last.std,
                      vmin=pmin, vmax=pmax)


def _clip(x: np.ndarray, xmin32, xmax32, lo: float, hi: float, params: SkyStatParams) -> _Pass:
    """The clipping passes of imagestats, stopping when nothing can change any more.

    Pass ``t`` selects ``cmin <= x <= cmax`` (float32 limits) and everything after it
    depends on that selection only.  So when a pass selects the same pixels as the
    previous one, the remaining passes repeat it and the loop ends; and when a pass's
    limits equal those of an earlier pass the sequence is periodic from there, so only
    the passes needed to land on the same phase as the last one are run.
    """
    nclip = params.nclip
    lsigma, usigma = params.lsigma, params.usigma
    end = nclip
    seen: dict[tuple[float, float], int] = {}
    cmin, cmax = lo, hi
    prev: _Pass | None = None
    t = 0
    while True:
        c32min, c32max = np.float32(cmin), np.float32(cmax)
        key = (float(c32min), float(c32max))
        first_seen = seen.setdefault(key, t)
        if first_seen != t and end == nclip:
            end = t + (nclip - t) % (t - first_seen)

        nested = prev is not None and prev.cmin32 <= c32min and c32max <= prev.cmax32
        if nested:
            # The range shrank: select from the previous selection (same pixels, same
            # order, less work).
            base = prev.sel
            sel = base[(base >= c32min) & (base <= c32max)]
        elif c32min <= xmin32 and c32max >= xmax32:
            sel = x  # the range holds every value: nothing to select
        else:
            sel = x[(x >= c32min) & (x <= c32max)]
        npix = sel.size
        if npix == 0:
            raise StatisticError(
                f"no value inside the clipping range [{cmin:.6g}, {cmax:.6g}] at pass {t}"
            )
        if prev is not None and npix == prev.npix and (
                nested or (prev.cmin32 <= sel.min() and sel.max() <= prev.cmax32)):
            # Same pixels as the previous pass: this pass and all later ones repeat it.
            return _Pass(prev.sel, npix, prev.mean, prev.std, c32min, c32max)
        mean, std = _mean_std(sel)
        cur = _Pass(sel, npix, mean, std, c32min, c32max)
        if t >= end:
            return cur
        cmin = _pymax(lo, mean - lsigma * std)
        cmax = _pymin(hi, mean + usigma * std)
        prev = cur
        t += 1


def _mean_std(sel: np.ndarray) -> tuple[float, float]:
    """imagestats' mean and standard deviation of one pass.

    The sum is accumulated in double and the mean stored as float32; deviations from
    that float32 mean are squared in float32 and accumulated in double (n - 1 divisor),
    the standard deviation stored as float32.  (``np.add.reduce`` is what ``np.sum``
    calls, without its Python wrappers.)
    """
    npix = sel.size
    mean32 = np.float32(float(_add_reduce(sel, dtype=np.float64)) / npix)
    if npix < 2:
        return float(mean32), math.nan
    dev = np.subtract(sel, mean32)
    np.multiply(dev, dev, out=dev)
    sumdiff = float(_add_reduce(dev, dtype=np.float64))
    return float(mean32), float(np.float32(math.sqrt(sumdiff / (npix - 1))))


_add_reduce = np.add.reduce


def _median32(a: np.ndarray) -> float:
    """``np.median`` of a float32 array, bit for bit, with one ``np.partition``.

    For an even count ``np.median`` returns the float32 mean of the two middle values,
    ``float32(float32(lo + hi) / 2)``; ``lo`` is the largest value below the upper
    middle one after partitioning there.  (``np.median`` partitions at both middles and
    at the end to look for NaN, which costs ~10x more; the values are finite here.)  A
    zero median is left to ``np.median`` so that even the sign of zero is the same.
    """
    n = a.size
    k = n // 2
    part = np.partition(a, k)
    upper = part[k]
    if n % 2:
        value = upper
    else:
        with np.errstate(over="ignore"):
            # np.mean of the two float32 values: their float32 sum over 2, in float32.
            value = (part[:k].max() + upper) / np.float32(2)
    if value == 0:
        # Which of -0.0 and +0.0 lands in the middle depends on the partitioning.
        return float(np.median(a))
    return float(value)


def _pymax(a: float, b: float) -> float:
    # Python's max(a, b) keeps ``a`` when ``b`` is NaN, as the Reference does.
    return b if b > a else a


def _pymin(a: float, b: float) -> float:
    return b if b < a else a


def _histogram_layout(vmin: float, vmax: float, std: float, binwidth: float,
                      compat: bool = False):
    """(hw, nbins, dz) of the imagestats histogram.

    With a NaN width (one selected pixel) and a non-zero range the Reference fails
    (``int(nan)``); compat mode raises :class:`StatisticError` there, default mode uses
    one bin.
    """
    hw = binwidth * std
    dr = vmax - vmin
    if compat and math.isnan(hw) and not abs(dr) < _F32_EPS10:
        raise StatisticError("one pixel left after clipping: no width for the histogram")
    if not (hw >= _F32_EPS10) or abs(dr) < _F32_EPS10 or hw > dr:
        return hw, 1, dr
    nbins = int(dr / hw) + 1
    if nbins > MAX_HISTOGRAM_BINS:
        raise StatisticError(
            f"the histogram would need {nbins:,} bins (range {dr:.6g}, bin {hw:.6g}); "
            "use a larger skywidth"
        )
    return hw, nbins, dr / (nbins - 1)


def _histogram_nbins(res: StatResult, params: SkyStatParams) -> int:
    """Number of histogram bins the statistic ``res`` had (1 = degenerate)."""
    return _histogram_layout(res.vmin, res.vmax, res.std, params.binwidth, params.compat)[1]


def _histogram_counts(x: np.ndarray, vmin: float, dz: float, nbins: int, *,
                      drop_top: bool) -> np.ndarray:
    """imagestats' histogram of ``x``: ``nbins`` bins of width ``dz`` from ``vmin``.

    Binning as the Reference's compiled C code does it (``populate1DHist_`` in
    stsci.imagestats' ``src/buildHistogram.c``): float32 parameters, values with
    ``min <= v < min + nbins*dz`` (float32), index = int(float32(v - min) * float32(1/dz)).
    An index equal to ``nbins`` lands in the C code's spare element and is dropped
    (``drop_top``, compat) or put in the last bin (default).
    """
    min32 = np.float32(vmin)
    dz32 = np.float32(dz)
    max32 = min32 + dz32 * np.float32(nbins)
    inside = x[(x >= min32) & (x < max32)]
    if dz32 > 0:
        t = np.subtract(inside, min32)
        with np.errstate(over="ignore"):
            np.multiply(t, np.float32(1.0) / dz32, out=t)
        idx = t.astype(np.intp)
    else:
        idx = np.zeros(inside.size, dtype=np.intp)
    if not drop_top:
        np.minimum(idx, nbins - 1, out=idx)
    return np.bincount(idx, minlength=nbins)[:nbins]


def _histogram_statistic(
    x: np.ndarray, vmin: float, vmax: float, std: float, params: SkyStatParams
) -> float:
    """``mode`` or ``midpt`` from the histogram of the whole input (imagestats rules)."""
    compat = params.compat
    hw, nbins, dz = _histogram_layout(vmin, vmax, std, params.binwidth, compat)
    hist = _histogram_counts(x, vmin, dz, nbins, drop_top=compat)
    if compat:
        if params.statistic == "mode":
            return _mode_compat(hist, vmin, hw)
        return _midpt_compat(hist, vmin, hw)

    dr = vmax - vmin
    step = dz
    if params.statistic == "mode":
        if nbins == 1:
            return vmin + 0.5 * dr
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


def _mode_compat(hist: np.ndarray, vmin: float, hw: float) -> float:
    """imagestats' ``mode``, operation for operation (``ImageStats._computeStats``)."""
    nbins = hist.size
    if nbins == 1:
        return vmin + 0.5 * hw
    if nbins == 2:
        if hist[0] > hist[1]:
            return vmin + 0.5 * hw
        if hist[0] < hist[1]:
            return vmin + 1.5 * hw
        return vmin + hw
    p = int(np.argmax(hist))
    if p == 0:
        return vmin + 0.5 * hw
    if p == nbins - 1:
        return vmin + (nbins - 0.5) * hw
    d1 = int(hist[p]) - int(hist[p - 1])
    d2 = int(hist[p]) - int(hist[p + 1])
    denom = d1 + d2
    if denom == 0:
        return vmin + (p + 0.5) * hw
    m = p + 1 + (0.5 * (d1 - d2)) / denom
    return vmin + ((m - 0.5) * hw)


def _midpt_compat(hist: np.ndarray, vmin: float, hw: float) -> float:
    """imagestats' ``midpt`` with numpy-2 arithmetic: the interpolation is float32.

    In ``_h1 + (0.5 - _binSum[_lo - 1]) / _hdiff * _hwidth`` the cumulative sums are
    float32 and, under numpy 2's promotion rules, so is the whole fraction (the Python
    float ``_hwidth`` is cast to float32); only the final addition is double.
    """
    if hist.size == 1:
        return float(hist[0])  # Reference bug: the bin count, not a value
    csum = np.cumsum(hist).astype(np.float32)
    if not csum[-1] > 0:
        raise StatisticError("empty histogram")
    csum = csum / csum[-1]
    lo = int(np.nonzero(csum >= np.float32(0.5))[0][0])
    h1 = vmin + lo * hw
    hdiff = csum[lo] if lo == 0 else csum[lo] - csum[lo - 1]
    if hdiff == 0:
        return h1
    hw32 = np.float32(hw)
    if lo == 0:
        return h1 + float(np.float32(0.5) / hdiff * hw32)
    return h1 + float((np.float32(0.5) - csum[lo - 1]) / hdiff * hw32)
