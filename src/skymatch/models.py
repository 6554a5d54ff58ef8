"""Data model: chips in, sky results out.

A :class:`Chip` is one SCI extension (or one generic image) with its WCS, units and a
lazy :class:`PixelSource`; its pixels are read only when a statistic needs them.
Results are frozen dataclasses (:class:`SkyResult` and friends).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ChipPixels",
    "PixelSource",
    "InMemoryPixels",
    "Chip",
    "ChipSky",
    "ExposureSky",
    "PairStat",
    "Flatness",
    "SkyResult",
]


@dataclass(frozen=True)
class ChipPixels:
    """Pixel arrays of one chip: science data, DQ (or None) and user mask (or None)."""

    data: np.ndarray
    dq: np.ndarray | None = None
    mask: np.ndarray | None = None


@runtime_checkable
class PixelSource(Protocol):
    """Something that can read a chip's pixels (a FITS extension, arrays in memory)."""

    token: str

    def read(self) -> ChipPixels:  # pragma: no cover - protocol
        """The chip's science pixels, DQ and mask."""
        ...


@dataclass(frozen=True, eq=False)
class InMemoryPixels:
    """Pixels held in memory (library users' chips, synthetic tests).

    ``token`` identifies these pixels in a run's cache; it is unique per object (object
    ids are reused by Python once an object is gone, so they cannot serve).
    """

    data: np.ndarray
    dq: np.ndarray | None = None
    mask: np.ndarray | None = None
    token: str = field(default_factory=lambda: f"mem:{uuid.uuid4().hex}")

    def read(self) -> ChipPixels:
        """The pixels, as held (not copied)."""
        return ChipPixels(self.data, self.dq, self.mask)


@dataclass(frozen=True, eq=False)
class Chip:
    """One detector chip: the unit whose pixels enter a sky statistic.

    Attributes
    ----------
    name : str
        Human-readable identifier, e.g. ``'ibxl50clq_flt.fits[SCI,1]'``.
    wcs : astropy.wcs.WCS
        Full (distorted) celestial WCS of the chip; 0-based pixel calls are used.
    shape : (int, int)
        Array shape (rows, cols).
    exposure_id : str
        Chips sharing an exposure id share one sky value.
    pixels : PixelSource
        Lazy reader of data, DQ and user mask.
    units : str
        Data units (``BUNIT``) as found, upper-case.
    unit_kind : str
        ``'counts'``, ``'rate'``, ``'surface'`` or ``'unknown'``.
    exptime : float or None
        Exposure time in seconds.
    conv : float
        Conversion factor data → brightness (SPEC section 3).
    pixel_scale_arcsec : float
        Nominal pixel scale used for ``conv``.
    signature : tuple
        Static-mask signature (detector, shape, chip number).
    source : tuple or None
        ``(path, extname, extver)`` for chips read from files, else None.
    meta : Mapping
        Read-only extra information (ROOTNAME, ASN_ID, ORIENTAT, ...).
    """

    name: str
    wcs: Any
    shape: tuple[int, int]
    exposure_id: str
    pixels: PixelSource
    units: str = ""
    unit_kind: str = "rate"
    exptime: float | None = None
    conv: float = 1.0
    pixel_scale_arcsec: float = 1.0
    signature: tuple = ()
    source: tuple | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["meta"] = dict(self.meta)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["meta"] = MappingProxyType(state["meta"])
        self.__dict__.update(state)


@dataclass(frozen=True)
class ChipSky:
    """Sky of one chip.

    ``sky`` is in the chip's data units (what goes into ``MDRIZSKY``);
    ``sky_brightness`` in brightness units.  ``valid`` is False when the value could not
    be determined from the data (then ``sky`` is 0); ``how`` says how it was obtained.
    ``subtracted_by_user`` is True for user skies already subtracted from the pixels
    (``skyuser``, or a skyfile saying ``applied = yes``).
    With a sky model beyond a constant, ``coeffs`` holds the chip's polynomial
    (``SKYCij``, data units, see :mod:`skymatch.core._skymodel`) and ``sky`` its mean
    over the chip's pixels.
    """

    name: str
    exposure_id: str
    sky: float
    sky_brightness: float
    valid: bool
    how: str
    conv: float
    local: float = float("nan")  # this chip's own statistic (data units), if computed
    npix: int = 0
    model: str = "constant"  # sky model: 'constant', 'plane', 'poly2' or 'poly3'
    coeffs: tuple[float, ...] = ()  # SKYCij in data units (core/_skymodel.py); () = (sky,)
    error: float = float("nan")  # 1-sigma uncertainty of ``sky`` (SKYERR), data units
    subtracted_by_user: bool = False  # the user already subtracted ``sky`` from the data

    @property
    def coefficients(self) -> tuple[float, ...]:
        """The model's coefficients ``SKYCij`` in data units (``(sky,)`` for a constant)."""
        return self.coeffs or (self.sky,)


