"""Reading FITS files into :class:`~skymatch.models.Chip` objects (SPEC section 1).

Headers, WCS and footprints need no pixels: :func:`read_chips` opens each file once for
its headers; pixels are read later, on demand, through :class:`FitsPixels`
(memory-mapped, converted to native byte order only when used).
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from ..core._units import brightness_conversion, cd_pixel_scale_arcsec, classify_units, describe_kind, exptime_problem
from ..exceptions import InputError, UnitsWarning
from ..models import Chip, ChipPixels
from ._fastfits import check_structure, header_layout, needs_astropy_wcs, scan_fits, wcs_from_cards
from ._inputs import InputSpec, expand_inputs
from ._journal import is_compressed

__all__ = ["FitsPixels", "read_chips", "read_inputs", "open_fits_checked", "META_KEYS",
           "chip_extension", "needs_unmapped", "file_stem"]

META_KEYS = (
    "ROOTNAME", "ASN_ID", "INSTRUME", "DETECTOR", "FILTER", "EXPTIME", "ORIENTAT",
    "PHOTFLAM", "DATE-OBS", "EXPSTART", "POSTARG1", "POSTARG2", "CRVAL1", "CRVAL2",
    "TELESCOP", "MDRIZSKY", "SMSUBTR", "IDCSCALE", "IDCV2REF", "IDCV3REF", "IDCTHETA", "PA_V3",
)


@dataclass(frozen=True, eq=False)
class FitsPixels:
    """Lazy reader of one chip's SCI (and DQ, user mask) from FITS files.

    ``memmap`` is False for files astropy cannot memory-map (compressed files, integer
    data scaled by ``BSCALE``/``BZERO``): their HDUs are read into memory when used.
    """

    path: str
    sci: int
    dq: int | None
    mask_path: str | None
    token: str
    memmap: bool = True
    sci_at: tuple | None = None  # (offset, big-endian dtype, shape) of unscaled data
    dq_at: tuple | None = None
    stamp: tuple | None = None  # (mtime_ns, size) of the file when the offsets were read

    def read(self) -> ChipPixels:
        name = f"{os.path.basename(self.path)}[{self.sci}]"
        data = None
        if self.sci_at is not None and (self.dq is None or self.dq_at is not None):
            data, dq = self._read_direct(name)
        if data is None:
            data, dq = self._read_astropy(name)
        if dq is not None and dq.shape != data.shape:
            raise InputError(f"{name}: DQ extension {self.dq} has shape {dq.shape}, the data "
                             f"{data.shape}; fix the file or drop it")
        mask = None
        if self.mask_path is not None:
            mask = _read_mask(self.mask_path, data.shape)
        return ChipPixels(data, dq, mask)

    def _read_direct(self, name: str):
        """SCI (and DQ) straight from their file offsets: the same arrays astropy gives
        (float32 data, native-order DQ) without opening the file as FITS."""
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if (st.st_mtime_ns, st.st_size) != self.stamp:
                    return None, None  # the file changed since its header was read
                data = _read_at(fh, self.sci_at).astype(np.float32)
                dq = None
                if self.dq_at is not None:
                    raw = _read_at(fh, self.dq_at)
                    dq = raw.astype(raw.dtype.newbyteorder("="))
        except (OSError, ValueError) as exc:
            raise InputError(f"{name}: cannot read pixel data ({_short(exc)}); the file may be truncated") from exc
        return data, dq

    def _read_astropy(self, name: str):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", AstropyWarning)
                with fits.open(self.path, memmap=self.memmap) as hdul:
                    data = np.array(hdul[self.sci].data, dtype=np.float32)
                    dq = None
                    if self.dq is not None:
                        raw = hdul[self.dq].data
                        dq = None if raw is None else np.array(raw, dtype=raw.dtype.newbyteorder("="))
        except (OSError, ValueError, TypeError, EOFError, AstropyWarning) as exc:
            what = "the compressed file is truncated or corrupt" if not self.memmap and \
                is_compressed(self.path) else "the file may be truncated"
            raise InputError(f"{name}: cannot read pixel data ({_short(exc)}); {what}") from exc
        return data, dq


def _read_at(fh, at: tuple) -> np.ndarray:
    offset, dtype, shape = at
    n = shape[0] * shape[1]
    fh.seek(offset)
    a = np.fromfile(fh, dtype=dtype, count=n)
    if a.size != n:
        raise ValueError(f"{a.size} of {n} values at byte {offset}")
    return a.reshape(shape)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


#: wcslib's location of an error in its own source ("ERROR 4 in wcs_types() at line 3121
#: of file cextern/wcslib/C/wcs.c: "), which astropy passes on before the message itself.
_WCSLIB_WHERE = re.compile(r"ERROR \d+ in \w+\(\) at line \d+ of file [^:]*:\s*")


def _wcslib_text(exc: BaseException) -> str:
    """An error from building a WCS in the user's terms: wcslib's messages without the
    places in wcslib's C source that astropy prefixes them with."""
    return _short(_WCSLIB_WHERE.sub("", " ".join(str(exc).split())) or type(exc).__name__)


