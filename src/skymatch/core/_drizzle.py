"""Drizzling chips onto an output frame with the ``drizzle`` package (SPEC sections 9, 12).

Resampling is done by :class:`drizzle.resample.Drizzle`, block by block
(:mod:`skymatch.core._blocks`); this module prepares the work the way AstroDrizzle does
(each chip's sky model subtracted in native units, counts turned into rates, weights
``EXPTIME`` x good pixels under ``final_bits`` x static mask), shares one resampling
between several mosaics (one per sky method and model) and assembles in-memory mosaics.
The pipeline (:mod:`skymatch.pipeline._mosaic`) runs the same block tasks and writes
each block straight into the product files instead.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..exceptions import ParameterError, SkymatchWarning
from ..models import Chip
from ._blocks import BLOCK_SIZE, NON_CONSERVING_KERNELS, BlockTask, PieceTask, block_grid, drizzle_block, plan_pieces
from ._ctxtable import CONTEXT_FORMATS, block_lut, choose_context_format, merge_tables, n_planes
from ._frame import OutputFrame
from ._masks import BitFlags, parse_bits
from ._skymodel import order_of_coeffs

__all__ = ["DRIZZLE_KERNELS", "CONTEXT_FORMATS", "DrizzleParams", "Mosaic", "DrizzlePlan",
           "drizzle_mosaics", "plan_drizzle", "sky_coefficients", "frame_bytes"]

DRIZZLE_KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3")


@dataclass(frozen=True)
class DrizzleParams:
    """Final-drizzle options (AstroDrizzle names in brackets).

    Attributes
    ----------
    kernel : str
        [final_kernel] ``square``, ``point``, ``turbo``, ``gaussian``, ``lanczos2/3``.
    pixfrac : float
        [final_pixfrac] Linear size of the drop relative to the input pixel.
    fillval : float or None
        [final_fillval] Value of output pixels nothing landed on (None: NaN).
    units : {'cps', 'counts'}
        [final_units] Output in rates or in counts (rate x total exposure time).
    bits : int, str or None
        [final_bits] DQ flags that still count as good for drizzling.
    stepsize : int or None
        Pixel map evaluated exactly every ``stepsize`` pixels and interpolated
        (AstroDrizzle's ``stepsize`` is 10); None or 1: exact pixel map
        (``drizzle.utils.calc_pixmap``).
    context_format : {'auto', 'planes', 'table', 'none'}
        Context image: AstroDrizzle's int32 bit planes, an id image plus a ``CTXTAB``
        table (linear in the number of inputs), or none.  ``'auto'``: planes up to
        :data:`~skymatch.core._ctxtable.PLANES_MAX_INPUTS` (32) inputs, table beyond.
    block_size : int
        Side (output pixels) of the square blocks the frame is drizzled in; memory per
        block task is about ``block_size**2 x (16 + 8 x mosaics)`` bytes plus the pieces.
    """

    kernel: str = "square"
    pixfrac: float = 1.0
    fillval: float | None = None
    units: str = "cps"
    bits: int | str | None = 0
    stepsize: int | None = 10
    context_format: str = "auto"
    block_size: int = BLOCK_SIZE

    def __post_init__(self) -> None:
        if self.kernel not in DRIZZLE_KERNELS:
            raise ParameterError(f"final_kernel={self.kernel!r}: use one of {', '.join(DRIZZLE_KERNELS)}")
        if not 0 < self.pixfrac <= 1.0 + 1e-12 and self.kernel != "point":
            raise ParameterError(f"final_pixfrac={self.pixfrac}: must be in (0, 1]")
        if self.units not in ("cps", "counts"):
            raise ParameterError(f"final_units={self.units!r}: use 'cps' or 'counts'")
        parse_bits(self.bits)
        choose_context_format(self.context_format, 1)
        if isinstance(self.block_size, bool) or not isinstance(self.block_size, (int, np.integer)) \
                or self.block_size < 1:
            raise ParameterError(f"block_size={self.block_size!r}: give a positive whole number of pixels")

    @property
    def flags(self) -> BitFlags:
        return parse_bits(self.bits)


@dataclass(frozen=True)
class Mosaic:
    """A drizzled mosaic: science, weight and context images on ``frame``.

    ``sci`` is in e-/s (``units='cps'``) or counts; NaN where nothing landed (unless a
    ``fillval`` was given).  With ``context_format == 'planes'``, ``ctx`` is int32, 2-D
    for up to 32 chips, 3-D beyond; bit ``k-1`` of plane ``(k-1)//32`` is set where the
    k-th chip contributed.  With ``'table'``, ``ctx`` is an int32 id image (0: no input)
    and ``ctx_table[id - 1]`` the 0-based indices of the inputs of ``id``.  With
    ``'none'``, ``ctx`` is None.  ``skies`` maps chip names to the sky coefficients
    subtracted (data units, :mod:`~skymatch.core._skymodel` basis).
    """

    sci: np.ndarray
    wht: np.ndarray
    ctx: np.ndarray | None
    frame: OutputFrame
    exptime: float
    ndrizim: int
    skies: Mapping[str, tuple[float, ...]]
    params: DrizzleParams
    context_format: str = "planes"
    ctx_table: tuple[tuple[int, ...], ...] = ()
    already_subtracted: Mapping[str, bool] = field(default_factory=dict)



def sky_coefficients(value: Any, *, name: str = "sky") -> tuple[float, ...]:
    """A chip's sky as a tuple of model coefficients (a bare number is a constant)."""
    if value is None:
        return (0.0,)
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return (float(value),)
    try:
        coeffs = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r}: give a number or a tuple of sky-model coefficients") from None
    if not coeffs:
        return (0.0,)
    try:
        order_of_coeffs(len(coeffs))
    except ParameterError as exc:
        raise ParameterError(f"{name}={coeffs!r}: {exc}") from None
    return coeffs


