"""Drizzling as a file-to-file run: the output frame, the final drizzle, the products.

The mosaic is drizzled block by block (:mod:`skymatch.core._blocks`) straight into staged
product files (:mod:`skymatch.io._products`); block tasks run on the run's executor
(local processes, or the workers of a Dask cluster sharing the output folder).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..core import canonical_method
from ..core._executor import make_executor
from ..core._skymodel import canonical_model
from ..io import RunTransaction, read_inputs, transactional, write_sky
from ..io._pieces import read_product_inputs
from ..models import Chip
from ._sky import SkyRun, _sky_options

__all__ = ["FrameOptions", "DrizzleRun", "MosaicProduct", "output_frame", "drizzle_products", "check_frame",
           "run_drizzle", "run"]


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


@dataclass(frozen=True)
class MosaicProduct:
    """One mosaic written to disk (its pixels stay in the files).

    ``skies`` maps chip names to the sky-model coefficients subtracted (data units);
    ``n_contexts`` is the number of ``CTXTAB`` rows (table context).
    """

    label: str
    paths: tuple[str, ...]
    frame: Any
    exptime: float
    ndrizim: int
    skies: dict
    params: Any
    context_format: str
    build: bool = False
    n_contexts: int = 0
    staged: tuple[str, ...] = ()  # where the files are until the run commits

    @property
    def sci_path(self) -> str:
        return self.paths[0]

    def _read(self, which: str) -> np.ndarray:
        from ..io import read_product_image

        if self.build:
            return read_product_image(self.paths[0], which.upper())
        index = {"sci": 0, "wht": 1, "ctx": 2}[which]
        if index >= len(self.paths):
            raise AttributeError(f"{self.label}: no {which} product was written")
        return read_product_image(self.paths[index], 0)

    @property
    def sci(self) -> np.ndarray:
        """The science image, read from its file (for large mosaics prefer :meth:`read_sci`)."""
        return self._read("sci")

    @property
    def wht(self) -> np.ndarray:
        """The weight image, read from its file."""
        return self._read("wht")

    @property
    def ctx(self) -> np.ndarray:
        """The context image (bit planes or context ids), read from its file."""
        return self._read("ctx")

    def read_sci(self, *, max_side: int | None = None) -> np.ndarray:
        """The science image (binned by block means to at most ``max_side`` pixels a side)."""
        from ..io import read_product_image

        path = self.sci_path if os.path.exists(self.sci_path) or not self.staged else self.staged[0]
        return read_product_image(path, "SCI" if self.build else 0, max_side=max_side)


@dataclass(frozen=True)
class _BlockJob:
    """A block task and the slots (file, offset, shape) its results go to."""

    task: Any
    sci: tuple
    wht: tuple
    ctx: tuple


def _run_block(job: _BlockJob):
    """Drizzle one block and write it into every staged product (runs on any worker)."""
    from ..core._blocks import drizzle_block
    from ..io._pieces import read_piece
    from ..io._products import write_block

    res = drizzle_block(job.task, read_piece)
    b = res.block
    for slot, sci in zip(job.sci, res.sci):
        write_block(slot, b.row0, b.col0, sci)
    for slot in job.wht:
        write_block(slot, b.row0, b.col0, res.wht)
    if res.ctx is not None:
        for slot in job.ctx:
            write_block(slot, b.row0, b.col0, res.ctx)
    return b, res.ctx_sets


def _remap_block(job):
    """Turn a block's local context ids into the run's global ids, in every product."""
    from ..io._products import read_block, write_block

    slots, b, lut = job
    ids = read_block(slots[0], b.row0, b.row1, b.col0, b.col1)
    new = lut[ids]
    for slot in slots:
        write_block(slot, b.row0, b.col0, new)
    return b.index


def check_frame(frame, outputs: Sequence[str], *, n_inputs: int, params) -> None:
    """Refuse, before any work, a frame whose products cannot fit on the output disk
    (:class:`~skymatch.exceptions.WriteError` naming the frame size and the bytes)."""
    from ..core._ctxtable import choose_context_format
    from ..core._drizzle import frame_bytes
    from ..io import check_disk_space

    context = choose_context_format(params.context_format, n_inputs)
    per_dir: dict[str, int] = {}
    for name in outputs:
        d = os.path.dirname(os.path.abspath(name))
        per_dir[d] = per_dir.get(d, 0) + frame_bytes(frame.shape, n_mosaics=1, n_inputs=n_inputs,
                                                     context=context)
    for d, nbytes in per_dir.items():
        check_disk_space(d, nbytes, frame.shape)


def drizzle_products(chips: Sequence[Chip], skies: dict, frame, outputs: dict[str, str], *, params,
                     static_masks=None, already_subtracted=None, executor=None, build: bool = False,
                     overwrite: bool = False, header_extra: dict | None = None, sky_info: dict | None = None,
                     inputs_info: tuple | None = None, txn: RunTransaction | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> dict[str, MosaicProduct]:
    """Drizzle one mosaic per label of ``skies`` block by block straight into its files.

    The output frame is cut into blocks; each block task reads only the pieces of the
    chips that reach it (pixel rectangles, by file offset), drizzles them (one shared
    resampling for all labels) and writes its block into every label's staged files.
    Tasks get chips, file paths and offsets, never pixel arrays, so they run on local
    processes or on Dask workers that share the output folder.  Products are renamed
    into place only when every block is written; on any error none is.

    Parameters
    ----------
    chips : sequence of Chip
    skies : dict
        ``{label: {chip name: coefficients or number}}``.
    frame : OutputFrame
    outputs : dict
        ``{label: output name}``.
    params : DrizzleParams
    static_masks, already_subtracted
        As for :func:`skymatch.core._drizzle.drizzle_mosaics`.
    executor : Executor, optional
        Default: local processes (drizzle holds the GIL), one per core.
    build, overwrite : bool
        Product layout and replacing existing files.
    header_extra, sky_info : dict, optional
        ``{label: dict}``: more science-header keywords; the sky parameters to record.
    inputs_info : tuple, optional
        ``io._products.read_product_inputs(chips)`` when the caller has it already.
    txn : RunTransaction, optional
        The run's transaction: products are then finished in its staging folder and
        renamed into place when the run commits (after the inputs).
    progress : callable(stage, done, total), optional

    Returns
    -------
    dict
        ``{label: MosaicProduct}``.
    """
    from ..core._ctxtable import block_lut, merge_tables
    from ..core._drizzle import plan_drizzle
    from ..io._pieces import remove_files, save_static_masks
    from ..io._products import discard_products, finish_products, stage_products

    executor = executor if executor is not None else make_executor(None, None)
    check_frame(frame, list(outputs.values()), n_inputs=len(chips), params=params)
    if txn is not None:
        outputs = {lab: _staged_name(txn, name, chips, build, params) for lab, name in outputs.items()}
    rows, locations = inputs_info if inputs_info is not None else read_product_inputs(chips)
    temp_paths: list[str] = []
    static_refs = static_masks
    staged: dict[str, Any] = {}
    try:
        if static_masks and executor.for_stage("processes", 2).kind in ("processes", "dask"):
            # Workers outside this process load the masks by path, not through the scheduler.
            directory = os.path.dirname(os.path.abspath(next(iter(outputs.values()))))
            os.makedirs(directory, exist_ok=True)
            static_refs, temp_paths = save_static_masks(static_masks, directory)
        plan = plan_drizzle(chips, skies, frame, params=params, static_masks=static_refs,
                            already_subtracted=already_subtracted, locations=locations)
        for label in plan.labels:
            staged[label] = stage_products(
                outputs[label], chips, frame, params, skies=plan.skies[label], exptime=plan.exptime,
                ndrizim=plan.ndrizim, context=plan.context, rows=rows, build=build, overwrite=overwrite,
                header_extra=(header_extra or {}).get(label), sky_info=(sky_info or {}).get(label), label=label)
        st = [staged[lab] for lab in plan.labels]
        jobs = [_BlockJob(task=t, sci=tuple(s.sci for s in st), wht=tuple(s.wht for s in st),
                          ctx=tuple(s.ctx for s in st if s.ctx is not None)) for t in plan.tasks]
        block_sets = []
        for k, (b, sets) in enumerate(executor.for_stage("processes", len(jobs)).map(_run_block, jobs), 1):
            block_sets.append((b, sets))
            if progress:
                progress("drizzle", k, len(jobs))
        table = None
        if plan.context == "table":
            table = merge_tables(s for _, s in block_sets)
            index = {s: i + 1 for i, s in enumerate(table)}
            ctx_slots = jobs[0].ctx if jobs else ()
            remaps = []
            for b, sets in block_sets:
                lut = block_lut(sets, index)
                if not np.array_equal(lut, np.arange(lut.size)):
                    remaps.append((ctx_slots, b, lut))
            for k, _ in enumerate(executor.for_stage("processes", len(remaps)).map(_remap_block, remaps), 1):
                if progress:
                    progress("context", k, len(remaps))
        # Commit: every block is written; rename the products into place.
        out = {}
        for label in plan.labels:
            # In a run, the products' fsyncs go on in the background (the pictures that
            # follow need the CPU, the fsyncs the disk); the commit waits for them.
            paths = finish_products(staged.pop(label), ctx_table=table, sync=txn is None)
            if txn is not None:
                txn.sync_later(paths)
            final = txn.adopt(paths) if txn is not None else paths
            out[label] = MosaicProduct(label=label, paths=tuple(final), frame=frame, exptime=plan.exptime,
                                       ndrizim=plan.ndrizim, skies=dict(plan.skies[label]), params=params,
                                       context_format=plan.context, build=build, n_contexts=len(table or ()),
                                       staged=tuple(paths) if txn is not None else ())
        return out
    finally:
        for s in staged.values():
            discard_products(s)
        remove_files(temp_paths)


def _staged_name(txn: RunTransaction, name: str, chips, build: bool, params) -> str:
    """The output name whose products land in the run's staging folder."""
    from ..io import product_paths, product_suffix

    paths = product_paths(name, product_suffix(chips), build=build, context=_context_of(params, len(chips)))
    staged = [txn.staging_path(p) for p in paths.values()]
    return os.path.join(os.path.dirname(staged[0]), os.path.basename(name))


