"""``skymatch.align`` (TweakReg) and ``skymatch.tweakback`` (TweakBack)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ParameterError, SkymatchError
from . import _choices
from ._docs import fill
from ._progress import check_progress
from ._session import session
from ._sky import DEFAULT_LOG, Inputs, Progress
from ._validate import (
    as_bits,
    as_bool,
    as_choice,
    as_float,
    as_inputs,
    as_int,
    as_jobs,
    as_log_file,
    as_path,
    as_str,
    as_table_path,
    check_range_order,
)

if TYPE_CHECKING:
    from ._results_align import AlignResult, TweakbackResult

__all__ = ["align", "tweakback"]

ALIGN_PACKAGES = ("numpy", "scipy", "astropy", "tweakwcs", "photutils", "matplotlib")


def _need_align_extra() -> None:
    try:
        import photutils  # noqa: F401
        import tweakwcs  # noqa: F401
    except ImportError as exc:
        raise SkymatchError(f"alignment needs photutils and tweakwcs ({exc.name} is missing); "
                            "install them with: pip install 'skymatch[align]'") from None


def _source_finding(*, threshold: Any, conv_width: Any, peakmin: Any, peakmax: Any, nbright: Any) -> dict:
    """TweakReg's imagefindpars checked: :class:`~skymatch.core._sources.SourceFindParams` keywords."""
    peakmin_v = as_float(peakmin, "peakmin", optional=True)
    peakmax_v = as_float(peakmax, "peakmax", optional=True)
    check_range_order(peakmin_v, peakmax_v, "peakmin", "peakmax")
    return dict(threshold=as_float(threshold, "threshold", minimum=0.0, exclusive_minimum=True),
                conv_width=as_float(conv_width, "conv_width", minimum=0.0, exclusive_minimum=True),
                peakmin=peakmin_v, peakmax=peakmax_v,
                nbright=as_int(nbright, "nbright", optional=True, minimum=1))


def _matching_and_fitting(*, minobj: Any, searchrad: Any, separation: Any, tolerance: Any, use2dhist: Any,
                          expand_refcat: Any, enforce_user_order: Any, fitgeometry: Any, nclip: Any,
                          sigma: Any, unweighted: Any) -> dict:
    """The matching and fit options checked: :class:`~skymatch.core._align.AlignParams` keywords."""
    return dict(minobj=as_int(minobj, "minobj", minimum=1),
                searchrad=as_float(searchrad, "searchrad", minimum=0.0, exclusive_minimum=True),
                separation=as_float(separation, "separation", minimum=0.0),
                tolerance=as_float(tolerance, "tolerance", minimum=0.0, exclusive_minimum=True),
                use2dhist=as_bool(use2dhist, "use2dhist"),
                expand_refcat=as_bool(expand_refcat, "expand_refcat"),
                enforce_user_order=as_bool(enforce_user_order, "enforce_user_order"),
                fitgeometry=as_choice(fitgeometry, "fitgeometry", _choices.FITGEOMETRIES),
                nclip=as_int(nclip, "nclip", minimum=0),
                sigma=as_float(sigma, "sigma", minimum=0.0, exclusive_minimum=True),
                weighted=not as_bool(unweighted, "unweighted"))


