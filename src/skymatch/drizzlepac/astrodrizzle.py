"""``AstroDrizzle`` with DrizzlePac's parameters, run by :func:`skymatch.run`.

The notebook's calls run unchanged::

    from skymatch import drizzlepac
    drizzlepac.astrodrizzle.AstroDrizzle('*flt.fits', output='f160w_match', preserve=False,
                                         skymethod='match', driz_separate=False, median=False,
                                         blot=False, driz_cr=False, final_bits='64',
                                         final_wcs=True, final_rot=257.)

and write what AstroDrizzle writes: ``f160w_match_drz_sci.fits`` (extension 1: the
``HDRTAB`` table with each input's ``ROOTNAME``, ``ASN_ID``, ``ORIENTAT``, ``MDRIZSKY``
...), ``_drz_wht.fits``, ``_drz_ctx.fits`` (or one ``_drz.fits`` with ``build=True``),
``MDRIZSKY`` in the inputs' headers and the run's log in ``runfile``
(``astrodrizzle.log``).  Products are replaced, as AstroDrizzle replaces them.
"""


from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._translate import Refusals, blank, optional_path

if TYPE_CHECKING:
    from ..api._results import MosaicRun, SkyRun

__all__ = ["AstroDrizzle"]

_CR_FIX = ("skymatch does no cosmic-ray rejection; use inputs already cleaned of cosmic rays (WFC3/IR FLTs "
           "are) with driz_separate=False, median=False, blot=False, driz_cr=False")
_PRODUCT_SUFFIX = re.compile(r"(_dr[zc])?(_sci)?\.fits$", re.IGNORECASE)


def _none(value: Any) -> Any:
    """DrizzlePac's "not given" ('', 'INDEF', None) as None; anything else as it is."""
    return None if blank(value) else value


def _bits(value: Any) -> Any:
    # DrizzlePac reads '' (and None) as "no DQ flag is bad"; skymatch spells that None.
    return None if isinstance(value, str) and not value.strip() else value


def _output_name(output: Any) -> Any:
    # AstroDrizzle accepts 'f160w', 'f160w_drz.fits' or 'f160w_drz_sci.fits' for the same products.
    if isinstance(output, (str, os.PathLike)):
        return _PRODUCT_SUFFIX.sub("", os.fspath(output))
    return output


# DrizzlePac's names (the function, `input`); one flat list of checks, a line each.
def _refuse_unsupported(p: dict, *, skysub: bool, driz_combine: bool) -> None:
    """Raise one ParameterError naming every parameter of the call ``p`` skymatch cannot honour."""
    from ..api._validate import as_bool

    no = Refusals("AstroDrizzle")
    if blank(p["output"]) and driz_combine:
        no.add("output", p["output"], "name the products, e.g. output='f160w' (AstroDrizzle derives a name from the "
               "input; skymatch asks for it)")
    for name, value in (("mdriztab", p["mdriztab"]), ("editpars", p["editpars"])):
        if as_bool(value, name):
            no.add(name, value, "pass the parameters as keywords")
    if p["configobj"] is not None:
        no.add("configobj", p["configobj"], "pass the parameters as keywords")
    if p["wcsmap"] is not None:
        no.add("wcsmap", p["wcsmap"], "pixels are mapped through the inputs' own WCS (drizzle's calc_pixmap)")
    no.unless_blank("wcskey", p["wcskey"], "the primary WCS is used; make the alternate WCS primary first")
    no.unless_default("proc_unit", p["proc_unit"], "native", "data are processed in their own units; "
                      "final_units chooses the output's")
    if not as_bool(p["coeffs"], "coeffs"):
        no.add("coeffs", p["coeffs"], "the distortion (SIP, lookup tables) is always applied")
    if not as_bool(p["context"], "context"):
        no.add("context", p["context"], "the context image NAME_drz_ctx.fits is always written")
    no.unless_blank("group", p["group"], "every SCI extension is used")
    no.unless_blank("rules_file", p["rules_file"], "pass the parameters as keywords")
    if as_bool(p["restore"], "restore"):
        no.add("restore", p["restore"], "skymatch keeps no OrigFiles/ copies to restore from")
    if as_bool(p["preserve"], "preserve"):
        no.add("preserve", p["preserve"], "skymatch makes no OrigFiles/ backup (it changes only the inputs' "
               "MDRIZSKY and SM* header keywords); set preserve=False")
    no.unless_default("static_sig", p["static_sig"], 4.0, "the static mask uses AstroDrizzle's default 4 sigma")
    no.unless_blank("skymask_cat", p["skymask_cat"], "give masks in an @list file ('file.fits mask.fits' per line)")
    for name, value in (("driz_separate", p["driz_separate"]), ("median", p["median"]), ("blot", p["blot"]),
                        ("driz_cr", p["driz_cr"])):
        if as_bool(value, name):
            no.add(name, value, _CR_FIX)
    no.unless_default("final_wht_type", p["final_wht_type"], "EXP", "weights are EXPTIME x good-pixel coverage ('EXP')")
    no.unless_default("final_wt_scl", p["final_wt_scl"], "exptime", "weights scale with EXPTIME ('exptime')")
    no.unless_blank("final_maskval", p["final_maskval"], "pixels with no weight are final_fillval")
    for name, value in (("final_crpix1", p["final_crpix1"]), ("final_crpix2", p["final_crpix2"])):
        no.unless_blank(name, value, "the reference pixel is the frame's centre; move the frame with "
                        "final_ra/final_dec")
    for name, value in (("exptime", p["exptime"]), ("expkeyword", p["expkeyword"])):
        no.unless_blank(name, value, "EXPTIME is read from each input's header")
    if not skysub and not driz_combine:
        no.add("driz_combine", driz_combine, "with skysub=False too there is nothing to do")
    no.raise_any()


