"""Relative astrometric alignment of images (TweakReg's fit), on tweakwcs' matcher and fit.

Every image (a visit's drizzled product, or the chips of one association) brings its
chips' WCS and source catalogues; the first image is the reference and is never
changed.  Matching and fitting happen in one frame: the reference image's first chip
without its distortion and with square pixels of the same area
(:func:`~skymatch.core._wcsfit.conformal_frame`, TweakReg's "output" frame).  Search
radius, tolerance, shifts and RMS are in pixels of that frame.

The loop over images is skymatch's, on tweakwcs' pieces (``WCSGroupCatalog.align_to_ref``:
the 2-D-histogram matcher and the clipped linear fit), not ``tweakwcs.align_wcs``,
because of how that function grows its reference catalogue (``expand_refcat``): after
each image it appends the image's unmatched sources when the fit succeeded *or when
the overlap area is not known*::

    if wcat.corrector.meta["fit_info"]["status"] == "SUCCESS" or not area:
        refcat.expand_catalog(current_wcat.get_unmatched_cat())

and ``_max_overlap_image`` returns no area at all under ``enforce_user_order``
(tweakwcs 0.9.3 ``tweakwcs/imalign.py`` lines 712-714 and 1025-1027, the same at
https://github.com/spacetelescope/tweakwcs/blob/b3a32eae696aa16dc82dd5e629e1a1496c8d5a4d/tweakwcs/imalign.py#L717
and #L1028).  The sources of an image that FAILED to align therefore enter the
reference catalogue at their uncorrected positions, and a later image overlapping it
"matches" those misplaced copies of real stars: a confident, wrong solution (5-7 px on a
sparse synthetic field).  Without ``enforce_user_order`` it also picks its own reference
(the pair of largest overlap), so the first input could be moved.  Here only images that
passed every check add their sources, the first input is always the reference, and a
fit is accepted only when it is plausible (:func:`_implausible`).
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Sequence

import numpy as np
from astropy.wcs import WCS

from ..exceptions import ParameterError
from ._wcsfit import conformal_frame

__all__ = ["AlignParams", "AlignImage", "AlignStatus", "ImageFit", "align_images", "search_regions",
           "FITGEOMETRIES", "FREE_PARAMETERS"]

log = logging.getLogger(__name__)

FITGEOMETRIES = ("shift", "rshift", "rscale", "general")
# Free parameters of each fit geometry (shifts, rotation, scale, skew...).
FREE_PARAMETERS = MappingProxyType({"shift": 2, "rshift": 3, "rscale": 4, "general": 6})
_MIN_FOR_GEOM = MappingProxyType({"shift": 1, "rshift": 2, "rscale": 2, "general": 3})


@dataclass(frozen=True)
class AlignParams:
    """Matching and fitting parameters, with TweakReg's meanings and defaults.

    Attributes
    ----------
    minobj : int
        Minimum number of sources an image must have, and of matches its fit must use;
        below it the image is reported as not aligned and keeps its WCS.
    searchrad : float
        Search radius for the initial offset, arcsec.  A fit that moves any part of the
        image by more than ``searchrad`` plus ``tolerance`` is not accepted.
    separation : float
        Minimum separation of sources within a catalogue, reference pixels.
    tolerance : float
        Matching tolerance after the initial offset, reference pixels.
    use2dhist : bool
        Find the initial offset from a 2-D histogram of all pair offsets.
    expand_refcat : bool
        Add each aligned image's unmatched sources to the reference catalogue (images
        that were not aligned add nothing).
    enforce_user_order : bool
        Align in the order given (else: next the image of largest overlap with what is
        aligned so far).  The first input is the reference either way.
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

    @property
    def min_matches(self) -> int:
        """Fitted matches a solution needs: ``minobj``, and at least as many matches as
        the fit has free parameters (so that as many equations check the fit as
        determine it)."""
        return max(self.minobj, FREE_PARAMETERS[self.fitgeometry])


