"""Data-quality bit flags and usable-pixel masks (SPEC section 2)."""

from __future__ import annotations

import re

import numpy as np

from ..exceptions import ParameterError

__all__ = ["parse_bits", "dq_good_mask", "BitFlags"]

# (bits, invert) — bits None means "DQ not used".
BitFlags = tuple[int | None, bool]

_TOKEN = re.compile(r"^\s*(\d+)\s*$")


def parse_bits(spec: int | str | None) -> BitFlags:
    """Parse a ``sky_bits``/``final_bits`` value.

    Parameters
    ----------
    spec : int, str or None
        An integer; flags joined by ``+`` or ``,`` (``'4+8'``, ``'4,8'``); a leading
        ``~`` inverts the meaning (the listed flags are *bad*, all others good);
        ``None`` or an empty string means the DQ array is not used.

    Returns
    -------
    (bits, invert) : tuple
        ``bits`` is ``None`` when DQ is not used.

    Raises
    ------
    ParameterError
        For anything else, with the accepted syntax in the message.
    """
    if spec is None:
        return None, False
    if isinstance(spec, (bool, np.bool_)):
        raise ParameterError(f"sky_bits={spec!r}: expected an integer or flags like '4+8', '~64'")
    if isinstance(spec, (int, np.integer)):
        if spec < 0:
            raise ParameterError(f"sky_bits={spec!r}: bit flags must be non-negative")
        return int(spec), False
    if not isinstance(spec, str):
        raise ParameterError(f"sky_bits={spec!r}: expected an integer or a string like '4+8'")
    text = spec.strip()
    if text == "" or text.upper() == "NONE":
        return None, False
    invert = text.startswith("~")
    if invert:
        text = text[1:].strip()
    parts = re.split(r"[+,]", text)
    total = 0
    for part in parts:
        m = _TOKEN.match(part)
        if not m:
            raise ParameterError(
                f"sky_bits={spec!r}: cannot read {part.strip()!r}; use an integer or flags "
                "joined by '+' or ',' (e.g. '4+8'), optionally preceded by '~'"
            )
        total |= int(m.group(1))
    return total, invert


def dq_good_mask(dq: np.ndarray | None, flags: BitFlags) -> np.ndarray | None:
    """Boolean mask (True = good) from a DQ array and parsed bit flags.

    A pixel is good iff ``DQ & ~bits == 0``; with ``invert`` the listed bits are the bad
    ones (good iff ``DQ & bits == 0``).  Returns ``None`` when DQ is not used.
    """
    bits, invert = flags
    if bits is None or dq is None:
        return None
    dq = np.asarray(dq)
    if not np.issubdtype(dq.dtype, np.integer):
        dq = dq.astype(np.int64)
    # Bit patterns in the DQ array's own integer type (two's complement wraps correctly).
    bad_bits = bits if invert else ~bits
    pattern = np.array(bad_bits, dtype=np.int64).astype(dq.dtype)
    return np.bitwise_and(dq, pattern) == 0