def AstroDrizzle(  # noqa: N802
    input: str | os.PathLike | Sequence[str | os.PathLike] | None = None,  # noqa: A002
    *,
    mdriztab: bool = False,
    editpars: bool = False,
    configobj: Any = None,
    wcsmap: Any = None,
    output: str | os.PathLike = "",
    runfile: str | os.PathLike | None = "astrodrizzle.log",
    wcskey: str | None = "",
    proc_unit: str = "native",
    coeffs: bool = True,
    context: bool = True,
    group: str | None = "",
    build: bool = False,
    crbit: int = 4096,
    stepsize: int = 10,
    resetbits: int | str = "4096",
    num_cores: int | None = None,
    in_memory: bool = False,
    rules_file: str | None = "",
    restore: bool = False,
    preserve: bool = True,
    overwrite: bool = False,
    clean: bool = False,
    static: bool = True,
    static_sig: float = 4.0,
    skysub: bool = True,
    skymethod: str = "localmin",
    skystat: str = "median",
    skywidth: float = 0.1,
    skylower: float | None = None,
    skyupper: float | None = None,
    skyclip: int = 5,
    skylsigma: float = 4.0,
    skyusigma: float = 4.0,
    skymask_cat: str | None = "",
    use_static: bool = True,
    sky_bits: int | str | None = "0",
    skyfile: str | os.PathLike | None = "",
    skyuser: str | None = "",
    driz_separate: bool = True,
    driz_sep_kernel: str = "turbo",
    driz_sep_wt_scl: str = "exptime",
    driz_sep_pixfrac: float = 1.0,
    driz_sep_fillval: float | None = None,
    driz_sep_bits: int | str | None = "0",
    driz_sep_compress: bool = False,
    driz_sep_wcs: bool = False,
    driz_sep_refimage: str | None = "",
    driz_sep_rot: float | None = None,
    driz_sep_scale: float | None = None,
    driz_sep_outnx: int | None = None,
    driz_sep_outny: int | None = None,
    driz_sep_ra: float | None = None,
    driz_sep_dec: float | None = None,
    driz_sep_crpix1: float | None = None,
    driz_sep_crpix2: float | None = None,
    median: bool = True,
    median_newmasks: bool = True,
    combine_maskpt: float = 0.3,
    combine_type: str = "minmed",
    combine_nsigma: str = "4 3",
    combine_nlow: int = 0,
    combine_nhigh: int = 0,
    combine_lthresh: float | None = None,
    combine_hthresh: float | None = None,
    combine_grow: int = 1,
    combine_bufsize: float | None = None,
    blot: bool = True,
    blot_interp: str = "poly5",
    blot_sinscl: float = 1.0,
    blot_addsky: bool = True,
    blot_skyval: float = 0.0,
    driz_cr: bool = True,
    driz_cr_corr: bool = False,
    driz_cr_snr: str = "3.5 3.0",
    driz_cr_grow: int = 1,
    driz_cr_ctegrow: int = 0,
    driz_cr_scale: str = "1.2 0.7",
    driz_combine: bool = True,
    final_wht_type: str = "EXP",
    final_kernel: str = "square",
    final_wt_scl: str = "exptime",
    final_pixfrac: float = 1.0,
    final_fillval: float | None = None,
    final_maskval: float | None = None,
    final_bits: int | str | None = "0",
    final_units: str = "cps",
    final_wcs: bool = False,
    final_refimage: str | os.PathLike | None = "",
    final_rot: float | None = None,
    final_scale: float | None = None,
    final_outnx: int | None = None,
    final_outny: int | None = None,
    final_ra: float | None = None,
    final_dec: float | None = None,
    final_crpix1: float | None = None,
    final_crpix2: float | None = None,
    gain: str | float = "",
    gnkeyword: str = "",
    rdnoise: str | float = "",
    rnkeyword: str = "",
    exptime: str | float = "",
    expkeyword: str = "",
    progress: Any = None,
) -> MosaicRun | SkyRun:
    """DrizzlePac's ``AstroDrizzle`` without cosmic-ray rejection: the sky, then the final drizzle.

    Takes AstroDrizzle's parameters with AstroDrizzle's names and defaults and runs
    :func:`skymatch.run` (:func:`skymatch.drizzle` with ``skysub=False``,
    :func:`skymatch.sky` with ``driz_combine=False``, :func:`skymatch.sky` then
    :func:`skymatch.drizzle` with ``skyfile`` or ``skyuser``).  Like AstroDrizzle it
    writes ``MDRIZSKY`` into the inputs and replaces existing products.  A parameter
    asking for something skymatch does not do stops the call before any file is read,
    with one :class:`~skymatch.exceptions.ParameterError` naming every such parameter;
    DrizzlePac's defaults ``driz_separate=median=blot=driz_cr=True`` and
    ``preserve=True`` are among them, so a call must say ``False`` for each, as the
    notebook does.  ``docs/from_drizzlepac.md`` maps every parameter.

    Parameters
    ----------
    input : str, path or list of them
        Input files: names, a glob (``'*flt.fits'``), a comma-separated string, an
        ``@list`` file, or a list of those.
    mdriztab, editpars : bool, default False
        Read parameters from the MDRIZTAB table / open the parameter editor: only
        False is accepted (pass parameters as keywords).
    configobj, wcsmap : optional
        A configuration object / custom WCS mapping: only None is accepted.
    output : str
        Output name: ``NAME`` (or ``NAME_drz.fits``) gives ``NAME_drz_sci.fits``,
        ``NAME_drz_wht.fits``, ``NAME_drz_ctx.fits`` (``drc`` for ``_flc`` inputs).
        Required unless ``driz_combine=False`` (AstroDrizzle derives one from the
        input; skymatch asks for it).
    runfile : str, default 'astrodrizzle.log'
        The run's log (parameters, versions, skies, timings, warnings), appended to;
        ``''`` or None: no log.
    wcskey : str, default ''
        Alternate WCS to use: only the primary (``''``) is accepted.
    proc_unit : {'native'}, default 'native'
        Processing units: only ``'native'`` (use ``final_units`` for the output).
    coeffs, context : bool, default True
        Apply the distortion / write the context image: only True is accepted (skymatch
        always does both).
    group : str, default ''
        Extensions to process: only ``''`` (all) is accepted.
    build : bool, default False
        Write one multi-extension ``NAME_drz.fits`` instead of separate files.
    crbit, resetbits, in_memory, overwrite, clean : optional
        Accepted, no effect: no cosmic-ray flags are written or reset, nothing is kept in
        memory beyond one block, products are always replaced, and no intermediate file
        is written.
    stepsize : int, default 10
        Pixel map computed exactly every ``stepsize`` pixels and interpolated.
    num_cores : int, optional
        Number of local workers (skymatch's ``jobs``; default: one per core).
    rules_file : str, default ''
        Only ``''`` is accepted.
    restore, preserve : bool
        Restore the inputs from / copy them to ``OrigFiles/``: only False is accepted
        (skymatch changes only header keywords of the inputs: ``MDRIZSKY``, ``SM*``).
        ``preserve`` defaults to True as in DrizzlePac and must be set False.
    static : bool, default True
        Compute AstroDrizzle's static mask; ``static=False`` or ``use_static=False``
        turns it off for the sky.
    static_sig : float, default 4.0
        Only 4.0 (AstroDrizzle's default) is accepted.
    skysub : bool, default True
        Compute and subtract the sky; False drizzles with no sky subtracted.
    skymethod : str, default 'localmin'
        ``localmin``, ``globalmin``, ``match`` or ``globalmin+match`` (AstroDrizzle's
        default ``localmin``; ``skymatch.run``'s default is ``match``).
    skystat : {'median', 'mode', 'mean', 'midpt'}, default 'median'
        Statistic of the sky.
    skywidth : float, default 0.1
        Histogram bin width in sigma, for ``mode`` and ``midpt``.
    skylower, skyupper : float, optional
        Usable pixel range, data units (None or ``'INDEF'``: no limit).
    skyclip : int, default 5
        Number of sigma-clipping iterations.
    skylsigma, skyusigma : float, default 4.0
        Clipping limits, in sigma.
    skymask_cat : str, default ''
        Only ``''`` is accepted (give masks in an ``@list`` file instead).
    use_static : bool, default True
        Exclude the static mask from the sky.
    sky_bits : int, str or None, default '0'
        DQ flags counted as good for the sky.
    skyfile : str, default ''
        File of user sky values (``filename sky [sky_chip2 ...]`` per line): used
        instead of computing the sky.
    skyuser : str, default ''
        Header keyword holding a sky already subtracted from the data.
    driz_separate, median, blot, driz_cr : bool, default True
        AstroDrizzle's cosmic-ray steps: only False is accepted.
    driz_sep_kernel, driz_sep_wt_scl, driz_sep_pixfrac, driz_sep_fillval, driz_sep_bits, driz_sep_compress : optional
        Settings of the separate drizzle: accepted, no effect (the step is off).
    driz_sep_wcs, driz_sep_refimage, driz_sep_rot, driz_sep_scale, driz_sep_outnx, driz_sep_outny : optional
        Frame of the separate drizzle: accepted, no effect (the step is off).
    driz_sep_ra, driz_sep_dec, driz_sep_crpix1, driz_sep_crpix2 : optional
        Frame of the separate drizzle: accepted, no effect (the step is off).
    median_newmasks, combine_maskpt, combine_type, combine_nsigma, combine_nlow, combine_nhigh : optional
        Settings of the median image: accepted, no effect (the step is off).
    combine_lthresh, combine_hthresh, combine_grow, combine_bufsize : optional
        Settings of the median image: accepted, no effect (the step is off).
    blot_interp, blot_sinscl, blot_addsky, blot_skyval : optional
        Settings of the blot: accepted, no effect (the step is off).
    driz_cr_corr, driz_cr_snr, driz_cr_grow, driz_cr_ctegrow, driz_cr_scale : optional
        Settings of the cosmic-ray identification: accepted, no effect (the step is off).
    driz_combine : bool, default True
        Drizzle the final mosaic; False only computes the sky (``MDRIZSKY``).
    final_wht_type : {'EXP'}, default 'EXP'
        Only ``'EXP'`` (weight = EXPTIME x good-pixel coverage).
    final_kernel : str, default 'square'
        Drizzle kernel.
    final_wt_scl : {'exptime'}, default 'exptime'
        Only ``'exptime'``.
    final_pixfrac : float, default 1.0
        Drop size relative to the input pixel.
    final_fillval : float, optional
        Value of output pixels nothing landed on (None: NaN).
    final_maskval : float, optional
        Only None is accepted.
    final_bits : int, str or None, default '0'
        DQ flags counted as good in the drizzle (the notebook's ``'64'``).
    final_units : {'cps', 'counts'}, default 'cps'
        Output in rates or in counts.
    final_wcs : bool, default False
        Use the ``final_*`` frame parameters below.
    final_refimage : str, default ''
        FITS image whose WCS is the output frame.
    final_rot : float, optional
        Orientation of the output, degrees East of North (the notebook's 257).
    final_scale : float, optional
        Output pixel scale, arcsec.
    final_outnx, final_outny : int, optional
        Output size, pixels.
    final_ra, final_dec : float, optional
        Output centre, degrees.
    final_crpix1, final_crpix2 : float, optional
        Only None is accepted (the reference pixel is the frame's centre).
    gain, gnkeyword, rdnoise, rnkeyword : optional
        Detector gain and read noise (used by cosmic-ray rejection): accepted, no effect.
    exptime, expkeyword : str, default ''
        Only ``''`` is accepted (EXPTIME is read from the headers).
    progress : bool or callable, optional
        skymatch's progress bars (None: in a notebook or a terminal; False: none).

    Returns
    -------
    MosaicRun or SkyRun
        :func:`skymatch.run`'s result (``SkyRun`` with ``driz_combine=False``); AstroDrizzle
        returns None, a notebook shows this result's table.

    Raises
    ------
    ParameterError
        A parameter skymatch cannot honour (all of them named in one message), or a bad value.
    InputError, WriteError
        An unusable or read-only input, an unwritable output.

    See Also
    --------
    skymatch.run : the same run with skymatch's own option names.

    Examples
    --------
    >>> from skymatch import drizzlepac
    >>> drizzlepac.astrodrizzle.AstroDrizzle('*flt.fits', output='f160w_match', preserve=False,
    ...     skymethod='match', driz_separate=False, median=False, blot=False, driz_cr=False,
    ...     final_bits='64', final_wcs=True, final_rot=257.)                # doctest: +SKIP
    """
    params = dict(locals())  # every parameter, by name, for the refusal checks
    from .. import api
    from ..api._validate import as_bool, as_inputs, as_int, as_log_file

    inputs = as_inputs(input, "input")
    skysub = as_bool(skysub, "skysub")
    driz_combine = as_bool(driz_combine, "driz_combine")
    _refuse_unsupported(params, skysub=skysub, driz_combine=driz_combine)

    jobs = as_int(num_cores, "num_cores", optional=True, minimum=1)
    log_file: Any = False if blank(runfile) else as_log_file(runfile, "astrodrizzle.log", "runfile")
    static_mask = as_bool(static, "static") and as_bool(use_static, "use_static")
    sky = dict(skystat=skystat, skywidth=skywidth, skylower=_none(skylower), skyupper=_none(skyupper),
               skyclip=skyclip, skylsigma=skylsigma, skyusigma=skyusigma, sky_bits=_bits(sky_bits),
               use_static=static_mask)
    drizzle = dict(final_bits=_bits(final_bits), final_kernel=final_kernel, final_pixfrac=final_pixfrac,
                   final_fillval=_none(final_fillval), final_units=final_units, final_wcs=final_wcs,
                   final_rot=_none(final_rot), final_scale=_none(final_scale), final_ra=_none(final_ra),
                   final_dec=_none(final_dec), final_outnx=_none(final_outnx), final_outny=_none(final_outny),
                   final_refimage=optional_path(final_refimage), stepsize=stepsize, build=build)
    user_sky = optional_path(skyfile), _none(skyuser)
    output = _output_name(output)

    if not driz_combine:
        return api.sky(inputs, skymethod=skymethod, skyfile=user_sky[0], skyuser=user_sky[1], jobs=jobs,
                       progress=progress, log_file=log_file, **sky)
    if not skysub:
        return api.drizzle(inputs, output=output, skysub=False, use_static=False, overwrite=True, jobs=jobs,
                           progress=progress, log_file=log_file, **drizzle)
    if user_sky != (None, None):
        api.sky(inputs, skyfile=user_sky[0], skyuser=user_sky[1], jobs=jobs, progress=progress,
                log_file=log_file, **sky)
        return api.drizzle(inputs, output=output, overwrite=True, jobs=jobs, progress=progress,
                           log_file=log_file, **drizzle)
    return api.run(inputs, output=output, skymethod=skymethod, overwrite=True, jobs=jobs, progress=progress,
                   log_file=log_file, **sky, **drizzle)
