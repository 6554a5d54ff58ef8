"""The output frame of a drizzled mosaic (SPEC section 9), computed from headers alone.

:func:`default_frame` reproduces AstroDrizzle's default output WCS (stwcs
``output_wcs`` with ``make_orthogonal_cd``); :func:`customize_frame` applies the
``final_*`` parameters exactly as drizzlepac's ``mergeWCS`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from astropy.wcs import WCS

from ..exceptions import ParameterError

__all__ = ["FrameChip", "frame_chip", "OutputFrame", "default_frame", "customize_frame", "frame_from_wcs",
           "PARITY"]

# Detector parity matrices (stwcs instruments).
PARITY = MappingProxyType({
    ("WFC3", "IR"): ((-1.0, 0.0), (0.0, 1.0)),
    ("WFC3", "UVIS"): ((-1.0, 0.0), (0.0, 1.0)),
    ("ACS", "WFC"): ((1.0, 0.0), (0.0, -1.0)),
})
_DEFAULT_PARITY = ((1.0, 0.0), (0.0, -1.0))


@dataclass(frozen=True)
class FrameChip:
    """What the frame needs of one chip: its full WCS and shape, and (for the first
    chip) the HST keywords that set the default orientation and scale."""

    wcs: object
    shape: tuple[int, int]
    idcscale: float | None = None
    idcv2ref: float | None = None
    idcv3ref: float | None = None
    idctheta: float | None = None
    pa_v3: float | None = None
    instrument: str = ""
    detector: str = ""


def frame_chip(chip) -> FrameChip:
    """The :class:`FrameChip` of a :class:`~skymatch.models.Chip` (keywords from its meta)."""
    m = chip.meta

    def num(key):
        v = m.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    return FrameChip(wcs=chip.wcs, shape=chip.shape, idcscale=num("IDCSCALE"),
                     idcv2ref=num("IDCV2REF"), idcv3ref=num("IDCV3REF"), idctheta=num("IDCTHETA"),
                     pa_v3=num("PA_V3"), instrument=str(m.get("INSTRUME", "")).strip().upper(),
                     detector=str(m.get("DETECTOR", "")).strip().upper())


@dataclass(frozen=True)
class OutputFrame:
    """A TAN output frame: its WCS and array shape (rows, cols)."""

    wcs: WCS
    shape: tuple[int, int]

    @property
    def pixel_scale_arcsec(self) -> float:
        cd = self.wcs.wcs.cd
        return math.hypot(cd[0, 0], cd[1, 0]) * 3600.0

    @property
    def orientat(self) -> float:
        cd = self.wcs.wcs.cd
        return math.degrees(math.atan2(cd[0, 1], cd[1, 1]))


def _troll(roll, dec, v2, v3):
    """Roll angle at the target from the V1 roll (stwcs ``makewcs.troll``)."""
    _roll = math.radians(roll)
    _dec = math.radians(dec)
    _v2 = math.radians(v2 / 3600.0)
    _v3 = math.radians(v3 / 3600.0)
    sin_rho = math.sqrt((math.sin(_v2) ** 2 + math.sin(_v3) ** 2) - (math.sin(_v2) ** 2 * math.sin(_v3) ** 2))
    rho = math.asin(sin_rho)
    beta = math.asin(math.sin(_v3) / sin_rho)
    if _v2 < 0:
        beta = math.pi - beta
    gamma = math.asin(math.sin(_v2) / sin_rho)
    if _v3 < 0:
        gamma = math.pi - gamma
    a = math.pi / 2.0 + _roll - beta
    b = math.atan2(math.sin(a) * math.cos(_dec),
                   (math.sin(_dec) * sin_rho - math.cos(_dec) * math.cos(rho) * math.cos(a)))
    return math.degrees(math.pi - (gamma + b))


def _orthogonal_cd(ref: FrameChip) -> np.ndarray:
    cd = np.asarray(ref.wcs.wcs.cd if ref.wcs.wcs.has_cd() else ref.wcs.pixel_scale_matrix, float)
    if ref.idcv2ref is not None and ref.idcv3ref is not None and ref.pa_v3 is not None:
        pv = _troll(ref.pa_v3, ref.wcs.wcs.crval[1], ref.idcv2ref, ref.idcv3ref)
        if ref.idctheta:
            pv += ref.idctheta
        cs, sn = math.cos(math.radians(pv)), math.sin(math.radians(pv))
        parity = np.array(PARITY.get((ref.instrument, ref.detector), _DEFAULT_PARITY))
        pvmat = np.array([[cs, sn], [-sn, cs]]) @ parity
        rot = math.atan2(pvmat[0, 1], pvmat[1, 1])
        det = float(np.linalg.det(parity))
        if ref.idcscale:
            scale = ref.idcscale / 3600.0
        else:
            scale = math.sqrt(abs(np.linalg.det(cd)))
    else:
        det = float(np.linalg.det(cd))
        scale = ref.idcscale / 3600.0 if ref.idcscale else math.sqrt(abs(det))
        rot = math.atan2(cd[0, 1], cd[1, 1])
    par = -1 if det < 0.0 else 1
    sn, cs = math.sin(rot), math.cos(rot)
    return scale * np.array([[par * cs, sn], [-par * sn, cs]])


def _chip_corners(chip: FrameChip) -> np.ndarray:
    ny, nx = chip.shape
    corners = np.array([[1, 1], [1, ny], [nx, ny], [nx, 1]], dtype=np.float64)
    return np.asarray(chip.wcs.all_pix2world(corners, 1))


def default_frame(chips: list[FrameChip]) -> OutputFrame:
    """AstroDrizzle's default output frame for ``chips`` (the first chip sets scale and
    orientation; the centre is the mean unit vector of all chips' corner pixels)."""
    if not chips:
        raise ParameterError("no chips to build an output frame from")
    radec = np.vstack([_chip_corners(c) for c in chips])
    alpha = np.deg2rad(radec[:, 0])
    dec = np.deg2rad(radec[:, 1])
    xm = np.mean(np.cos(dec) * np.cos(alpha))
    ym = np.mean(np.cos(dec) * np.sin(alpha))
    zm = np.mean(np.sin(dec))
    crval = np.array([np.rad2deg(np.arctan2(ym, xm)) % 360.0,
                      np.rad2deg(np.arctan2(zm, np.sqrt(xm * xm + ym * ym)))])
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cd = _orthogonal_cd(chips[0])
    w.wcs.crpix = [0.0, 0.0]
    w.wcs.crval = crval
    w.wcs.set()
    tanpix = w.wcs.s2p(radec, 0)["pixcrd"]
    nx = int(np.ceil(tanpix[:, 0].max() - tanpix[:, 0].min()))
    ny = int(np.ceil(tanpix[:, 1].max() - tanpix[:, 1].min()))
    crpix = np.array([nx / 2.0, ny / 2.0])
    w.wcs.crpix = crpix
    w.wcs.set()
    tanpix = w.wcs.s2p(radec, 0)["pixcrd"]
    newcrpix = np.array([crpix[0] + tanpix[:, 0].min(), crpix[1] + tanpix[:, 1].min()])
    w.wcs.crval = w.wcs.p2s([newcrpix], 1)["world"][0]
    w.wcs.set()
    w.pixel_shape = (nx, ny)
    return OutputFrame(w, (ny, nx))