def model_label(coeffs_by_chip: dict) -> str:
    """``'CONSTANT'``, ``'PLANE'``, ... of a set of chip models (joined when mixed)."""
    from ..io._products import MODEL_NAMES

    sizes = sorted({len(c) for c in coeffs_by_chip.values()} or {1})
    return "/".join(MODEL_NAMES.get(n, "CONSTANT") for n in sizes)


def _sky_info(method: str, skies: dict, parameters: dict | None = None) -> dict:
    info = {"method": method, "model": model_label(skies)}
    for k, v in (parameters or {}).items():
        info.setdefault(k, v)
    return info


def _frame_extra(frame_opts: FrameOptions) -> dict:
    if frame_opts.final_wcs and frame_opts.rot is not None:
        return {"orientat": frame_opts.rot}
    return {}


def _check_outputs(names, chips, build, overwrite, txn: RunTransaction, context: str = "planes"):
    """Validate every product path (folder, overwrite) before any work."""
    from ..io import product_paths, product_suffix

    suffix = product_suffix(chips)
    for name in names:
        txn.check_products(product_paths(name, suffix, build=build, context=context).values(),
                           overwrite=overwrite)


def _context_of(params, n: int) -> str:
    from ..core._ctxtable import choose_context_format

    return choose_context_format(params.context_format, n)


