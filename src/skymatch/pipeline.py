"""File-to-file orchestration: read inputs, compute skies, write headers and tables.

Holds no algorithm; it chooses the executor, times the steps and keeps inputs safe
(writability is checked before any work, header updates are atomic).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .core import SKY_METHODS, canonical_method, sky_methods, user_sky_result
from .core._executor import DaskExecutor, ProcessExecutor, make_executor
from .exceptions import ParameterError
from .io import (
    write_table,
    check_writable,
    read_inputs,
    read_skyfile,
    read_skyuser,
    sky_table,
    write_sky,
    write_table,
)
from .models import Chip, SkyResult

__all__ = ["ProcessExecutor", "DaskExecutor", "make_executor", "SkyRun", "run_sky", "run_sky_methods",
           "FrameOptions", "DrizzleRun", "output_frame", "run_drizzle", "run", "run_compare"]

log = logging.getLogger("skymatch")


@dataclass(frozen=True)
class SkyRun:
    """Outcome of :func:`run_sky`: results per method, the chips, files written, timings."""

    results: dict[str, SkyResult]
    chips: tuple[Chip, ...]
    written: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def result(self) -> SkyResult:
        """The (first) result."""
        return next(iter(self.results.values()))


def _sky_options(options: dict) -> dict:
    allowed = {"skystat", "lower", "upper", "nclip", "lsigma", "usigma", "binwidth",
               "sky_bits", "use_static", "static_sig", "match_down", "on_empty"}
    unknown = set(options) - allowed
    if unknown:
        raise ParameterError(f"unknown sky option(s): {', '.join(sorted(unknown))}")
    return options


def run_sky(
    inputs,
    *,
    method: str = "match",
    compat: str | None = None,
    readonly: bool = False,
    subtract: bool = False,
    skyfile: str | None = None,
    skyuser: str | None = None,
    table: str | None = None,
    jobs: int | None = None,
    dask: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    **sky_options: Any,
) -> SkyRun:
    """Compute the sky of every input and write ``MDRIZSKY`` (AstroDrizzle's sky step).

    Parameters
    ----------
    inputs : str, path or list
        Glob, list, comma-separated string or ``@file`` list.
    method : str
        ``localmin``, ``globalmin``, ``match`` or ``globalmin+match``.
    compat : {None, 'drizzlepac'}
        Reproduce AstroDrizzle's numbers.
    readonly : bool
        Write nothing into the inputs.
    subtract : bool
        Also subtract the sky from the pixel data.
    skyfile : str, optional
        User sky values (``filename sky [sky2 ...]``; ``# applied = yes`` if subtracted).
    skyuser : str, optional
        Header keyword holding a sky the user already subtracted.
    table : str, optional
        Write a ``.csv`` or ``.ecsv`` table of the results.
    jobs : int, optional
        Parallel processes (default: threads, one per core).
    dask : Client or str, optional
        Run the tasks on a dask.distributed cluster.
    progress : callable(stage, done, total), optional
    **sky_options
        Options of :func:`skymatch.core.sky_methods` (``skystat``, ``nclip``, ``sky_bits``
        ...).

    Returns
    -------
    SkyRun
    """
    if skyfile and skyuser:
        raise ParameterError("give either skyfile or skyuser, not both")
    if subtract and readonly:
        raise ParameterError("subtract and readonly exclude each other")
    methods = ["user"] if (skyfile or skyuser) else [canonical_method(method)]
    return _run(inputs, methods, compat=compat, readonly=readonly, subtract=subtract,
                skyfile=skyfile, skyuser=skyuser, table=table, jobs=jobs, dask=dask,
                progress=progress, sky_options=_sky_options(sky_options))


def run_sky_methods(
    inputs,
    *,
    methods: Sequence[str] = SKY_METHODS,
    compat: str | None = None,
    jobs: int | None = None,
    dask: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    **sky_options: Any,
) -> SkyRun:
    """Compute several sky methods on the same inputs, sharing all statistics.

    Nothing is written into the inputs, so no header value of one method can leak into
    another.
    """
    return _run(inputs, [canonical_method(m) for m in methods], compat=compat, readonly=True,
                subtract=False, skyfile=None, skyuser=None, table=None, jobs=jobs, dask=dask,
                progress=progress, sky_options=_sky_options(sky_options))


def _run(inputs, methods, *, compat, readonly, subtract, skyfile, skyuser, table, jobs,
         dask, progress, sky_options) -> SkyRun:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    chips = read_inputs(inputs, compat=compat is not None)
    timings["read headers"] = time.perf_counter() - t0
    if not readonly:
        check_writable(c.source[0] for c in chips if c.source)
    t1 = time.perf_counter()
    if methods == ["user"]:
        if skyfile:
            values, applied = read_skyfile(skyfile, chips)
            results = {"user": user_sky_result(chips, values, applied=applied, source=skyfile)}
        else:
            values = read_skyuser(skyuser, chips)
            results = {"user": user_sky_result(chips, values, applied=True,
                                               source=f"keyword {skyuser}")}
    else:
        executor = make_executor(jobs, dask)
        results = sky_methods(chips, methods=methods, compat=compat, executor=executor,
                              progress=progress, **sky_options)
    timings["sky"] = time.perf_counter() - t1
    log.info("sky computed for %d chips in %.2f s", len(chips), timings["sky"])
    written: list[str] = []
    if not readonly:
        t2 = time.perf_counter()
        written = write_sky(next(iter(results.values())), chips, subtract=subtract,
                            progress=progress)
        timings["write headers"] = time.perf_counter() - t2
    if table:
        write_table(sky_table(next(iter(results.values())), chips), table)
    return SkyRun(results=results, chips=tuple(chips), written=tuple(written), timings=timings)


# ---------------------------------------------------------------- drizzling
@dataclass(frozen=True)
class FrameOptions:
    """AstroDrizzle's output-frame parameters (``final_wcs`` and ``final_*``)."""

    final_wcs: bool = False
    rot: float | None = None
    scale: float | None = None
    ra: float | None = None
    dec: float | None = None
    outnx: int | None = None
    outny: int | None = None
    refimage: str | None = None


@dataclass(frozen=True)
class DrizzleRun:
    """Outcome of :func:`run_drizzle`, :func:`run` or :func:`run_compare`."""

    mosaics: dict
    products: dict[str, list[str]]
    frame: Any
    chips: tuple[Chip, ...]
    sky: SkyRun | None = None
    table: Any = None
    extras: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def output_frame(chips: Sequence[Chip], options: FrameOptions = FrameOptions()):
    """The output frame: AstroDrizzle's default, customised when ``final_wcs`` is on."""
    import warnings as _w

    from .core._frame import customize_frame, default_frame, frame_chip, frame_from_wcs
    from .exceptions import SkymatchWarning
    from .io import read_reference_wcs

    custom = any(v is not None for v in (options.rot, options.scale, options.ra, options.dec,
                                         options.outnx, options.outny, options.refimage))
    if not options.final_wcs:
        if custom:
            _w.warn("final_rot/final_scale/final_ra/... are ignored without final_wcs "
                    "(as in AstroDrizzle); add --final-wcs to use them", SkymatchWarning, stacklevel=3)
        return default_frame([frame_chip(c) for c in chips])
    if options.refimage:
        base = frame_from_wcs(read_reference_wcs(options.refimage))
    else:
        base = default_frame([frame_chip(c) for c in chips])
    return customize_frame(base, rot=options.rot, scale=options.scale, ra=options.ra, dec=options.dec,
                           outnx=options.outnx, outny=options.outny)


def _drizzle_params(opts: dict):
    from .core._drizzle import DrizzleParams

    return DrizzleParams(**opts)


def _write_mosaics(mosaics, chips, names: dict[str, str], *, build, overwrite, frame_opts, method_of):
    from .io import write_products

    products = {}
    for label, mosaic in mosaics.items():
        extra = {"SKYMETH": (method_of.get(label, label), "sky method of the subtracted MDRIZSKY")}
        if frame_opts.final_wcs and frame_opts.rot is not None:
            extra["orientat"] = frame_opts.rot
        products[label] = write_products(mosaic, chips, names[label], build=build,
                                         overwrite=overwrite, header_extra=extra)
    return products


def _check_outputs(names, chips, build, overwrite):
    import os as _os

    from .exceptions import WriteError
    from .io import product_paths, product_suffix

    if overwrite:
        return
    suffix = product_suffix(chips)
    for name in names:
        for p in product_paths(name, suffix, build=build).values():
            if _os.path.exists(p):
                raise WriteError(f"{p}: already exists; use --overwrite to replace it")


def run_drizzle(inputs, output: str, *, frame: FrameOptions = FrameOptions(), skysub: bool = True,
                use_static: bool = False, build: bool = False, overwrite: bool = False,
                progress: Callable[[str, int, int], None] | None = None,
                **drizzle_options: Any) -> DrizzleRun:
    """Drizzle the inputs with the sky in their headers (``MDRIZSKY``) onto one mosaic.

    Parameters
    ----------
    inputs : str, path or list
    output : str
        Output name (``NAME_drz_sci.fits`` ...).
    frame : FrameOptions
        Output frame parameters.
    skysub : bool
        Subtract ``MDRIZSKY`` (unless ``SMSUBTR`` says it already was).
    use_static : bool
        Zero the weights of pixels in AstroDrizzle's static mask.
    build : bool
        One multi-extension ``NAME_drz.fits``.
    overwrite : bool
        Replace existing products.
    **drizzle_options
        :class:`~skymatch.core._drizzle.DrizzleParams` fields (``kernel``, ``pixfrac``,
        ``fillval``, ``units``, ``bits``, ``stepsize``).
    """
    from .core import compute_static_masks
    from .core._drizzle import drizzle_mosaics

    params = _drizzle_params(drizzle_options)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    chips = read_inputs(inputs)
    _check_outputs([output], chips, build, overwrite)
    skies, done = {}, {}
    for c in chips:
        v = c.meta.get("MDRIZSKY", 0.0)
        skies[c.name] = float(v) if (skysub and isinstance(v, (int, float))) else 0.0
        done[c.name] = bool(c.meta.get("SMSUBTR", False))
    fr = output_frame(chips, frame)
    static = compute_static_masks(chips, compat=False) if use_static else None
    mosaics = drizzle_mosaics(chips, {"mosaic": skies}, fr, params=params, static_masks=static,
                              already_subtracted=done, progress=progress)
    timings["drizzle"] = time.perf_counter() - t0
    products = _write_mosaics(mosaics, chips, {"mosaic": output}, build=build, overwrite=overwrite,
                              frame_opts=frame, method_of={"mosaic": "header MDRIZSKY"})
    timings["total"] = time.perf_counter() - t0
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), timings=timings)


