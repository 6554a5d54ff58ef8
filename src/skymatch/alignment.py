"""Alignment of exposures: ``align`` (TweakReg) and ``tweakback`` (TweakBack).

``align`` finds point sources in every chip, groups chips into units that get one
common correction (a visit's drizzled file, or the FLT chips of one association),
aligns the units to the first one with tweakwcs and, when asked, writes the corrected
WCS into the headers: all files or none, each atomically, the previous solution kept as
an alternate WCS.  ``tweakback`` carries the correction of an aligned drizzled product
back to the chips it was made from.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from .core._align import AlignImage, AlignParams, ImageFit, align_images
from .core._masks import parse_bits
from .core._sources import SourceFindParams, find_sources
from .core._context import read_usable
from .core._wcsfit import drz_transform, remap_wcs, wcs_difference
from .exceptions import InputError, ParameterError
from .io._fits import open_fits_checked, read_chips
from .io._headers import check_writable, update_files_atomic
from .io._inputs import expand_inputs
from .io._wcsio import previous_key, wcs_update_cards
from .models import Chip

__all__ = ["AlignResult", "TweakbackResult", "align", "tweakback", "write_shiftfile", "GROUPINGS"]

log = logging.getLogger(__name__)

GROUPINGS = ("auto", "file", "asn")
Progress = Callable[[str, int, int], None]
_DRZ_NAME = re.compile(r"_(drz|drc)(_sci)?\.fits(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class AlignResult:
    """What ``align`` found (and wrote).

    Attributes
    ----------
    names : tuple of str
        Image (or association) names in alignment order; the first is the reference.
    files : tuple of tuple of str
        The files of each image.
    fits : tuple of ImageFit
        Per-image fit.
    updated : tuple of str
        Files whose headers were updated (empty unless ``update_header``).
    wcsname : str
        ``WCSNAME`` given to the corrected solutions.
    grouping : str
        ``'file'`` or ``'asn'``.
    """

    names: tuple
    files: tuple
    fits: tuple
    updated: tuple
    wcsname: str
    grouping: str

    @property
    def all_aligned(self) -> bool:
        """True when every image but the reference was aligned."""
        return all(f.aligned or f.reference for f in self.fits)

    def table(self) -> Table:
        """Per-image table: shifts and RMS in reference pixels, rotation in degrees."""
        f = self.fits
        return Table({
            "image": [x.name for x in f],
            "status": [x.status for x in f],
            "nsources": [x.nsources for x in f],
            "nmatches": [x.nmatches for x in f],
            "xshift": [x.xshift for x in f],
            "yshift": [x.yshift for x in f],
            "rotation": [x.rotation for x in f],
            "scale": [x.scale for x in f],
            "rms_x": [x.rms_x for x in f],
            "rms_y": [x.rms_y for x in f],
            "rms_arcsec": [x.rms_arcsec for x in f],
        })


def _is_drizzled(path: str) -> bool:
    if _DRZ_NAME.search(os.path.basename(path)):
        return True
    with fits.open(path) as h:
        return any("D001DATA" in x.header or "NDRIZIM" in x.header for x in h[:2])


def _group(chips: Sequence[Chip], grouping: str) -> tuple[str, list[tuple[str, list[Chip]]]]:
    files = list(dict.fromkeys(c.source[0] for c in chips))
    if grouping not in GROUPINGS:
        raise ParameterError(f"group={grouping!r}: choose one of {', '.join(GROUPINGS)}")
    if grouping == "auto":
        drizzled = [_is_drizzled(p) for p in files]
        has_asn = all(str(c.meta.get("ASN_ID", "")).strip() not in ("", "NONE") for c in chips)
        grouping = "file" if all(drizzled) or not has_asn else "asn"
    groups: dict[str, list[Chip]] = {}
    for c in chips:
        if grouping == "asn":
            asn = str(c.meta.get("ASN_ID", "")).strip().lower()
            if asn in ("", "none"):
                raise InputError(f"{c.name}: no ASN_ID keyword; group by file instead (--group file)")
            key = asn
        else:
            key = os.path.basename(c.source[0])
        groups.setdefault(key, []).append(c)
    return grouping, list(groups.items())


def _catalog(chip: Chip, flags, find: SourceFindParams) -> dict:
    px = read_usable(chip, flags)
    cat = find_sources(px.data, px.good, find)
    log.info("%s: %d sources (background sigma %.4g)", chip.name, len(cat["x"]), float(cat["sigma"]))
    return cat


def align(inputs, *, find: SourceFindParams | None = None, params: AlignParams | None = None,
          group: str = "auto", dqbits: int | str | None = 0, update_header: bool = False,
          wcsname: str = "TWEAK", workers: int | None = None,
          progress: Progress | None = None) -> AlignResult:
    """Align images to the first one, TweakReg-style.

    Parameters
    ----------
    inputs : str, path or list
        Files in alignment order (globs sort; ``@file`` lists keep their order).  The
        first image (or association) is the reference and is never changed.
    find : SourceFindParams, optional
        Source detection parameters.
    params : AlignParams, optional
        Matching and fitting parameters.
    group : {'auto', 'file', 'asn'}
        One correction per file, or per association (``ASN_ID``).  ``'auto'``: per
        file for drizzled products, per association for exposures that name one.
    dqbits : int, str or None
        DQ flags treated as good during detection (``sky_bits`` syntax).
    update_header : bool
        Write the corrected WCS of every aligned image (all files or none).
    wcsname : str
        ``WCSNAME`` of the new solution; the previous one is kept as an alternate WCS.
    workers : int, optional
        Processes for source detection (default: CPU count; 1 runs in this process).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    AlignResult
    """
    find = find or SourceFindParams()
    params = params or AlignParams()
    if not wcsname or len(wcsname) > 68:
        raise ParameterError(f"wcsname={wcsname!r}: give a non-empty name (at most 68 characters)")
    specs = expand_inputs(inputs)
    chips = [c for s in specs for c in read_chips(s)]
    grouping, groups = _group(chips, group)
    if len(groups) < 2:
        raise InputError(f"{groups[0][0] if groups else 'inputs'}: alignment needs at least two images"
                         f" or associations (got {len(groups)})")
    files = [tuple(dict.fromkeys(c.source[0] for c in g)) for _, g in groups]
    if update_header:
        check_writable([p for fs in files[1:] for p in fs])
    flags = parse_bits(dqbits)
    total = len(chips)
    done = 0
    cats: dict[str, dict] = {}
    nproc = min(workers or os.cpu_count() or 1, total)
    # Processes, not threads: the Gaussian centroid fits are Python-bound, and
    # photutils switches warning filters around them, which is not thread-safe.
    pool = ProcessPoolExecutor(max_workers=nproc) if nproc > 1 else None
    try:
        futs = {c.name: (pool.submit(_catalog, c, flags, find) if pool else None) for c in chips}
        for c in chips:
            fut = futs[c.name]
            cats[c.name] = fut.result() if fut is not None else _catalog(c, flags, find)
            done += 1
            if progress:
                progress("sources", done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    images = [AlignImage(name, tuple(c.wcs for c in g), tuple(cats[c.name] for c in g))
              for name, g in groups]
    fits_ = align_images(images, params)
    updated: list[str] = []
    if update_header:
        updated = _write_alignment(groups, fits_, wcsname)
    return AlignResult(tuple(n for n, _ in groups), tuple(files), tuple(fits_), tuple(updated),
                       wcsname, grouping)


def _ext(chip: Chip):
    _, extname, extver = chip.source
    return (extname, extver) if isinstance(extname, str) else extname


def _write_alignment(groups, fits_: Sequence[ImageFit], wcsname: str) -> list[str]:
    updates: dict[str, dict] = {}
    for (_, chips), fit in zip(groups, fits_):
        if not fit.aligned:
            continue
        for chip, new in zip(chips, fit.wcs):
            path = chip.source[0]
            ext = _ext(chip)
            hdr = fits.getheader(path, ext)
            cards, _ = wcs_update_cards(hdr, new, wcsname=wcsname, label=chip.name)
            updates.setdefault(path, {})[ext] = cards
    if updates:
        update_files_atomic(updates)
    return list(updates)


def write_shiftfile(result: AlignResult, path: str) -> None:
    """Write TweakReg's shift file (``form: delta``, ``units: pixels``)."""
    ref = result.names[0]
    lines = ["# frame: output", f"# refimage: {ref}", "# form: delta", "# units: pixels"]
    for name, f in zip(result.names, result.fits):
        if f.reference:
            continue
        if not f.aligned:
            lines.append(f"# {name}: {f.status}")
            continue
        lines.append(f"{name}    {f.xshift:.6f}  {f.yshift:.6f}    {f.rotation:.8f}     {f.scale:.8f}"
                     f"     {f.rms_x:.6f}  {f.rms_y:.6f}")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- tweakback
