"""``tweakback`` with DrizzlePac's parameters, run by :func:`skymatch.tweakback`.

The notebook's calls run unchanged::

    from skymatch.drizzlepac import tweakback
    tweakback.tweakback('ibxl50030_drz.fits', verbose=True)

Each carries the aligned product's correction back to the exposures it was drizzled
from (new ``CRVAL`` and ``CD`` per chip; the previous solution kept as an alternate WCS).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..exceptions import ParameterError
from ._translate import Refusals, blank, same

if TYPE_CHECKING:
    from ..api._results import TweakbackResult

__all__ = ["tweakback"]


def _report(r: TweakbackResult) -> str:
    if r.message:  # it names the product
        return r.message
    name = os.path.basename(r.drz)
    lines = [f"{name}: WCS {r.wcsname!r} carried back to {len(r.updated)} file(s)"]
    lines += [f"  {chip}: moved {c:.4f} px at the centre ({m:.4f} px at most), rotated {rot:.6f} deg"
              for chip, c, m, rot in zip(r.chips, r.shift_centre, r.shift_max, r.rotation, strict=True)]
    return "\n".join(lines)


def tweakback(
    drzfile: str | os.PathLike,
    input: str | os.PathLike | Sequence[str | os.PathLike] | None = None,  # noqa: A002 (DrizzlePac's name)
    *,
    origwcs: str | None = None,
    newname: str | None = None,
    wcsname: str | None = None,
    extname: str = "SCI",
    force: bool = False,
    verbose: bool = False,
) -> TweakbackResult:
    """DrizzlePac's ``tweakback``: carry an aligned product's correction back to its inputs.

    Runs :func:`skymatch.tweakback` (no log file is written, as DrizzlePac writes none).
    The product's current WCS (the one TweakReg wrote) is carried back, relative to its
    WCS before alignment, which skymatch's alignment recorded (``SMWCSOLD``).  Each input
    chip gets a new ``CRVAL`` and ``CD`` (its ``CRPIX`` and distortion are kept), and the
    previous solution stays as an alternate WCS.

    Parameters
    ----------
    drzfile : str or path
        The aligned product (``*_drz.fits``, ``*_drc.fits`` or ``*_drz_sci.fits``).
    input : str, path or list of them, optional
        Its input files (default: those its header lists, beside it).
    origwcs : str, optional
        ``WCSNAME`` of the product's WCS before alignment: only None or ``''`` is accepted
        (skymatch finds it; ``skymatch.tweakback(old_key=...)`` names another by its
        alternate-WCS letter).
    newname : str, optional
        ``WCSNAME`` of the solution written into the inputs (default: the product's).
    wcsname : str, optional
        ``WCSNAME`` of the product's aligned WCS: None, ``''`` or the product's current
        one (which is always the one carried back).
    extname : {'SCI'}, default 'SCI'
        Extensions updated: only ``'SCI'``.
    force : bool, default False
        Apply even to inputs whose WCS changed since the product was drizzled (which
        would apply the correction twice).
    verbose : bool, default False
        Print what moved (per chip: pixels at the centre and at most, degrees).

    Returns
    -------
    TweakbackResult
        :func:`skymatch.tweakback`'s result: per chip ``.shift_centre``, ``.shift_max``
        (pixels), ``.rotation`` (degrees); ``.updated``.  DrizzlePac returns None.

    Raises
    ------
    ParameterError
        A parameter skymatch cannot honour, or a bad value.
    InputError, WriteError
        A missing or stale input, a read-only input.

    See Also
    --------
    skymatch.tweakback : the same with skymatch's own option names.

    Examples
    --------
    >>> from skymatch.drizzlepac import tweakback
    >>> tweakback.tweakback('ibxl50030_drz.fits', verbose=True)             # doctest: +SKIP
    """
    from .. import api
    from ..api._validate import as_bool, as_inputs, as_str

    if input is not None:
        input = as_inputs(input, "input")  # noqa: A001
    no = Refusals("tweakback")
    no.unless_blank("origwcs", origwcs, "the WCS before alignment is the one skymatch's alignment recorded "
                    "(SMWCSOLD); name another with skymatch.tweakback(old_key=LETTER)")
    no.unless_default("extname", extname, "SCI", "the SCI extensions are updated")
    no.raise_any()
    newname = None if blank(newname) else as_str(newname, "newname", max_length=68)
    force = as_bool(force, "force")
    verbose = as_bool(verbose, "verbose")
    if not blank(wcsname):
        wanted = as_str(wcsname, "wcsname", max_length=68)
        current = api.tweakback(drzfile, inputs=input, force=force, dry_run=True, log_file=False).wcsname
        if not same(wanted, current):
            raise ParameterError(f"wcsname={wcsname!r}: the product's current WCS is {current!r}, and skymatch "
                                 "carries back the current WCS only; give wcsname=None or that name")
    r = api.tweakback(drzfile, inputs=input, wcsname=newname, force=force, log_file=False)
    if verbose:
        print(_report(r))  # noqa: T201 - DrizzlePac's verbose output goes to stdout
    return r
