"""Point-source catalogues for alignment (TweakReg's ``imagefind`` step), on photutils.

The detection is TweakReg's: a Gaussian kernel of FWHM ``conv_width`` and a threshold of
``threshold`` times the background noise (photutils ``DAOStarFinder``, the same DAOFIND
algorithm).  Positions are then refined by a 2-D Gaussian fit in a small box around
each detection (photutils ``centroid_2dg``): DAOFIND's marginal centroids are biased by
up to several tenths of a pixel for undersampled stars, too much for 0.01-pixel
alignment.  Sources whose fitting box reaches the image edge or a region without data
are dropped, because a clipped profile gives a biased centroid; isolated flagged pixels
are only left out of the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

__all__ = ["SourceFindParams", "find_sources", "POSITION_FLOOR"]

POSITION_FLOOR = 0.02  # pixels: centroid error floor of resampled, undersampled images


@dataclass(frozen=True)
class SourceFindParams:
    """Detection parameters, with TweakReg's ``imagefindpars`` meanings.

    Attributes
    ----------
    threshold : float
        Detection threshold in units of the background noise (sigma).
    conv_width : float
        FWHM (pixels) of the Gaussian detection kernel; about twice the PSF FWHM is
        TweakReg's advice.
    peakmin, peakmax : float or None
        Keep sources whose background-subtracted peak lies in this range.
    fluxmin, fluxmax : float or None
        Keep sources whose background-subtracted flux lies in this range.
    nbright : int or None
        Keep only the ``nbright`` brightest sources.
    box : int
        Background mesh size in pixels (clipped to a quarter of the image).
    """

    threshold: float = 4.0
    conv_width: float = 3.5
    peakmin: float | None = None
    peakmax: float | None = None
    fluxmin: float | None = None
    fluxmax: float | None = None
    nbright: int | None = None
    box: int = 64

    def __post_init__(self) -> None:
        from ..exceptions import ParameterError

        if not self.threshold > 0:
            raise ParameterError(f"threshold={self.threshold}: must be a positive number of sigma")
        if not self.conv_width > 0:
            raise ParameterError(f"conv_width={self.conv_width}: must be a positive FWHM in pixels")
        if self.nbright is not None and self.nbright < 1:
            raise ParameterError(f"nbright={self.nbright}: must be at least 1")


def _background(data: np.ndarray, good: np.ndarray, box: int):
    """Background map (mesh medians, bilinear between meshes) and the median noise."""
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, BkgZoomInterpolator, MedianBackground, StdBackgroundRMS

    ny, nx = data.shape
    b = int(max(8, min(box, ny // 4 or 1, nx // 4 or 1)))
    filled = np.where(good, data, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photutils warns about all-masked meshes
        bkg = Background2D(filled, (b, b), mask=~good, filter_size=3, sigma_clip=SigmaClip(3.0),
                           bkg_estimator=MedianBackground(), bkgrms_estimator=StdBackgroundRMS(),
                           exclude_percentile=80.0, fill_value=0.0,
                           interpolator=BkgZoomInterpolator(order=1))
    return bkg.background, float(bkg.background_rms_median)


def _box_reaches_no_data(finite: np.ndarray, good: np.ndarray, xi: np.ndarray, yi: np.ndarray,
                         half: int) -> np.ndarray:
    """For boxes of half-size ``half`` centred on pixels (xi, yi): does one reach a region
    without data (a non-finite pixel, or flagged pixels in a block of 3x3 or more)?

    Isolated flagged pixels do not count: they are only left out of the fit.  Evaluated
    on each box (with the 2 pixels the opening needs), not on the whole image.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    m = half + 2
    w = 2 * m + 1
    bad = sliding_window_view(np.pad(~good, m), (w, w))[yi, xi]
    nodata = ndimage.binary_opening(bad, structure=np.ones((1, 3, 3), bool))[:, 2:-2, 2:-2]
    nodata |= sliding_window_view(np.pad(~finite, m), (w, w))[yi, xi][:, 2:-2, 2:-2]
    return nodata.any(axis=(1, 2))


def _fit_box(params: SourceFindParams) -> int:
    """Side of the centroid fitting box: about 2.5 FWHM of the detection kernel's PSF
    (odd, at least 7)."""
    return max(7, int(2 * round(0.75 * params.conv_width) + 1))