@dataclass(frozen=True)
class ExposureSky:
    """Sky of one exposure in brightness units, with the pieces it came from.

    ``sky_brightness`` is the exposure's level (for a sky model: its mean over the
    exposure's pixels), ``error`` its 1-sigma uncertainty (brightness), ``status``
    ``'level only'`` when the exposure's overlaps could not determine its model's shape
    (it then took the shape of its own sky's fit).
    """

    exposure_id: str
    sky_brightness: float
    valid: bool
    how: str
    local: float = float("nan")  # L_e
    match: float = float("nan")  # M_e
    component: int = -1
    error: float = float("nan")
    status: str = ""


@dataclass(frozen=True)
class PairStat:
    """One usable overlap between two exposures (``match``).

    ``sky_i``/``sky_j`` are the overlap skies (brightness) measured on exposure i's and
    j's own pixels; ``npix_*`` the pixel counts of the last clipping pass; ``weight`` is
    ``(npix_i + npix_j) / 2`` for the constant model (the sum of the cells' inverse
    variances for a sky model); ``residual`` is ``(M_i - M_j) - (sky_i - sky_j)`` after
    the solve (for a sky model: the mean residual of its cells), ``sigma`` the standard
    error of ``sky_i - sky_j`` and ``residual_sigma = residual / sigma``; ``n_cells`` and
    ``rms_sigma`` (rms of the cells' residuals in units of their errors) for sky models.
    """

    exposure_i: str
    exposure_j: str
    sky_i: float
    sky_j: float
    npix_i: int
    npix_j: int
    weight: float
    residual: float = float("nan")
    sigma: float = float("nan")
    residual_sigma: float = float("nan")
    n_cells: int = 0
    rms_sigma: float = float("nan")


@dataclass(frozen=True, eq=False)
class Flatness:
    """How well the exposures agree after their skies are removed.

    ``rms``: robust rms (area-weighted over overlap cells) of the difference between
    overlapping exposures on their common pixels, in ``units``; ``noise``: the rms the
    cells' statistical noise alone would give (a perfect model reaches about this);
    ``xi``, ``eta`` (tangent-plane radians), ``residual`` (``units``) and ``npix`` of
    every cell, for pictures.
    """

    rms: float
    noise: float
    n_cells: int
    n_pairs: int
    units: str
    xi: np.ndarray
    eta: np.ndarray
    residual: np.ndarray
    npix: np.ndarray


@dataclass(frozen=True)
class SkyResult:
    """Everything a sky computation produced.

    Attributes
    ----------
    method : str
        Canonical method name (``localmin``, ``globalmin``, ``match``,
        ``globalmin+match`` or ``user``).
    chips : tuple of ChipSky
        One entry per input chip, in input order.
    exposures : tuple of ExposureSky
        One entry per exposure, in input order.
    pairs : tuple of PairStat
        Usable overlaps (``match`` methods only).
    components : tuple of tuple of str
        Connected components of the overlap graph (exposure ids).
    parameters : Mapping
        The options used (statistic, clipping, masks, compat, sky model ...); read-only.
    sky_model : str
        ``'constant'``, ``'plane'``, ``'poly2'`` or ``'poly3'``.
    flatness : Flatness or None
        The flatness score, when it was asked for.
    """

    method: str
    chips: tuple[ChipSky, ...]
    exposures: tuple[ExposureSky, ...]
    pairs: tuple[PairStat, ...] = ()
    components: tuple[tuple[str, ...], ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    sky_model: str = "constant"
    flatness: Flatness | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "_chip_index", MappingProxyType({c.name: k for k, c in enumerate(self.chips)}))
        object.__setattr__(self, "_exp_index",
                           MappingProxyType({e.exposure_id: k for k, e in enumerate(self.exposures)}))

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        state["parameters"] = dict(self.parameters)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def chip(self, name: str) -> ChipSky:
        """Return the :class:`ChipSky` called ``name``."""
        try:
            return self.chips[self._chip_index[name]]
        except KeyError:
            raise KeyError(name) from None

    def exposure(self, exposure_id: str) -> ExposureSky:
        """Return the :class:`ExposureSky` of ``exposure_id``."""
        try:
            return self.exposures[self._exp_index[exposure_id]]
        except KeyError:
            raise KeyError(exposure_id) from None

    @property
    def sky(self) -> dict[str, float]:
        """``{chip name: sky in data units}``."""
        return {c.name: c.sky for c in self.chips}