def _skies_and_static(chips, methods, compat, jobs, dask, progress, sky_options):
    """Sky results for ``methods`` and the static masks (computed once, shared with the
    drizzle that follows; None when the static mask is off)."""
    from .core import compute_static_masks, sky_methods
    from .core._staticmask import reference_uses_static

    opts = _sky_options(dict(sky_options))
    use_static = opts.get("use_static")
    if use_static is None:  # as sky_methods decides: AstroDrizzle's default, HST data only
        use_static = compat is not None and reference_uses_static(chips)
    executor = make_executor(jobs, dask)
    static = None
    if use_static:
        static = compute_static_masks(chips, static_sig=opts.get("static_sig", 4.0),
                                      compat=compat is not None, executor=executor, progress=progress)
    results = sky_methods(chips, methods=methods, compat=compat, executor=executor,
                          progress=progress, static_masks=static, **opts)
    return results, static


def run(inputs, output: str, *, method: str = "localmin", compat: str | None = None,
        readonly: bool = False, frame: FrameOptions = FrameOptions(), build: bool = False,
        overwrite: bool = False, jobs: int | None = None, dask: Any = None,
        progress: Callable[[str, int, int], None] | None = None,
        drizzle: dict | None = None, **sky_options: Any) -> DrizzleRun:
    """AstroDrizzle's one-shot without cosmic-ray rejection: sky, then the final drizzle.

    The skies go into the input headers (unless ``readonly``) and straight into the
    drizzle, so no stale header value can be used.
    """
    from .core._drizzle import drizzle_mosaics

    params = _drizzle_params(drizzle or {})
    method = canonical_method(method)
    t0 = time.perf_counter()
    chips = read_inputs(inputs, compat=compat is not None)
    _check_outputs([output], chips, build, overwrite)
    if not readonly:
        check_writable(c.source[0] for c in chips if c.source)
    results, static = _skies_and_static(chips, [method], compat, jobs, dask, progress, sky_options)
    result = results[method]
    t1 = time.perf_counter()
    written = [] if readonly else write_sky(result, chips, progress=progress)
    skyrun = SkyRun(results=results, chips=tuple(chips), written=tuple(written),
                    timings={"sky": t1 - t0})
    fr = output_frame(chips, frame)
    mosaics = drizzle_mosaics(chips, {method: {c.name: c.sky for c in result.chips}}, fr,
                              params=params, static_masks=static, progress=progress)
    products = _write_mosaics(mosaics, chips, {method: output}, build=build, overwrite=overwrite,
                              frame_opts=frame, method_of={method: method})
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      timings={"sky": t1 - t0, "total": time.perf_counter() - t0})


