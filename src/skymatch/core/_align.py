"""Relative astrometric alignment of images (TweakReg's fit), on ``tweakwcs.align_wcs``.

Every image (a visit's drizzled product, or the chips of one association) brings its
chips' WCS and source catalogues; the first image is the reference.  All tangent-plane
quantities (search radius, tolerance, shifts, RMS) are in pixels of the reference
image's first chip, as TweakReg reports them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from astropy.wcs import WCS

from ..exceptions import ParameterError
from ._wcsfit import linear_part

__all__ = ["AlignParams", "AlignImage", "ImageFit", "align_images", "FITGEOMETRIES"]

log = logging.getLogger(__name__)

FITGEOMETRIES = ("shift", "rshift", "rscale", "general")
_MIN_FOR_GEOM = {"shift": 1, "rshift": 2, "rscale": 2, "general": 3}


@dataclass(frozen=True)
class AlignParams:
    """Matching and fitting parameters, with TweakReg's meanings and defaults.

    Attributes
    ----------
    minobj : int
        Minimum number of sources an image must have, and of matches its fit must use;
        below it the image is reported as not aligned and keeps its WCS.
    searchrad : float
        Search radius for the initial offset, arcsec.
    separation : float
        Minimum separation of sources within a catalogue, reference pixels.
    tolerance : float
        Matching tolerance after the initial offset, reference pixels.
    use2dhist : bool
        Find the initial offset from a 2-D histogram of all pair offsets.
    expand_refcat : bool
        Add each aligned image's unmatched sources to the reference catalogue.
    enforce_user_order : bool
        Align in the order given (else: largest overlap with the reference first).
    fitgeometry : {'shift', 'rshift', 'rscale', 'general'}
        Fit geometry.
    nclip : int
        Sigma-clipping iterations of the fit.
    sigma : float
        Clipping limit in units of the fit RMS.
    weighted : bool
        Weight sources by their expected centroid error (catalogue column ``error``);
        TweakReg fits unweighted.
    """

    minobj: int = 15
    searchrad: float = 1.0
    separation: float = 0.5
    tolerance: float = 1.0
    use2dhist: bool = True
    expand_refcat: bool = False
    enforce_user_order: bool = True
    fitgeometry: str = "rscale"
    nclip: int = 3
    sigma: float = 3.0
    weighted: bool = True

    def __post_init__(self) -> None:
        if self.fitgeometry not in FITGEOMETRIES:
            raise ParameterError(f"fitgeometry={self.fitgeometry!r}: choose one of {', '.join(FITGEOMETRIES)}")
        if self.minobj < _MIN_FOR_GEOM[self.fitgeometry]:
            raise ParameterError(f"minobj={self.minobj}: fitgeometry {self.fitgeometry!r} needs at least "
                                 f"{_MIN_FOR_GEOM[self.fitgeometry]} matched sources")
        for name in ("searchrad", "separation", "tolerance"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name}={getattr(self, name)}: must be positive")


@dataclass(frozen=True)
class AlignImage:
    """One unit of alignment: chips that receive one common correction.

    Attributes
    ----------
    name : str
        Label for tables (file name, or ASN id).
    wcs : tuple of astropy.wcs.WCS
        Each chip's WCS (0-based pixels in the catalogues).
    catalogs : tuple of dict
        Each chip's sources: arrays ``x`` and ``y`` (0-based pixels), optionally
        ``error`` (expected centroid error, pixels) for weighting.
    """

    name: str
    wcs: tuple
    catalogs: tuple

    @property
    def nsources(self) -> int:
        return int(sum(len(c["x"]) for c in self.catalogs))


@dataclass(frozen=True)
class ImageFit:
    """The outcome for one image.

    ``status`` is ``'REFERENCE'``, ``'SUCCESS'`` or ``'NOT ALIGNED: <reason>'``.  Shifts
    and RMS are in reference pixels, ``rotation`` in degrees (counter-clockwise in the
    reference pixel frame); ``wcs`` holds the corrected WCS of every chip (``None``
    unless aligned).  ``residuals`` holds, for the fitted sources, reference-frame
    positions ``x``, ``y`` and residuals ``dx``, ``dy`` (reference pixels).
    """

    name: str
    status: str
    nsources: int
    nmatches: int = 0
    xshift: float = float("nan")
    yshift: float = float("nan")
    rotation: float = float("nan")
    scale: float = float("nan")
    rms_x: float = float("nan")
    rms_y: float = float("nan")
    rms_arcsec: float = float("nan")
    wcs: tuple | None = None
    residuals: dict = field(default_factory=dict, repr=False)

    @property
    def aligned(self) -> bool:
        return self.status == "SUCCESS"

    @property
    def reference(self) -> bool:
        return self.status == "REFERENCE"


class _Matcher:
    """``tweakwcs.XYXYMatch`` with the search radius rounded up to whole histogram bins.

    tweakwcs 0.9's 2-D histogram has bins centred on multiples of ``tp_pscale`` but
    reads the peak back as if they were offset by ``searchrad``: its initial offset is
    wrong by ``ceil(r) - r`` bins unless ``r = searchrad / tp_pscale`` is a whole
    number (0.56 px for TweakReg's 3" at 0.128"/px, enough to lose every match at a
    1-pixel tolerance).
    """

    def __init__(self, searchrad: float, separation: float, tolerance: float, use2dhist: bool):
        self.searchrad, self.separation, self.tolerance, self.use2dhist = searchrad, separation, tolerance, use2dhist

    def __call__(self, refcat, imcat, tp_pscale=1.0, tp_units=None, **kwargs):
        from tweakwcs import XYXYMatch

        r = math.ceil(self.searchrad / tp_pscale - 1e-9) * tp_pscale
        m = XYXYMatch(searchrad=r, separation=self.separation, tolerance=self.tolerance,
                      use2dhist=self.use2dhist)
        return m(refcat, imcat, tp_pscale=tp_pscale, tp_units=tp_units)


def _pixel_scale_arcsec(wcs: WCS) -> float:
    return float(np.sqrt(abs(np.linalg.det(wcs.celestial.pixel_scale_matrix))) * 3600.0)


def _residuals(info: dict, refcat, ref_corr) -> dict:
    try:
        idx = np.asarray(info["matched_ref_idx"])[np.asarray(info["fitmask"])]
        fx, fy = ref_corr.world_to_tanp(np.asarray(info["fit_RA"]), np.asarray(info["fit_DEC"]))
        rx, ry = ref_corr.world_to_tanp(np.asarray(refcat["RA"])[idx], np.asarray(refcat["DEC"])[idx])
    except (KeyError, IndexError, ValueError):
        return {}
    return {"x": np.asarray(rx), "y": np.asarray(ry), "dx": np.asarray(fx) - rx, "dy": np.asarray(fy) - ry}


def align_images(images: Sequence[AlignImage], params: AlignParams = AlignParams()) -> list[ImageFit]:
    """Align ``images[1:]`` to ``images[0]`` (TweakReg with a catalogue per image).

    Parameters
    ----------
    images : sequence of AlignImage
        The first is the reference; it is never changed.
    params : AlignParams
        Matching and fitting parameters.

    Returns
    -------
    list of ImageFit
        One per image, in input order.  Images with fewer than ``params.minobj``
        sources, or whose fit uses fewer than ``params.minobj`` matches, are
        ``NOT ALIGNED`` and carry no new WCS.
    """
    from tweakwcs import FITSWCSCorrector, align_wcs
    from astropy.table import Table

    if len(images) < 2:
        raise ParameterError(f"alignment needs at least two images (got {len(images)})")
    ref = images[0]
    ref_scale = _pixel_scale_arcsec(ref.wcs[0])
    results: dict[int, ImageFit] = {}
    if ref.nsources < params.minobj:
        reason = f"NOT ALIGNED: the reference {ref.name} has {ref.nsources} sources (minobj {params.minobj})"
        return [ImageFit(im.name, reason if k else f"NOT ALIGNED: {ref.nsources} sources < minobj {params.minobj}",
                         im.nsources) for k, im in enumerate(images)]
    correctors, owner = [], []
    for k, im in enumerate(images):
        if k and im.nsources < params.minobj:
            results[k] = ImageFit(im.name, f"NOT ALIGNED: {im.nsources} sources < minobj {params.minobj}",
                                  im.nsources)
            continue
        for j, (w, cat) in enumerate(zip(im.wcs, im.catalogs)):
            t = Table({"x": np.asarray(cat["x"], float), "y": np.asarray(cat["y"], float)})
            if params.weighted:
                err = np.asarray(cat.get("error", np.full(len(t), 0.05)), float)
                t["weight"] = 1.0 / err**2
            correctors.append(FITSWCSCorrector(w.deepcopy(), meta={
                "catalog": t, "name": f"{im.name}#{j}", "group_id": k}))
            owner.append((k, j))
    aligned_ids = {k for k, _ in owner}
    if len(aligned_ids) < 2:
        for k, im in enumerate(images):
            results.setdefault(k, ImageFit(im.name, "REFERENCE" if k == 0 else
                                           "NOT ALIGNED: no other image has enough sources", im.nsources))
        return [results[k] for k in range(len(images))]
    ref_corr = FITSWCSCorrector(linear_part(ref.wcs[0]))
    matcher = _Matcher(params.searchrad / ref_scale, params.separation, params.tolerance, params.use2dhist)
    log.info("aligning %d images to %s (search radius %.2f px, fit %s)", len(aligned_ids), ref.name,
             params.searchrad / ref_scale, params.fitgeometry)
    refcat = align_wcs(correctors, ref_tpwcs=ref_corr, enforce_user_order=params.enforce_user_order,
                       expand_refcat=params.expand_refcat, minobj=params.minobj, match=matcher,
                       fitgeom=params.fitgeometry, nclip=params.nclip, sigma=(params.sigma, "rmse"))
    by_image: dict[int, list] = {}
    for c, (k, j) in zip(correctors, owner):
        by_image.setdefault(k, []).append((j, c))
    for k, items in by_image.items():
        im = images[k]
        info = items[0][1].meta.get("fit_info", {})
        status = str(info.get("status", "FAILED: not processed"))
        if status == "REFERENCE":
            results[k] = ImageFit(im.name, "REFERENCE", im.nsources)
            continue
        if status != "SUCCESS":
            results[k] = ImageFit(im.name, f"NOT ALIGNED: {status.removeprefix('FAILED: ')}", im.nsources,
                                  int(info.get("nmatches", 0) or 0))
            continue
        nfit = int(np.count_nonzero(info.get("fitmask", [])))
        if nfit < params.minobj:
            results[k] = ImageFit(im.name, f"NOT ALIGNED: {nfit} matches < minobj {params.minobj}",
                                  im.nsources, nfit)
            continue
        new = list(im.wcs)
        for j, c in items:
            w = c.wcs.deepcopy()
            w.pixel_shape = im.wcs[j].pixel_shape
            new[j] = w
        res = _residuals(info, refcat, ref_corr)
        rms_x = float(np.sqrt(np.mean(res["dx"] ** 2))) if res else float("nan")
        rms_y = float(np.sqrt(np.mean(res["dy"] ** 2))) if res else float("nan")
        shift = np.asarray(info["shift"], float)
        results[k] = ImageFit(
            im.name, "SUCCESS", im.nsources, nfit, float(shift[0]), float(shift[1]),
            float(info["proper_rot"]), float(info["<scale>"]), rms_x, rms_y,
            float(info["rmse"]) * ref_scale, tuple(new), res)
    for k, im in enumerate(images):
        results.setdefault(k, ImageFit(im.name, "NOT ALIGNED: empty catalogue", im.nsources))
    return [results[k] for k in range(len(images))]