def _read_mask(path: str, shape) -> np.ndarray:
    if not os.path.isfile(path):
        raise InputError(f"{path}: mask file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(path, memmap=False) as hdul:
                hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
                if hdu is None:
                    raise InputError(f"{path}: mask file has no image data")
                m = np.asarray(hdu.data) != 0
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise InputError(f"{path}: mask is not a readable FITS file ({_short(exc)})") from exc
    if m.shape != tuple(shape):
        raise InputError(f"{path}: mask shape {m.shape} differs from the image's {tuple(shape)}")
    return m


_SCALING = ("BSCALE", "BZERO", "BLANK")


def needs_unmapped(path: str) -> bool:
    """True when astropy cannot memory-map the images of ``path`` (compressed file, or
    integer data scaled by ``BSCALE``/``BZERO``/``BLANK``)."""
    if is_compressed(path):
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, memmap=True) as hdul:
            return any(k in h.header for h in hdul if h.is_image for k in _SCALING)


def chip_extension(chip: Chip) -> tuple[str, object]:
    """``(path, extension)`` of a file chip, the extension as astropy takes it
    (``('SCI', 2)`` or an HDU index)."""
    path, extname, extver = chip.source
    return path, ((extname, extver) if isinstance(extname, str) else extname)


def _fits_problem(path: str, size: int, exc: BaseException) -> str:
    """What is wrong with a file astropy could not open, in words (astropy's own text
    only where there is nothing more specific to say: its advice is for its Python API)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(80)
    except OSError as err:
        return f"cannot read it ({_short(err)})"
    if size == 0:
        return "file is empty (0 bytes); download or copy it again"
    if not head.startswith(b"SIMPLE  ="):
        return "not a FITS file (it does not start with a FITS header: SIMPLE = T)"
    if size < 2880:
        return f"file is truncated ({size:,} bytes; a FITS header alone takes 2,880); download or copy it again"
    return f"not a readable FITS file (corrupt header: {_short(exc)})"


def _structure(path: str, compressed: bool):
    """:func:`~skymatch.io._fastfits.check_structure` (before astropy sees the file: its
    reader does not stop on negative sizes), and an extension ``NEXTEND`` promises where
    the file has no header."""
    try:
        walk = check_structure(path, compressed=compressed)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, IndexError) as exc:
        if not compressed:
            raise InputError(f"{path}: cannot read it ({_short(exc)})") from exc
        raise InputError(f"{path}: compressed file is truncated or corrupt ({_short(exc)}); download or "
                         "copy it again") from exc
    if walk.trailing and walk.nextend is not None and walk.nextend > walk.hdus - 1:
        raise InputError(f"{path}[{walk.hdus}]: NEXTEND = {walk.nextend} but the bytes at {walk.end:,}, "
                         f"where extension {walk.hdus} should start, are not a FITS header (a damaged "
                         "header?); download or copy the file again")
    return walk


def open_fits_checked(path: str, *, mode: str = "readonly") -> fits.HDUList:
    """Open a FITS file, turning every way it can be broken into an :class:`InputError`.

    Compressed files (gzip, bzip2, zip) are opened without memory-mapping; they can be
    read but not updated.
    """
    if not os.path.exists(path):
        raise InputError(f"{path}: file not found")
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a regular file")
    size = os.path.getsize(path)
    compressed = is_compressed(path)
    if compressed and mode != "readonly":
        raise InputError(f"{path}: compressed files can only be read; decompress it (gunzip) "
                         "or use --readonly")
    walk = _structure(path, compressed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AstropyWarning)
        try:
            hdul = fits.open(path, mode=mode, memmap=not compressed, lazy_load_hdus=False)
        except Exception as exc:  # astropy (gzip, zipfile, bz2 ...) raise many types on bad bytes
            if compressed:
                raise InputError(f"{path}: compressed file is truncated or corrupt "
                                 f"({_short(exc)}); download or copy it again") from exc
            raise InputError(f"{path}: {_fits_problem(path, size, exc)}") from exc
        try:
            # The headers check_structure followed are ASCII; astropy's warning is then
            # about bytes after the last HDU, which it ignores as FITS allows.
            if not walk.trailing:
                for w in caught:
                    if "non-ASCII" in str(w.message):
                        raise InputError(f"{path}: corrupt header (non-ASCII bytes where FITS allows "
                                         "only ASCII text); download or copy it again")
            # Before anything asks astropy for sizes: its verification "fixes" broken
            # cards in memory (an unparsable number becomes a string) without a word.
            for i, hdu in enumerate(hdul):
                _check_header(hdu.header, f"{path}{_ext_label(hdu.header, i)}")
            if not compressed:
                for i in range(len(hdul)):
                    try:
                        info = hdul.fileinfo(i)
                    except (VerifyError, ValueError, TypeError, KeyError) as exc:
                        raise InputError(f"{path}[{i}]: header cannot be read ({_short(exc)}); "
                                         "fix the file") from exc
                    if info is not None and info["datLoc"] + info["datSpan"] > size:
                        raise InputError(
                            f"{path}[{i}]: file is truncated ({size:,} bytes, extension {i} needs "
                            f"{info['datLoc'] + info['datSpan']:,}); download or copy it again")
            for w in caught:
                if "truncated" in str(w.message).lower():
                    raise InputError(f"{path}[{len(hdul) - 1}]: file is truncated "
                                     f"({_short(w.message)}); download or copy it again")
        except InputError:
            hdul.close()
            raise
    return hdul


def _ext_label(hdr: fits.Header, index: int) -> str:
    """``[SCI,1]`` for a named extension, else ``[index]``."""
    try:
        name, ver = hdr.get("EXTNAME"), hdr.get("EXTVER", 1)
    except (VerifyError, ValueError):
        return f"[{index}]"
    if isinstance(name, str) and name.strip() and index > 0:
        return f"[{name.strip()},{ver}]"
    return f"[{index}]"


def _check_header(hdr: fits.Header, label: str) -> None:
    """Every card must parse and have a valid keyword (garbage bytes are not a header)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        for n, card in enumerate(hdr.cards):
            key = card.keyword
            # astropy gives a HIERARCH card's keyword without the prefix ('ESO DET CHIP');
            # only such keywords reach card.image (which would re-render a broken value)
            if key and not _KEY_RE.match(key) and card.image[:8].upper() != "HIERARCH":
                raise InputError(f"{label}: header card {n + 1} has an invalid keyword {key!r} "
                                 "(corrupt header?); fix or delete that card")
            try:
                card.value  # noqa: B018 - parsing is the check
            except (VerifyError, ValueError) as exc:
                raw = str(getattr(card, "_image", None) or "")[10:].strip()[:30]
                raise InputError(f"{label}: keyword {key} has an unparsable value "
                                 f"({raw!r}); fix or delete that card") from exc


