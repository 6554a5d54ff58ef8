"""Writing a corrected WCS into a header while keeping the previous one as an alternate.

The FITS convention (WCS Paper I): an alternate WCS repeats the primary keywords with a
one-letter suffix (``CRVAL1A``, ``CD1_1A``, ``WCSNAMEA``...).  The previous solution is
archived under the first free letter, so nothing an earlier tool archived (HST's
``O`` for the OPUS solution, say) is overwritten; ``SMWCSOLD`` records the letter so
``skymatch tweakback`` knows which solution the new one replaced.  SIP and lookup-table
distortions are shared by all solutions and are not touched.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..core._wcsfit import linear_matrix
from ..exceptions import WriteError
from ..models import Chip
from ._headers import update_files_atomic

__all__ = ["free_alt_key", "wcs_update_cards", "previous_key", "chip_extension", "chip_header",
           "write_chip_wcs", "ARCHIVED"]

ARCHIVED = ("WCSNAME", "WCSAXES", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2", "CRPIX1", "CRPIX2",
            "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "PC1_1", "PC1_2", "PC2_1",
            "PC2_2", "CDELT1", "CDELT2", "LONPOLE", "LATPOLE", "RADESYS", "EQUINOX")


def free_alt_key(header: fits.Header) -> str:
    """The first letter A-Z not used by an alternate WCS in ``header``."""
    for k in string.ascii_uppercase:
        if f"WCSNAME{k}" not in header and f"CTYPE1{k}" not in header:
            return k
    raise WriteError("no free alternate WCS key (A-Z are all used)")


def previous_key(header: fits.Header) -> str | None:
    """The alternate key holding the solution the primary WCS replaced, if recorded."""
    k = header.get("SMWCSOLD")
    if isinstance(k, str) and len(k.strip()) == 1 and f"CTYPE1{k.strip()}" in header:
        return k.strip()
    return None


def wcs_update_cards(header: fits.Header, new: WCS, *, wcsname: str,
                     label: str) -> tuple[dict[str, tuple], str]:
    """Cards that archive the current WCS of ``header`` and install ``new`` as primary.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The extension header as it is now.
    new : astropy.wcs.WCS
        The corrected WCS (only CRVAL and the linear matrix are taken from it).
    wcsname : str
        ``WCSNAME`` of the new solution.
    label : str
        File and extension, for error messages.

    Returns
    -------
    (cards, key)
        ``{keyword: (value, comment)}`` and the alternate letter used for the archive.
    """
    key = free_alt_key(header)
    cards: dict[str, tuple] = {}
    for base in ARCHIVED:
        if base in header:
            value = header[base]
            long_text = isinstance(value, str) and len(value) > 40
            cards[f"{base}{key}"] = (value, "" if long_text else "WCS before alignment")
    if "WCSNAME" not in header:
        cards[f"WCSNAME{key}"] = ("UNNAMED", "WCS before alignment")
    cd = linear_matrix(new)
    if not np.all(np.isfinite(cd)) or not np.all(np.isfinite(new.wcs.crval)):
        raise WriteError(f"{label}: the corrected WCS is not finite; nothing written")
    cards["CRVAL1"] = (float(new.wcs.crval[0]), "aligned")
    cards["CRVAL2"] = (float(new.wcs.crval[1]), "aligned")
    if "CD1_1" in header or not any(f"PC{i}_{j}" in header for i in (1, 2) for j in (1, 2)):
        for i in range(2):
            for j in range(2):
                cards[f"CD{i + 1}_{j + 1}"] = (float(cd[i, j]), "aligned")
    else:
        cdelt = np.array([header.get("CDELT1", 1.0), header.get("CDELT2", 1.0)], float)
        pc = cd / cdelt[:, None]
        for i in range(2):
            for j in range(2):
                cards[f"PC{i + 1}_{j + 1}"] = (float(pc[i, j]), "aligned")
    if "ORIENTAT" in header:
        cards["ORIENTAT"] = (math.degrees(math.atan2(cd[0, 1], cd[1, 1])),
                             "PA of image y axis (deg e of n)")
    cards["WCSNAME"] = (wcsname, "aligned WCS")
    cards["SMWCSOLD"] = (key, "alt. WCS key before alignment")
    return cards, key


def chip_extension(chip: Chip):
    """The extension of a chip read from a file, as astropy addresses it."""
    _, extname, extver = chip.source
    return (extname, extver) if isinstance(extname, str) else extname


def chip_header(chip: Chip) -> fits.Header:
    """The current header of a chip's extension (read from its file)."""
    return fits.getheader(chip.source[0], chip_extension(chip))


def write_chip_wcs(new_wcs: Sequence[tuple[Chip, WCS]], *, wcsname: str,
                   headers: Sequence[fits.Header] | None = None, write: bool = True) -> list[str]:
    """Install a corrected WCS in each chip's header, all files or none.

    Parameters
    ----------
    new_wcs : sequence of (Chip, astropy.wcs.WCS)
        Chips (read from files) and their corrected WCS.
    wcsname : str
        ``WCSNAME`` of the new solutions; the current ones are archived as alternates.
    headers : sequence of astropy.io.fits.Header, optional
        The chips' current headers, when already read.
    write : bool
        False: build and check the cards, write nothing.

    Returns
    -------
    list of str
        The files (to be) updated.
    """
    updates: dict[str, dict] = {}
    for k, (chip, wcs) in enumerate(new_wcs):
        hdr = headers[k] if headers is not None else chip_header(chip)
        cards, _ = wcs_update_cards(hdr, wcs, wcsname=wcsname, label=chip.name)
        updates.setdefault(chip.source[0], {})[chip_extension(chip)] = cards
    if write and updates:
        update_files_atomic(updates)
    return list(updates)
