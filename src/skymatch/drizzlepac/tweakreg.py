"""``TweakReg`` with DrizzlePac's parameters, run by :func:`skymatch.align`.

The notebook's call runs unchanged::

    from skymatch.drizzlepac import tweakreg
    tweakreg.TweakReg('@drz.list', imagefindcfg={'threshold': 10, 'conv_width': 4.5, 'peakmin': 1},
                      minobj=5, shiftfile=True, expand_refcat=True, enforce_user_order=True,
                      outshifts='shift4_drc.txt', searchrad=3.0, ylimit=0.5, updatehdr=True,
                      interactive=False)

and writes what TweakReg writes: the shift file (``outshifts``), the corrected WCS in
every aligned image (``updatehdr=True``; the previous one kept as an alternate WCS) and
the run's log in ``runfile`` (``tweakreg.log``).
"""

# ruff: noqa: ARG001 - DrizzlePac parameters that make no difference are accepted and not used, by design
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..exceptions import ParameterError
from ._translate import Refusals, blank, optional_path, same

if TYPE_CHECKING:
    from ..api._results import AlignResult

__all__ = ["TweakReg", "IMAGEFIND_DEFAULTS"]

# TweakReg's image-find parameters and their defaults.  Those skymatch uses are passed on;
# the others are accepted at these values (or where they make no difference) only.
IMAGEFIND_DEFAULTS = MappingProxyType({
    "computesig": True, "skysigma": 0.0, "conv_width": 3.5, "peakmin": None, "peakmax": None,
    "threshold": 4.0, "nsigma": 1.5, "ratio": 1.0, "theta": 0.0, "fluxmin": None, "fluxmax": None,
    "use_sharp_round": False, "sharplo": 0.2, "sharphi": 1.0, "roundlo": -1.0, "roundhi": 1.0,
    "dqbits": None,
})
_PASSED_ON = ("threshold", "conv_width", "peakmin", "peakmax", "dqbits")
# Without use_sharp_round the sharpness/roundness limits are not applied (TweakReg too).
_SHARP_ROUND = ("sharplo", "sharphi", "roundlo", "roundhi")


def _find_options(cfg: Any, name: str, no: Refusals) -> dict:
    """The image-find dictionary's values skymatch uses; the others refused unless inert."""
    if cfg is None:
        return {}
    if not isinstance(cfg, Mapping):
        raise ParameterError(f"{name}={cfg!r}: give a dict of image-find parameters, "
                             "e.g. {'threshold': 10, 'conv_width': 4.5, 'peakmin': 1}")
    unknown = sorted(str(k) for k in cfg if k not in IMAGEFIND_DEFAULTS)
    if unknown:
        raise ParameterError(f"{name}: {', '.join(repr(k) for k in unknown)} not TweakReg image-find "
                             f"parameter(s); use {', '.join(IMAGEFIND_DEFAULTS)}")
    sharp_round = bool(cfg.get("use_sharp_round", False))
    if sharp_round:
        no.add(f"{name}['use_sharp_round']", True, "sources are not filtered by sharpness or roundness")
    for key, value in cfg.items():
        if key in _PASSED_ON or key == "use_sharp_round" or key in _SHARP_ROUND:
            continue
        if key == "skysigma" and cfg.get("computesig", True):
            continue  # computed from the data, as TweakReg does with computesig=True
        if not same(value, IMAGEFIND_DEFAULTS[key]):
            no.add(f"{name}[{key!r}]", value, f"only TweakReg's default {IMAGEFIND_DEFAULTS[key]!r} is supported")
    out = {k: cfg[k] for k in _PASSED_ON if k in cfg}
    if "dqbits" in out and blank(out["dqbits"]):
        out["dqbits"] = None
    for key in ("peakmin", "peakmax"):
        if key in out and blank(out[key]):
            out[key] = None
    return out


