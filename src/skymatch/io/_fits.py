"""Reading FITS files into :class:`~skymatch.models.Chip` objects (SPEC section 1).

Headers, WCS and footprints need no pixels: :func:`read_chips` opens each file once for
its headers; pixels are read later, on demand, through :class:`FitsPixels`
(memory-mapped, converted to native byte order only when used).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from ..core._units import brightness_conversion, cd_pixel_scale_arcsec, classify_units
from ..exceptions import InputError, UnitsWarning
from ..models import Chip, ChipPixels
from ._inputs import InputSpec, expand_inputs

__all__ = ["FitsPixels", "read_chips", "read_inputs", "open_fits_checked", "META_KEYS"]

META_KEYS = (
    "ROOTNAME", "ASN_ID", "INSTRUME", "DETECTOR", "FILTER", "EXPTIME", "ORIENTAT",
    "PHOTFLAM", "DATE-OBS", "EXPSTART", "POSTARG1", "POSTARG2", "CRVAL1", "CRVAL2",
    "TELESCOP", "MDRIZSKY", "SMSUBTR", "IDCSCALE", "IDCV2REF", "IDCV3REF", "IDCTHETA", "PA_V3",
)


@dataclass(frozen=True, eq=False)
class FitsPixels:
    """Lazy reader of one chip's SCI (and DQ, user mask) from FITS files."""

    path: str
    sci: int
    dq: int | None
    mask_path: str | None
    token: str

    def read(self) -> ChipPixels:
        name = f"{os.path.basename(self.path)}[{self.sci}]"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", AstropyWarning)
                # memmap=None: memory-map, but read scaled (BZERO/BSCALE) data normally;
                # an explicit memmap=True makes astropy refuse them.
                with fits.open(self.path, memmap=None) as hdul:
                    data = np.array(hdul[self.sci].data, dtype=np.float32)
                    dq = None
                    if self.dq is not None:
                        raw = hdul[self.dq].data
                        dq = None if raw is None else np.array(raw, dtype=raw.dtype.newbyteorder("="))
        except (OSError, ValueError, TypeError, AstropyWarning) as exc:
            raise InputError(f"{name}: cannot read pixel data ({_short(exc)}); the file may be truncated") from exc
        mask = None
        if self.mask_path is not None:
            mask = _read_mask(self.mask_path, data.shape)
        return ChipPixels(data, dq, mask)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def _read_mask(path: str, shape) -> np.ndarray:
    if not os.path.isfile(path):
        raise InputError(f"{path}: mask file not found")
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
            if hdu is None:
                raise InputError(f"{path}: mask file has no image data")
            m = np.asarray(hdu.data) != 0
    except OSError as exc:
        raise InputError(f"{path}: mask is not a readable FITS file ({_short(exc)})") from exc
    if m.shape != tuple(shape):
        raise InputError(f"{path}: mask shape {m.shape} differs from the image's {tuple(shape)}")
    return m


def open_fits_checked(path: str, *, mode: str = "readonly") -> fits.HDUList:
    """Open a FITS file, turning every way it can be broken into an :class:`InputError`."""
    if not os.path.exists(path):
        raise InputError(f"{path}: file not found")
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a regular file")
    size = os.path.getsize(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AstropyWarning)
        try:
            hdul = fits.open(path, mode=mode, memmap=True, lazy_load_hdus=False)
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise InputError(f"{path}: not a readable FITS file ({_short(exc)})") from exc
    try:
        for i, hdu in enumerate(hdul):
            info = hdul.fileinfo(i)
            if info is not None and info["datLoc"] + info["datSpan"] > size:
                raise InputError(
                    f"{path}[{i}]: file is truncated ({size:,} bytes, extension {i} needs "
                    f"{info['datLoc'] + info['datSpan']:,}); download or copy it again")
        for w in caught:
            if "truncated" in str(w.message).lower():
                raise InputError(f"{path}[{len(hdul) - 1}]: file is truncated ({_short(w.message)}); "
                                 "download or copy it again")
    except InputError:
        hdul.close()
        raise
    return hdul


def _image_hdus(hdul, path):
    sci = [i for i, h in enumerate(hdul)
           if h.header.get("EXTNAME", "").strip().upper() == "SCI" and h.is_image]
    if sci:
        return sci, True
    for i, h in enumerate(hdul):
        if h.is_image and h.header.get("NAXIS", 0) > 0:
            return [i], False
    kinds = ", ".join(type(h).__name__ for h in hdul)
    raise InputError(f"{path}: no image data (HDUs: {kinds}); give a FITS image")


def _find_ext(hdul, name: str, ver: int) -> int | None:
    for i, h in enumerate(hdul):
        if h.header.get("EXTNAME", "").strip().upper() == name and int(h.header.get("EXTVER", 1)) == ver:
            return i
    return None


def _pixel_scale(sci_hdr, prim_hdr, wcs) -> float:
    for hdr in (sci_hdr, prim_hdr):
        for key in ("IDCSCALE", "PAMSCALE"):
            v = hdr.get(key)
            if isinstance(v, (int, float)) and v > 0:
                return float(v)
    return cd_pixel_scale_arcsec(wcs)


