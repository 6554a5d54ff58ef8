"""Alignment of exposures: ``align`` (TweakReg) and ``tweakback`` (TweakBack).

``align`` finds point sources in every chip (near other images only: elsewhere nothing
can match), groups chips into units that get one common correction (a visit's drizzled
file, or the FLT chips of one association), aligns the units to the first one
(:mod:`skymatch.core._align`) and, when asked, writes the corrected WCS into the
headers: all files or none, each atomically, the previous solution kept as an
alternate WCS.  ``tweakback`` carries the correction of an aligned drizzled product
back to the chips it was made from.  Files are read and written by :mod:`skymatch.io`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from .core._align import AlignImage, AlignParams, align_images, search_regions
from .core._executor import make_executor, ordered_results
from .core._masks import BitFlags, parse_bits, usable_mask
from .core._sources import SourceFindParams, find_sources
from .core._wcsfit import drz_transform, remap_wcs, wcs_difference
from .exceptions import InputError, ParameterError
from .io._alignio import drizzle_inputs, is_drizzled, read_drizzled_wcs
from .io._alignio import write_shiftfile as _write_shiftfile
from .io._fits import read_chips
from .io._headers import check_writable
from .io._inputs import expand_inputs
from .io._wcsio import chip_header, previous_key, write_chip_wcs
from .models import Chip

__all__ = ["AlignResult", "TweakbackResult", "align", "tweakback", "write_shiftfile", "drizzle_inputs",
           "GROUPINGS", "PROCESS_MIN_PIXELS"]

log = logging.getLogger(__name__)

GROUPINGS = ("auto", "file", "asn")
Progress = Callable[[str, int, int], None]
# Source finding goes to worker processes only for more pixels than this: a process
# spends ~2 s of CPU importing photutils and astropy before its first chip, while
# finding sources takes ~0.3 s per million pixels plus ~12 ms per source.
PROCESS_MIN_PIXELS = 2_000_000


@dataclass(frozen=True)
class AlignResult:
    """What ``align`` found (and wrote).

    Attributes
    ----------
    names : tuple of str
        Image (or association) names in input order; the first is the reference.
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


def _group(chips: Sequence[Chip], grouping: str) -> tuple[str, list[tuple[str, list[Chip]]]]:
    files = list(dict.fromkeys(c.source[0] for c in chips))
    if grouping not in GROUPINGS:
        raise ParameterError(f"group={grouping!r}: choose one of {', '.join(GROUPINGS)}")
    if grouping == "auto":
        has_asn = all(str(c.meta.get("ASN_ID", "")).strip() not in ("", "NONE") for c in chips)
        grouping = "file" if not has_asn or all(is_drizzled(p) for p in files) else "asn"
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


def _usable_pixels(chip: Chip, flags: BitFlags) -> tuple[np.ndarray, np.ndarray]:
    """A chip's data and usable mask: finite, DQ flags within ``flags``, user mask."""
    px = chip.pixels.read()
    data = np.asarray(px.data, dtype=float)
    return data, usable_mask(data, px.dq, flags=flags, user_mask=px.mask)


@dataclass(frozen=True)
class _SourceTask:
    """One chip's source finding (picklable: the chip reads its own pixels)."""

    chip: Chip
    flags: BitFlags
    find: SourceFindParams
    frame: WCS
    region: Any  # shapely geometry in the frame's pixels


def _region_box(task: _SourceTask, pad: int = 16) -> tuple[slice, slice] | None:
    """The chip's rows and columns around its search region (None: empty region)."""
    if task.region.is_empty:
        return None
    x0, y0, x1, y1 = task.region.bounds
    fx = np.array([x0, x1, x1, x0])
    fy = np.array([y0, y0, y1, y1])
    ra, dec = task.frame.wcs_pix2world(fx, fy, 0)
    x, y = task.chip.wcs.all_world2pix(ra, dec, 0, quiet=True)
    ny, nx = task.chip.shape
    c0, c1 = max(0, int(np.floor(np.min(x))) - pad), min(nx, int(np.ceil(np.max(x))) + pad + 1)
    r0, r1 = max(0, int(np.floor(np.min(y))) - pad), min(ny, int(np.ceil(np.max(y))) + pad + 1)
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _find_chip_sources(task: _SourceTask) -> dict:
    """Sources of one chip within its search region (detected on a cut-out around it)."""
    import shapely

    chip = task.chip
    box = _region_box(task)
    if box is None:
        log.info("%s: overlaps no other image; no sources measured", chip.name)
        return {k: np.zeros(0) for k in ("x", "y", "flux", "peak", "error")} | {"sigma": np.array(np.nan)}
    rows, cols = box

    def near_other_images(x, y):
        ra, dec = chip.wcs.all_pix2world(x + cols.start, y + rows.start, 0)
        return shapely.contains_xy(task.region, *task.frame.wcs_world2pix(ra, dec, 0))

    data, good = _usable_pixels(chip, task.flags)
    cat = find_sources(data[rows, cols], good[rows, cols], task.find, region=near_other_images)
    cat["x"] = cat["x"] + cols.start
    cat["y"] = cat["y"] + rows.start
    log.info("%s: %d sources near other images (background sigma %.4g)", chip.name, len(cat["x"]),
             float(cat["sigma"]))
    return cat


