"""Drizzling as a file-to-file run: the output frame, the final drizzle, the products."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..core import canonical_method
from ..core._executor import make_executor
from ..io import RunTransaction, read_inputs, transactional, write_sky
from ..models import Chip
from ._sky import SkyRun, _sky_options

__all__ = ["FrameOptions", "DrizzleRun", "output_frame", "run_drizzle", "run"]


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

    from ..core._frame import customize_frame, default_frame, frame_chip, frame_from_wcs
    from ..exceptions import SkymatchWarning
    from ..io import read_reference_wcs

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
    from ..core._drizzle import DrizzleParams

    return DrizzleParams(**opts)


def _write_mosaics(mosaics, chips, names: dict[str, str], *, build, overwrite, frame_opts, method_of,
                   txn: RunTransaction):
    """Write each mosaic's products into the run's staging folder (renamed into place
    when the run commits); returns their final paths."""
    import os as _os

    from ..io import card, product_paths, product_suffix, write_products

    products = {}
    for label, mosaic in mosaics.items():
        extra = {"SKYMETH": card("SKYMETH", method_of.get(label, label))}
        if frame_opts.final_wcs and frame_opts.rot is not None:
            extra["orientat"] = frame_opts.rot
        finals = product_paths(names[label], product_suffix(chips), build=build)
        staged = [txn.staging_path(p) for p in finals.values()]
        stage_name = _os.path.join(_os.path.dirname(staged[0]), _os.path.basename(names[label]))
        written = write_products(mosaic, chips, stage_name, build=build, overwrite=True,
                                 header_extra=extra)
        products[label] = txn.adopt(written)
    return products


def _check_outputs(names, chips, build, overwrite, txn: RunTransaction):
    """Validate every product path (folder, overwrite) before any work."""
    from ..io import product_paths, product_suffix

    suffix = product_suffix(chips)
    for name in names:
        txn.check_products(product_paths(name, suffix, build=build).values(), overwrite=overwrite)


@transactional
def run_drizzle(txn: RunTransaction, inputs, output: str, *, frame: FrameOptions = FrameOptions(),
                skysub: bool = True,
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
    from ..core import compute_static_masks
    from ..core._drizzle import drizzle_mosaics

    params = _drizzle_params(drizzle_options)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    chips = read_inputs(txn.open_inputs(inputs, write=False))
    _check_outputs([output], chips, build, overwrite, txn)
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
                              frame_opts=frame, method_of={"mosaic": "header MDRIZSKY"}, txn=txn)
    timings["total"] = time.perf_counter() - t0
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), timings=timings)


def _skies_and_static(chips, methods, compat, jobs, dask, progress, sky_options):
    """Sky results for ``methods`` and the static masks (computed once, shared with the
    drizzle that follows; None when the static mask is off)."""
    from ..core import compute_static_masks, sky_methods

    opts = _sky_options(dict(sky_options))
    use_static = opts.get("use_static")
    use_static = (compat is not None) if use_static is None else use_static
    executor = make_executor(jobs, dask)
    static = None
    if use_static:
        static = compute_static_masks(chips, static_sig=opts.get("static_sig", 4.0),
                                      compat=compat is not None, executor=executor, progress=progress)
    results = sky_methods(chips, methods=methods, compat=compat, executor=executor,
                          progress=progress, static_masks=static, **opts)
    return results, static


@transactional
def run(txn: RunTransaction, inputs, output: str, *, method: str = "localmin", compat: str | None = None,
        readonly: bool = False, frame: FrameOptions = FrameOptions(), build: bool = False,
        overwrite: bool = False, jobs: int | None = None, dask: Any = None,
        progress: Callable[[str, int, int], None] | None = None,
        drizzle: dict | None = None, **sky_options: Any) -> DrizzleRun:
    """AstroDrizzle's one-shot without cosmic-ray rejection: sky, then the final drizzle.

    The skies go into the input headers (unless ``readonly``) and straight into the
    drizzle, so no stale header value can be used.
    """
    from ..core._drizzle import drizzle_mosaics

    params = _drizzle_params(drizzle or {})
    method = canonical_method(method)
    t0 = time.perf_counter()
    chips = read_inputs(txn.open_inputs(inputs, write=not readonly), compat=compat is not None)
    _check_outputs([output], chips, build, overwrite, txn)
    results, static = _skies_and_static(chips, [method], compat, jobs, dask, progress, sky_options)
    result = results[method]
    t1 = time.perf_counter()
    written = [] if readonly else write_sky(result, chips, progress=progress, transaction=txn)
    skyrun = SkyRun(results=results, chips=tuple(chips), written=tuple(written),
                    timings={"sky": t1 - t0})
    fr = output_frame(chips, frame)
    mosaics = drizzle_mosaics(chips, {method: {c.name: c.sky for c in result.chips}}, fr,
                              params=params, static_masks=static, progress=progress)
    products = _write_mosaics(mosaics, chips, {method: output}, build=build, overwrite=overwrite,
                              frame_opts=frame, method_of={method: method}, txn=txn)
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      timings={"sky": t1 - t0, "total": time.perf_counter() - t0})