def default_prefix(chips: Sequence[Chip]) -> str:
    """``'f160w'`` from the first input's FILTER, else ``'mosaic'``."""
    f = str(chips[0].meta.get("FILTER", "")).strip().lower() if chips else ""
    return f if f and f not in ("clear", "n/a") else "mosaic"


def run_compare(inputs, outdir: str, *, methods: Sequence[str] = SKY_METHODS,
                compat: str | None = None, prefix: str | None = None,
                frame: FrameOptions = FrameOptions(final_wcs=False), build: bool = False,
                overwrite: bool = False, pictures: bool = True, jobs: int | None = None,
                dask: Any = None, progress: Callable[[str, int, int], None] | None = None,
                drizzle: dict | None = None, **sky_options: Any) -> DrizzleRun:
    """All sky methods on the same inputs, one mosaic each, a table, plots and a page.

    Skies are computed once for all methods (shared statistics) without touching the
    inputs, so no method's header value leaks into another; each mosaic is drizzled with
    its own method's skies and pixel maps are shared between the mosaics.
    Writes into ``outdir``: ``PREFIX_METHOD_drz_{sci,wht,ctx}.fits``,
    ``mdrizsky_methods.csv`` (the notebook's columns), ``PREFIX_mdrizsky.png``,
    ``PREFIX_METHOD_mosaic.png``, ``PREFIX_methods.gif`` and ``index.html``.
    """
    import os as _os

    from .core._drizzle import drizzle_mosaics
    from .io import comparison_table, write_index_html

    params = _drizzle_params(drizzle or {})
    methods = [canonical_method(m) for m in methods]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    chips = read_inputs(inputs, compat=compat is not None)
    prefix = prefix or default_prefix(chips)
    _os.makedirs(outdir, exist_ok=True)
    names = {m: _os.path.join(outdir, f"{prefix}_{m.replace('+', '_')}") for m in methods}
    _check_outputs(names.values(), chips, build, overwrite)
    results, static = _skies_and_static(chips, methods, compat, jobs, dask, progress, sky_options)
    timings["sky (all methods)"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    fr = output_frame(chips, frame)
    skies = {m: {c.name: c.sky for c in results[m].chips} for m in methods}
    mosaics = drizzle_mosaics(chips, skies, fr, params=params, static_masks=static, progress=progress)
    timings["drizzle (all mosaics)"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    products = _write_mosaics(mosaics, chips, names, build=build, overwrite=overwrite,
                              frame_opts=frame, method_of={m: m for m in methods})
    table = comparison_table(results, chips)
    csv = _os.path.join(outdir, "mdrizsky_methods.csv")
    write_table(table, csv)
    extras: dict[str, Any] = {"csv": csv}
    timings["write products"] = time.perf_counter() - t2
    if pictures:
        from .plotting import comparison_pictures

        t3 = time.perf_counter()
        pics = comparison_pictures({m: mosaics[m].sci for m in methods}, table, outdir, prefix)
        extras.update(pics)
        extras["html"] = write_index_html(
            _os.path.join(outdir, "index.html"), title=f"skymatch: sky methods compared ({prefix})",
            table=table, pictures=pics, products=products,
            notes=[f"{len(chips)} chips; compat={compat or 'none'}; frame {fr.shape[1]} x {fr.shape[0]} px",
                   "MDRIZSKY in each input's data units; the mosaics share one display stretch."])
        timings["pictures"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    skyrun = SkyRun(results=results, chips=tuple(chips), timings={"sky": timings["sky (all methods)"]})
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      table=table, extras=extras, timings=timings)
