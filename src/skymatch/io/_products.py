"""Writing drizzled products: ``NAME_drz_sci.fits`` (+ ``HDRTAB``), ``_wht``, ``_ctx``.

Names follow AstroDrizzle: suffix ``drz`` for ``_flt`` inputs, ``drc`` for ``_flc``.
Every file is written to a temporary name and renamed into place; existing products are
refused unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from astropy.io import fits
from astropy.table import Table

from .._version import __version__
from ..core._drizzle import Mosaic
from ..exceptions import WriteError
from ..models import Chip
from ._atomic import atomic_write

__all__ = ["product_suffix", "product_paths", "write_products", "hdrtab"]

_SKIP = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "XTENSION", "PCOUNT",
         "GCOUNT", "COMMENT", "HISTORY", "", "NEXTEND", "INHERIT", "CHECKSUM", "DATASUM"}


def product_suffix(chips: Sequence[Chip]) -> str:
    """``'drc'`` when the inputs are CTE-corrected ``_flc`` files, else ``'drz'``."""
    names = [os.path.basename(c.source[0]).lower() for c in chips if c.source]
    return "drc" if names and all("_flc" in n for n in names) else "drz"


def product_paths(output: str, suffix: str, *, build: bool = False) -> dict[str, str]:
    if build:
        return {"drz": f"{output}_{suffix}.fits"}
    return {k: f"{output}_{suffix}_{k}.fits" for k in ("sci", "wht", "ctx")}


def _chip_headers(chip: Chip):
    if chip.source is None:
        return fits.Header(), fits.Header()
    path, extname, extver = chip.source
    ext = (extname, extver) if isinstance(extname, str) else extname
    with fits.open(path, memmap=True) as h:
        return h[0].header.copy(), h[ext].header.copy()


def hdrtab(chips: Sequence[Chip], skies: dict[str, float]) -> fits.BinTableHDU:
    """AstroDrizzle's ``HDRTAB``: one row per input chip, PRIMARY + SCI keywords.

    ``MDRIZSKY`` holds the sky subtracted from that chip in this mosaic.
    """
    rows = []
    for chip in chips:
        prim, sci = _chip_headers(chip)
        row: dict[str, object] = {}
        for hdr in (prim, sci):
            for card in hdr.cards:
                key = card.keyword
                if key in _SKIP or key.startswith("NAXIS"):
                    continue
                row[key] = card.value
        row["ROOTNAME"] = str(chip.meta.get("ROOTNAME", row.get("ROOTNAME", chip.name)))
        row["EXTNAME"] = str(chip.meta.get("EXTNAME", "SCI"))
        row["EXTVER"] = int(chip.meta.get("EXTVER", 1))
        row["MDRIZSKY"] = float(skies.get(chip.name, 0.0))
        rows.append(row)
    keys: list[str] = ["ROOTNAME", "EXTNAME", "EXTVER"]
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    t = Table()
    for k in keys:
        vals = [r.get(k) for r in rows]
        present = [v for v in vals if v is not None and not isinstance(v, fits.card.Undefined)]
        if present and all(isinstance(v, bool) for v in present):
            t[k] = [bool(v) if v is not None else False for v in vals]
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            t[k] = np.array([v if isinstance(v, int) else -999 for v in vals], dtype=np.int64)
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            t[k] = np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in vals])
        else:
            t[k] = ["" if v is None or isinstance(v, fits.card.Undefined) else str(v) for v in vals]
    hdu = fits.BinTableHDU(t, name="HDRTAB")
    return hdu


def _output_header(mosaic: Mosaic, chips: Sequence[Chip], extra: dict) -> fits.Header:
    h = fits.Header()
    first = chips[0].meta if chips else {}
    for key in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "ASN_ID", "DATE-OBS"):
        if key in first:
            h[key] = first[key]
    h["ROOTNAME"] = (str(extra.pop("rootname", first.get("ROOTNAME", ""))), "rootname of this product")
    h.update(mosaic.frame.wcs.to_header(relax=False))
    cd = mosaic.frame.wcs.wcs.cd
    for i in range(2):
        for j in range(2):
            h[f"CD{i + 1}_{j + 1}"] = float(cd[i, j])
    for k in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        h.remove(k, ignore_missing=True)
    h["ORIENTAT"] = (float(extra.pop("orientat", mosaic.frame.orientat)), "position angle of image y axis (deg. e of n)")
    p = mosaic.params
    h["BUNIT"] = ("ELECTRONS/S" if p.units == "cps" else "ELECTRONS", "units of the drizzled data")
    h["EXPTIME"] = (mosaic.exptime, "total of the unique exposure times (s)")
    h["TEXPTIME"] = (mosaic.exptime, "total exposure time (s)")
    h["NDRIZIM"] = (mosaic.ndrizim, "number of drizzled chips")
    h["D001KERN"] = (p.kernel, "drizzle kernel")
    h["D001PIXF"] = (p.pixfrac, "drizzle pixfrac")
    h["D001FVAL"] = ("INDEF" if p.fillval is None else str(p.fillval), "fill value")
    h["D001BITS"] = (str(p.bits), "final_bits: DQ flags counted as good")
    h["D001SCAL"] = (mosaic.frame.pixel_scale_arcsec, "output pixel scale (arcsec)")
    h["D001WTSC"] = ("EXP", "weight: EXPTIME x good pixels")
    h["SMVERS"] = (__version__, "skymatch version")
    for k, v in extra.items():
        h[k[:8].upper()] = v
    # The inputs, as AstroDrizzle lists them (tweakback reads them back).
    for k, chip in enumerate(chips, 1):
        if chip.source is not None and k <= 999:
            ext = f"[{chip.meta.get('EXTNAME', 'SCI').lower()},{chip.meta.get('EXTVER', 1)}]"
            h[f"D{k:03d}DATA"] = (os.path.basename(chip.source[0]) + ext, "drizzle input")
    h.add_history(f"Drizzled by skymatch {__version__} with the drizzle package")
    return h


def _atomic_write(hdul: fits.HDUList, path: str, overwrite: bool) -> None:
    # One atomic writer for all of skymatch (io/_atomic.py): fsynced, umask permissions.
    atomic_write(path, lambda fh: hdul.writeto(fh), overwrite=overwrite)


def write_products(mosaic: Mosaic, chips: Sequence[Chip], output: str, *, build: bool = False,
                   overwrite: bool = False, header_extra: dict | None = None) -> list[str]:
    """Write the products of one mosaic; returns the paths written.

    Parameters
    ----------
    mosaic : Mosaic
    chips : sequence of Chip
        The inputs, in drizzle (context-bit) order.
    output : str
        Output name (``f160w_match`` gives ``f160w_match_drz_sci.fits`` ...).
    build : bool
        One multi-extension ``NAME_drz.fits`` (PRIMARY, SCI, WHT, CTX, HDRTAB).
    overwrite : bool
        Replace existing products.
    header_extra : dict, optional
        More keywords for the science header (e.g. the sky method).
    """
    suffix = product_suffix(chips)
    paths = product_paths(output, suffix, build=build)
    if not overwrite:
        for p in paths.values():
            if os.path.exists(p):
                raise WriteError(f"{p}: already exists; use --overwrite (overwrite=True) to replace it")
    extra = dict(header_extra or {})
    extra.setdefault("rootname", os.path.basename(output))
    hdr = _output_header(mosaic, chips, extra)
    tab = hdrtab(chips, dict(mosaic.skies))
    wcs_hdr = fits.Header([c for c in hdr.cards if c.keyword in (
        "WCSAXES", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2",
        "CD1_1", "CD1_2", "CD2_1", "CD2_2", "RADESYS", "EQUINOX", "LONPOLE", "LATPOLE", "ORIENTAT")])
    if build:
        prim = fits.PrimaryHDU(header=hdr.copy())
        for k in list(wcs_hdr):
            prim.header.remove(k, ignore_missing=True)
        hl = fits.HDUList([
            prim,
            fits.ImageHDU(mosaic.sci, header=hdr, name="SCI"),
            fits.ImageHDU(mosaic.wht.astype(np.float32), header=wcs_hdr, name="WHT"),
            fits.ImageHDU(mosaic.ctx, header=wcs_hdr, name="CTX"),
            tab,
        ])
        _atomic_write(hl, paths["drz"], overwrite)
        return [paths["drz"]]
    _atomic_write(fits.HDUList([fits.PrimaryHDU(mosaic.sci, header=hdr), tab]), paths["sci"], overwrite)
    wh = wcs_hdr.copy()
    wh["BUNIT"] = ("SECONDS", "EXPTIME-weighted coverage")
    _atomic_write(fits.HDUList([fits.PrimaryHDU(mosaic.wht.astype(np.float32), header=wh)]), paths["wht"], overwrite)
    _atomic_write(fits.HDUList([fits.PrimaryHDU(mosaic.ctx, header=wcs_hdr)]), paths["ctx"], overwrite)
    return [paths["sci"], paths["wht"], paths["ctx"]]