@dataclass(frozen=True)
class AlignImage:
    """One unit of alignment: chips that receive one common correction.

    Attributes
    ----------
    name : str
        Label for tables (file name, or ASN id).
    wcs : tuple of astropy.wcs.WCS
        Each chip's WCS (0-based pixels in the catalogues), with its ``pixel_shape``.
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


class AlignStatus(enum.Enum):
    """Outcome of one image: the reference, aligned, or left as it was."""

    REFERENCE = "REFERENCE"
    SUCCESS = "SUCCESS"
    NOT_ALIGNED = "NOT ALIGNED"


@dataclass(frozen=True, kw_only=True)
class ImageFit:
    """The outcome for one image.

    Shifts and RMS are in reference-frame pixels; ``rotation`` (degrees) and ``scale``
    are TweakReg's (tweakwcs' ``proper_rot`` and ``<scale>``): the fit maps reference-frame
    positions ``q`` to ``scale * [[cos r, sin r], [-sin r, cos r]] @ q + (xshift, yshift)``,
    so a positive ``r`` turns the image clockwise as displayed (x right, y up); ``wcs`` holds the corrected WCS of every chip
    (``None`` unless aligned).  ``residuals`` holds, for the fitted sources,
    reference-frame positions ``x``, ``y`` and residuals ``dx``, ``dy`` (pixels).

    Attributes
    ----------
    name : str
        The image's label.
    outcome : AlignStatus
        Reference, aligned, or not aligned.
    reason : str
        Why it was not aligned (empty otherwise).
    """

    name: str
    outcome: AlignStatus
    reason: str = ""
    nsources: int = 0
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
    def status(self) -> str:
        """``'REFERENCE'``, ``'SUCCESS'`` or ``'NOT ALIGNED: <reason>'`` (for printing)."""
        if self.outcome is AlignStatus.NOT_ALIGNED and self.reason:
            return f"{self.outcome.value}: {self.reason}"
        return self.outcome.value

    @property
    def aligned(self) -> bool:
        return self.outcome is AlignStatus.SUCCESS

    @property
    def reference(self) -> bool:
        return self.outcome is AlignStatus.REFERENCE


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
        from tweakwcs.matchutils import XYXYMatch

        r = math.ceil(self.searchrad / tp_pscale - 1e-9) * tp_pscale
        m = XYXYMatch(searchrad=r, separation=self.separation, tolerance=self.tolerance,
                      use2dhist=self.use2dhist)
        return m(refcat, imcat, tp_pscale=tp_pscale, tp_units=tp_units)


@dataclass(frozen=True)
class _Frame:
    """The reference frame: its tweakwcs corrector, pixel scale and the limits in it."""

    corrector: object
    scale_arcsec: float
    searchrad_px: float
    tolerance_px: float


def _make_frame(ref_wcs: WCS, params: AlignParams) -> _Frame:
    from tweakwcs import FITSWCSCorrector

    w = conformal_frame(ref_wcs)
    scale = float(math.sqrt(abs(np.linalg.det(w.wcs.cd))) * 3600.0)
    return _Frame(FITSWCSCorrector(w), scale, params.searchrad / scale, params.tolerance)


def _group_catalog(image: AlignImage, key: int, params: AlignParams):
    """tweakwcs' catalogue of the chips of one image (with weights when asked)."""
    from astropy.table import Table
    from tweakwcs import FITSWCSCorrector
    from tweakwcs.wcsimage import WCSGroupCatalog, WCSImageCatalog

    members = []
    for j, (w, cat) in enumerate(zip(image.wcs, image.catalogs)):
        t = Table({"x": np.asarray(cat["x"], float), "y": np.asarray(cat["y"], float)})
        if params.weighted:
            err = np.asarray(cat.get("error", np.full(len(t), 0.05)), float)
            t["weight"] = 1.0 / err**2
        members.append(WCSImageCatalog(t, FITSWCSCorrector(w.deepcopy()), name=f"{image.name}#{j}",
                                       group_id=key))
    return WCSGroupCatalog(members, name=image.name)


def _outline(wcs: WCS, frame_wcs: WCS):
    """A chip's outline (edges sampled, so distortion bends them) in the frame's pixels."""
    from shapely.geometry import Polygon

    nx, ny = wcs.pixel_shape
    t = np.linspace(0.0, 1.0, 9)[:-1]
    x = np.concatenate([t * nx, np.full(8, float(nx)), (1 - t) * nx, np.zeros(8)]) - 0.5
    y = np.concatenate([np.zeros(8), t * ny, np.full(8, float(ny)), (1 - t) * ny]) - 0.5
    fx, fy = frame_wcs.wcs_world2pix(*wcs.all_pix2world(x, y, 0), 0)
    return Polygon(np.column_stack([fx, fy])).buffer(0)


