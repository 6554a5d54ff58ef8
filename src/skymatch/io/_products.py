"""Drizzled products, written block by block: ``NAME_drz_sci.fits`` (+ ``HDRTAB``),
``_wht``, ``_ctx`` (bit planes, or an id image + ``CTXTAB``), or one ``NAME_drz.fits``.

Names follow AstroDrizzle: suffix ``drz`` for ``_flt`` inputs, ``drc`` for ``_flc``.
A product is *staged*: a temporary file in the destination folder is created with its
final headers and data size (:func:`stage_products`), block tasks fill its data through
``os.pwrite`` at known offsets (:func:`write_block`; any process or Dask worker that sees
the file can do so), and :func:`finish_products` appends the context table, fsyncs, gives
the file the permissions any program would (``0o666`` minus the umask, or those of the
file it replaces) and renames it into place.  Nothing ever holds a whole mosaic in memory.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from .._version import __version__
from ..core._skymodel import chip_mean, coefficient_names, order_of_coeffs
from ..exceptions import WriteError
from ..models import Chip
from ._atomic import TMP_PREFIX, fsync_dir, new_file_mode
from ._pieces import (
    PixelLocation,
    hdrtab_rows,
    header_sky_models,
    locate_pixels,
    read_piece,
    read_product_inputs,
    save_static_masks,
)

__all__ = [
    "SKY_PRODUCT_KEYWORDS",
    "MODEL_NAMES",
    "product_suffix",
    "product_paths",
    "write_products",
    "hdrtab",
    "hdrtab_rows",
    "header_sky_models",
    "ImageSlot",
    "PixelLocation",
    "StagedProducts",
    "locate_pixels",
    "read_product_inputs",
    "save_static_masks",
    "ctxtab",
    "read_piece",
    "stage_products",
    "write_block",
    "read_block",
    "finish_products",
    "discard_products",
    "check_disk_space",
    "read_product_image",
]

# Product keywords recording the sky that was subtracted, by parameter.  Placeholder names
# until the keyword registry (io/_keywords.py) defines them: this is the one place to
# change.  Keys are the parameter names of SkyResult.parameters plus method and model.
SKY_PRODUCT_KEYWORDS: dict[str, tuple[str, str]] = MappingProxyType({
    "method": ("SKYMETH", "sky method of the subtracted sky"),
    "model": ("SKYMODEL", "sky model subtracted (CONSTANT, PLANE, POLYn)"),
    "skystat": ("SKYSTAT", "sky statistic"),
    "sky_bits": ("SKYBITS", "DQ flags counted as good for the sky"),
    "lower": ("SKYLOWER", "lower limit of usable sky values"),
    "upper": ("SKYUPPER", "upper limit of usable sky values"),
    "nclip": ("SKYCLIP", "sky clipping iterations"),
    "lsigma": ("SKYLSIG", "lower clipping limit (sigma)"),
    "usigma": ("SKYUSIG", "upper clipping limit (sigma)"),
    "binwidth": ("SKYWIDTH", "histogram bin width (sigma)"),
    "use_static": ("SKYUSTAT", "static mask used"),
    "static_sig": ("SKYSSIG", "static mask threshold (sigma)"),
    "match_down": ("SKYMDOWN", "match: lowest exposure gets 0"),
    "compat": ("SKYCOMPT", "compatibility mode"),
})
MODEL_NAMES = MappingProxyType({1: "CONSTANT", 3: "PLANE", 6: "POLY2", 10: "POLY3"})

_BLOCK = 2880


def product_suffix(chips: Sequence[Chip]) -> str:
    """``'drc'`` when the inputs are CTE-corrected ``_flc`` files, else ``'drz'``."""
    names = [os.path.basename(c.source[0]).lower() for c in chips if c.source]
    return "drc" if names and all("_flc" in n for n in names) else "drz"


def product_paths(output: str, suffix: str, *, build: bool = False, context: str = "planes") -> dict[str, str]:
    """Product file names of output ``NAME`` (no ``_ctx`` file with ``context='none'``)."""
    if build:
        return {"drz": f"{output}_{suffix}.fits"}
    kinds = ("sci", "wht") if context == "none" else ("sci", "wht", "ctx")
    return {k: f"{output}_{suffix}_{k}.fits" for k in kinds}


# ---------------------------------------------------------------- HDRTAB
def hdrtab(chips: Sequence[Chip], skies: Mapping[str, Any], rows: Sequence[dict] | None = None) -> fits.BinTableHDU:
    """AstroDrizzle's ``HDRTAB``: one row per input chip, PRIMARY + SCI keywords.

    ``MDRIZSKY`` holds the sky of that chip in this mosaic (the model's mean over the
    chip), ``SKYMODEL`` the model and ``SKYCij`` its coefficients (data units).
    ``skies`` values are coefficient tuples or bare numbers.
    """
    rows = hdrtab_rows(chips) if rows is None else rows
    coeffs = {}
    for chip in chips:
        v = skies.get(chip.name, 0.0)
        coeffs[chip.name] = (float(v),) if np.isscalar(v) else tuple(float(x) for x in v) or (0.0,)
    max_order = max((order_of_coeffs(len(c)) for c in coeffs.values()), default=0)
    names = coefficient_names(max_order)
    out_rows = []
    for chip, base in zip(chips, rows):
        row = dict(base)
        c = coeffs[chip.name]
        row["MDRIZSKY"] = chip_mean(c, chip.shape)
        row["SKYMODEL"] = MODEL_NAMES.get(len(c), "CONSTANT")
        full = dict(zip(coefficient_names(order_of_coeffs(len(c))), c))
        for n in names:
            row[n] = float(full.get(n, 0.0))
        out_rows.append(row)
    keys: list[str] = ["ROOTNAME", "EXTNAME", "EXTVER"]
    seen = set(keys)
    for r in out_rows:
        for k in r:
            if k not in seen:
                keys.append(k)
                seen.add(k)
    t = Table()
    for k in keys:
        vals = [r.get(k) for r in out_rows]
        present = [v for v in vals if v is not None and not isinstance(v, fits.card.Undefined)]
        if present and all(isinstance(v, (bool, np.bool_)) for v in present):
            t[k] = [bool(v) if v is not None else False for v in vals]
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            t[k] = np.array([v if isinstance(v, int) else -999 for v in vals], dtype=np.int64)
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            t[k] = np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in vals])
        else:
            t[k] = ["" if v is None or isinstance(v, fits.card.Undefined) else str(v) for v in vals]
    return fits.BinTableHDU(t, name="HDRTAB")


def ctxtab(table: Sequence[Sequence[int]]) -> fits.BinTableHDU:
    """``CTXTAB``: one row per context id (``ID`` = row number), ``NINPUTS`` and ``INPUTS``
    (0-based indices of the contributing inputs: rows of ``HDRTAB``, bits of the planes)."""
    n = len(table)
    inputs = np.empty(n, dtype=object)
    for i, s in enumerate(table):
        inputs[i] = np.asarray(s, dtype=np.int32)
    cols = [fits.Column(name="ID", format="J", array=np.arange(1, n + 1, dtype=np.int32)),
            fits.Column(name="NINPUTS", format="J", array=np.array([len(s) for s in table], dtype=np.int32)),
            fits.Column(name="INPUTS", format="PJ()", array=inputs)]
    hdu = fits.BinTableHDU.from_columns(cols, name="CTXTAB")
    hdu.header["CTXFMT"] = ("TABLE", "context: id image + this table")
    hdu.header.add_comment("Pixel value ID of the context image: inputs INPUTS (0-based HDRTAB rows); 0 = none")
    return hdu


# ---------------------------------------------------------------- headers of the products
def _output_header(frame, params, *, exptime: float, ndrizim: int, chips: Sequence[Chip], extra: dict,
                   context: str, sky_info: Mapping[str, Any]) -> fits.Header:
    h = fits.Header()
    first = chips[0].meta if chips else {}
    for key in ("TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "ASN_ID", "DATE-OBS"):
        if key in first:
            h[key] = first[key]
    h["ROOTNAME"] = (str(extra.pop("rootname", first.get("ROOTNAME", ""))), "rootname of this product")
    h.update(frame.wcs.to_header(relax=False))
    cd = frame.wcs.wcs.cd
    for i in range(2):
        for j in range(2):
            h[f"CD{i + 1}_{j + 1}"] = float(cd[i, j])
    for k in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        h.remove(k, ignore_missing=True)
    h["ORIENTAT"] = (float(extra.pop("orientat", frame.orientat)), "position angle of image y axis (deg. e of n)")
    h["BUNIT"] = ("ELECTRONS/S" if params.units == "cps" else "ELECTRONS", "units of the drizzled data")
    h["EXPTIME"] = (exptime, "total of the unique exposure times (s)")
    h["TEXPTIME"] = (exptime, "total exposure time (s)")
    h["NDRIZIM"] = (ndrizim, "number of drizzled chips")
    h["D001KERN"] = (params.kernel, "drizzle kernel")
    h["D001PIXF"] = (params.pixfrac, "drizzle pixfrac")
    h["D001FVAL"] = ("INDEF" if params.fillval is None else str(params.fillval), "fill value")
    h["D001BITS"] = (str(params.bits), "final_bits: DQ flags counted as good")
    h["D001SCAL"] = (frame.pixel_scale_arcsec, "output pixel scale (arcsec)")
    h["D001WTSC"] = ("EXP", "weight: EXPTIME x good pixels")
    h["CTXFMT"] = (context.upper(), "context: PLANES, TABLE (+CTXTAB) or NONE")
    for key, value in sky_info.items():
        if key in SKY_PRODUCT_KEYWORDS and value is not None:
            kw, comment = SKY_PRODUCT_KEYWORDS[key]
            value = value if isinstance(value, (bool, int, float)) else str(value)[:68]
            # Room left on the card for the comment (a long value shortens it, silently).
            room = 80 - len(str(fits.Card(kw, value)).rstrip()) - 3
            h[kw] = (value, comment[:max(0, room)])
    h["SMVERS"] = (__version__, "skymatch version")
    for k, v in extra.items():
        h[k[:8].upper()] = v
    # The inputs, as AstroDrizzle lists them (tweakback reads them back).
    for k, chip in enumerate(chips, 1):
        if chip.source is not None and k <= 999:
            ext = f"[{chip.meta.get('EXTNAME', 'SCI').lower()},{chip.meta.get('EXTVER', 1)}]"
            h[f"D{k:03d}DATA"] = (os.path.basename(chip.source[0]) + ext, "drizzle input")
    h.add_history(f"Drizzled by skymatch {__version__} with the drizzle package, block by block")
    return h


_WCS_KEYS = ("WCSAXES", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2",
             "CD1_1", "CD1_2", "CD2_1", "CD2_2", "RADESYS", "EQUINOX", "LONPOLE", "LATPOLE", "ORIENTAT",
             "MJDREF", "DATEREF")


def _image_header(base: fits.Header, shape: tuple[int, ...], dtype, *, primary: bool, name: str | None = None
                  ) -> fits.Header:
    """A complete header for an image of ``shape`` (numpy order) without holding its data."""
    dummy = np.zeros((1,) * len(shape), dtype=dtype)
    hdu = fits.PrimaryHDU(dummy, header=base.copy()) if primary else fits.ImageHDU(dummy, header=base.copy(),
                                                                                      name=name)
    h = hdu.header
    for i, n in enumerate(reversed(shape), 1):
        h[f"NAXIS{i}"] = int(n)
    return h


def _table_bytes(hdu: fits.BinTableHDU) -> bytes:
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    prim = len(fits.PrimaryHDU().header.tostring())
    return buf.getvalue()[prim:]


def _padded(n: int) -> int:
    return -(-n // _BLOCK) * _BLOCK


# ---------------------------------------------------------------- staged files
@dataclass(frozen=True)
class ImageSlot:
    """The data of one image in a (temporary) file: where block tasks write."""

    path: str
    offset: int
    shape: tuple[int, ...]
    dtype: str  # big-endian numpy dtype, e.g. '>f4'


@dataclass
class _StagedFile:
    final: str
    tmp: str
    mode: int
    append_ctxtab: bool = False


@dataclass
class StagedProducts:
    """The staged (temporary) files of one mosaic and the slots its blocks fill."""

    label: str
    files: list[_StagedFile]
    sci: ImageSlot
    wht: ImageSlot
    ctx: ImageSlot | None
    context: str
    paths: list[str] = field(default_factory=list)


def check_disk_space(directory: str, nbytes: int, shape: tuple[int, int], *, what: str = "products") -> None:
    """Refuse (:class:`WriteError`) products that would not fit on the output's disk."""
    directory = os.path.abspath(directory or ".")
    probe = directory
    while not os.path.isdir(probe):
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free
    if nbytes > free:
        raise WriteError(
            f"{directory}: the {what} of a {shape[1]:,} x {shape[0]:,} px output frame need "
            f"{nbytes:,} bytes ({nbytes / 2**30:.1f} GiB) but only {free / 2**30:.1f} GiB are free; "
            "shrink the frame (final_scale, final_outnx/final_outny), drop the context "
            "(context_format='none' or 'table'), or write elsewhere")


