"""``skymatch.drizzle``, ``skymatch.run`` and ``skymatch.compare``: mosaics from files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ParameterError
from . import _choices
from ._choices import DEFAULT_SKYMETHOD
from ._docs import fill
from ._options import (
    DRIZZLE_OPTIONS,
    SKY_OPTIONS,
    compat_option,
    cosmic_ray_options,
    drizzle_options,
    options_of,
    sky_model_options,
    sky_options,
)
from ._progress import check_progress
from ._session import session
from ._sky import Inputs, Progress
from ._validate import (
    as_bool,
    as_dask,
    as_inputs,
    as_jobs,
    as_log_file,
    as_names,
    as_outdir,
    as_output,
    as_skymethod,
    as_str,
)

if TYPE_CHECKING:
    from ._results_sky import CompareRun, MosaicRun

__all__ = ["drizzle", "run", "compare"]


def _log_products(log, r) -> None:
    if log is None:
        return
    log.record_mapping("timings (s)", r.timings)
    log.record_mapping("products", {label: ", ".join(paths) for label, paths in r.products.items()})


def _log_run(log, r, method: str) -> None:
    if log is not None:
        log.record_mapping(f"MDRIZSKY ({method}, data units)", {c.name: c.sky for c in r.sky.result.chips})
    _log_products(log, r)


def _log_compare(log, r) -> None:
    if log is not None:
        log.record("MDRIZSKY per method (data units):\n" + "\n".join(r.table.pformat(max_lines=-1, max_width=-1)))
        log.record_mapping("pictures and tables", {k: v for k, v in r.extras.items() if k != "mosaics"})
    _log_products(log, r)


def _compare_packages(*, pictures: bool) -> tuple[str, ...] | None:
    """The packages whose versions the compare log records (None: the default list)."""
    if not pictures:
        return None
    from ..io._logfile import DEFAULT_PACKAGES

    return (*DEFAULT_PACKAGES, "pillow")


@fill
def drizzle(
    inputs: Inputs,
    *,
    output: str | os.PathLike,
    skysub: bool = True,
    use_static: bool = False,
    final_bits: int | str | None = "0",
    final_kernel: str = "square",
    final_pixfrac: float = 1.0,
    final_fillval: float | None = None,
    final_units: str = "cps",
    final_wcs: bool = False,
    final_rot: float | None = None,
    final_scale: float | None = None,
    final_ra: float | None = None,
    final_dec: float | None = None,
    final_outnx: int | None = None,
    final_outny: int | None = None,
    final_refimage: str | os.PathLike | None = None,
    stepsize: int = 10,
    build: bool = False,
    overwrite: bool = False,
    jobs: int | None = None,
    dask: Any = None,
    progress: Progress = None,
    log_file: str | os.PathLike | bool | None = None,
) -> MosaicRun:
    """Drizzle the inputs onto one mosaic with the sky in their headers (``MDRIZSKY``).

    The same as ``skymatch drizzle``.  Values marked ``SMSUBTR = T`` (already
    subtracted from the pixels) are not subtracted again.

    Parameters
    ----------
    %(inputs)s
    output : str
        Output name: ``NAME`` gives ``NAME_drz_sci.fits``, ``NAME_drz_wht.fits``,
        ``NAME_drz_ctx.fits`` (``drc`` for ``_flc`` inputs).
    skysub : bool, default True
        Subtract each chip's ``MDRIZSKY``.
    use_static : bool, default False
        Give no weight to pixels in AstroDrizzle's static mask.
    %(drizzle_options)s
    %(products)s
    %(execution)s
    %(progress)s
    log_file : str, bool or None, optional
        The run's log. None or True: ``<output>_skymatch.log``; False: no log.

    Returns
    -------
    MosaicRun
        ``.mosaic`` (``sci``, ``wht``, ``ctx`` arrays), ``.products``, ``.frame``,
        ``.to_table()``.

    Raises
    ------
    ParameterError, InputError, WriteError
        A bad option, an unusable input, an existing product without ``overwrite``.

    Examples
    --------
    >>> m = skymatch.drizzle("*flt.fits", output="f160w", final_bits="64")  # doctest: +SKIP
    """
    call = dict(locals())
    inputs = as_inputs(inputs)
    output = as_output(output)
    skysub = as_bool(skysub, "skysub")
    use_static = as_bool(use_static, "use_static")
    params, frame = drizzle_options(**options_of(call, DRIZZLE_OPTIONS))
    build = as_bool(build, "build")
    overwrite = as_bool(overwrite, "overwrite")
    # The drizzle runs in this process for now: jobs and dask are checked, not used yet.
    as_jobs(jobs)
    as_dask(dask)
    check_progress(progress)
    log_path = as_log_file(log_file, f"{output}_skymatch.log")

    from ..pipeline import run_drizzle
    from ._results_sky import MosaicRun
    from ._tabular import base_values

    with session("drizzle", call, log_path, progress) as (callback, log):
        r = run_drizzle(inputs, output, frame=frame, skysub=skysub, use_static=use_static, build=build,
                        overwrite=overwrite, progress=callback, **params)
        _log_products(log, r)
    return MosaicRun(**base_values(r), output=output, log_file=log_path, parameters=call)


@fill
def run(
    inputs: Inputs,
    *,
    output: str | os.PathLike,
    skymethod: str = DEFAULT_SKYMETHOD,
    sky_model: str = "constant",
    skystat: str = "median",
    skywidth: float = 0.1,
    skylower: float | None = None,
    skyupper: float | None = None,
    skyclip: int = 5,
    skylsigma: float = 4.0,
    skyusigma: float = 4.0,
    sky_bits: int | str | None = "0",
    use_static: bool | None = None,
    match_down: bool = True,
    allow_empty: bool = False,
    compat: str | None = None,
    readonly: bool = False,
    final_bits: int | str | None = "0",
    final_kernel: str = "square",
    final_pixfrac: float = 1.0,
    final_fillval: float | None = None,
    final_units: str = "cps",
    final_wcs: bool = False,
    final_rot: float | None = None,
    final_scale: float | None = None,
    final_ra: float | None = None,
    final_dec: float | None = None,
    final_outnx: int | None = None,
    final_outny: int | None = None,
    final_refimage: str | os.PathLike | None = None,
    stepsize: int = 10,
    build: bool = False,
    overwrite: bool = False,
    driz_separate: bool = False,
    median: bool = False,
    blot: bool = False,
    driz_cr: bool = False,
    jobs: int | None = None,
    dask: Any = None,
    progress: Progress = None,
    log_file: str | os.PathLike | bool | None = None,
) -> MosaicRun:
    """AstroDrizzle's one-shot without cosmic-ray rejection: the sky, then the final drizzle.

    The same as ``skymatch run``.  ``AstroDrizzle('*flt.fits', output='f160w_match',
    skymethod='match', driz_separate=False, median=False, blot=False, driz_cr=False,
    final_bits='64', final_wcs=True, final_rot=257.)`` is ``skymatch.run('*flt.fits',
    output='f160w_match', skymethod='match', final_bits='64', final_wcs=True,
    final_rot=257)``.  The skies go into the input headers (unless ``readonly``) and
    straight into the drizzle.

    Parameters
    ----------
    %(inputs)s
    output : str
        Output name (``NAME_drz_sci.fits`` ...).
    skymethod : str, default 'match'
        ``localmin``, ``globalmin``, ``match`` or ``globalmin+match`` (JWST names too).
    %(sky_model)s
    %(sky_options)s
    readonly : bool, default False
        Do not write ``MDRIZSKY`` into the inputs.
    %(drizzle_options)s
    %(products)s
    driz_separate : bool, default False
        AstroDrizzle's separate drizzle (cosmic-ray step): only False is accepted.
    median : bool, default False
        AstroDrizzle's median image (cosmic-ray step): only False is accepted.
    blot : bool, default False
        AstroDrizzle's blot (cosmic-ray step): only False is accepted.
    driz_cr : bool, default False
        AstroDrizzle's cosmic-ray identification: only False is accepted.
    %(execution)s
    %(progress)s
    log_file : str, bool or None, optional
        The run's log. None or True: ``<output>_skymatch.log``; False: no log.

    Returns
    -------
    MosaicRun
        ``.mosaic``, ``.products``, ``.sky`` (the sky step), ``.to_table()``.

    Raises
    ------
    ParameterError, InputError, WriteError
        A bad option, an unusable input, a read-only input, an existing product.

    Examples
    --------
    >>> m = skymatch.run("*flt.fits", output="f160w_match", final_bits="64",
    ...                  final_wcs=True, final_rot=257)                      # doctest: +SKIP
    """
    call = dict(locals())
    inputs = as_inputs(inputs)
    output = as_output(output)
    method = as_skymethod(skymethod)
    _, model_kw = sky_model_options(sky_model, compat=compat)
    opts = sky_options(**options_of(call, SKY_OPTIONS))
    compat = compat_option(compat)
    readonly = as_bool(readonly, "readonly")
    params, frame = drizzle_options(**options_of(call, DRIZZLE_OPTIONS))
    build = as_bool(build, "build")
    overwrite = as_bool(overwrite, "overwrite")
    cosmic_ray_options(driz_separate=driz_separate, median=median, blot=blot, driz_cr=driz_cr)
    jobs = as_jobs(jobs)
    dask = as_dask(dask)
    check_progress(progress)
    log_path = as_log_file(log_file, f"{output}_skymatch.log")

    from ..pipeline import run as run_pipeline
    from ._results_sky import MosaicRun, SkyRun
    from ._tabular import base_values

    with session("run", call, log_path, progress) as (callback, log):
        r = run_pipeline(inputs, output, method=method, compat=compat, readonly=readonly, frame=frame,
                         build=build, overwrite=overwrite, jobs=jobs, dask=dask, progress=callback,
                         drizzle=params, **opts, **model_kw)
        _log_run(log, r, method)
    values = base_values(r)
    values["sky"] = SkyRun(**base_values(r.sky), log_file=log_path,
                           parameters={k: v for k, v in call.items() if k in _SKY_KEYS})
    return MosaicRun(**values, output=output, log_file=log_path, parameters=call)


_SKY_KEYS = ("inputs", "skymethod", "sky_model", *SKY_OPTIONS, "compat", "readonly", "jobs", "dask")


def _prefix(value: Any) -> str | None:
    text = as_str(value, "prefix", optional=True)
    if text is not None and (os.sep in text or (os.altsep and os.altsep in text)):
        raise ParameterError(f"prefix={value!r}: a name, not a path (the products go into outdir)")
    return text


@fill
def compare(
    inputs: Inputs,
    *,
    outdir: str | os.PathLike,
    methods: str | Sequence[str] = _choices.SKY_METHODS,
    sky_model: str | Sequence[str] = "constant",
    prefix: str | None = None,
    pictures: bool = True,
    flatness: bool = True,
    skystat: str = "median",
    skywidth: float = 0.1,
    skylower: float | None = None,
    skyupper: float | None = None,
    skyclip: int = 5,
    skylsigma: float = 4.0,
    skyusigma: float = 4.0,
    sky_bits: int | str | None = "0",
    use_static: bool | None = None,
    match_down: bool = True,
    allow_empty: bool = False,
    compat: str | None = None,
    final_bits: int | str | None = "0",
    final_kernel: str = "square",
    final_pixfrac: float = 1.0,
    final_fillval: float | None = None,
    final_units: str = "cps",
    final_wcs: bool = False,
    final_rot: float | None = None,
    final_scale: float | None = None,
    final_ra: float | None = None,
    final_dec: float | None = None,
    final_outnx: int | None = None,
    final_outny: int | None = None,
    final_refimage: str | os.PathLike | None = None,
    stepsize: int = 10,
    build: bool = False,
    overwrite: bool = False,
    jobs: int | None = None,
    dask: Any = None,
    progress: Progress = None,
    log_file: str | os.PathLike | bool | None = None,
) -> CompareRun:
    """Every sky method on the same inputs, one mosaic each, a table, plots and a page.

    The same as ``skymatch compare`` (the notebook's four AstroDrizzle runs and its
    section 4).  The inputs are not changed: no method's header value can leak into
    another.  Writes into ``outdir``: ``PREFIX_METHOD_drz_{sci,wht,ctx}.fits``,
    ``mdrizsky_methods.csv`` (the notebook's columns), and with ``pictures`` the plot
    ``PREFIX_mdrizsky.png``, ``PREFIX_METHOD_mosaic.png``, ``PREFIX_methods.gif`` and
    ``index.html``.

    Parameters
    ----------
    %(inputs)s
    outdir : str
        Output directory (created if needed).
    methods : str or list of str, default all four
        Sky methods to compare: a list or a comma-separated string
        (``'match'`` is one method).
    sky_model : str or list of str, default 'constant'
        Sky model(s) to compare (one mosaic per method and model): a list or a
        comma-separated string of ``constant``, ``plane``, ``poly2``, ``poly3`` (only
        ``constant`` is available yet).
    prefix : str, optional
        Product name prefix (default: the filter, e.g. ``f160w``).
    pictures : bool, default True
        Write the plot, the mosaic pictures, the GIF and the page.
    flatness : bool, default True
        Measure the flatness score (the residual differences of overlapping exposures
        after each method's skies, in cells; ``flatness.csv`` and the flatness pictures).
        On large chips it is about half the time of the skies; ``False`` leaves the
        work of the notebook's four AstroDrizzle runs (skies, mosaics, the table).
    %(sky_options)s
    %(drizzle_options)s
    %(products)s
    %(execution)s
    %(progress)s
    log_file : str, bool or None, optional
        The run's log. None or True: ``<outdir>/skymatch.log``; False: no log.

    Returns
    -------
    CompareRun
        ``.to_table()`` (MDRIZSKY per chip and method), ``.products``, ``.mosaics``,
        ``.extras`` (CSV, pictures, page), ``.plot()``.

    Raises
    ------
    ParameterError, InputError, WriteError
        A bad option, an unusable input, an existing product without ``overwrite``.

    Examples
    --------
    >>> c = skymatch.compare("*flt.fits", outdir="cmp", final_bits="64",
    ...                      final_wcs=True, final_rot=257)                 # doctest: +SKIP
    >>> c.to_pandas()                                                       # doctest: +SKIP
    """
    call = dict(locals())
    inputs = as_inputs(inputs)
    outdir = as_outdir(outdir)
    method_list = as_names(methods, "methods", lambda text: as_skymethod(text, "methods"))
    models, model_kw = sky_model_options(sky_model, several=True, compat=compat)
    prefix = _prefix(prefix)
    pictures = as_bool(pictures, "pictures")
    flatness = as_bool(flatness, "flatness")
    opts = sky_options(**options_of(call, SKY_OPTIONS))
    compat = compat_option(compat)
    params, frame = drizzle_options(**options_of(call, DRIZZLE_OPTIONS))
    build = as_bool(build, "build")
    overwrite = as_bool(overwrite, "overwrite")
    jobs = as_jobs(jobs)
    dask = as_dask(dask)
    check_progress(progress)
    log_path = as_log_file(log_file, os.path.join(outdir, "skymatch.log"))

    from ..pipeline import default_prefix, run_compare
    from ._results_sky import CompareRun, SkyRun
    from ._tabular import base_values

    with session("compare", call, log_path, progress, packages=_compare_packages(pictures=pictures)) as (callback, log):
        r = run_compare(inputs, outdir, methods=method_list, compat=compat, prefix=prefix, frame=frame,
                        build=build, overwrite=overwrite, pictures=pictures, flatness=flatness, jobs=jobs,
                        dask=dask,
                        progress=callback, drizzle=params, **opts, **model_kw)
        _log_compare(log, r)
    values = base_values(r)
    values["sky"] = SkyRun(**base_values(r.sky), log_file=log_path)
    return CompareRun(**values, outdir=outdir, prefix=prefix or default_prefix(r.chips),
                      methods=method_list, sky_models=models, log_file=log_path, parameters=call)
