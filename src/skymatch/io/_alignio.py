"""Files of alignment: TweakReg's shift file, and what a drizzled product says about itself.

``skymatch align`` and ``tweakback`` read and write nothing themselves: the shift file is
written atomically here, a drizzled product's WCS (with its archived alternate) and
its list of inputs are read here, and corrected WCS go into headers through
:func:`skymatch.io._wcsio.write_chip_wcs`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from astropy.io import fits
from astropy.table import Table

from ..core._align import ImageFit
from ..exceptions import InputError
from ._atomic import atomic_write_text
from ._fits import open_fits_checked

__all__ = ["is_drizzled", "drizzle_inputs", "read_drizzled_wcs", "shiftfile_text", "write_shiftfile"]

_DRZ_NAME = re.compile(r"_(drz|drc)(_sci)?\.fits(\.gz)?$", re.IGNORECASE)
_DATA_KEY = re.compile(r"^D\d{3}DATA$")


def is_drizzled(path: str) -> bool:
    """True for a drizzled product: a ``_drz``/``_drc`` name, or drizzle keywords."""
    if _DRZ_NAME.search(os.path.basename(path)):
        return True
    with open_fits_checked(path) as h:
        return any("D001DATA" in x.header or "NDRIZIM" in x.header for x in h[:2])


def shiftfile_text(names: Sequence[str], fits_: Sequence[ImageFit]) -> str:
    """TweakReg's shift file (``form: delta``, ``units: pixels``) as text.

    One line per aligned image: name, x and y shift (reference-frame pixels), rotation
    (degrees), scale, x and y RMS (pixels); images not aligned appear as comments with
    the reason.
    """
    lines = ["# frame: output", f"# refimage: {names[0]}", "# form: delta", "# units: pixels"]
    for name, f in zip(names, fits_):
        if f.reference:
            continue
        if not f.aligned:
            lines.append(f"# {name}: {f.status}")
            continue
        lines.append(f"{name}    {f.xshift:.6f}  {f.yshift:.6f}    {f.rotation:.8f}     {f.scale:.8f}"
                     f"     {f.rms_x:.6f}  {f.rms_y:.6f}")
    return "\n".join(lines) + "\n"


def write_shiftfile(path: str | os.PathLike, names: Sequence[str], fits_: Sequence[ImageFit]) -> str:
    """Write :func:`shiftfile_text` to ``path`` atomically; return the path."""
    return atomic_write_text(path, shiftfile_text(names, fits_))


def drizzle_inputs(drz: str) -> list[str]:
    """Files a drizzled product was made from (``D###DATA`` keywords, else ``HDRTAB``),
    as paths beside the product."""
    base = os.path.dirname(os.path.abspath(drz))
    names: list[str] = []
    with open_fits_checked(drz) as h:
        for hdu in h:
            for card in hdu.header.cards:
                if _DATA_KEY.match(card.keyword):
                    names.append(str(card.value).split("[")[0].strip())
        if not names and "HDRTAB" in h:
            t = h["HDRTAB"].data
            if "FILENAME" not in t.columns.names:
                raise InputError(f"{drz}[HDRTAB]: no FILENAME column; give the inputs with --inputs")
            names = [str(v).strip() for v in t["FILENAME"]]
    if not names:
        raise InputError(f"{drz}: lists no inputs (no D###DATA keywords or HDRTAB); give them with --inputs")
    out = []
    for n in dict.fromkeys(names):
        p = n if os.path.isabs(n) else os.path.join(base, n)
        if not os.path.exists(p):
            raise InputError(f"{drz}: its input {n} is not in {base}; give the inputs with --inputs")
        out.append(p)
    return out


def read_drizzled_wcs(drz: str) -> tuple[fits.Header, Table | None, str]:
    """A drizzled product's SCI header, its ``HDRTAB`` (or None) and a label for messages."""
    with open_fits_checked(drz) as h:
        idx = next((i for i, x in enumerate(h) if x.header.get("EXTNAME", "").strip().upper() == "SCI"), 0)
        hdr = h[idx].header.copy()
        tab = Table(h["HDRTAB"].data) if "HDRTAB" in h else None
    return hdr, tab, f"{os.path.basename(drz)}[{idx}]"