def _create(final: str, parts: list, *, overwrite: bool) -> tuple[_StagedFile, list[int]]:
    """Create a temporary file beside ``final`` holding ``parts`` laid out in order:
    ``(header bytes, data bytes)`` for images (data left as a hole to be filled) or raw
    bytes for tables.  Returns the file and each image's data offset."""
    if os.path.exists(final) and not overwrite:
        raise WriteError(f"{final}: already exists; use --overwrite (overwrite=True) to replace it")
    directory = os.path.dirname(os.path.abspath(final))
    os.makedirs(directory, exist_ok=True)
    try:
        mode = os.stat(final).st_mode & 0o7777
    except OSError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".fits", dir=directory)
    offsets = []
    try:
        pos = 0
        for part in parts:
            if isinstance(part, tuple):
                head, nbytes = part
                os.pwrite(fd, head, pos)
                pos += len(head)
                offsets.append(pos)
                pos += _padded(nbytes)
            else:
                os.pwrite(fd, part, pos)
                pos += len(part)
        os.ftruncate(fd, pos)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return _StagedFile(final=final, tmp=tmp, mode=mode), offsets


def stage_products(output: str, chips: Sequence[Chip], frame, params, *, skies: Mapping[str, Any],
                   exptime: float, ndrizim: int, context: str, rows: Sequence[dict] | None = None,
                   build: bool = False, overwrite: bool = False, header_extra: dict | None = None,
                   sky_info: Mapping[str, Any] | None = None, label: str = "") -> StagedProducts:
    """Create the temporary product files of one mosaic with final headers and sizes.

    Parameters
    ----------
    output : str
        Output name (``f160w_match`` gives ``f160w_match_drz_sci.fits`` ...).
    chips : sequence of Chip
        The inputs, in drizzle (context) order.
    frame, params
        The output frame and :class:`~skymatch.core._drizzle.DrizzleParams`.
    skies : mapping
        ``{chip name: coefficients}`` subtracted in this mosaic (for ``HDRTAB``).
    exptime, ndrizim : float, int
        Total exposure time and number of inputs (header keywords).
    context : {'planes', 'table', 'none'}
    rows : list of dict, optional
        :func:`hdrtab_rows` (computed once per run).
    build : bool
        One multi-extension ``NAME_drz.fits`` (PRIMARY, SCI, WHT, CTX, HDRTAB[, CTXTAB]).
    overwrite : bool
        Replace existing products (when finished).
    header_extra : dict, optional
        More keywords for the science header.
    sky_info : mapping, optional
        Sky parameters for :data:`SKY_PRODUCT_KEYWORDS` (method, model, statistic ...).
    """
    suffix = product_suffix(chips)
    paths = product_paths(output, suffix, build=build, context=context)
    if not overwrite:
        for p in paths.values():
            if os.path.exists(p):
                raise WriteError(f"{p}: already exists; use --overwrite (overwrite=True) to replace it")
    extra = dict(header_extra or {})
    extra.setdefault("rootname", os.path.basename(output))
    hdr = _output_header(frame, params, exptime=exptime, ndrizim=ndrizim, chips=chips, extra=extra,
                         context=context, sky_info=dict(sky_info or {}))
    tab = _table_bytes(hdrtab(chips, skies, rows))
    wcs_hdr = fits.Header([c for c in hdr.cards if c.keyword in _WCS_KEYS])
    wcs_hdr["CTXFMT"] = hdr["CTXFMT"], hdr.comments["CTXFMT"]
    ny, nx = frame.shape
    npl = max(1, (ndrizim + 31) // 32)
    ctx_shape = ((ny, nx) if npl == 1 else (npl, ny, nx)) if context == "planes" else (ny, nx)
    stage = _stage_built if build else _stage_separate
    files, sci, wht, ctx = stage(paths, hdr, wcs_hdr, tab, (ny, nx), ctx_shape, context, overwrite)
    return StagedProducts(label=label, files=files, sci=sci, wht=wht, ctx=ctx, context=context,
                          paths=list(paths.values()))


def _stage_built(paths, hdr, wcs_hdr, tab, shape, ctx_shape, context, overwrite) -> tuple:
    """One multi-extension ``NAME_drz.fits``: ``(files, sci, wht, ctx)``."""
    f4, i4 = np.dtype(">f4"), np.dtype(">i4")
    nsci = shape[0] * shape[1] * 4
    nctx = int(np.prod(ctx_shape)) * 4
    prim = fits.PrimaryHDU(header=hdr.copy())
    for k in list(wcs_hdr):
        prim.header.remove(k, ignore_missing=True)
    parts = [prim.header.tostring().encode("ascii"),
             (_image_header(hdr, shape, np.float32, primary=False, name="SCI").tostring().encode("ascii"), nsci),
             (_image_header(wcs_hdr, shape, np.float32, primary=False, name="WHT").tostring().encode("ascii"),
              nsci)]
    if context != "none":
        parts.append((_image_header(wcs_hdr, ctx_shape, np.int32, primary=False,
                                    name="CTX").tostring().encode("ascii"), nctx))
    parts.append(tab)
    f, offs = _create(paths["drz"], parts, overwrite=overwrite)
    f.append_ctxtab = context == "table"
    sci = ImageSlot(f.tmp, offs[0], shape, f4.str)
    wht = ImageSlot(f.tmp, offs[1], shape, f4.str)
    ctx = ImageSlot(f.tmp, offs[2], ctx_shape, i4.str) if context != "none" else None
    return [f], sci, wht, ctx


def _stage_separate(paths, hdr, wcs_hdr, tab, shape, ctx_shape, context, overwrite) -> tuple:
    """``NAME_drz_sci.fits``, ``_wht`` and ``_ctx`` (unless ``context='none'``): ``(files,
    sci, wht, ctx)``; if one cannot be created, those already created are removed."""
    f4, i4 = np.dtype(">f4"), np.dtype(">i4")
    nsci = shape[0] * shape[1] * 4
    nctx = int(np.prod(ctx_shape)) * 4
    files = []
    wh = wcs_hdr.copy()
    wh["BUNIT"] = ("SECONDS", "EXPTIME-weighted coverage")
    f, offs = _create(paths["sci"], [(_image_header(hdr, shape, np.float32, primary=True)
                                      .tostring().encode("ascii"), nsci), tab], overwrite=overwrite)
    files.append(f)
    sci = ImageSlot(f.tmp, offs[0], shape, f4.str)
    try:
        f, offs = _create(paths["wht"], [(_image_header(wh, shape, np.float32, primary=True)
                                          .tostring().encode("ascii"), nsci)], overwrite=overwrite)
        files.append(f)
        wht = ImageSlot(f.tmp, offs[0], shape, f4.str)
        ctx = None
        if context != "none":
            f, offs = _create(paths["ctx"], [(_image_header(wcs_hdr, ctx_shape, np.int32, primary=True)
                                              .tostring().encode("ascii"), nctx)], overwrite=overwrite)
            f.append_ctxtab = context == "table"
            files.append(f)
            ctx = ImageSlot(f.tmp, offs[0], ctx_shape, i4.str)
    except BaseException:
        for sf in files:
            _unlink(sf.tmp)
        raise
    return files, sci, wht, ctx


def _rows_of(slot: ImageSlot, row0: int, col0: int, block: np.ndarray):
    """(offset, bytes) of each contiguous run of a block inside a slot's image."""
    a = np.ascontiguousarray(block, dtype=np.dtype(slot.dtype))
    if a.ndim == 2:
        a = a[None]
    shape = slot.shape if len(slot.shape) == 3 else (1, *tuple(slot.shape))
    _, ny, nx = shape
    item = a.itemsize
    planes, h, w = a.shape
    if w == nx and col0 == 0:
        for p in range(planes):
            start = slot.offset + ((p * ny + row0) * nx) * item
            yield start, a[p].tobytes()
        return
    for p in range(planes):
        for r in range(h):
            start = slot.offset + ((p * ny + row0 + r) * nx + col0) * item
            yield start, a[p, r].tobytes()


def write_block(slot: ImageSlot, row0: int, col0: int, block: np.ndarray) -> None:
    """Write ``block`` (rows, cols) or (planes, rows, cols) at ``(row0, col0)`` of a slot."""
    fd = os.open(slot.path, os.O_WRONLY)
    try:
        for off, data in _rows_of(slot, row0, col0, block):
            os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def read_block(slot: ImageSlot, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    """Read rows ``row0:row1``, columns ``col0:col1`` (all planes) of a slot (native order)."""
    mm = np.memmap(slot.path, dtype=np.dtype(slot.dtype), mode="r", offset=slot.offset, shape=tuple(slot.shape))
    try:
        a = np.array(mm[..., row0:row1, col0:col1])
    finally:
        del mm
    return a.astype(a.dtype.newbyteorder("="), copy=False)


def finish_products(staged: StagedProducts, *, ctx_table: Sequence[Sequence[int]] | None = None,
                    sync: bool = True) -> list[str]:
    """Append ``CTXTAB`` (table context), fsync, set permissions and rename into place.

    ``sync=False`` leaves the fsync to the caller, who must make the files durable
    before they are put anywhere a reader expects a complete product (a run's
    transaction does it in the background and waits for it before its commit:
    :meth:`~skymatch.io._transaction.RunTransaction.sync_later`).
    """
    tail = _table_bytes(ctxtab(ctx_table or ())) if staged.context == "table" else b""
    for f in staged.files:
        with open(f.tmp, "r+b") as fh:
            if f.append_ctxtab and tail:
                fh.seek(0, os.SEEK_END)
                fh.write(tail)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.chmod(f.tmp, f.mode)
    for f in staged.files:
        os.replace(f.tmp, f.final)
    if sync:
        for d in {os.path.dirname(os.path.abspath(f.final)) for f in staged.files}:
            fsync_dir(d)
    return [f.final for f in staged.files]


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def discard_products(staged: StagedProducts) -> None:
    """Remove the temporary files of products that will not be finished."""
    for f in staged.files:
        _unlink(f.tmp)


def read_product_image(path: str, ext: int | str = 0, *, max_side: int | None = None) -> np.ndarray:
    """An image of a product; with ``max_side``, binned to at most that many pixels a side
    (the mean of the finite pixels of each block, :func:`~skymatch.core._binning.block_mean`;
    for pictures), read in bands of rows so a large mosaic is never wholly in memory."""
    from ..core._binning import bin_factor, block_mean

    with fits.open(path, memmap=True) as h:
        data = h[ext].data
        step = bin_factor(data.shape, max_side) if max_side else 1
        if step == 1 or data.ndim != 2:
            return np.array(data, dtype=np.float32)
        band = step * max(1, (1 << 22) // (step * data.shape[1]))  # about 4 million pixels
        return np.concatenate([block_mean(data[r:r + band], step) for r in range(0, data.shape[0], band)])


# ---------------------------------------------------------------- in-memory mosaics
def write_products(mosaic, chips: Sequence[Chip], output: str, *, build: bool = False,
                   overwrite: bool = False, header_extra: dict | None = None,
                   sky_info: Mapping[str, Any] | None = None) -> list[str]:
    """Write the products of one in-memory :class:`~skymatch.core._drizzle.Mosaic`.

    The same files as the block-by-block pipeline (they are staged and filled the same
    way); returns the paths written.
    """
    staged = stage_products(output, chips, mosaic.frame, mosaic.params, skies=mosaic.skies,
                            exptime=mosaic.exptime, ndrizim=mosaic.ndrizim, context=mosaic.context_format,
                            build=build, overwrite=overwrite, header_extra=header_extra, sky_info=sky_info)
    try:
        write_block(staged.sci, 0, 0, mosaic.sci)
        write_block(staged.wht, 0, 0, mosaic.wht)
        if staged.ctx is not None:
            write_block(staged.ctx, 0, 0, mosaic.ctx)
        return finish_products(staged, ctx_table=mosaic.ctx_table)
    except BaseException:
        discard_products(staged)
        raise
