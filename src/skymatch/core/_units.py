"""Data units and the data → brightness conversion (SPEC section 3)."""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import InputError

__all__ = ["classify_units", "brightness_conversion", "cd_pixel_scale_arcsec", "exptime_problem",
           "describe_kind"]

# ADU (analogue-to-digital units) are counts as DN and electrons are.
_COUNT_UNITS = frozenset({"ELECTRONS", "ELECTRON", "COUNTS", "COUNT", "DN", "E-", "E", "ADU", "ADUS"})
_TIME_UNITS = frozenset({"S", "SEC", "SECOND", "SECONDS"})
_HST_COUNTS = frozenset({"ACS", "WFPC2", "STIS", "NICMOS"})
_HST_RATES = frozenset({"COS", "FOC"})


def classify_units(
    bunit: str | None, *, instrument: str = "", detector: str = "", compat: bool = False
) -> str:
    """Classify data units as ``'counts'``, ``'rate'``, ``'surface'`` or ``'unknown'``.

    Parameters
    ----------
    bunit : str or None
        The ``BUNIT`` value (SCI header first, then primary).
    instrument, detector : str
        Used for the HST defaults when ``bunit`` is missing.
    compat : bool
        Reference rules: only ``ELECTRONS``/``COUNTS``/``DN`` with an optional ``/S``
        are recognised; everything else is ``'unknown'``.  Default rules also know
        ``ADU`` (and ``ADU/S``) and the singular and abbreviated forms.
    """
    instrument = (instrument or "").strip().upper()
    detector = (detector or "").strip().upper()
    if bunit is None or not str(bunit).strip():
        if instrument in _HST_COUNTS or (instrument == "WFC3" and detector == "UVIS"):
            return "counts"
        if instrument in _HST_RATES or (instrument == "WFC3" and detector == "IR"):
            return "rate"
        return "unknown"
    parts = [p.strip().upper() for p in str(bunit).split("/")]
    count_names = {"ELECTRONS", "COUNTS", "DN"} if compat else _COUNT_UNITS
    time_names = {"S", "SEC", "SECOND"} if compat else _TIME_UNITS
    if len(parts) == 1 and parts[0] in count_names:
        return "counts"
    if len(parts) == 2 and parts[0] in count_names and parts[1] in time_names:
        return "rate"
    if not compat:
        text = str(bunit).upper().replace(" ", "")
        if any(tok in text for tok in ("/SR", "SR-1", "/ARCSEC2", "/ARCSEC**2", "ARCSEC-2")):
            return "surface"
    return "unknown"


def describe_kind(kind: str) -> str:
    """A unit class in words (for messages)."""
    return {"counts": "counts (divided by EXPTIME)", "rate": "a rate (counts per second)",
            "surface": "surface brightness", "unknown": "a rate (no division by EXPTIME)"}[kind]


def exptime_problem(kind: str, exptime) -> str | None:
    """Why ``exptime`` cannot convert data of class ``kind``, or None when it can."""
    if kind != "counts":
        return None
    if exptime is None:
        return "is missing"
    if isinstance(exptime, bool) or not isinstance(exptime, (int, float, np.integer, np.floating)):
        return f"is not a number ({exptime!r})"
    if not math.isfinite(float(exptime)) or float(exptime) <= 0:
        return f"is {float(exptime):g}"
    return None


def brightness_conversion(
    kind: str, pixel_scale_arcsec: float, exptime: float | None, *, compat: bool = False
) -> float:
    """Factor that turns data values into brightness (SPEC section 3).

    ``conv = 1 / pscale**2``, further divided by ``exptime`` for counts.  Surface
    brightness data get ``conv = 1`` (default mode).  Unknown units follow the rate rule
    in default mode; in compat mode they are divided by ``exptime`` (Reference bug).

    Raises
    ------
    InputError
        Data in counts without a positive, finite ``exptime`` (they cannot be made a
        rate; treating them as one would silently give wrong skies).
    """
    problem = exptime_problem(kind, exptime)
    if problem:
        raise InputError(f"data in counts need EXPTIME > 0 to become a rate; EXPTIME {problem}")
    if kind == "surface" and not compat:
        return 1.0
    conv = 1.0 / (pixel_scale_arcsec * pixel_scale_arcsec)
    divide = kind == "counts" or (compat and kind == "unknown")
    if divide and exptime is not None and exptime > 0:
        conv /= exptime
    return conv


def cd_pixel_scale_arcsec(wcs) -> float:
    """Pixel scale ``3600 * sqrt(|det CD|)`` of a celestial WCS, in arcsec."""
    m = np.asarray(wcs.celestial.pixel_scale_matrix, dtype=float)
    return 3600.0 * math.sqrt(abs(float(np.linalg.det(m))))