@dataclass(frozen=True)
class TweakbackResult:
    """What ``tweakback`` did: per chip, how far its WCS moved (pixels at the centre,
    largest over the chip) and turned (degrees)."""

    drz: str
    wcsname: str
    chips: tuple
    shift_centre: tuple
    shift_max: tuple
    rotation: tuple
    updated: tuple
    message: str = ""


_DATA_KEY = re.compile(r"^D\d{3}DATA$")


def drizzle_inputs(drz: str) -> list[str]:
    """Files a drizzled product was made from (``D###DATA`` keywords, else ``HDRTAB``)."""
    base = os.path.dirname(os.path.abspath(drz))
    names: list[str] = []
    with open_fits_checked(drz) as h:
        for hdu in h:
            for card in hdu.header.cards:
                if _DATA_KEY.match(card.keyword):
                    names.append(str(card.value).split("[")[0].strip())
        if not names and "HDRTAB" in h:
            t = h["HDRTAB"].data
            col = "FILENAME" if "FILENAME" in t.columns.names else None
            if col is None:
                raise InputError(f"{drz}[HDRTAB]: no FILENAME column; give the inputs with --inputs")
            names = [str(v).strip() for v in t[col]]
    if not names:
        raise InputError(f"{drz}: lists no inputs (no D###DATA keywords or HDRTAB); give them with --inputs")
    out = []
    for n in dict.fromkeys(names):
        p = n if os.path.isabs(n) else os.path.join(base, n)
        if not os.path.exists(p):
            raise InputError(f"{drz}: its input {n} is not in {base}; give the inputs with --inputs")
        out.append(p)
    return out


