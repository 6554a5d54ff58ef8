"""Reading what a drizzle needs from its inputs: headers once per file (the ``HDRTAB``
rows, the sky models) and where each chip's pixels lie, so that block tasks read just the
rectangles they need by file offset, with no header parsing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from astropy.io import fits

from ..core._blocks import PieceTask, RegionPixels, read_region_in_memory
from ..core._skymodel import coefficient_names
from ..exceptions import InputError
from ..models import Chip
from ._atomic import TMP_PREFIX, new_file_mode
from ._fastfits import scan_fits

__all__ = ["PixelLocation", "locate_pixels", "read_product_inputs", "save_static_masks", "read_piece",
           "hdrtab_rows", "header_sky_models"]

_SKIP = frozenset({"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "XTENSION", "PCOUNT",
         "GCOUNT", "COMMENT", "HISTORY", "", "NEXTEND", "INHERIT", "CHECKSUM", "DATASUM"})


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------- inputs: headers, pixels
@dataclass(frozen=True)
class PixelLocation:
    """Where a chip's SCI (and DQ) data lie in its file: enough to read any rectangle with
    one ``np.memmap`` and no header parsing (the block tasks' reader)."""

    path: str
    shape: tuple[int, int]
    sci_offset: int
    sci_dtype: str
    sci_scale: tuple[float, float] = (1.0, 0.0)  # BSCALE, BZERO
    dq_offset: int | None = None
    dq_dtype: str | None = None
    dq_scale: tuple[float, float] = (1.0, 0.0)


def _headers_and_locations(chips: Sequence[Chip]):
    """One read per input file: each chip's (PRIMARY, SCI) cards as ``(keyword, value)``
    pairs and its pixel location."""
    by_path: dict[str, list[int]] = {}
    for k, chip in enumerate(chips):
        if chip.source is not None:
            by_path.setdefault(chip.source[0], []).append(k)
    found: dict[int, tuple] = {}
    for path, ks in by_path.items():
        hdus = scan_fits(path)
        if hdus is None:
            found.update(_astropy_headers(path, chips, ks))
        else:
            found.update(_scanned_headers(path, hdus, chips, ks))
    return [found.get(k, ((), (), None)) for k in range(len(chips))]


def _astropy_headers(path: str, chips: Sequence[Chip], ks) -> dict[int, tuple]:
    found = {}
    with fits.open(path, memmap=None) as h:
        prim = _card_items(h[0].header)
        for k in ks:
            _, extname, extver = chips[k].source
            ext = (extname, extver) if isinstance(extname, str) else extname
            found[k] = (prim, _card_items(h[ext].header), _location(h, chips[k], path))
    return found


def _card_items(hdr: fits.Header) -> tuple:
    return tuple((card.keyword, card.value) for card in hdr.cards)


def _scanned_headers(path: str, hdus, chips: Sequence[Chip], ks) -> dict[int, tuple]:
    """The same as :func:`_astropy_headers` from :func:`~skymatch.io._fastfits.scan_fits`."""
    found = {}
    for k in ks:
        chip = chips[k]
        _, extname, extver = chip.source
        if isinstance(extname, str):
            ext = next((i for i, h in enumerate(hdus) if str(h.header.get("EXTNAME", "")).strip().upper()
                        == extname.upper() and h.header.get("EXTVER", 1) == extver), None)
        else:
            ext = extname
        if ext is None:
            return _astropy_headers(path, chips, ks)
        found[k] = (hdus[0].items, hdus[ext].items, _scanned_location(hdus, chip, path))
    return found


def _location(hdul, chip: Chip, path: str) -> PixelLocation | None:
    px = chip.pixels
    sci = getattr(px, "sci", None)
    path = os.path.abspath(path)
    if not isinstance(sci, int) or getattr(px, "path", None) != path:
        return None
    if getattr(px, "memmap", True) is False:  # compressed: no byte offsets to read from
        return None

    def raw(i):
        hdu = hdul[i]
        if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) or hdu.header.get("NAXIS", 0) != 2:
            return None
        bitpix = hdu.header["BITPIX"]
        dt = _BITPIX_DTYPE[bitpix]
        scale = (float(hdu.header.get("BSCALE", 1.0)), float(hdu.header.get("BZERO", 0.0)))
        return int(hdul.fileinfo(i)["datLoc"]), dt, scale

    return _pixel_location(raw, sci, px, chip, path)


