"""``skymatch.summary``, ``skymatch.fetch`` and ``skymatch.demo_data``: getting and
looking at data."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import SkymatchError, WriteError
from ._docs import fill
from ._progress import check_progress
from ._sky import Inputs, Progress
from ._validate import as_bool, as_float, as_inputs, as_int, as_outdir, as_pair, as_table_path, reject

if TYPE_CHECKING:
    from ._results_data import FetchResult, MosaicTruth, SummaryResult

__all__ = ["summary", "fetch", "demo_data"]

@fill
def summary(inputs: Inputs, *, table: str | os.PathLike | None = None) -> SummaryResult:
    """The inputs' header summary (the notebook's ``ImageFileCollection`` table).

    The same as ``skymatch summary``.

    Parameters
    ----------
    %(inputs)s
    table : str, optional
        Also write the summary as a ``.csv`` or ``.ecsv`` table.

    Returns
    -------
    SummaryResult
        ``.to_table()``: ``file, asn_id, detector, filter, exptime`` (s) and, for
        FLT/FLC files, ``postarg1, postarg2`` (arcsec).

    Raises
    ------
    ParameterError, InputError, WriteError
        A bad option, a missing or unreadable input, an unwritable table.

    Examples
    --------
    >>> skymatch.summary("*flt.fits").to_pandas()                           # doctest: +SKIP
    """
    inputs = as_inputs(inputs)
    table = as_table_path(table)

    from ..io import expand_inputs, header_summary, write_table
    from ._results_data import SummaryResult

    files = tuple(s.path for s in expand_inputs(inputs))
    t = header_summary(files)
    for name, unit in (("exptime", "s"), ("postarg1", "arcsec"), ("postarg2", "arcsec")):
        if name in t.colnames:
            t[name].unit = unit
    if table:
        write_table(t, table)
    return SummaryResult(files=files, table=t, table_file=table)


def _names_list(value: Any, name: str, *, upper: bool = True) -> tuple[str, ...]:
    """A list or a comma-separated string of names (never split into letters)."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise reject(name, value, "give a name, a comma-separated string or a list")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise reject(name, value, "every entry must be a string")
        out.extend(p.strip().upper() if upper else p.strip() for p in item.split(",") if p.strip())
    if not out:
        raise reject(name, value, "name at least one")
    return tuple(dict.fromkeys(out))


def _network_error(exc: BaseException) -> SkymatchError:
    reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return SkymatchError(f"MAST is not reachable: the network or the archive did not answer ({reason}); "
                         "check the connection and run again")


def fetch(
    *,
    proposal: str | int,
    filter: str | Sequence[str],  # noqa: A002 - the CLI's --filter
    products: str | Sequence[str] = "FLT,DRZ",
    outdir: str | os.PathLike = ".",
    dry_run: bool = False,
    progress: Progress = None,
) -> FetchResult:
    """Download HST products from MAST (needs ``skymatch[mast]``, i.e. astroquery).

    The same as ``skymatch fetch``.  Files go to a hidden staging folder in
    ``outdir``, are checked, then named ``<ROOTNAME>_<type>.fits`` as the notebook
    does; files already present and complete are skipped.

    Parameters
    ----------
    proposal : str or int
        HST proposal id, e.g. 12812.
    filter : str or list of str
        Filter(s), e.g. ``'F160W'`` or ``['F160W', 'F110W']`` (a comma-separated
        string works too).
    products : str or list of str, default 'FLT,DRZ'
        Product types (``FLT``, ``FLC``, ``DRZ``, ``DRC`` ...).
    outdir : str, default '.'
        Where the files go (created if needed).
    dry_run : bool, default False
        Only list what would be downloaded.
    progress : bool or callable, optional
        None: a bar when in a notebook or when stderr is a terminal; False: none;
        True: a bar; a callable ``progress(stage, done, total)``.

    Returns
    -------
    FetchResult
        ``.plan`` (what MAST offered), ``.written``, ``.skipped``, ``.failed``,
        ``.to_table()``.

    Raises
    ------
    ParameterError
        A bad option.
    SkymatchError
        astroquery is missing, or MAST is not reachable.

    Examples
    --------
    >>> skymatch.fetch(proposal=12812, filter="F160W", products="FLT,DRZ",
    ...                outdir="data", dry_run=True)                         # doctest: +SKIP
    """
    if isinstance(proposal, bool) or not isinstance(proposal, (str, int)) or not str(proposal).strip().isdigit():
        raise reject("proposal", proposal, "give an HST proposal id, e.g. 12812")
    filters = _names_list(filter, "filter")
    kinds = _names_list(products, "products")
    outdir = as_outdir(outdir)
    dry_run = as_bool(dry_run, "dry_run")
    check_progress(progress)

    from ..io._mast import FetchResult as _Base
    from ..io._mast import fetch_products, mast_observations, plan_fetch
    from ._progress import progress_reporter
    from ._results_data import FetchResult

    observations = mast_observations()
    try:
        plan = plan_fetch(proposal=str(proposal).strip(), filters=list(filters), products=list(kinds),
                          outdir=outdir, observations=observations)
    except OSError as exc:  # requests' and socket errors are OSErrors
        raise _network_error(exc) from None
    import logging

    logging.getLogger("skymatch").info("MAST: %d file(s) to download, %.1f MB; %d already present and complete",
             plan.n_files, plan.total_bytes / 1e6, len(plan.skipped))
    if dry_run or plan.n_files == 0:
        return FetchResult(plan=plan, skipped=plan.skipped, outdir=outdir, dry_run=dry_run)
    with progress_reporter(progress) as callback:
        try:
            r: _Base = fetch_products(plan, outdir, observations=observations, progress=callback)
        except OSError as exc:
            if getattr(exc, "filename", None):  # a local file problem, not the network
                raise
            raise _network_error(exc) from None
    return FetchResult(plan=r.plan, written=r.written, skipped=r.skipped, failed=r.failed, outdir=outdir)