def _rot_matrix(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])


def customize_frame(frame: OutputFrame, *, rot: float | None = None, scale: float | None = None,
                    ra: float | None = None, dec: float | None = None,
                    outnx: int | None = None, outny: int | None = None,
                    crpix1: float | None = None, crpix2: float | None = None) -> OutputFrame:
    """Apply AstroDrizzle's ``final_rot``, ``final_scale``, ``final_ra/dec``,
    ``final_outnx/outny`` and ``final_crpix1/2`` to a frame (drizzlepac ``mergeWCS``)."""
    for a, b, na, nb in ((ra, dec, "final_ra", "final_dec"), (outnx, outny, "final_outnx", "final_outny"),
                         (crpix1, crpix2, "final_crpix1", "final_crpix2")):
        if (a is None) != (b is None):
            raise ParameterError(f"{na} and {nb} go together: give both or neither")
    w = frame.wcs.deepcopy()
    if all(v is None for v in (rot, scale, ra, dec, outnx, outny, crpix1, crpix2)):
        return OutputFrame(w, frame.shape)
    pscale = frame.pixel_scale_arcsec
    orientat = frame.orientat
    if scale is not None and scale <= 0:
        raise ParameterError(f"final_scale={scale}: must be positive")
    if scale is not None and not np.isclose(scale, pscale, atol=100 * np.finfo(float).tiny,
                                            rtol=10 * np.finfo(float).eps):
        ratio = pscale / scale
    else:
        ratio = None
    delta = None if rot is None else orientat - rot
    if delta == 0.0:
        delta = None
    crpix = (crpix1, crpix2) if crpix1 is not None else None
    nx0, ny0 = frame.shape[1], frame.shape[0]
    shape = None
    if outnx is not None:
        shape = (int(_py2round(outnx)), int(_py2round(outny)))
        if shape[0] < 1 or shape[1] < 1:
            raise ParameterError("final_outnx and final_outny must be at least 1")
        if crpix is None:
            crpix = ((shape[0] + 1.0) / 2.0, (shape[1] + 1.0) / 2.0)
    elif delta is None:
        if ratio is not None:
            shape = (max(1, int(np.ceil(ratio * nx0))), max(1, int(np.ceil(ratio * ny0))))
            if crpix is None:
                crpix = tuple(1.0 + ratio * (np.asarray(w.wcs.crpix) - 1.0))
    else:
        corners = np.array([[0.5, 0.5], [nx0 + 0.5, 0.5], [0.5, ny0 + 0.5],
                            [nx0 + 0.5, ny0 + 0.5]]) - w.wcs.crpix
        if ratio is not None:
            corners = corners * ratio
        rc = corners @ _rot_matrix(delta)
        xmin, xmax = rc[:, 0].min(), rc[:, 0].max()
        ymin, ymax = rc[:, 1].min(), rc[:, 1].max()
        shape = (max(1, int(np.ceil(xmax - xmin))), max(1, int(np.ceil(ymax - ymin))))
        if crpix is None:
            crpix = (-xmin + 0.5, -ymin + 0.5)
    cd = np.array(w.wcs.cd, dtype=float)
    if ratio is not None:
        cd = cd / ratio
    if delta is not None:
        t = math.radians(delta)
        cd = cd @ np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    w.wcs.cd = cd
    if crpix is not None:
        w.wcs.crpix = np.array(crpix, dtype=np.float64)
    if ra is not None:
        w.wcs.crval = np.array([ra, dec], dtype=np.float64)
    w.wcs.set()
    nx, ny = shape if shape is not None else (nx0, ny0)
    w.pixel_shape = (nx, ny)
    return OutputFrame(w, (ny, nx))


def _py2round(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else math.ceil(x - 0.5)


def frame_from_wcs(wcs: WCS, shape: tuple[int, int] | None = None) -> OutputFrame:
    """An output frame from a user-given reference WCS (celestial part, shape from the
    WCS's ``pixel_shape`` unless given as (rows, cols))."""
    w = wcs.celestial.deepcopy()
    if shape is None:
        if w.pixel_shape is None:
            raise ParameterError("the reference WCS has no image size; give NAXIS1/NAXIS2")
        shape = (int(w.pixel_shape[1]), int(w.pixel_shape[0]))
    w.pixel_shape = (shape[1], shape[0])
    return OutputFrame(w, tuple(shape))