@dataclass(frozen=True)
class DrizzlePlan:
    """The block tasks of one drizzle and what the products need to know about it."""

    labels: tuple[str, ...]
    skies: Mapping[str, Mapping[str, tuple[float, ...]]]
    frame: OutputFrame
    params: DrizzleParams
    context: str
    tasks: tuple[BlockTask, ...]
    exptime: float
    ndrizim: int
    already_subtracted: Mapping[str, bool]


def frame_bytes(shape: tuple[int, int], *, n_mosaics: int, n_inputs: int, context: str,
                shared_weights: bool = False) -> int:
    """Bytes of the images of ``n_mosaics`` mosaics on a frame of ``shape``.

    Each mosaic has a float32 science and weight image and its context (4 bytes per bit
    plane, 4 for the id image); ``shared_weights`` counts one weight and one context for
    all mosaics (the in-memory result).
    """
    npix = int(shape[0]) * int(shape[1])
    ctx = {"planes": 4 * n_planes(n_inputs), "table": 4, "none": 0}[context]
    per_extra = (4 + ctx) * (1 if shared_weights else n_mosaics)
    return npix * (4 * n_mosaics + per_extra)


def plan_drizzle(
    chips: Sequence[Chip],
    skies: Mapping[str, Mapping[str, Any]],
    frame: OutputFrame,
    *,
    params: DrizzleParams = DrizzleParams(),
    static_masks: Mapping[tuple, Any] | None = None,
    already_subtracted: Mapping[str, bool] | None = None,
    locations: Sequence[Any] | None = None,
) -> DrizzlePlan:
    """Split a drizzle into block tasks (headers and WCS only; no pixels are read).

    Parameters are those of :func:`drizzle_mosaics`; ``static_masks`` values may be arrays
    or references that the block reader resolves (e.g. paths), and ``locations[k]`` tells
    that reader where chip ``k``'s pixels are.
    """
    labels = tuple(skies)
    if not labels:
        raise ParameterError("nothing to drizzle: no sky set given")
    if params.kernel in NON_CONSERVING_KERNELS:
        note = " and ignores final_pixfrac" if params.kernel.startswith("lanczos") and params.pixfrac != 1 else ""
        warnings.warn(f"final_kernel={params.kernel!r} does not conserve flux{note} (drizzle's documentation); "
                      "use 'square' or 'turbo' for photometry", SkymatchWarning, stacklevel=3)
    done = dict(already_subtracted or {})
    coeffs = {lab: {c.name: sky_coefficients(skies[lab].get(c.name), name=f"sky of {c.name}")
                    for c in chips} for lab in labels}
    context = choose_context_format(params.context_format, len(chips))
    blocks = block_grid(frame.shape, params.block_size)
    pieces = plan_pieces(chips, frame, blocks, kernel=params.kernel, pixfrac=params.pixfrac)
    exptimes: dict[str, float] = {}
    for chip in chips:
        exptimes.setdefault(chip.exposure_id, chip.exptime if chip.exptime and chip.exptime > 0 else 1.0)
    total = float(sum(exptimes.values()))
    zero = (0.0,)
    shared = len(labels) > 1
    # Note: tasks run in other processes get their WCS through pickling, a header round
    # trip that moves positions by ~1e-9 px; drizzle's overlap slivers then differ by
    # ~1e-5 of a pixel from a serial run (float32 precision of the weights).  Block
    # sizes never change the results.
    frame_wcs = frame.wcs
    tasks = []
    for blk, plist in zip(blocks, pieces):
        pts = tuple(
            PieceTask(piece=p, chip=chips[p.index],
                      skies=tuple(zero if done.get(chips[p.index].name) else coeffs[lab][chips[p.index].name]
                                  for lab in labels),
                      static=(static_masks or {}).get(chips[p.index].signature),
                      location=None if locations is None else locations[p.index])
            for p in plist)
        tasks.append(BlockTask(block=blk, pieces=pts, frame_wcs=frame_wcs, params=params,
                               n_labels=len(labels), shared=shared, n_inputs=len(chips),
                               context=context, total_exptime=total))
    return DrizzlePlan(labels=labels, skies=coeffs, frame=frame, params=params, context=context,
                       tasks=tuple(tasks), exptime=total, ndrizim=len(chips), already_subtracted=done)


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def drizzle_mosaics(
    chips: Sequence[Chip],
    skies: Mapping[str, Mapping[str, Any]],
    frame: OutputFrame,
    *,
    params: DrizzleParams = DrizzleParams(),
    static_masks: Mapping[tuple, np.ndarray] | None = None,
    already_subtracted: Mapping[str, bool] | None = None,
    executor: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Mosaic]:
    """Drizzle ``chips`` onto ``frame`` once per entry of ``skies``, in memory.

    Parameters
    ----------
    chips : sequence of Chip
        Inputs, in the order that numbers their context bits.
    skies : mapping
        ``{label: {chip name: sky}}`` -- one mosaic per label (e.g. per sky method and
        model).  A sky is a tuple of model coefficients in the chip's data units
        (:mod:`~skymatch.core._skymodel` basis: ``(SKYC00, SKYC10, SKYC01, ...)``) or a
        bare number (a constant); chips missing from a label get 0.  With several labels
        the data are resampled once and each label's models are subtracted through
        linearity (exact to float32 rounding).
    frame : OutputFrame
        Output WCS and shape.
    params : DrizzleParams
        Kernel, pixfrac, fill value, units, ``final_bits``, pixel-map step, context
        format and block size.
    static_masks : mapping, optional
        ``{chip signature: bool array (True = keep)}``; zeroes the weights of masked pixels.
    already_subtracted : mapping, optional
        ``{chip name: True}`` for chips whose data already had the sky removed.
    executor : Executor, optional
        Runs the block tasks (:func:`skymatch.core._executor.make_executor`); serial when
        omitted.
    progress : callable(stage, done, total), optional

    Returns
    -------
    dict
        ``{label: Mosaic}``.

    Raises
    ------
    ParameterError
        No label, a malformed sky, or a frame whose images would not fit in memory (the
        message gives the frame size and bytes; the pipeline writes large mosaics block
        by block to disk instead).
    """
    plan = plan_drizzle(chips, skies, frame, params=params, static_masks=static_masks,
                        already_subtracted=already_subtracted)
    need = frame_bytes(frame.shape, n_mosaics=len(plan.labels), n_inputs=len(chips),
                       context=plan.context, shared_weights=True)
    mem = _physical_memory()
    if mem is not None and need > mem:
        raise ParameterError(
            f"output frame {frame.shape[1]:,} x {frame.shape[0]:,} px: {len(plan.labels)} mosaic(s) need "
            f"{need / 2**30:.1f} GiB in memory, more than this machine's {mem / 2**30:.1f} GiB; write it "
            "block by block (skymatch drizzle / pipeline.run_drizzle) or shrink the frame "
            "(final_scale, final_outnx/final_outny)")
    ny, nx = frame.shape
    sci = [np.empty((ny, nx), dtype=np.float32) for _ in plan.labels]
    wht = np.empty((ny, nx), dtype=np.float32)
    ctx = None
    if plan.context == "planes":
        ctx = np.empty((n_planes(len(chips)), ny, nx), dtype=np.int32)
    elif plan.context == "table":
        ctx = np.empty((ny, nx), dtype=np.int32)
    from ._executor import SerialExecutor

    # drizzle's C code holds the GIL: blocks run in processes (results come back here).
    ex = executor.for_stage("processes", len(plan.tasks)) if executor is not None else SerialExecutor()
    block_sets = []
    for k, res in enumerate(ex.map(drizzle_block, plan.tasks), 1):
        b = res.block
        sl = (slice(b.row0, b.row1), slice(b.col0, b.col1))
        for m in range(len(plan.labels)):
            sci[m][sl] = res.sci[m]
        wht[sl] = res.wht
        if plan.context == "planes":
            ctx[(slice(None),) + sl] = res.ctx
        elif plan.context == "table":
            ctx[sl] = res.ctx
            block_sets.append((b, res.ctx_sets))
        if progress:
            progress("drizzle", k, len(plan.tasks))
    table: tuple = ()
    if plan.context == "table":
        merged = merge_tables(s for _, s in block_sets)
        index = {s: i + 1 for i, s in enumerate(merged)}
        for b, sets in block_sets:
            sl = (slice(b.row0, b.row1), slice(b.col0, b.col1))
            ctx[sl] = block_lut(sets, index)[ctx[sl]]
        table = tuple(merged)
    elif plan.context == "planes" and ctx.shape[0] == 1:
        ctx = ctx[0]
    return {lab: Mosaic(sci=sci[m], wht=wht, ctx=ctx, frame=frame, exptime=plan.exptime,
                        ndrizim=len(chips), skies=dict(plan.skies[lab]), params=params,
                        context_format=plan.context, ctx_table=table,
                        already_subtracted=dict(plan.already_subtracted))
            for m, lab in enumerate(plan.labels)}