def _drz_wcs_header(drz: str) -> tuple[fits.Header, Table | None, str]:
    with open_fits_checked(drz) as h:
        idx = next((i for i, x in enumerate(h) if x.header.get("EXTNAME", "").strip().upper() == "SCI"), 0)
        hdr = h[idx].header.copy()
        tab = Table(h["HDRTAB"].data) if "HDRTAB" in h else None
    return hdr, tab, f"{os.path.basename(drz)}[{idx}]"


def _check_not_stale(chip: Chip, header: fits.Header, tab: Table | None, drz: str) -> None:
    """Refuse a chip whose WCS changed since the product was drizzled from it."""
    if tab is None or not {"ROOTNAME", "EXTVER", "CRVAL1", "CRVAL2"} <= set(tab.colnames):
        return
    root = str(chip.meta.get("ROOTNAME", "")).strip().lower()
    rows = [r for r in tab if str(r["ROOTNAME"]).strip().lower() == root and int(r["EXTVER"]) == chip.meta["EXTVER"]]
    if not rows:
        return
    r = rows[0]
    dra = (float(header["CRVAL1"]) - float(r["CRVAL1"])) * np.cos(np.radians(float(r["CRVAL2"])))
    ddec = float(header["CRVAL2"]) - float(r["CRVAL2"])
    moved = float(np.hypot(dra, ddec) * 3600.0)
    if moved > 1e-4:
        raise InputError(
            f"{chip.name}: its WCS moved by {moved:.4f} arcsec since {os.path.basename(drz)} was drizzled from it "
            f"(WCSNAME now {header.get('WCSNAME', 'unnamed')!r}); tweakback would apply the correction twice "
            "(--force to apply it anyway)")


def tweakback(drz: str, *, inputs: Sequence[str] | None = None, old_key: str | None = None,
              wcsname: str | None = None, force: bool = False, write: bool = True) -> TweakbackResult:
    """Propagate the alignment of a drizzled product back to its input chips.

    Parameters
    ----------
    drz : str
        The aligned product (``*_drz.fits``, ``*_drc.fits`` or ``*_drz_sci.fits``).
    inputs : list of str, optional
        Its inputs (default: those its header lists, beside it).
    old_key : str, optional
        Alternate-WCS key of the solution before alignment (default: the one
        ``skymatch align`` recorded in ``SMWCSOLD``).
    wcsname : str, optional
        ``WCSNAME`` for the chips (default: the product's).
    force : bool
        Apply even to chips whose WCS changed since the product was drizzled.
    write : bool
        Update the headers (all files or none); False only computes.

    Returns
    -------
    TweakbackResult
    """
    hdr, tab, label = _drz_wcs_header(drz)
    key = (old_key or "").strip().upper() or previous_key(hdr)
    if key is None:
        return TweakbackResult(drz, str(hdr.get("WCSNAME", "")), (), (), (), (), (),
                               f"{label}: no alignment to propagate (no SMWCSOLD: it is the reference "
                               "or was not aligned); nothing changed")
    if f"CTYPE1{key}" not in hdr:
        raise InputError(f"{label}: no alternate WCS {key!r} to take as the solution before alignment")
    new = WCS(hdr)
    old = WCS(hdr, key=key)
    name = wcsname or str(hdr.get("WCSNAME", "TWEAK"))
    transform = drz_transform(old, new)
    paths = [os.fspath(p) for p in inputs] if inputs else drizzle_inputs(drz)
    chips = [c for p in paths for c in read_chips(p)]
    if write:
        check_writable(paths)
    updates: dict[str, dict] = {}
    centre, worst, rot = [], [], []
    for chip in chips:
        path, ext = chip.source[0], _ext(chip)
        chdr = fits.getheader(path, ext)
        if not force:
            _check_not_stale(chip, chdr, tab, drz)
        moved = remap_wcs(chip.wcs, transform, chip.shape)
        c, m, r = wcs_difference(chip.wcs, moved, chip.shape)
        centre.append(c)
        worst.append(m)
        rot.append(r)
        cards, _ = wcs_update_cards(chdr, moved, wcsname=name, label=chip.name)
        updates.setdefault(path, {})[ext] = cards
    if write:
        update_files_atomic(updates)
    return TweakbackResult(drz, name, tuple(c.name for c in chips), tuple(centre), tuple(worst),
                           tuple(rot), tuple(updates) if write else ())