@transactional
def run_drizzle(txn: RunTransaction, inputs, output: str, *, frame: FrameOptions = FrameOptions(),
                skysub: bool = True,
                use_static: bool = False, build: bool = False, overwrite: bool = False,
                jobs: int | None = None, dask: Any = None,
                progress: Callable[[str, int, int], None] | None = None,
                **drizzle_options: Any) -> DrizzleRun:
    """Drizzle the inputs with the sky models in their headers onto one mosaic.

    Each chip's sky is ``SKYMODEL``/``SKYCij`` when present, else the constant
    ``MDRIZSKY`` (0 when neither is there); a chip with ``SMSUBTR = T`` already had it
    subtracted and gets nothing more.

    Parameters
    ----------
    inputs : str, path or list
    output : str
        Output name (``NAME_drz_sci.fits`` ...).
    frame : FrameOptions
        Output frame parameters.
    skysub : bool
        Subtract the header skies.
    use_static : bool
        Zero the weights of pixels in AstroDrizzle's static mask.
    build : bool
        One multi-extension ``NAME_drz.fits``.
    overwrite : bool
        Replace existing products.
    jobs, dask
        Local workers or a Dask cluster for the drizzle blocks (:func:`make_executor`).
    **drizzle_options
        :class:`~skymatch.core._drizzle.DrizzleParams` fields (``kernel``, ``pixfrac``,
        ``fillval``, ``units``, ``bits``, ``stepsize``, ``context_format``, ``block_size``).
    """
    from ..core import compute_static_masks
    from ..io import header_sky_models

    params = _drizzle_params(drizzle_options)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    headers: dict = {}
    chips = read_inputs(txn.open_inputs(inputs, write=False), headers=headers)
    _check_outputs([output], chips, build, overwrite, txn, _context_of(params, len(chips)))
    fr = output_frame(chips, frame)
    check_frame(fr, [output], n_inputs=len(chips), params=params)
    executor = make_executor(jobs, dask)
    info_in = read_product_inputs(chips, known=headers)
    skies, done = header_sky_models(chips, info_in[0])
    if not skysub:
        skies = {name: (0.0,) for name in skies}
    static = compute_static_masks(chips, compat=False) if use_static else None
    first = chips[0].meta if chips else {}
    info = _sky_info(str(first.get("SMMETHOD", "header MDRIZSKY")), skies if skysub else {},
                     {"skystat": first.get("SMSTAT")} if first.get("SMSTAT") else None)
    if not skysub:
        info = {"method": "none (skysub off)", "model": "NONE"}
    mosaics = drizzle_products(chips, {"mosaic": skies}, fr, {"mosaic": output}, params=params, txn=txn,
                               static_masks=static, already_subtracted=done, executor=executor, build=build,
                               overwrite=overwrite, header_extra={"mosaic": _frame_extra(frame)},
                               sky_info={"mosaic": info}, inputs_info=info_in, progress=progress)
    timings["drizzle"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t0
    products = {k: list(m.paths) for k, m in mosaics.items()}
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), timings=timings)


