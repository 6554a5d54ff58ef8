"""Data-quality bit flags and usable-pixel masks (SPEC section 2).

The bit-flag syntax and the DQ test are astropy's (:mod:`astropy.nddata.bitmask`, the
code AstroDrizzle and stsci.skypac use); this module adds the messages that name the
parameter, and :func:`usable_mask`, the one definition of a usable pixel shared by the
sky statistics (``sky_bits``) and the drizzle weights (``final_bits``).
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..exceptions import ParameterError

__all__ = ["parse_bits", "dq_good_mask", "usable_mask", "BitFlags", "MAX_BITS"]

# (bits, invert) — bits None means "DQ not used".
BitFlags = tuple[int | None, bool]

#: Largest bit mask accepted: 64 bits, the widest DQ type (astropy silently drops the
#: bits above them; skymatch refuses such values instead).
MAX_BITS = (1 << 64) - 1

_SYNTAX = ("use an integer, or flags that are powers of two joined by '+' or ',' (e.g. "
           "'4+8'), optionally preceded by '~' for 'all flags but these'; 'none' to ignore DQ")


def parse_bits(spec: int | str | None, *, name: str = "sky_bits") -> BitFlags:
    """Parse a ``sky_bits``/``final_bits`` value.

    Parameters
    ----------
    spec : int, str or None
        An integer; flags joined by ``+``, ``,`` or ``|`` (``'4+8'``, ``'4,8'``), each a
        power of two; a leading ``~`` inverts the meaning (the listed flags are *bad*,
        all others good; ``'~(4+8)'`` also works); ``None``, an empty string, ``'none'``
        or ``'INDEF'`` mean the DQ array is not used.  This is
        :func:`astropy.nddata.bitmask.interpret_bit_flags`' syntax.
    name : str
        Parameter name used in error messages (``'sky_bits'``, ``'final_bits'`` ...).

    Returns
    -------
    (bits, invert) : tuple
        ``bits`` is ``None`` when DQ is not used; otherwise ``0 <= bits < 2**64``.

    Raises
    ------
    ParameterError
        For anything else (negative numbers, numbers of more than 64 bits, non-flags
        in a list, mixed separators, floats ...), naming ``name`` and the syntax.
    """
    if spec is None:
        return None, False
    if isinstance(spec, (bool, np.bool_)) or not isinstance(spec, (int, np.integer, str)):
        raise ParameterError(f"{name}={spec!r}: expected an integer or a string; {_SYNTAX}")
    if isinstance(spec, str) and "-" in spec:
        raise ParameterError(f"{name}={spec!r}: bit flags must be non-negative; {_SYNTAX}")
    if not isinstance(spec, str) and spec < 0:
        raise ParameterError(f"{name}={spec!r}: bit flags must be non-negative; {_SYNTAX}")
    try:
        with warnings.catch_warnings():
            # '4+4': astropy warns that duplicates are ignored; the result (4) is what
            # the user meant, so say nothing.
            warnings.filterwarnings("ignore", message="Duplicate bit flags")
            from astropy.nddata.bitmask import interpret_bit_flags  # astropy.nddata: ~0.5 s to import

            value = interpret_bit_flags(spec)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{name}={spec!r}: cannot read {_culprit(spec, exc)}; {_SYNTAX}") from None
    if value is None:
        return None, False
    invert = value < 0  # only a leading '~' gives a negative mask here
    bits = ~value if invert else value
    if bits > MAX_BITS:
        raise ParameterError(
            f"{name}={spec!r}: {bits} does not fit in 64 bits; DQ flags are at most 2**63"
        )
    return int(bits), bool(invert)


def _culprit(spec, exc: Exception) -> str:
    """The part of a refused bit-flag string to quote in the message."""
    if isinstance(spec, str):
        for part in re.split(r"[+,|()~]", spec):
            if part.strip() and not part.strip().isdigit():
                return repr(part.strip())
        if "invalid literal" in str(exc):
            return "an empty flag"
    return f"it ({exc})"


def dq_good_mask(dq: np.ndarray | None, flags: BitFlags) -> np.ndarray | None:
    """Boolean mask (True = good) from a DQ array and parsed bit flags.

    A pixel is good iff ``DQ & ~bits == 0``; with ``invert`` the listed bits are the bad
    ones (good iff ``DQ & bits == 0``).  Returns ``None`` when DQ is not used.  Computed
    by :func:`astropy.nddata.bitmask.bitfield_to_boolean_mask`; a non-integer DQ array
    is truncated to integers first.
    """
    bits, invert = flags
    if bits is None or dq is None:
        return None
    dq = np.asarray(dq)
    if not np.issubdtype(dq.dtype, np.integer):
        dq = dq.astype(np.int64)
    from astropy.nddata.bitmask import bitfield_to_boolean_mask  # imported when a DQ array is used

    return bitfield_to_boolean_mask(dq, ignore_flags=bits, flip_bits=True if invert else None,
                                    good_mask_value=True, dtype=bool)


def usable_mask(
    data: np.ndarray,
    dq: np.ndarray | None = None,
    *,
    flags: BitFlags = (None, False),
    user_mask: np.ndarray | None = None,
    static: np.ndarray | None = None,
) -> np.ndarray:
    """The usable pixels of one chip (True = usable), SPEC section 2.

    A pixel is usable when its value is finite, its DQ is good under ``flags``, the user
    mask is nonzero there and the static mask keeps it.  The sky statistics (with
    ``sky_bits``) and the drizzle weights (with ``final_bits``) both use this.

    Parameters
    ----------
    data : ndarray
        The chip's pixel values.
    dq : ndarray, optional
        Its data-quality array (same shape); ignored when ``flags`` says DQ is not used.
    flags : (bits, invert)
        Parsed bit flags (:func:`parse_bits`); the default ignores DQ.
    user_mask : ndarray, optional
        Nonzero = good (same shape).
    static : ndarray of bool, optional
        Static-mask keep mask (True = keep, same shape).

    Returns
    -------
    ndarray of bool
        A new array of ``data``'s shape.
    """
    good = np.isfinite(data)
    dqgood = dq_good_mask(dq, flags)
    if dqgood is not None:
        good &= dqgood
    if user_mask is not None:
        good &= np.asarray(user_mask) != 0
    if static is not None:
        good &= np.asarray(static, dtype=bool)
    return good