@fill
def align(
    inputs: Inputs,
    *,
    threshold: float = 4.0,
    conv_width: float = 3.5,
    peakmin: float | None = None,
    peakmax: float | None = None,
    nbright: int | None = None,
    dqbits: int | str | None = 0,
    minobj: int = 15,
    searchrad: float = 1.0,
    separation: float = 0.5,
    tolerance: float = 1.0,
    use2dhist: bool = True,
    expand_refcat: bool = False,
    enforce_user_order: bool = True,
    fitgeometry: str = "rscale",
    nclip: int = 3,
    sigma: float = 3.0,
    unweighted: bool = False,
    group: str = "auto",
    update_header: bool = False,
    wcsname: str = "TWEAK",
    shiftfile: str | os.PathLike | None = None,
    table: str | os.PathLike | None = None,
    residuals_plot: str | os.PathLike | None = None,
    ylimit: float | None = None,
    jobs: int | None = None,
    progress: Progress = None,
    log_file: str | os.PathLike | bool | None = None,
) -> AlignResult:
    """Align images to the first one, as TweakReg does (needs ``skymatch[align]``).

    The same as ``skymatch align``.  The notebook's ``tweakreg.TweakReg('@drz.list',
    imagefindcfg={'threshold': 10, 'conv_width': 4.5, 'peakmin': 1}, minobj=5,
    searchrad=3.0, expand_refcat=True, enforce_user_order=True, shiftfile=True,
    outshifts='shift4_drc.txt', ylimit=0.5, updatehdr=True)`` is
    ``skymatch.align('@drz.list', threshold=10, conv_width=4.5, peakmin=1, minobj=5,
    searchrad=3.0, expand_refcat=True, shiftfile='shift4_drc.txt', ylimit=0.5,
    update_header=True)``.  Shifts, tolerances and RMS are in reference pixels,
    rotations in degrees, ``searchrad`` in arcsec.

    Parameters
    ----------
    inputs : str, path or list of them
        Files in alignment order (globs sort; ``@list`` files and lists keep their
        order); the first image (or association) is the reference and never changes.
    threshold : float, default 4.0
        Detection threshold, in sigma of the background noise.
    conv_width : float, default 3.5
        FWHM of the Gaussian detection kernel, pixels.
    peakmin : float, optional
        Minimum source peak above the background.
    peakmax : float, optional
        Maximum source peak above the background.
    nbright : int, optional
        Keep only the ``nbright`` brightest sources of each chip.
    dqbits : int, str or None, default 0
        DQ flags counted as good during detection (0: any flag is bad).
    minobj : int, default 15
        Minimum number of sources, and of matches, an image needs to be aligned.
    searchrad : float, default 1.0
        Search radius of the initial offset, arcsec.
    separation : float, default 0.5
        Minimum separation of sources, pixels.
    tolerance : float, default 1.0
        Matching tolerance, pixels.
    use2dhist : bool, default True
        Find the initial offset from a 2-D histogram of source offsets.
    expand_refcat : bool, default False
        Add each aligned image's sources to the reference catalogue.
    enforce_user_order : bool, default True
        Align in the order given (False: the image overlapping most goes next).
    fitgeometry : {'shift', 'rshift', 'rscale', 'general'}, default 'rscale'
        Fit geometry.
    nclip : int, default 3
        Sigma-clipping iterations of the fit.
    sigma : float, default 3.0
        Clipping limit, in units of the fit RMS.
    unweighted : bool, default False
        Equal weights (TweakReg); by default sources are weighted by their expected
        centroid error.
    group : {'auto', 'file', 'asn'}, default 'auto'
        One correction per file or per association (``ASN_ID``); ``auto``: per file
        for drizzled products, per association for exposures that name one.
    update_header : bool, default False
        Write the corrected WCS into every aligned file (all files or none; the
        previous solution is kept as an alternate WCS).
    wcsname : str, default 'TWEAK'
        ``WCSNAME`` of the corrected solution.
    shiftfile : str, optional
        Write TweakReg's shift file here.
    table : str, optional
        Write the fit table (``.csv`` or ``.ecsv``).
    residuals_plot : str, optional
        Save the fit residuals plot here (PNG).
    ylimit : float, optional
        Y-axis limit of the residuals plot, pixels.
    jobs : int, optional
        Processes for source finding (default: one per core).
    %(progress)s
    log_file : str, bool or None, optional
        The run's log. None or True: ``skymatch.log`` in the current directory
        (appended); False: no log.

    Returns
    -------
    AlignResult
        ``.fits`` (per-image fit), ``.not_aligned``, ``.updated``, ``.to_table()``.

    Raises
    ------
    ParameterError, InputError, WriteError
        A bad option, an unusable input, a read-only file with ``update_header``.
    SkymatchError
        photutils or tweakwcs is not installed.

    Examples
    --------
    >>> a = skymatch.align("@drz.list", threshold=10, conv_width=4.5, peakmin=1,
    ...                    minobj=5, searchrad=3.0, update_header=True)     # doctest: +SKIP
    """
    call = dict(locals())
    inputs = as_inputs(inputs)
    find_kw = _source_finding(threshold=threshold, conv_width=conv_width, peakmin=peakmin, peakmax=peakmax,
                              nbright=nbright)
    fit_kw = _matching_and_fitting(minobj=minobj, searchrad=searchrad, separation=separation, tolerance=tolerance,
                                   use2dhist=use2dhist, expand_refcat=expand_refcat,
                                   enforce_user_order=enforce_user_order, fitgeometry=fitgeometry, nclip=nclip,
                                   sigma=sigma, unweighted=unweighted)
    dqbits = as_bits(dqbits, "dqbits")
    group = as_choice(group, "group", _choices.GROUPINGS)
    update_header = as_bool(update_header, "update_header")
    wcsname = as_str(wcsname, "wcsname", max_length=68)
    shiftfile = as_path(shiftfile, "shiftfile", optional=True)
    table = as_table_path(table)
    residuals_plot = as_path(residuals_plot, "residuals_plot", optional=True)
    ylimit = as_float(ylimit, "ylimit", optional=True, minimum=0.0, exclusive_minimum=True)
    jobs = as_jobs(jobs)
    check_progress(progress)
    log_path = as_log_file(log_file, DEFAULT_LOG)
    _need_align_extra()

    from ..alignment import align as align_images
    from ..core._align import AlignParams
    from ..core._sources import SourceFindParams
    from ._results_align import AlignResult
    from ._tabular import base_values

    with session("align", call, log_path, progress, packages=ALIGN_PACKAGES) as (callback, log):
        r = align_images(inputs, find=SourceFindParams(**find_kw), params=AlignParams(**fit_kw), group=group,
                         dqbits=dqbits, update_header=update_header, wcsname=wcsname, jobs=jobs,
                         progress=callback)
        _write_align_files(r, shiftfile=shiftfile, table=table, residuals_plot=residuals_plot, ylimit=ylimit)
        if log is not None:
            log.record("fits (shifts and RMS in reference pixels, rotation in degrees):\n"
                       + "\n".join(r.table().pformat(max_lines=-1, max_width=-1)))
            log.record_mapping("files", {"updated": list(r.updated), "shiftfile": shiftfile, "table": table,
                                         "residuals_plot": residuals_plot})
    return AlignResult(**base_values(r), shiftfile=shiftfile, table_file=table, residuals_plot=residuals_plot,
                       log_file=log_path, parameters=call)