def _footprint(wcs: Sequence[WCS], frame_wcs: WCS):
    """The outline of an image (all its chips) in the frame's pixels (shapely)."""
    from shapely.ops import unary_union

    return unary_union([_outline(w, frame_wcs) for w in wcs])


def search_regions(groups: Sequence[Sequence[WCS]], *, searchrad: float, tolerance: float) -> tuple[WCS, list]:
    """Where each chip's sources can find a match: near a chip of another image.

    Parameters
    ----------
    groups : sequence of sequences of astropy.wcs.WCS
        The chips' WCS of every image (with ``pixel_shape``); the first image is the
        reference.
    searchrad : float
        Search radius, arcsec.
    tolerance : float
        Matching tolerance, reference-frame pixels.

    Returns
    -------
    (frame, regions)
        The alignment frame (:func:`~skymatch.core._wcsfit.conformal_frame` of the first
        chip) and, per image and chip, the part of the chip's outline within
        ``searchrad + tolerance`` (plus a pixel) of another image's outline, in the
        frame's pixels (shapely; empty when it overlaps no other image).  A source
        outside it has no counterpart within the search radius, so it cannot take part
        in matching or fitting.
    """
    from shapely import STRtree
    from shapely.ops import unary_union

    frame = conformal_frame(groups[0][0])
    scale = math.sqrt(abs(np.linalg.det(frame.wcs.cd))) * 3600.0
    chips = [[_outline(w, frame) for w in g] for g in groups]
    images = [unary_union(c) for c in chips]
    grow = searchrad / scale + tolerance + 1.0
    tree = STRtree(images)
    regions = []
    for k, outlines in enumerate(chips):
        others = [images[j] for j in tree.query(images[k].buffer(grow)) if j != k]
        near = unary_union(others).buffer(grow)
        regions.append([o.intersection(near) for o in outlines])
    return frame, regions


def _next(pending: list[int], covered, footprints: dict, params: AlignParams) -> int:
    if params.enforce_user_order:
        return pending.pop(0)
    areas = [covered.intersection(footprints[k]).area for k in pending]
    return pending.pop(int(np.argmax(areas)))  # ties: the earliest in the input order


def _not_aligned(image: AlignImage, reason: str, nmatches: int = 0) -> ImageFit:
    return ImageFit(name=image.name, outcome=AlignStatus.NOT_ALIGNED, reason=reason,
                    nsources=image.nsources, nmatches=nmatches)


def _implausible(info: dict, footprint, frame: _Frame, params: AlignParams) -> str:
    """Why a fit that tweakwcs calls a success cannot be trusted ('' if it can).

    * Too few fitted matches for the fit's free parameters (or for ``minobj``).
    * The fit moves some part of the image farther than a match could have been found:
      the 2-D histogram looks for offsets within ``searchrad`` and pairs are matched
      within ``tolerance`` of it.  Shift, rotation and scale together are checked at
      the outline's vertices, where an affine map moves a convex outline most.
    """
    nfit = int(np.count_nonzero(info.get("fitmask", [])))
    if nfit < params.min_matches:
        return (f"{nfit} fitted matches < {params.min_matches} (minobj {params.minobj}; fit "
                f"{params.fitgeometry} has {FREE_PARAMETERS[params.fitgeometry]} free parameters)")
    m = np.asarray(info["matrix"], float)
    s = np.asarray(info["shift"], float)
    hull = footprint.convex_hull
    xy = np.asarray(hull.exterior.coords if hull.geom_type == "Polygon" else hull.coords, float)
    moved = float(np.max(np.hypot(*(xy @ m.T + s - xy).T)))
    limit = frame.searchrad_px + frame.tolerance_px
    if not moved <= limit:
        return (f"the fit moves the image by up to {moved:.2f} px ({moved * frame.scale_arcsec:.3f} arcsec), "
                f"beyond searchrad {params.searchrad:g} arcsec + tolerance {params.tolerance:g} px "
                f"({limit:.2f} px): not a plausible solution")
    return ""


def _residuals(info: dict, refcat, frame: _Frame) -> dict:
    tp = frame.corrector
    idx = np.asarray(info["matched_ref_idx"])[np.asarray(info["fitmask"])]
    fx, fy = tp.world_to_tanp(np.asarray(info["fit_RA"]), np.asarray(info["fit_DEC"]))
    rx, ry = tp.world_to_tanp(np.asarray(refcat.catalog["RA"])[idx], np.asarray(refcat.catalog["DEC"])[idx])
    return {"x": np.asarray(rx), "y": np.asarray(ry), "dx": np.asarray(fx) - rx, "dy": np.asarray(fy) - ry}


