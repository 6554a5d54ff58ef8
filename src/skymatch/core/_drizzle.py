"""Drizzling chips onto an output frame with the ``drizzle`` package (SPEC section 9).

Resampling is done by :class:`drizzle.resample.Drizzle`; this module only prepares its
inputs the way AstroDrizzle does (sky subtracted in native units, counts turned into
rates, weights ``EXPTIME`` x good pixels under ``final_bits`` x static mask) and shares
each chip's pixel map between several mosaics (one per sky method).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from drizzle.resample import Drizzle
from drizzle.utils import calc_pixmap

from ..exceptions import ParameterError
from ..models import Chip
from ._frame import OutputFrame
from ._masks import BitFlags, dq_good_mask, parse_bits
from ._pixmap import map_pixels

__all__ = ["DRIZZLE_KERNELS", "DrizzleParams", "Mosaic", "drizzle_mosaics"]

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
    """

    kernel: str = "square"
    pixfrac: float = 1.0
    fillval: float | None = None
    units: str = "cps"
    bits: int | str | None = 0
    stepsize: int | None = 10

    def __post_init__(self) -> None:
        if self.kernel not in DRIZZLE_KERNELS:
            raise ParameterError(f"final_kernel={self.kernel!r}: use one of {', '.join(DRIZZLE_KERNELS)}")
        if not 0 < self.pixfrac <= 1.0 + 1e-12 and self.kernel != "point":
            raise ParameterError(f"final_pixfrac={self.pixfrac}: must be in (0, 1]")
        if self.units not in ("cps", "counts"):
            raise ParameterError(f"final_units={self.units!r}: use 'cps' or 'counts'")
        parse_bits(self.bits)

    @property
    def flags(self) -> BitFlags:
        return parse_bits(self.bits)


@dataclass(frozen=True)
class Mosaic:
    """A drizzled mosaic: science, weight and context images on ``frame``.

    ``sci`` is in e-/s (``units='cps'``) or counts; NaN where nothing landed (unless a
    ``fillval`` was given).  ``ctx`` is int32, 2-D for up to 32 chips, 3-D beyond; bit
    ``k-1`` of plane ``(k-1)//32`` is set where the k-th chip contributed.
    """

    sci: np.ndarray
    wht: np.ndarray
    ctx: np.ndarray
    frame: OutputFrame
    exptime: float
    ndrizim: int
    skies: Mapping[str, float]
    params: DrizzleParams


def _pixmap(chip: Chip, frame: OutputFrame, stepsize: int | None) -> np.ndarray:
    ny, nx = chip.shape
    if not stepsize or stepsize <= 1:
        return calc_pixmap(chip.wcs, frame.wcs, shape=chip.shape)
    x, y = map_pixels(chip.wcs, frame.wcs, 0, 0, ny, nx, step=int(stepsize))
    return np.stack([x.astype(np.float64), y.astype(np.float64)], axis=-1)