def demo_data(
    outdir: str | os.PathLike,
    *,
    tiles: tuple[int, int] = (3, 3),
    size: int = 1014,
    seed: int = 12812,
    gradient: float = 0.0,
    nebula: float = 1.0,
    nstars: int | None = None,
    misalign: tuple[float, float] | None = None,
    drz: bool = False,
    overwrite: bool = False,
) -> MosaicTruth:
    """Write a synthetic WFC3/IR-like mosaic with a known sky (and known WCS errors).

    The same as ``skymatch demo-data``.  The default is the notebook's layout: 3x3
    tiles, two dithered exposures each, 1014x1014 pixels; ``truth.json`` records every
    exposure's true sky (and, with ``misalign``, every visit's WCS error).

    Parameters
    ----------
    outdir : str or path
        Directory to write into (created if needed).
    tiles : (int, int), default (3, 3)
        Tiles along x and y (3x3 gives the notebook's visits and rootnames).
    size : int, default 1014
        Chip size in pixels.
    seed : int, default 12812
        Random seed (the files depend on nothing else).
    gradient : float, default 0.0
        Maximum sky gradient across a chip, e-/s.
    nebula : float, default 1.0
        Nebula brightness scale (0: blank sky with stars).
    nstars : int, optional
        Number of stars (default: scales with the area).
    misalign : (float, float), optional
        ``(arcsec, degrees)``: every visit but the reference gets a known WCS error up
        to this shift and rotation.
    drz : bool, default False
        Also write visit-level ``<asn>_drz.fits`` products (as MAST's DRZ files).
    overwrite : bool, default False
        Replace existing files.

    Returns
    -------
    MosaicTruth
        ``.paths``, ``.sky`` (true skies, e-/s), ``.truth_file``, ``.drz``,
        ``.to_table()``.

    Raises
    ------
    ParameterError
        A bad option.
    WriteError
        ``outdir`` already holds a synthetic mosaic and ``overwrite`` is False.

    Examples
    --------
    >>> t = skymatch.demo_data("demo/data", misalign=(1.0, 0.02), drz=True)  # doctest: +SKIP
    """
    outdir = as_outdir(outdir)
    tiles = as_pair(tiles, "tiles", kind="int", minimum=1)
    size = as_int(size, "size", minimum=16)
    seed = as_int(seed, "seed", minimum=0)
    gradient = as_float(gradient, "gradient", minimum=0.0)
    nebula = as_float(nebula, "nebula", minimum=0.0)
    nstars = as_int(nstars, "nstars", optional=True, minimum=0)
    misalign = as_pair(misalign, "misalign", minimum=0.0, optional=True)
    drz = as_bool(drz, "drz")
    overwrite = as_bool(overwrite, "overwrite")
    if not overwrite and os.path.exists(os.path.join(outdir, "truth.json")):
        raise WriteError(f"outdir={outdir!r}: already holds a synthetic mosaic (truth.json); "
                             "use overwrite=True to replace it")

    from ..datasets import make_mosaic, make_visit_drz
    from ._results_data import MosaicTruth
    from ._tabular import base_values

    truth = make_mosaic(outdir, tiles=tiles, size=size, seed=seed, gradient=gradient, nebula=nebula,
                        nstars=nstars, misalign=misalign, overwrite=overwrite)
    products = tuple(make_visit_drz(truth.paths, outdir, overwrite=overwrite)) if drz else ()
    return MosaicTruth(**base_values(truth), drz=products)
