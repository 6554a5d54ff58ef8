"""Building chips from arrays in memory (for library users and tests)."""

from __future__ import annotations

import uuid

import numpy as np

from .core._units import brightness_conversion, cd_pixel_scale_arcsec, classify_units
from .exceptions import InputError
from .models import Chip, InMemoryPixels

__all__ = ["make_chip"]

def make_chip(
    data: np.ndarray,
    wcs,
    *,
    mask: np.ndarray | None = None,
    dq: np.ndarray | None = None,
    units: str = "ELECTRONS/S",
    exptime: float | None = None,
    exposure_id: str | None = None,
    name: str | None = None,
    pixel_scale_arcsec: float | None = None,
    compat: bool = False,
) -> Chip:
    """Wrap an image held in memory as a :class:`~skymatch.models.Chip`.

    Parameters
    ----------
    data : 2-D array
        Science data.
    wcs : astropy.wcs.WCS
        Celestial WCS of ``data`` (0-based pixel calls are used).
    mask : 2-D array, optional
        User mask, nonzero = usable.
    dq : 2-D integer array, optional
        Data-quality flags (interpreted with ``sky_bits``).
    units : str
        Data units (``BUNIT`` rules of SPEC section 3).
    exptime : float, optional
        Exposure time (needed for data in counts).
    exposure_id : str, optional
        Chips with the same id share one sky (default: one exposure per chip).
    name : str, optional
        Identifier used in messages and results (default: ``chip-`` and a unique id).
    pixel_scale_arcsec : float, optional
        Nominal pixel scale (default: from the WCS).
    compat : bool
        Use the Reference's unit rules.
    """
    arr = np.asarray(data)
    label = name or f"chip-{uuid.uuid4().hex[:8]}"
    if arr.ndim != 2:
        raise InputError(f"{label}: data are {arr.ndim}-D (shape {arr.shape}); skymatch needs 2-D images")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{label}: data of type {arr.dtype} are not real numbers")
    if wcs is None or not getattr(wcs, "has_celestial", False) or wcs.naxis != 2:
        raise InputError(f"{label}: no celestial WCS; give an astropy WCS with RA/Dec axes")
    for what, extra in (("mask", mask), ("dq", dq)):
        if extra is not None and np.shape(extra) != arr.shape:
            raise InputError(f"{label}: {what} shape {np.shape(extra)} differs from the data's {arr.shape}")
    kind = classify_units(units, compat=compat)
    pscale = pixel_scale_arcsec or cd_pixel_scale_arcsec(wcs)
    conv = brightness_conversion(kind, pscale, exptime, compat=compat)
    return Chip(
        name=label, wcs=wcs, shape=arr.shape, exposure_id=exposure_id or label,
        pixels=InMemoryPixels(arr, dq, mask), units=units.upper(), unit_kind=kind,
        exptime=exptime, conv=conv, pixel_scale_arcsec=pscale,
        signature=("memory", arr.shape, 1), source=None, meta={"ROOTNAME": label},
    )