def read_chips(spec: InputSpec | str, *, compat: bool = False) -> list[Chip]:
    """Read the chips of one input file (headers and WCS only; pixels stay on disk).

    Parameters
    ----------
    spec : InputSpec or str
        The file (and its optional per-chip mask files).
    compat : bool
        Use the Reference's unit rules.

    Raises
    ------
    InputError
        Missing, non-FITS or truncated file; no image; non-2-D data; no celestial WCS;
        a mask list that does not match the chips.
    """
    if isinstance(spec, str):
        spec = InputSpec(spec)
    path = spec.path
    base = os.path.basename(path)
    st = os.stat(path) if os.path.exists(path) else None
    with open_fits_checked(path) as hdul:
        idxs, is_mef = _image_hdus(hdul, path)
        if spec.masks and len(spec.masks) not in (1, len(idxs)):
            raise InputError(f"{path}: {len(spec.masks)} mask files for {len(idxs)} chips; give one per chip")
        prim = hdul[0].header
        chips = []
        for k, i in enumerate(idxs):
            hdr = hdul[i].header
            ver = int(hdr.get("EXTVER", 1))
            label = f"{base}[SCI,{ver}]" if is_mef else f"{base}[{i}]"
            naxis = int(hdr.get("NAXIS", 0))
            if naxis != 2:
                shape = tuple(int(hdr.get(f"NAXIS{n}", 0)) for n in range(naxis, 0, -1))
                raise InputError(f"{label}: data are {naxis}-D (shape {shape}); skymatch needs 2-D images")
            if hdr.get("BITPIX") not in (8, 16, 32, 64, -32, -64):
                raise InputError(f"{label}: unsupported BITPIX={hdr.get('BITPIX')}; data must be numeric")
            shape = (int(hdr["NAXIS2"]), int(hdr["NAXIS1"]))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", AstropyWarning)
                    wcs = WCS(hdr, fobj=hdul)
            except Exception as exc:  # astropy raises many types for bad WCS headers
                raise InputError(f"{label}: cannot build a WCS ({_short(exc)}); fix the WCS keywords") from exc
            if not wcs.has_celestial or wcs.naxis != 2:
                ctypes = [hdr.get("CTYPE1", "none"), hdr.get("CTYPE2", "none")]
                raise InputError(
                    f"{label}: no celestial WCS (CTYPE1/2 = {ctypes[0]!r}, {ctypes[1]!r}); "
                    "give images with RA/Dec WCS keywords")
            wcs.pixel_shape = (shape[1], shape[0])
            instrument = str(prim.get("INSTRUME", hdr.get("INSTRUME", ""))).strip().upper()
            detector = str(prim.get("DETECTOR", hdr.get("DETECTOR", ""))).strip().upper()
            bunit = hdr.get("BUNIT", prim.get("BUNIT"))
            exptime = prim.get("EXPTIME", hdr.get("EXPTIME"))
            exptime = float(exptime) if isinstance(exptime, (int, float)) else None
            kind = classify_units(bunit, instrument=instrument, detector=detector, compat=compat)
            if kind == "unknown" and not compat:
                warnings.warn(
                    f"{label}: data units {bunit!r} not recognised; treating them as a rate "
                    "(no division by EXPTIME)", UnitsWarning, stacklevel=2)
            pscale = _pixel_scale(hdr, prim, wcs)
            conv = brightness_conversion(kind, pscale, exptime, compat=compat)
            dq = _find_ext(hdul, "DQ", ver) if is_mef else None
            mask_path = None
            if spec.masks:
                mask_path = spec.masks[k] if len(spec.masks) == len(idxs) else spec.masks[0]
            token = f"{os.path.realpath(path)}:{st.st_mtime_ns}:{st.st_size}:{i}"
            meta = {}
            for key in META_KEYS:
                if key in hdr:
                    meta[key] = hdr[key]
                elif key in prim:
                    meta[key] = prim[key]
            meta.setdefault("ROOTNAME", base.split("_")[0])
            meta["EXTNAME"] = "SCI" if is_mef else str(hdr.get("EXTNAME", "PRIMARY" if i == 0 else ""))
            meta["EXTVER"] = ver
            meta["BUNIT"] = "" if bunit is None else str(bunit)
            meta["FILENAME"] = base
            chips.append(Chip(
                name=label, wcs=wcs, shape=shape, exposure_id=path,
                pixels=FitsPixels(path, i, dq, mask_path, token),
                units="" if bunit is None else str(bunit).upper(), unit_kind=kind,
                exptime=exptime, conv=conv, pixel_scale_arcsec=pscale,
                signature=(f"{instrument}/{detector}", shape, ver),
                source=(path, "SCI" if is_mef else i, ver), meta=meta,
            ))
    return chips


def read_inputs(inputs, *, compat: bool = False) -> list[Chip]:
    """Expand ``inputs`` (see :func:`~skymatch.io.expand_inputs`) and read every file's chips."""
    chips: list[Chip] = []
    for spec in expand_inputs(inputs):
        chips.extend(read_chips(spec, compat=compat))
    return chips
