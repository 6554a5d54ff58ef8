"""Downloading HST products from MAST with ``astroquery.mast.Observations``.

Files are downloaded into a hidden staging folder inside the output directory, checked
(size and a readable FITS structure) and only then renamed to their final name
``<ROOTNAME>_<flt|drz|...>.fits`` as the notebook does, so an interrupted download never
leaves a truncated file under a final name.  Files already present and complete are
skipped.  The ``observations`` object can be injected (tests use a fake one).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from astropy.io import fits

from ..exceptions import InputError, SkymatchError

__all__ = ["FetchPlan", "FetchResult", "plan_fetch", "fetch_products", "mast_observations"]

STAGING = ".skymatch-download"


def mast_observations():
    """``astroquery.mast.Observations``, or a clear error when astroquery is missing."""
    try:
        from astroquery.mast import Observations
    except ImportError as exc:
        raise SkymatchError(
            "skymatch fetch needs astroquery: pip install 'skymatch[mast]' (or pip install astroquery)"
        ) from exc
    return Observations


@dataclass(frozen=True)
class FetchPlan:
    """What a fetch will download: the product rows, their count and total size."""

    products: object  # astropy Table of product rows to download
    n_files: int
    total_bytes: int
    skipped: tuple[str, ...] = ()  # final names already present and complete


@dataclass(frozen=True)
class FetchResult:
    plan: FetchPlan
    written: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = field(default_factory=tuple)


def _suffix(subgroup: str) -> str:
    return str(subgroup).strip().lower()


def _is_complete(path: str, size: int | None) -> bool:
    if not os.path.isfile(path):
        return False
    if size and os.path.getsize(path) != int(size):
        return False
    try:
        with fits.open(path, memmap=True) as h:
            for i in range(len(h)):
                info = h.fileinfo(i)
                if info["datLoc"] + info["datSpan"] > os.path.getsize(path):
                    return False
    except Exception:  # noqa: BLE001 - any failure to open means "not complete"
        return False
    return True


def plan_fetch(*, proposal: str | int, filters: Sequence[str], products: Sequence[str],
               outdir: str, observations=None) -> FetchPlan:
    """Query MAST and decide what to download (nothing is downloaded).

    Parameters
    ----------
    proposal : str or int
        HST proposal id (e.g. 12812).
    filters : sequence of str
        Filters (e.g. ``['F160W']``).
    products : sequence of str
        ``productSubGroupDescription`` values (``FLT``, ``FLC``, ``DRZ``, ``DRC`` ...).
    outdir : str
        Where the files will go (files already there and complete are skipped).
    observations : object, optional
        An ``astroquery.mast.Observations``-like object (default: the real one).
    """
    obs = observations if observations is not None else mast_observations()
    wanted = {p.strip().upper() for p in products if p.strip()}
    if not wanted:
        raise InputError("--products: name at least one product type (e.g. FLT,DRZ)")
    table = obs.query_criteria(proposal_id=str(proposal), filters=list(filters), project="HST")
    if len(table) == 0:
        raise InputError(f"MAST: no HST observation for proposal {proposal} with filters {', '.join(filters)}")
    prods = obs.get_product_list(table)
    keep = [str(r["productSubGroupDescription"]).strip().upper() in wanted for r in prods]
    prods = prods[keep]
    # One row per file name (MAST lists some products under several observations).
    seen, rows, skipped = set(), [], []
    for i, r in enumerate(prods):
        name = str(r["productFilename"])
        if name in seen:
            continue
        seen.add(name)
        if _is_complete(os.path.join(outdir, name), r["size"] if "size" in prods.colnames else None):
            skipped.append(name)
            continue
        rows.append(i)
    todo = prods[rows] if rows else prods[:0]
    total = int(sum(int(s) for s in todo["size"])) if "size" in todo.colnames and len(todo) else 0
    return FetchPlan(products=todo, n_files=len(todo), total_bytes=total, skipped=tuple(skipped))


def fetch_products(plan: FetchPlan, outdir: str, *, observations=None,
                   progress: Callable[[str, int, int], None] | None = None) -> FetchResult:
    """Download the planned products and lay them out as ``<ROOTNAME>_<type>.fits``."""
    obs = observations if observations is not None else mast_observations()
    os.makedirs(outdir, exist_ok=True)
    staging = os.path.join(outdir, STAGING)
    os.makedirs(staging, exist_ok=True)
    written, failed = [], []
    n = len(plan.products)
    for k in range(n):
        row = plan.products[k : k + 1]
        manifest = obs.download_products(row, download_dir=staging, mrp_only=False)
        for m in manifest:
            local = str(m["Local Path"])
            status = str(m["Status"]).upper()
            size = row["size"][0] if "size" in row.colnames else None
            if status != "COMPLETE" or not _is_complete(local, size):
                failed.append(str(row["productFilename"][0]))
                continue
            with fits.open(local) as h:
                root = str(h[0].header.get("ROOTNAME", "")).strip().lower()
            suffix = _suffix(row["productSubGroupDescription"][0])
            final = os.path.join(outdir, f"{root}_{suffix}.fits" if root else os.path.basename(local))
            fd = os.open(local, os.O_RDONLY)
            try:
                os.fsync(fd)  # complete on disk before it takes its final name
            finally:
                os.close(fd)
            os.replace(local, final)
            written.append(final)
        if progress:
            progress("download", k + 1, n)
    shutil.rmtree(staging, ignore_errors=True)
    return FetchResult(plan=plan, written=tuple(written), skipped=plan.skipped, failed=tuple(failed))