def _pixel_location(raw, sci: int, px, chip: Chip, path: str) -> PixelLocation | None:
    """Where a chip's SCI (and DQ) pixels lie in its file; ``raw(index)`` gives an HDU's
    (offset, dtype, (BSCALE, BZERO)) or None."""
    s = raw(sci)
    if s is None:
        return None
    dq = getattr(px, "dq", None)
    d = raw(dq) if isinstance(dq, int) else None
    return PixelLocation(path=path, shape=tuple(chip.shape), sci_offset=s[0], sci_dtype=s[1], sci_scale=s[2],
                         dq_offset=None if d is None else d[0], dq_dtype=None if d is None else d[1],
                         dq_scale=(1.0, 0.0) if d is None else d[2])


def _scanned_location(hdus, chip: Chip, path: str) -> PixelLocation | None:
    px = chip.pixels
    sci = getattr(px, "sci", None)
    path = os.path.abspath(path)
    if not isinstance(sci, int) or getattr(px, "path", None) != path or getattr(px, "memmap", True) is False:
        return None

    def raw(i):
        h = hdus[i]
        if not h.is_image or h.header.get("NAXIS", 0) != 2:
            return None
        dt = _BITPIX_DTYPE[h.header["BITPIX"]]
        return h.data_offset, dt, (float(h.header.get("BSCALE", 1.0)), float(h.header.get("BZERO", 0.0)))

    return _pixel_location(raw, sci, px, chip, path)


_BITPIX_DTYPE = MappingProxyType({8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"})


def locate_pixels(chips: Sequence[Chip]) -> list[PixelLocation | None]:
    """The :class:`PixelLocation` of each chip (None for chips not read from FITS)."""
    return [loc for _, _, loc in _headers_and_locations(chips)]


def scanned_product_inputs(path: str, hdus, chips: Sequence[Chip]) -> dict:
    """What :func:`read_product_inputs` needs of the ``chips`` of one file, from the file's
    scanned HDUs (:func:`~skymatch.io._fastfits.scan_fits`), keyed by ``chip.source``."""
    found = _scanned_headers(path, hdus, chips, range(len(chips)))
    return {chips[k].source: v for k, v in found.items() if chips[k].source is not None}


def read_product_inputs(chips: Sequence[Chip], *, known: Mapping | None = None
                        ) -> tuple[list[dict], list[PixelLocation | None]]:
    """One pass over the inputs: the ``HDRTAB`` rows (:func:`hdrtab_rows`) and the pixel
    locations (:func:`locate_pixels`) of every chip.  ``known``: what the run's header
    reads collected already (``read_inputs(headers=...)``); only the other chips' files are
    read here."""
    known = known or {}
    missing = [k for k, c in enumerate(chips) if c.source not in known]
    found = [known.get(c.source) for c in chips]
    for k, v in zip(missing, _headers_and_locations([chips[k] for k in missing])):
        found[k] = v
    rows = [_row(chip, prim, sci) for chip, (prim, sci, _) in zip(chips, found)]
    return rows, [loc for _, _, loc in found]


def remove_files(paths) -> None:
    """Remove temporary files (those already gone are fine)."""
    for p in paths:
        _unlink(p)


def save_static_masks(masks: Mapping[tuple, np.ndarray], directory: str) -> tuple[dict, list[str]]:
    """Static masks saved as temporary ``.npy`` files beside the products, so that block
    tasks on other processes or machines load them by path; returns ``({signature: path},
    paths to remove afterwards)``."""
    refs, paths = {}, []
    try:
        for sig, mask in masks.items():
            fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".npy", dir=directory)
            paths.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.asarray(mask, dtype=bool))
            os.chmod(tmp, new_file_mode())
            refs[sig] = tmp
    except BaseException:
        for t in paths:
            _unlink(t)
        raise
    return refs, paths


def _read_rect(path, offset, dtype, shape, scale, rows: slice, cols: slice) -> np.ndarray:
    mm = np.memmap(path, dtype=np.dtype(dtype), mode="r", offset=offset, shape=shape)
    try:
        a = np.array(mm[rows, cols])
    finally:
        del mm
    a = a.astype(a.dtype.newbyteorder("="), copy=False)
    if scale != (1.0, 0.0):
        a = a * np.float32(scale[0]) + np.float32(scale[1])
    return a