def drizzle_mosaics(
    chips: Sequence[Chip],
    skies: Mapping[str, Mapping[str, float]],
    frame: OutputFrame,
    *,
    params: DrizzleParams = DrizzleParams(),
    static_masks: Mapping[tuple, np.ndarray] | None = None,
    already_subtracted: Mapping[str, bool] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Mosaic]:
    """Drizzle ``chips`` onto ``frame`` once per entry of ``skies``.

    Parameters
    ----------
    chips : sequence of Chip
        Inputs, in the order that numbers their context bits.
    skies : mapping
        ``{label: {chip name: sky in the chip's data units}}`` — one mosaic per label
        (e.g. one per sky method); each chip's pixel map is computed once and shared.
    frame : OutputFrame
        Output WCS and shape.
    params : DrizzleParams
        Kernel, pixfrac, fill value, units, ``final_bits``, pixel-map step.
    static_masks : mapping, optional
        ``{chip signature: bool array (True = keep)}``; zeroes the weights of masked pixels.
    already_subtracted : mapping, optional
        ``{chip name: True}`` for chips whose data already had the sky removed.
    progress : callable(stage, done, total), optional

    Returns
    -------
    dict
        ``{label: Mosaic}``.
    """
    labels = list(skies)
    if not labels:
        raise ParameterError("nothing to drizzle: no sky set given")
    already_subtracted = already_subtracted or {}
    flags = params.flags
    n = len(chips)
    shared = len(labels) > 1
    # One Drizzle per mosaic, or (several mosaics) one Drizzle of the data without sky
    # plus, per mosaic, the weighted sum of the skies: drizzling is linear, so
    #   mosaic_m = D(data) - sum_c s_cm * dW_c / W
    # with dW_c the weight chip c added; exact up to float32 rounding.
    keys = ["data"] if shared else labels
    drizzles = {
        k: Drizzle(kernel=params.kernel, fillval=None, out_shape=frame.shape, max_ctx_id=max(n, 1))
        for k in keys
    }
    sky_sums = {lab: np.zeros(frame.shape, dtype=np.float64) for lab in labels} if shared else {}
    out_scale = frame.pixel_scale_arcsec
    exptimes: dict[str, float] = {}
    for k, chip in enumerate(chips):
        px = chip.pixels.read()
        data = np.array(px.data, dtype=np.float32)
        good = np.isfinite(data)
        dqgood = dq_good_mask(px.dq, flags)
        if dqgood is not None:
            good &= dqgood
        if static_masks and chip.signature in static_masks:
            good &= static_masks[chip.signature]
        data[~np.isfinite(data)] = 0.0
        exptime = chip.exptime if chip.exptime and chip.exptime > 0 else 1.0
        exptimes.setdefault(chip.exposure_id, exptime)
        weight = good.astype(np.float32) * np.float32(exptime)
        counts = chip.unit_kind == "counts"
        ratio = out_scale / chip.pixel_scale_arcsec
        pixmap = _pixmap(chip, frame, params.stepsize)
        kw = dict(exptime=exptime, pixmap=pixmap, weight_map=weight, iscale=ratio * ratio,
                  pixel_scale_ratio=ratio, pixfrac=params.pixfrac,
                  in_units="counts" if counts else "cps")

        def sky_of(lab):
            if already_subtracted.get(chip.name):
                return 0.0
            return float(skies[lab].get(chip.name, 0.0))

        if shared:
            d = drizzles["data"]
            box = _bbox(pixmap, frame.shape, params)
            before = d.out_wht[box].astype(np.float64)
            d.add_image(data, **kw)
            dw = d.out_wht[box] - before
            factor = ratio * ratio / (exptime if counts else 1.0)
            for lab in labels:
                s = sky_of(lab)
                if s:
                    sky_sums[lab][box] += (s * factor) * dw
        else:
            for lab in labels:
                drizzles[lab].add_image(data - np.float32(sky_of(lab)), **kw)
        if progress:
            progress("drizzle", k + 1, n)
    total = float(sum(exptimes.values()))
    out = {}
    for lab in labels:
        d = drizzles["data" if shared else lab]
        wht = d.out_wht
        sci = d.out_img.astype(np.float64) if shared else d.out_img
        if shared:
            with np.errstate(invalid="ignore", divide="ignore"):
                sci = sci - sky_sums[lab] / wht
        sci = np.asarray(sci, dtype=np.float32).copy()
        if params.units == "counts":
            sci *= np.float32(total)
        # Nothing usable landed where the weight is 0: no data there (never leftovers
        # of masked input pixels).
        sci[~(wht > 0)] = np.nan if params.fillval is None else np.float32(params.fillval)
        ctx = d.out_ctx
        if ctx.ndim == 3 and ctx.shape[0] == 1:
            ctx = ctx[0]
        out[lab] = Mosaic(sci=sci, wht=wht, ctx=ctx.astype(np.int32, copy=False),
                          frame=frame, exptime=total, ndrizim=n,
                          skies=dict(skies[lab]), params=params)
    return out


def _bbox(pixmap: np.ndarray, shape: tuple[int, int], params: DrizzleParams):
    """Slice of the output frame a chip can touch (its pixel map plus the kernel's reach)."""
    margin = 3 if params.kernel in ("square", "point", "turbo") else 8
    x = pixmap[..., 0]
    y = pixmap[..., 1]
    x0 = max(0, int(np.floor(np.nanmin(x))) - margin)
    x1 = min(shape[1], int(np.ceil(np.nanmax(x))) + margin + 1)
    y0 = max(0, int(np.floor(np.nanmin(y))) - margin)
    y1 = min(shape[0], int(np.ceil(np.nanmax(y))) + margin + 1)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))