def _success(image: AlignImage, group, info: dict, refcat, frame: _Frame) -> ImageFit:
    new = []
    for member, w0 in zip(group, image.wcs):
        w = member.corrector.wcs.deepcopy()
        w.pixel_shape = w0.pixel_shape
        new.append(w)
    res = _residuals(info, refcat, frame)
    shift = np.asarray(info["shift"], float)
    return ImageFit(
        name=image.name, outcome=AlignStatus.SUCCESS, nsources=image.nsources,
        nmatches=int(np.count_nonzero(info["fitmask"])), xshift=float(shift[0]), yshift=float(shift[1]),
        rotation=float(info["proper_rot"]), scale=float(info["<scale>"]),
        rms_x=float(np.sqrt(np.mean(res["dx"] ** 2))), rms_y=float(np.sqrt(np.mean(res["dy"] ** 2))),
        rms_arcsec=float(info["rmse"]) * frame.scale_arcsec, wcs=tuple(new), residuals=res)


def _align_one(image: AlignImage, key: int, refcat, frame: _Frame, footprint,
               params: AlignParams) -> tuple[ImageFit, object]:
    """Match and fit one image to the reference catalogue; judge the result."""
    from tweakwcs.linearfit import NotEnoughPointsError, SingularMatrixError
    from tweakwcs.matchutils import MatchSourceConfusionError

    group = _group_catalog(image, key, params)
    matcher = _Matcher(frame.searchrad_px, params.separation, params.tolerance, params.use2dhist)
    try:
        done = group.align_to_ref(refcat, ref_tpwcs=frame.corrector, match=matcher, minobj=params.minobj,
                                  fitgeom=params.fitgeometry, nclip=params.nclip, sigma=(params.sigma, "rmse"))
    except (NotEnoughPointsError, SingularMatrixError, MatchSourceConfusionError) as exc:
        return _not_aligned(image, f"the fit failed ({exc})"), group
    info = group[0].fit_info
    if not done:
        n = len(group.get_matched_cat()) if "matched_ref_id" in group.catalog.colnames else 0
        return _not_aligned(image, f"{n} matches < minobj {params.minobj}", n), group
    reason = _implausible(info, footprint, frame, params)
    if reason:
        return _not_aligned(image, reason, int(np.count_nonzero(info["fitmask"]))), group
    return _success(image, group, info, refcat, frame), group


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
        One per image, in input order.  An image with fewer than ``params.minobj``
        sources, whose fit uses too few matches, or whose fit is implausible (moves it
        farther than the search radius allows) is ``NOT_ALIGNED`` and carries no new WCS.
    """
    from tweakwcs.wcsimage import RefCatalog

    if len(images) < 2:
        raise ParameterError(f"alignment needs at least two images (got {len(images)})")
    ref = images[0]
    if ref.nsources < params.minobj:
        why = f"the reference {ref.name} has {ref.nsources} sources (minobj {params.minobj})"
        return [_not_aligned(im, why) for im in images]
    frame = _make_frame(ref.wcs[0], params)
    fits: dict[int, ImageFit] = {0: ImageFit(name=ref.name, outcome=AlignStatus.REFERENCE, nsources=ref.nsources)}
    pending = []
    for k, im in enumerate(images[1:], 1):
        if im.nsources < params.minobj:
            fits[k] = _not_aligned(im, f"{im.nsources} sources < minobj {params.minobj}")
        else:
            pending.append(k)
    footprints = {k: _footprint(images[k].wcs, frame.corrector.wcs) for k in [0, *pending]}
    refcat = RefCatalog(_group_catalog(ref, 0, params).catalog, name=ref.name)
    covered = footprints[0]
    log.info("aligning %d images to %s (search radius %.2f px, fit %s)", len(pending), ref.name,
             frame.searchrad_px, params.fitgeometry)
    while pending:
        k = _next(pending, covered, footprints, params)
        fits[k], group = _align_one(images[k], k, refcat, frame, footprints[k], params)
        log.info("%s: %s", images[k].name, fits[k].status)
        if fits[k].aligned and params.expand_refcat:
            refcat.expand_catalog(group.get_unmatched_cat())
            covered = covered.union(footprints[k])
    return [fits[k] for k in range(len(images))]