def read_piece(task: PieceTask) -> RegionPixels:
    """The pixels of one piece: a rectangle of SCI and DQ read straight from the file
    (``task.location``), or through the chip's pixel source for in-memory chips; the
    static mask from an array or a ``.npy`` path."""
    p = task.piece
    rows, cols = slice(p.row0, p.row1), slice(p.col0, p.col1)
    loc: PixelLocation | None = task.location
    if loc is None:
        region = read_region_in_memory(PieceTask(p, task.chip, task.skies))
        data, dq = region.data, region.dq
    else:
        try:
            data = _read_rect(loc.path, loc.sci_offset, loc.sci_dtype, loc.shape, loc.sci_scale, rows, cols)
            dq = None
            if loc.dq_offset is not None:
                dq = _read_rect(loc.path, loc.dq_offset, loc.dq_dtype, loc.shape, loc.dq_scale, rows, cols)
                if loc.dq_scale != (1.0, 0.0):
                    dq = dq.astype(np.int64)
        except (OSError, ValueError) as exc:
            raise InputError(f"{task.chip.name}: cannot read pixel data ({' '.join(str(exc).split())[:120]}); "
                             "the file may be truncated") from exc
    static = task.static
    if isinstance(static, str):
        static = np.load(static, mmap_mode="r")[rows, cols]
    elif static is not None:
        static = np.asarray(static)[rows, cols]
    return RegionPixels(np.asarray(data, dtype=np.float32), dq, None if static is None else np.array(static))


def _row(chip: Chip, prim, sci) -> dict:
    """``prim``, ``sci``: (keyword, value) pairs of the two headers."""
    row: dict[str, object] = {}
    for items in (prim, sci):
        for key, value in items:
            if key in _SKIP or key.startswith("NAXIS"):
                continue
            row[key] = value
    row["ROOTNAME"] = str(chip.meta.get("ROOTNAME", row.get("ROOTNAME", chip.name)))
    row["EXTNAME"] = str(chip.meta.get("EXTNAME", "SCI"))
    row["EXTVER"] = int(chip.meta.get("EXTVER", 1))
    return row


def hdrtab_rows(chips: Sequence[Chip]) -> list[dict]:
    """Each chip's PRIMARY + SCI keywords (one open per file): the rows of ``HDRTAB``
    before the sky columns, built once and shared by every mosaic of a run."""
    return [_row(chip, prim, sci) for chip, (prim, sci, _) in zip(chips, _headers_and_locations(chips))]


def header_sky_models(chips: Sequence[Chip], rows: Sequence[Mapping] | None = None
                      ) -> tuple[dict[str, tuple[float, ...]], dict[str, bool]]:
    """Sky models recorded in the inputs' headers and whether they were subtracted.

    ``SKYMODEL`` and ``SKYCij`` beside ``MDRIZSKY`` give the model; with ``MDRIZSKY``
    alone it is a constant; nothing gives 0.  ``SMSUBTR = T`` means already subtracted.
    """
    rows = hdrtab_rows(chips) if rows is None else rows
    skies, done = {}, {}
    for chip, row in zip(chips, rows):
        meta = dict(row)
        meta.update({k: v for k, v in chip.meta.items() if k in ("MDRIZSKY", "SMSUBTR")})
        model = str(meta.get("SKYMODEL", "") or "").strip().upper()
        order = {"CONSTANT": 0, "PLANE": 1, "POLY2": 2, "POLY3": 3}.get(model)
        coeffs = None
        if order is not None and order > 0:
            names = coefficient_names(order)
            vals = [meta.get(n) for n in names]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                coeffs = tuple(float(v) for v in vals)
            else:
                missing = [n for n, v in zip(names, vals) if not isinstance(v, (int, float))]
                raise InputError(f"{chip.name}: SKYMODEL = '{model}' but {', '.join(missing)} missing or not "
                                 "numbers; run skymatch sky again or remove SKYMODEL")
        if coeffs is None:
            v = meta.get("MDRIZSKY", 0.0)
            coeffs = (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0,)
        skies[chip.name] = coeffs
        done[chip.name] = bool(meta.get("SMSUBTR", False))
    return skies, done