def _solutions_and_static(chips, methods, models, compat, jobs, dask, progress, sky_options, *,
                          flatness: bool = False):
    """Sky results ``{(method, model): SkyResult}`` and the static masks (computed once,
    shared with the drizzle that follows; None when the static mask is off)."""
    from ..core import compute_static_masks, sky_solutions
    from ..core._staticmask import reference_uses_static

    opts = _sky_options(dict(sky_options))
    use_static = opts.get("use_static")
    if use_static is None:  # as sky_methods decides: AstroDrizzle's default, HST data only
        use_static = compat is not None and reference_uses_static(chips)
    executor = make_executor(jobs, dask)
    static = None
    if use_static:
        static = compute_static_masks(chips, static_sig=opts.get("static_sig", 4.0),
                                      compat=compat is not None, executor=executor, progress=progress)
    opts["use_static"] = bool(use_static)
    results = sky_solutions(chips, methods=methods, sky_models=models, compat=compat, executor=executor,
                            progress=progress, static_masks=static, flatness=flatness, **opts)
    return results, static


@transactional
def run(txn: RunTransaction, inputs, output: str, *, method: str = "localmin", sky_model: str = "constant",
        compat: str | None = None,
        readonly: bool = False, frame: FrameOptions = FrameOptions(), build: bool = False,
        overwrite: bool = False, jobs: int | None = None, dask: Any = None,
        progress: Callable[[str, int, int], None] | None = None,
        drizzle: dict | None = None, **sky_options: Any) -> DrizzleRun:
    """AstroDrizzle's one-shot without cosmic-ray rejection: sky, then the final drizzle.

    The skies go into the input headers (unless ``readonly``) and straight into the
    drizzle, so no stale header value can be used; each chip's full sky model is
    subtracted.  The output frame is checked against the free disk space before any work.
    """
    params = _drizzle_params(drizzle or {})
    method = canonical_method(method)
    t0 = time.perf_counter()
    headers: dict = {}  # each header read once: the mosaic takes HDRTAB from the same reads
    layouts: dict | None = None if readonly else {}
    chips = read_inputs(txn.open_inputs(inputs, write=not readonly), compat=compat is not None, headers=headers,
                        layouts=layouts)
    _check_outputs([output], chips, build, overwrite, txn, _context_of(params, len(chips)))
    fr = output_frame(chips, frame)
    check_frame(fr, [output], n_inputs=len(chips), params=params)
    model = canonical_model(sky_model)
    solved, static = _solutions_and_static(chips, [method], [model], compat, jobs, dask, progress, sky_options)
    result = solved[(method, model)]
    results = {method: result}
    t1 = time.perf_counter()
    written = [] if readonly else write_sky(result, chips, progress=progress, transaction=txn, layouts=layouts)
    skyrun = SkyRun(results=results, chips=tuple(chips), written=tuple(written),
                    timings={"sky": t1 - t0})
    skies = {c.name: c.coefficients for c in result.chips}
    mosaics = drizzle_products(chips, {method: skies}, fr, {method: output}, params=params, txn=txn,
                               static_masks=static, executor=make_executor(jobs, dask), build=build,
                               overwrite=overwrite, header_extra={method: _frame_extra(frame)},
                               sky_info={method: _sky_info(method, skies, dict(result.parameters))},
                               inputs_info=read_product_inputs(chips, known=headers), progress=progress)
    products = {k: list(m.paths) for k, m in mosaics.items()}
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      timings={"sky": t1 - t0, "total": time.perf_counter() - t0})