def _usable_detections(x0, y0, flux, peak, finite, good, params: SourceFindParams, region) -> np.ndarray:
    """Detections worth a centroid fit: within the peak/flux limits, with a fitting box
    inside the image and clear of no-data regions, inside ``region``."""
    keep = np.ones(len(x0), bool)
    for lo, hi, v in ((params.peakmin, None, peak), (params.fluxmin, params.fluxmax, flux)):
        if lo is not None:
            keep &= v >= lo
        if hi is not None:
            keep &= v <= hi
    half = _fit_box(params) // 2
    ny, nx = finite.shape
    xi = np.clip(np.rint(x0).astype(int), 0, nx - 1)
    yi = np.clip(np.rint(y0).astype(int), 0, ny - 1)
    keep &= (xi >= half + 1) & (xi < nx - half - 1) & (yi >= half + 1) & (yi < ny - half - 1)
    # Boxes reaching into no-data regions (NaN borders, chip gaps) give clipped profiles.
    if keep.any():
        keep[keep] = ~_box_reaches_no_data(finite, good, xi[keep], yi[keep], half)
    if region is not None and keep.any():
        keep[keep] = np.asarray(region(x0[keep], y0[keep]), bool)
    return keep


def find_sources(data: np.ndarray, good: np.ndarray | None = None,
                 params: SourceFindParams = SourceFindParams(), *,
                 region: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Detect point sources and measure their positions.

    Parameters
    ----------
    data : 2-D array
        The image.
    good : 2-D bool array, optional
        Usable pixels (default: finite pixels).
    params : SourceFindParams
        Detection parameters.
    region : callable, optional
        ``region(x, y) -> bool array``: only detections where it is True are measured
        and kept (alignment passes where another image could hold a counterpart; the
        2-D Gaussian fits are most of the cost).  ``nbright`` counts within it.

    Returns
    -------
    dict
        Arrays ``x``, ``y`` (0-based pixel positions), ``flux``, ``peak`` and
        ``error`` (expected centroid error, pixels), sorted by decreasing flux;
        ``sigma`` (the background noise used, a 0-d array).
    """
    from photutils.centroids import centroid_2dg, centroid_sources
    from photutils.detection import DAOStarFinder

    data = np.asarray(data, dtype=float)
    finite = np.isfinite(data)
    good = finite if good is None else (np.asarray(good, bool) & finite)
    empty = {k: np.zeros(0) for k in ("x", "y", "flux", "peak", "error")}
    if good.sum() < 100:
        return {**empty, "sigma": np.array(np.nan)}
    background, sigma = _background(data, good, params.box)
    resid = np.where(good, data - background, 0.0)
    if not np.isfinite(sigma) or sigma <= 0:
        return {**empty, "sigma": np.array(sigma)}
    finder = DAOStarFinder(threshold=params.threshold * sigma, fwhm=params.conv_width,
                           exclude_border=True, peak_max=params.peakmax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no sources found" is an answer, not a problem
        cat = finder(resid, mask=~good)
    if cat is None or len(cat) == 0:
        return {**empty, "sigma": np.array(sigma)}
    xcol, ycol = ("x_centroid", "y_centroid") if "x_centroid" in cat.colnames else ("xcentroid", "ycentroid")
    x0, y0, flux, peak = (np.asarray(cat[c], float) for c in (xcol, ycol, "flux", "peak"))
    keep = _usable_detections(x0, y0, flux, peak, finite, good, params, region)
    if not keep.any():
        return {**empty, "sigma": np.array(sigma)}
    order = np.flatnonzero(keep)[np.argsort(-flux[keep], kind="stable")][: params.nbright]
    x0, y0, flux, peak = x0[order], y0[order], flux[order], peak[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fits that do not converge are dropped below
        x, y = centroid_sources(resid, x0, y0, box_size=_fit_box(params), centroid_func=centroid_2dg, mask=~good)
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (np.hypot(x - x0, y - y0) < 1.0)
    # Expected centroid error of a Gaussian profile on a noise-limited background:
    # 0.8 sigma / peak (pixels), with a floor for resampling (pixel-phase) errors.
    err = np.hypot(0.8 * sigma / np.maximum(peak[ok], 1e-30), POSITION_FLOOR)
    return {"x": x[ok], "y": y[ok], "flux": flux[ok], "peak": peak[ok], "error": err,
            "sigma": np.array(sigma)}