# DrizzlePac's name.
def TweakReg(  # noqa: N802
    files: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    editpars: bool = False,
    configobj: Any = None,
    imagefindcfg: Mapping[str, Any] | None = None,
    refimagefindcfg: Mapping[str, Any] | None = None,
    refimage: str | os.PathLike | None = "",
    expand_refcat: bool = False,
    enforce_user_order: bool = True,
    exclusions: str | None = "",
    updatehdr: bool = False,
    updatewcs: bool = False,
    writecat: bool = True,
    clean: bool = False,
    interactive: bool = True,
    verbose: bool = False,
    runfile: str | os.PathLike | None = "tweakreg.log",
    wcsname: str = "TWEAK",
    refcat: str | os.PathLike | None = "",
    catfile: str | os.PathLike | None = "",
    minobj: int = 15,
    searchrad: float = 1.0,
    searchunits: str = "arcseconds",
    use2dhist: bool = True,
    see2dplot: bool = True,
    tolerance: float = 1.0,
    separation: float = 0.5,
    xoffset: float = 0.0,
    yoffset: float = 0.0,
    fitgeometry: str = "rscale",
    residplot: str = "both",
    labelplot: bool = True,
    nclip: int = 3,
    sigma: float = 3.0,
    ylimit: float | None = None,
    shiftfile: bool = False,
    outshifts: str | os.PathLike = "shifts.txt",
    outwcs: str | os.PathLike = "shifts_wcs.fits",
    headerlet: bool = False,
    attach: bool = True,
    hdrfile: str = "",
    clobber: bool = False,
    hdrname: str = "",
    author: str = "",
    descrip: str = "",
    catalog: str = "",
    history: str = "",
    progress: Any = None,
) -> AlignResult:
    """DrizzlePac's ``TweakReg``: align images to the first one (needs ``skymatch[align]``).

    Takes TweakReg's parameters with TweakReg's names and defaults and runs
    :func:`skymatch.align`.  The first input (or ``refimage``) is the reference and is
    never changed.  ``shiftfile=True`` writes the shift file ``outshifts``;
    ``updatehdr=True`` writes the corrected WCS into every aligned image.  A parameter
    asking for something skymatch does not do (a reference catalogue, headerlets,
    pixel search units ...) stops the call before any file is read, with one
    :class:`~skymatch.exceptions.ParameterError` naming every such parameter.
    ``docs/from_drizzlepac.md`` maps every parameter.

    Parameters
    ----------
    files : str, path or list of them
        Images in alignment order (``'@drz.list'`` keeps the list's order; globs sort).
    editpars : bool, default False
        Open the parameter editor: only False is accepted.
    configobj : optional
        A configuration object: only None is accepted.
    imagefindcfg : dict, optional
        Source finding: ``threshold`` (sigma, default 4.0), ``conv_width`` (pixels,
        3.5), ``peakmin``, ``peakmax``, ``dqbits`` are used; ``computesig``,
        ``skysigma``, ``nsigma``, ``ratio``, ``theta``, ``fluxmin``, ``fluxmax``,
        ``use_sharp_round`` are accepted at TweakReg's defaults, and ``sharplo``,
        ``sharphi``, ``roundlo``, ``roundhi`` while ``use_sharp_round`` is False.
    refimagefindcfg : dict, optional
        Source finding in the reference image: only None or the same values as
        ``imagefindcfg`` (skymatch finds sources the same way in every image).
    refimage : str, default ''
        Reference image: aligned to it, put first; it is not changed.
    expand_refcat : bool, default False
        Add each aligned image's sources to the reference catalogue.
    enforce_user_order : bool, default True
        Align in the order given (False: the image overlapping most goes next).
    exclusions : str, default ''
        Only ``''`` is accepted (mask regions with DQ flags or ``@list`` masks).
    updatehdr : bool, default False
        Write the corrected WCS into every aligned image (skymatch's ``update_header``).
    updatewcs : bool, default False
        Recompute the inputs' distortion WCS first (stwcs): only False is accepted.
    writecat, clean, interactive, verbose, see2dplot, residplot, labelplot, ylimit : optional
        Accepted, no effect: no catalogue files are written (or left to clean), nothing
        is shown or asked; the fit is in the returned result and the log
        (``AlignResult.plot_residuals(ylimit=...)`` draws TweakReg's residual plot).
    runfile : str, default 'tweakreg.log'
        The run's log, appended to; ``''`` or None: no log.
    wcsname : str, default 'TWEAK'
        ``WCSNAME`` of the corrected solution.
    refcat, catfile : str, default ''
        User catalogues: only ``''`` is accepted (sources are found in the images).
    minobj : int, default 15
        Minimum number of sources, and of matches, an image needs to be aligned.
    searchrad : float, default 1.0
        Search radius of the initial offset, in ``searchunits``.
    searchunits : {'arcseconds'}, default 'arcseconds'
        Only ``'arcseconds'``.
    use2dhist : bool, default True
        Find the initial offset from a 2-D histogram of source offsets.
    tolerance : float, default 1.0
        Matching tolerance, pixels.
    separation : float, default 0.5
        Minimum separation of sources, pixels (skymatch's and tweakwcs' default; it
        must be > 0).
    xoffset, yoffset : float, default 0.0
        Initial offsets: only 0 is accepted.
    fitgeometry : {'shift', 'rshift', 'rscale', 'general'}, default 'rscale'
        Fit geometry.
    nclip : int, default 3
        Sigma-clipping iterations of the fit.
    sigma : float, default 3.0
        Clipping limit, in units of the fit RMS.
    shiftfile : bool, default False
        Write TweakReg's shift file ``outshifts``.
    outshifts : str, default 'shifts.txt'
        The shift file's name.
    outwcs : str, default 'shifts_wcs.fits'
        Accepted, no effect: the shift file's reference WCS file is not written (the
        shifts are relative to the reference image named in the shift file).
    headerlet : bool, default False
        Only False is accepted (the solution goes into the headers).
    attach, hdrfile, clobber, hdrname, author, descrip, catalog, history : optional
        Headerlet settings: accepted, no effect (``headerlet`` is False).
    progress : bool or callable, optional
        skymatch's progress bars (None: in a notebook or a terminal; False: none).

    Returns
    -------
    AlignResult
        :func:`skymatch.align`'s result: per-image fit (shifts and RMS in reference
        pixels, rotation in degrees), ``.updated``, ``.to_table()``.  TweakReg returns
        None; a notebook shows this result's table.

    Raises
    ------
    ParameterError
        A parameter skymatch cannot honour (all of them named in one message), or a bad value.
    InputError, WriteError
        An unusable input, a read-only file with ``updatehdr``.
    SkymatchError
        photutils or tweakwcs is not installed.

    See Also
    --------
    skymatch.align : the same run with skymatch's own option names.

    Examples
    --------
    >>> from skymatch.drizzlepac import tweakreg
    >>> tweakreg.TweakReg('@drz.list', imagefindcfg={'threshold': 10, 'conv_width': 4.5, 'peakmin': 1},
    ...                   minobj=5, shiftfile=True, expand_refcat=True, enforce_user_order=True,
    ...                   outshifts='shift4_drc.txt', searchrad=3.0, ylimit=0.5, updatehdr=True,
    ...                   interactive=False)                                  # doctest: +SKIP
    """
    from .. import api
    from ..api._validate import as_bool, as_inputs, as_log_file, as_path

    inputs = as_inputs(files, "files")
    no = Refusals("TweakReg")
    if as_bool(editpars, "editpars"):
        no.add("editpars", editpars, "pass the parameters as keywords")
    if configobj is not None:
        no.add("configobj", configobj, "pass the parameters as keywords")
    find = _find_options(imagefindcfg, "imagefindcfg", no)
    if refimagefindcfg is not None:
        ref_find = _find_options(refimagefindcfg, "refimagefindcfg", no)
        if ref_find != find:
            no.add("refimagefindcfg", refimagefindcfg, "sources are found the same way in every image; "
                   "give the reference's values in imagefindcfg")
    no.unless_blank("exclusions", exclusions, "mask regions with DQ flags or masks in an @list file")
    if as_bool(updatewcs, "updatewcs"):
        no.add("updatewcs", updatewcs, "the inputs' WCS are used as they are (run stwcs.updatewcs first)")
    for name, value in (("refcat", refcat), ("catfile", catfile)):
        no.unless_blank(name, value, "sources are found in the images; user catalogues are not supported")
    no.unless_default("searchunits", searchunits, "arcseconds", "give searchrad in arcseconds")
    for name, value in (("xoffset", xoffset), ("yoffset", yoffset)):
        no.unless_default(name, value, 0.0, "the initial offset is found from the sources (use2dhist)")
    if as_bool(headerlet, "headerlet"):
        no.add("headerlet", headerlet, "the solution is written into the headers (updatehdr=True)")
    no.raise_any()

    update_header = as_bool(updatehdr, "updatehdr")
    shift_path = as_path(outshifts, "outshifts") if as_bool(shiftfile, "shiftfile") else None
    log_file: Any = False if blank(runfile) else as_log_file(runfile, "tweakreg.log", "runfile")
    reference = optional_path(refimage)
    if reference is not None:
        inputs = [reference, *([inputs] if isinstance(inputs, str) else inputs)]
    return api.align(inputs, **find, minobj=minobj, searchrad=searchrad, separation=separation,
                     tolerance=tolerance, use2dhist=use2dhist, expand_refcat=expand_refcat,
                     enforce_user_order=enforce_user_order, fitgeometry=fitgeometry, nclip=nclip, sigma=sigma,
                     update_header=update_header, wcsname=wcsname, shiftfile=shift_path,
                     ylimit=_ylimit(ylimit), progress=progress, log_file=log_file)


def _ylimit(value: Any) -> Any:
    # Only the residual plot uses it; TweakReg reads None/'' as "automatic".
    return None if blank(value) else value