def _find_all_sources(groups, flags: BitFlags, find: SourceFindParams, params: AlignParams, executor,
                      progress: Progress | None) -> dict[str, dict]:
    frame, regions = search_regions([[c.wcs for c in g] for _, g in groups], searchrad=params.searchrad,
                                    tolerance=params.tolerance)
    tasks = [_SourceTask(c, flags, find, frame, r) for (_, g), rs in zip(groups, regions) for c, r in zip(g, rs)]
    # Processes, not threads: the Gaussian centroid fits are Python-bound, and
    # photutils switches warning filters around them, which is not thread-safe.
    pixels = sum(t.chip.shape[0] * t.chip.shape[1] for t in tasks if not t.region.is_empty)
    stage = executor.for_stage("processes", len(tasks) if pixels >= PROCESS_MIN_PIXELS else 1)
    if stage.kind == "processes":
        # Forked workers inherit what is imported here instead of importing it each.
        import photutils.background
        import photutils.centroids
        import photutils.detection  # noqa: F401
    done = None if progress is None else (lambda k: progress("sources", k, len(tasks)))
    cats = ordered_results(stage, _find_chip_sources, tasks, done)
    return {t.chip.name: cat for t, cat in zip(tasks, cats)}


def _jobs(jobs: int | None, workers: int | None) -> int | None:
    if workers is None:
        return jobs
    warnings.warn("align(workers=...) is deprecated; use jobs=...", DeprecationWarning, stacklevel=3)
    if jobs is not None and jobs != workers:
        raise ParameterError(f"jobs={jobs} and workers={workers}: give only jobs (workers is its old name)")
    return workers


def align(inputs, *, find: SourceFindParams | None = None, params: AlignParams | None = None,
          group: str = "auto", dqbits: int | str | None = 0, update_header: bool = False,
          wcsname: str = "TWEAK", jobs: int | None = None, dask: Any = None,
          workers: int | None = None, progress: Progress | None = None) -> AlignResult:
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
    jobs : int, optional
        Local worker processes for source finding (default one per core; 1, or inputs
        of fewer than :data:`PROCESS_MIN_PIXELS` pixels, run in this process).
    dask : dask.distributed.Client or str, optional
        Find sources on this Dask cluster instead.
    workers : int, optional
        Deprecated name of ``jobs``.
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
    executor = make_executor(_jobs(jobs, workers), dask)
    chips = [c for s in expand_inputs(inputs) for c in read_chips(s)]
    grouping, groups = _group(chips, group)
    if len(groups) < 2:
        raise InputError(f"{groups[0][0] if groups else 'inputs'}: alignment needs at least two images"
                         f" or associations (got {len(groups)})")
    files = [tuple(dict.fromkeys(c.source[0] for c in g)) for _, g in groups]
    if update_header:
        check_writable([p for fs in files[1:] for p in fs])
    cats = _find_all_sources(groups, parse_bits(dqbits), find, params, executor, progress)
    images = [AlignImage(name, tuple(c.wcs for c in g), tuple(cats[c.name] for c in g)) for name, g in groups]
    fits_ = align_images(images, params)
    updated: list[str] = []
    if update_header:
        new = [(chip, w) for (_, g), f in zip(groups, fits_) if f.aligned for chip, w in zip(g, f.wcs)]
        updated = write_chip_wcs(new, wcsname=wcsname)
    return AlignResult(tuple(n for n, _ in groups), tuple(files), tuple(fits_), tuple(updated),
                       wcsname, grouping)


def write_shiftfile(result: AlignResult, path: str | os.PathLike) -> str:
    """Write TweakReg's shift file (``form: delta``, ``units: pixels``) atomically."""
    if not isinstance(result, AlignResult):
        raise ParameterError(f"result={result!r}: give what skymatch.align returned")
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"path={path!r}: give the shift file's name")
    return _write_shiftfile(path, result.names, result.fits)


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


def _check_not_stale(chip: Chip, header, tab: Table | None, drz: str) -> None:
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
    hdr, tab, label = read_drizzled_wcs(drz)
    key = (old_key or "").strip().upper() or previous_key(hdr)
    if key is None:
        return TweakbackResult(drz, str(hdr.get("WCSNAME", "")), (), (), (), (), (),
                               f"{label}: no alignment to propagate (no SMWCSOLD: it is the reference "
                               "or was not aligned); nothing changed")
    if f"CTYPE1{key}" not in hdr:
        raise InputError(f"{label}: no alternate WCS {key!r} to take as the solution before alignment")
    name = wcsname or str(hdr.get("WCSNAME", "TWEAK"))
    transform = drz_transform(WCS(hdr, key=key), WCS(hdr))
    paths = [os.fspath(p) for p in inputs] if inputs else drizzle_inputs(drz)
    chips = [c for p in paths for c in read_chips(p)]
    if write:
        check_writable(paths)
    headers = [chip_header(c) for c in chips]
    if not force:
        for chip, chdr in zip(chips, headers):
            _check_not_stale(chip, chdr, tab, drz)
    moved = [remap_wcs(c.wcs, transform, c.shape) for c in chips]
    centre, worst, rot = zip(*(wcs_difference(c.wcs, m, c.shape) for c, m in zip(chips, moved)))
    updated = write_chip_wcs(list(zip(chips, moved)), wcsname=name, headers=headers, write=write)
    return TweakbackResult(drz, name, tuple(c.name for c in chips), tuple(centre), tuple(worst),
                           tuple(rot), tuple(updated) if write else ())
