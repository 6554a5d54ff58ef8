"""Reading user sky values: AstroDrizzle ``skyfile`` lists and ``skyuser`` keywords."""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from ..exceptions import InputError
from ..models import Chip
from ._fits import chip_extension, needs_unmapped

__all__ = ["read_skyfile", "read_skyuser"]

_APPLIED = re.compile(r"applied\s*=\s*(yes|true|y|t)\b", re.IGNORECASE)


def read_skyfile(path: str, chips: Sequence[Chip]) -> tuple[dict[str, float], bool]:
    """Parse a skyfile: ``filename sky [sky_chip2 ...]`` per line.

    One value applies to every chip of the file; several give one per chip in order.
    A comment line saying ``applied = yes`` means the values were already subtracted.

    Returns
    -------
    values : dict
        ``{chip name: sky}``.
    applied : bool
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: skyfile not found")
    applied = False
    rows: dict[str, list[float]] = {}
    try:
        with open(path, "rb") as fh:
            lines = fh.read().decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: skyfile is not a text file in UTF-8 (byte {exc.start}); "
                         "expected 'filename sky [sky_chip2 ...]' lines") from None
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            if _APPLIED.search(text):
                applied = True
            continue
        parts = text.split()
        try:
            vals = [float(v) for v in parts[1:]]
        except ValueError:
            raise InputError(f"{path}:{lineno}: cannot read sky values in {text!r}; "
                             "expected 'filename sky [sky_chip2 ...]'") from None
        if not all(math.isfinite(v) for v in vals):
            raise InputError(f"{path}:{lineno}: sky values must be finite numbers ({text!r})")
        if not vals:
            raise InputError(f"{path}:{lineno}: no sky value for {parts[0]}")
        rows[os.path.basename(parts[0])] = vals
    by_file: dict[str, list[Chip]] = {}
    for c in chips:
        key = os.path.basename(c.source[0]) if c.source else c.name
        by_file.setdefault(key, []).append(c)
    values: dict[str, float] = {}
    for fname, fchips in by_file.items():
        if fname not in rows:
            raise InputError(f"{path}: no line for input {fname}; add 'filename sky' for every input")
        vals = rows[fname]
        if len(vals) == 1:
            vals = vals * len(fchips)
        if len(vals) != len(fchips):
            raise InputError(f"{path}: {fname} has {len(fchips)} chips but {len(vals)} sky values; "
                             "give one value or one per chip")
        for c, v in zip(fchips, vals):
            values[c.name] = v
    return values, applied


def read_skyuser(keyword: str, chips: Sequence[Chip]) -> dict[str, float]:
    """Sky values already subtracted by the user, from header keyword ``keyword``."""
    values: dict[str, float] = {}
    for c in chips:
        if c.source is None:
            raise InputError(f"{c.name}: skyuser needs file inputs")
        path, ext = chip_extension(c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(path, memmap=not needs_unmapped(path)) as hdul:
                hdr = hdul[ext].header
                val = hdr.get(keyword, hdul[0].header.get(keyword))
        if not isinstance(val, (int, float)) or isinstance(val, bool) or not math.isfinite(val):
            raise InputError(f"{c.name}: keyword {keyword!r} (skyuser) is missing or not a number")
        values[c.name] = float(val)
    return values