def _write_align_files(r, *, shiftfile: str | None, table: str | None, residuals_plot: str | None,
                       ylimit: float | None) -> None:
    """The shift file, the fit table and the residuals plot that were asked for."""
    if shiftfile:
        from ..alignment import write_shiftfile

        write_shiftfile(r, shiftfile)
    if table:
        from ..io import write_table

        write_table(r.table(), table)
    if residuals_plot:
        from ..io import save_figure
        from ..plotting import alignment_residuals_figure

        save_figure(alignment_residuals_figure(r, ylimit=ylimit), residuals_plot, dpi=100)


def tweakback(
    drzfile: str | os.PathLike,
    *,
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    old_key: str | None = None,
    wcsname: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    log_file: str | os.PathLike | bool | None = None,
) -> TweakbackResult:
    """Carry an aligned drizzled product's correction back to its input chips.

    The same as ``skymatch tweakback`` (DrizzlePac's ``tweakback.tweakback``).  Each
    chip is mapped through the product's old and new WCS and gets a new ``CRVAL`` and
    ``CD`` (its ``CRPIX`` and distortion are kept); the previous solution stays as an
    alternate WCS.

    Parameters
    ----------
    drzfile : str or path
        The aligned product (``*_drz.fits``, ``*_drc.fits`` or ``*_drz_sci.fits``).
    inputs : str, path or list of them, optional
        Its input files (default: those its header lists, beside it).
    old_key : str, optional
        Alternate-WCS key of the solution before alignment (default: the one
        ``align`` recorded in ``SMWCSOLD``).
    wcsname : str, optional
        ``WCSNAME`` for the inputs (default: the product's).
    force : bool, default False
        Apply even to inputs whose WCS changed since the product was drizzled (which
        would apply the correction twice).
    dry_run : bool, default False
        Report the changes, write nothing.
    log_file : str, bool or None, optional
        The run's log. None or True: ``skymatch.log`` in the current directory
        (appended); False: no log.

    Returns
    -------
    TweakbackResult
        Per chip: ``.shift_centre``, ``.shift_max`` (pixels), ``.rotation`` (degrees);
        ``.updated``; ``.message`` when there was nothing to do (the reference).

    Raises
    ------
    ParameterError, InputError, WriteError
        A bad option, a missing or stale input, a read-only input.

    Examples
    --------
    >>> for drz in ["ibxl51030_drz.fits", "ibxl53030_drz.fits"]:              # doctest: +SKIP
    ...     skymatch.tweakback(drz)
    """
    call = dict(locals())
    drz = as_path(drzfile, "drzfile")
    if inputs is not None:
        inputs = as_inputs(inputs, "inputs")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        from ..io import expand_inputs

        inputs = [s.path for s in expand_inputs(inputs)]
    if old_key is not None:
        old_key = as_str(old_key, "old_key").upper()
        if len(old_key) != 1 or not ("A" <= old_key <= "Z"):
            raise ParameterError(f"old_key={call['old_key']!r}: give one letter A-Z (an alternate WCS key)")
    wcsname = as_str(wcsname, "wcsname", optional=True, max_length=68)
    force = as_bool(force, "force")
    dry_run = as_bool(dry_run, "dry_run")
    log_path = as_log_file(log_file, DEFAULT_LOG)

    from ..alignment import tweakback as tweakback_product
    from ._results_align import TweakbackResult
    from ._tabular import base_values

    with session("tweakback", call, log_path, False) as (_, log):
        r = tweakback_product(drz, inputs=inputs, old_key=old_key, wcsname=wcsname, force=force,
                              write=not dry_run)
        if log is not None:
            log.record(r.message or "\n".join(
                f"{name}: moved {c:.4f} px at the centre (max {m:.4f} px), rotated {rot:.6f} deg"
                for name, c, m, rot in zip(r.chips, r.shift_centre, r.shift_max, r.rotation)))
            log.record(f"updated: {', '.join(r.updated) or 'nothing'}")
    return TweakbackResult(**base_values(r), dry_run=dry_run, log_file=log_path)