_KEY_RE = re.compile(r"^[A-Z0-9_-]{1,8}$|^HIERARCH ")
_WCS_NUMBERS = ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CD1_1", "CD1_2",
                "CD2_1", "CD2_2", "PC1_1", "PC1_2", "PC2_1", "PC2_2", "CROTA2")


def _check_wcs_keywords(hdr: fits.Header, label: str) -> None:
    """WCS numbers must be finite numbers and the linear matrix invertible: astropy.wcs
    silently replaces a bad ``CD`` matrix, which would give a valid-looking answer."""
    for key in _WCS_NUMBERS:
        if key not in hdr:
            continue
        v = hdr[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{label}: keyword {key} = {v!r} is not a finite number; fix the WCS")
    if any(f"CD{i}_{j}" in hdr for i in (1, 2) for j in (1, 2)):
        m = np.array([[float(hdr.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)])
        what = "CD matrix"
    else:
        pc = np.array([[float(hdr.get(f"PC{i}_{j}", 1.0 if i == j else 0.0)) for j in (1, 2)]
                       for i in (1, 2)])
        m = np.diag([float(hdr.get("CDELT1", 1.0)), float(hdr.get("CDELT2", 1.0))]) @ pc
        what = "PC matrix times CDELT"
    det = float(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])
    if abs(det) <= 1e-30 * max(1.0, float(np.abs(m).max()) ** 2) or np.abs(m).max() == 0:
        raise InputError(f"{label}: the {what} is singular ({', '.join(f'{x:g}' for x in m.ravel())}); "
                         "fix the WCS keywords")


def file_stem(path: str) -> str:
    """The file name without its FITS (and compression) extensions."""
    base = os.path.basename(path)
    for ext in (".gz", ".bz2", ".zip", ".fz"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    for ext in (".fits", ".fit", ".fts"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    return base


def _extname(hdr: fits.Header) -> str:
    """EXTNAME upper-case ('' when missing or not a string)."""
    v = hdr.get("EXTNAME", "")
    return v.strip().upper() if isinstance(v, str) else ""


def _extver(hdr: fits.Header) -> int:
    """EXTVER (1 when missing or not an integer)."""
    v = hdr.get("EXTVER", 1)
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else 1


def _image_hdus(hdul, path):
    sci = [i for i, h in enumerate(hdul)
           if _extname(h.header) == "SCI" and h.is_image]
    if sci:
        return sci, True
    for i, h in enumerate(hdul):
        if h.is_image and h.header.get("NAXIS", 0) > 0:
            return [i], False
    kinds = ", ".join(type(h).__name__ for h in hdul)
    raise InputError(f"{path}: no image data (HDUs: {kinds}); give a FITS image")


def _find_ext(hdul, name: str, ver: int) -> int | None:
    for i, h in enumerate(hdul):
        if _extname(h.header) == name and _extver(h.header) == ver:
            return i
    return None


def _pixel_scale(sci_hdr, prim_hdr, wcs) -> float:
    for hdr in (sci_hdr, prim_hdr):
        for key in ("IDCSCALE", "PAMSCALE"):
            v = hdr.get(key)
            if isinstance(v, (int, float)) and v > 0:
                return float(v)
    return cd_pixel_scale_arcsec(wcs)


def read_chips(spec: InputSpec | str, *, compat: bool = False, unknown_units: list | None = None,
               headers: dict | None = None, layouts: dict | None = None) -> list[Chip]:
    """Read the chips of one input file (headers and WCS only; pixels stay on disk).

    Plain FITS files are read by :mod:`skymatch.io._fastfits` (header blocks parsed
    directly, WCS built without re-parsing); anything it does not handle (compressed
    files, lookup-table distortions, unusual cards, damaged files) is read by astropy
    with its full checks, to the same chips.

    Parameters
    ----------
    spec : InputSpec or str
        The file (and its optional per-chip mask files).  Compressed files (``.fits.gz``)
        and integer images scaled by ``BSCALE``/``BZERO`` are read without
        memory-mapping.
    compat : bool
        Use the Reference's unit rules.
    unknown_units : list, optional
        Collects ``(label, BUNIT)`` of chips whose units were not recognised instead of
        warning here (:func:`read_inputs` then warns once for all).

    Raises
    ------
    InputError
        Missing, non-FITS, truncated or corrupt file; an unparsable header card; no
        image; non-2-D data; no celestial WCS or a WCS with non-finite numbers or a
        singular matrix; data in counts without a positive EXPTIME; a DQ extension of
        another shape; a mask list that does not match the chips.
    """
    if isinstance(spec, str):
        spec = InputSpec(spec)
    path = spec.path
    st = os.stat(path) if os.path.exists(path) else None
    collect = unknown_units is not None
    unknown: list = unknown_units if collect else []
    fast = _CardsFile.open(path) if st is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        if fast is not None:
            chips = _chips_of(fast, spec, st, compat, unknown)
            if headers is not None:
                from ._pieces import scanned_product_inputs

                headers.update(scanned_product_inputs(path, fast.hdus, chips))
            if layouts is not None:
                layouts[path] = header_layout(fast.hdus)
        else:
            with open_fits_checked(path) as hdul:
                try:
                    chips = _chips_of(_AstropyFile(hdul), spec, st, compat, unknown)
                except (VerifyError, KeyError, TypeError) as exc:
                    raise InputError(f"{path}: header cannot be read ({_short(exc)}); fix the file") from exc
    if not collect:
        _warn_units(unknown)
    return chips


class _AstropyFile:
    """An open HDUList seen as what :func:`_chips_of` needs."""

    def __init__(self, hdul):
        self.hdus = hdul
        self.hdul = hdul

    def check(self, index: int, label: str) -> None:
        _check_header(self.hdus[index].header, label)

    def wcs(self, index: int) -> WCS:
        return WCS(self.hdus[index].header, fobj=self.hdul)

    def location(self, index: int):  # noqa: ARG002 - the pixel-source interface
        return None

    def unmapped(self, path: str, idxs) -> bool:
        return is_compressed(path) or any(k in self.hdus[i].header for i in idxs for k in _SCALING)


class _CardsFile:
    """A plain FITS file read by :func:`~skymatch.io._fastfits.scan_fits`.

    Its cards were checked while parsing (every keyword valid, every value parsed), so
    :meth:`check` has nothing left to do.
    """

    def __init__(self, hdus):
        self.hdus = hdus

    @classmethod
    def open(cls, path: str) -> _CardsFile | None:
        hdus = scan_fits(path)
        if hdus is None or not any(h.is_image and h.header.get("NAXIS", 0) > 0 for h in hdus):
            return None
        idxs, _ = _image_hdus(hdus, path)
        if any(needs_astropy_wcs(hdus[i].header) for i in idxs):
            return None
        return cls(hdus)

    def check(self, index: int, label: str) -> None:
        pass

    def wcs(self, index: int) -> WCS:
        h = self.hdus[index]
        return wcs_from_cards(h.header, h.raw)

    def location(self, index: int):
        """(offset, big-endian dtype, shape) of an unscaled image's data, else None."""
        h = self.hdus[index]
        if any(k in h.header for k in _SCALING) or h.header.get("NAXIS") != 2:
            return None
        dtype = _BITPIX_DTYPE.get(h.header.get("BITPIX"))
        if dtype is None:
            return None
        return (h.data_offset, dtype, (int(h.header["NAXIS2"]), int(h.header["NAXIS1"])))

    def unmapped(self, path: str, idxs) -> bool:  # noqa: ARG002 - the pixel-source interface
        return any(k in self.hdus[i].header for i in idxs for k in _SCALING)


_BITPIX_DTYPE = MappingProxyType({8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"})


def _chips_of(f, spec: InputSpec, st, compat: bool, unknown: list) -> list[Chip]:
    path = spec.path
    base = os.path.basename(path)
    idxs, is_mef = _image_hdus(f.hdus, path)
    if spec.masks and len(spec.masks) not in (1, len(idxs)):
        raise InputError(f"{path}: {len(spec.masks)} mask files for {len(idxs)} chips; give one per chip")
    prim = f.hdus[0].header
    f.check(0, f"{path}[0]")
    unmapped = f.unmapped(path, idxs)
    chips = []
    for k, i in enumerate(idxs):
        hdr = f.hdus[i].header
        ver = _extver(hdr)
        ext = f"[SCI,{ver}]" if is_mef else f"[{i}]"
        label = base + ext  # the chip's name in tables and headers
        where = path + ext  # in errors: the file as the user gave it
        if i != 0:
            f.check(i, where)
        shape = _image_shape(hdr, where)
        wcs = _chip_wcs(f, i, hdr, shape, where)
        units = _chip_units(hdr, prim, wcs, where, compat)
        if units["unit_kind"] == "unknown" and not compat:
            unknown.append((label, units["bunit"]))
        dq = _dq_extension(f.hdus, ver, shape, path) if is_mef else None
        mask_path = None
        if spec.masks:
            mask_path = spec.masks[k] if len(spec.masks) == len(idxs) else spec.masks[0]
        # The file (device, inode: the same through any link) as it is now, and the chip.
        token = f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}:{i}"
        # Absolute paths: tasks may run in other processes or on Dask workers whose
        # working folder is not this one.
        pixels = FitsPixels(os.path.abspath(path), i, dq, mask_path and os.path.abspath(mask_path), token,
                            memmap=not unmapped,
                            sci_at=f.location(i), dq_at=None if dq is None else f.location(dq),
                            stamp=(st.st_mtime_ns, st.st_size))
        chips.append(Chip(
            name=label, wcs=wcs, shape=shape, exposure_id=path, pixels=pixels,
            signature=(f"{units['instrument']}/{units['detector']}", shape, ver),
            source=(path, "SCI" if is_mef else i, ver),
            meta=_chip_meta(hdr, prim, path, is_mef, i, ver, units["bunit"]),
            **{k: units[k] for k in ("units", "unit_kind", "exptime", "conv", "pixel_scale_arcsec")},
        ))
    return chips


def _image_shape(hdr, label: str) -> tuple[int, int]:
    """(rows, cols) of a 2-D numeric image, or InputError."""
    naxis = int(hdr.get("NAXIS", 0))
    if naxis != 2:
        shape = tuple(int(hdr.get(f"NAXIS{n}", 0)) for n in range(naxis, 0, -1))
        raise InputError(f"{label}: data are {naxis}-D (shape {shape}); skymatch needs 2-D images")
    if hdr.get("BITPIX") not in (8, 16, 32, 64, -32, -64):
        raise InputError(f"{label}: unsupported BITPIX={hdr.get('BITPIX')}; data must be numeric")
    shape = (int(hdr["NAXIS2"]), int(hdr["NAXIS1"]))
    if min(shape) < 1:
        raise InputError(f"{label}: image of shape {shape} has no pixels")
    return shape


def _chip_wcs(f, index: int, hdr, shape, label: str) -> WCS:
    """The chip's celestial WCS (checked keywords, built once)."""
    _check_wcs_keywords(hdr, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            wcs = f.wcs(index)
    except Exception as exc:  # astropy raises many types for bad WCS headers
        raise InputError(f"{label}: cannot build a WCS ({_wcslib_text(exc)}); fix the WCS keywords") from exc
    if not wcs.has_celestial or wcs.naxis != 2:
        ctypes = [hdr.get("CTYPE1", "none"), hdr.get("CTYPE2", "none")]
        raise InputError(
            f"{label}: no celestial WCS (CTYPE1/2 = {ctypes[0]!r}, {ctypes[1]!r}); "
            "give images with RA/Dec WCS keywords")
    wcs.pixel_shape = (shape[1], shape[0])
    return wcs


def _chip_units(hdr, prim, wcs, label: str, compat: bool) -> dict:
    """Units, exposure time, pixel scale and brightness conversion of a chip."""
    instrument = str(prim.get("INSTRUME", hdr.get("INSTRUME", ""))).strip().upper()
    detector = str(prim.get("DETECTOR", hdr.get("DETECTOR", ""))).strip().upper()
    bunit = hdr.get("BUNIT", prim.get("BUNIT"))
    raw_exptime = prim.get("EXPTIME", hdr.get("EXPTIME"))
    exptime = float(raw_exptime) if isinstance(raw_exptime, (int, float)) and \
        not isinstance(raw_exptime, bool) else None
    kind = classify_units(bunit, instrument=instrument, detector=detector, compat=compat)
    problem = exptime_problem(kind, raw_exptime)
    if problem:
        raise InputError(f"{label}: keyword EXPTIME {problem} but the data are counts "
                         f"(BUNIT = {bunit!r}); set EXPTIME to the exposure time in seconds, "
                         "or BUNIT to a rate")
    pscale = _pixel_scale(hdr, prim, wcs)
    if not (math.isfinite(pscale) and pscale > 0):
        raise InputError(f"{label}: pixel scale {pscale!r} arcsec is not usable; fix the WCS")
    return dict(instrument=instrument, detector=detector, bunit=bunit,
                units="" if bunit is None else str(bunit).upper(), unit_kind=kind, exptime=exptime,
                conv=brightness_conversion(kind, pscale, exptime, compat=compat), pixel_scale_arcsec=pscale)


def _dq_extension(hdus, ver: int, shape, path: str) -> int | None:
    """Index of the chip's DQ extension (None without one), checked against its shape."""
    dq = _find_ext(hdus, "DQ", ver)
    if dq is not None:
        dh = hdus[dq].header
        dshape = tuple(int(dh.get(f"NAXIS{n}", 0)) for n in range(int(dh.get("NAXIS", 0)), 0, -1))
        if dshape != shape:
            raise InputError(f"{path}[DQ,{ver}]: shape {dshape} differs from the SCI data's "
                             f"{shape}; fix the file or drop it")
    return dq


def _chip_meta(hdr, prim, path: str, is_mef: bool, index: int, ver: int, bunit) -> dict:
    meta = {}
    for key in META_KEYS:
        if key in hdr:
            meta[key] = hdr[key]
        elif key in prim:
            meta[key] = prim[key]
    if not str(meta.get("ROOTNAME", "")).strip():
        meta["ROOTNAME"] = file_stem(path)
    meta["EXTNAME"] = "SCI" if is_mef else str(hdr.get("EXTNAME", "PRIMARY" if index == 0 else ""))
    meta["EXTVER"] = ver
    meta["BUNIT"] = "" if bunit is None else str(bunit)
    meta["FILENAME"] = os.path.basename(path)
    return meta


def _warn_units(unknown: list) -> None:
    """One warning for every chip whose units were not recognised."""
    if not unknown:
        return
    missing = [label for label, bunit in unknown if bunit is None or not str(bunit).strip()]
    odd = sorted({str(b) for _, b in unknown if b is not None and str(b).strip()})
    files = list(dict.fromkeys(label.split("[")[0] for label, _ in unknown))
    names = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    what = []
    if missing:
        what.append("no BUNIT keyword")
    if odd:
        what.append("data units " + ", ".join(repr(b) for b in odd) + " not recognised")
    warnings.warn(f"{names}: {' and '.join(what)}; assuming the data are {describe_kind('unknown')}",
                  UnitsWarning, stacklevel=3)


def read_inputs(inputs, *, compat: bool = False, headers: dict | None = None,
                layouts: dict | None = None) -> list[Chip]:
    """Expand ``inputs`` (see :func:`~skymatch.io.expand_inputs`) and read every file's chips.

    Chips whose units are not recognised get one :class:`~skymatch.exceptions.UnitsWarning`
    for the whole run.  ``headers``, when given, collects what the mosaics need from the
    same header reads (:func:`~skymatch.io._pieces.read_product_inputs` ``known=``), so a
    run that drizzles reads every header once; ``layouts`` collects each file's header
    layout (:func:`~skymatch.io._fastfits.header_layout`, by path) for
    :func:`~skymatch.io.write_sky`, so that writing MDRIZSKY does not parse them again.
    """
    chips: list[Chip] = []
    unknown: list = []
    for spec in expand_inputs(inputs):
        chips.extend(read_chips(spec, compat=compat, unknown_units=unknown, headers=headers, layouts=layouts))
    _warn_units(unknown)
    return chips
