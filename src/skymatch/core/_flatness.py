"""The flatness score: how well overlapping exposures agree once their skies are removed.

Every overlap is measured in cells on pixels usable in both exposures (the same cells a
sky model is fitted to); a method's result is scored by the difference of the two
exposures' sky-subtracted cell values, ``(b_i - sky_i) - (b_j - sky_j)``.  The score is
the rms of those differences over all overlap cells, each weighted by its pixel count, in
the rate units of the first input (e-/s per pixel for HST data).  Cells more than 10 robust
sigma from the other cells of their own overlap (a satellite trail in one exposure) are set
aside; a seam moves every cell of an overlap, so it stays in the score however large it is
(a clip against all overlaps at once would throw out the seams of a method whose other
overlaps agree closely).  Beside the score, the rms that the cells' own
statistical noise would give, which a perfect sky model reaches.  A seam is then a
number: choosing a method is reading one column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import Flatness
from ._modelfit import CellEquations

__all__ = ["FlatnessInputs", "flatness_inputs", "flatness_score", "rate_scale"]


@dataclass(frozen=True)
class FlatnessInputs:
    """The run's overlap cells (at the highest model order measured) and the factor that
    turns brightness into the first input's rate units."""

    equations: CellEquations
    order: int
    scale: float
    units: str


def rate_scale(chip) -> tuple[float, str]:
    """Factor from brightness to a rate per pixel of ``chip``, and its unit label."""
    units = chip.units or "data units"
    if chip.unit_kind == "counts" and chip.exptime:
        return 1.0 / (chip.conv * chip.exptime), f"{units}/S"
    return 1.0 / chip.conv, units


def flatness_inputs(chips, exps, overlaps, opts) -> FlatnessInputs | None:
    """Cell equations of every overlap of the run, for scoring any method's result."""
    from ._models_engine import exposure_frames, overlap_equations

    if overlaps is None:
        return None
    order = opts.max_order
    frames = exposure_frames(chips, exps)
    eq = overlap_equations(chips, exps, overlaps, frames, order)
    scale, units = rate_scale(chips[0])
    return FlatnessInputs(eq, order, scale, units)


def _group_medians(x: np.ndarray, w: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Weighted median of ``x`` within each group (``group``: 0 .. n_groups - 1, every
    group present), the lower one at a tie as ``np.searchsorted`` finds it."""
    order = np.lexsort((x, group))
    xs, gs = x[order], group[order]
    cw = np.cumsum(w[order])
    starts = np.searchsorted(gs, np.arange(n_groups))
    ends = np.r_[starts[1:], xs.size]
    before = np.r_[0.0, cw][starts]
    at = np.searchsorted(cw, before + 0.5 * (cw[ends - 1] - before))
    return xs[np.clip(at, starts, ends - 1)]


#: Overlaps with fewer cells than this are not clipped (no robust scale from so few).
MIN_CELLS_TO_CLIP = 5


def _within_their_overlaps(r: np.ndarray, w: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """Cells within 10 robust sigma (1.4826 x the weighted median absolute deviation) of
    the weighted median of their own overlap; overlaps with few cells, or no spread, keep
    them all."""
    _, g = np.unique(pair, return_inverse=True)
    n = int(g.max()) + 1
    med = _group_medians(r, w, g, n)[g]
    dev = np.abs(r - med)
    scale = 1.4826 * _group_medians(dev, w, g, n)[g]
    small = np.bincount(g, minlength=n)[g] < MIN_CELLS_TO_CLIP
    return small | (scale <= 0) | (dev <= 10.0 * scale)


def flatness_score(inp: FlatnessInputs | None, theta: np.ndarray, valid: np.ndarray) -> Flatness | None:
    """Score a result given each exposure's model coefficients (brightness, frame basis,
    padded to the inputs' order) and validity."""
    if inp is None:
        return None
    eq = inp.equations
    ok = valid[eq.i] & valid[eq.j]
    if not ok.any():
        return Flatness(np.nan, np.nan, 0, 0, inp.units, *(np.zeros(0) for _ in range(4)))
    e = eq.take(ok)
    th = np.where(np.isfinite(theta), theta, 0.0)
    model_d = np.einsum("nt,nt->n", e.ai, th[e.i]) - np.einsum("nt,nt->n", e.aj, th[e.j])
    r = (e.d - model_d) * inp.scale
    sig = e.sigma * inp.scale
    w = e.npix.astype(float)
    keep = _within_their_overlaps(r, w, e.pair)
    rms = float(np.sqrt(np.sum(w[keep] * r[keep] ** 2) / np.sum(w[keep])))
    noise = float(np.sqrt(np.sum(w[keep] * sig[keep] ** 2) / np.sum(w[keep])))
    return Flatness(rms=rms, noise=noise, n_cells=int(keep.sum()), n_pairs=int(np.unique(e.pair).size),
                    units=inp.units, xi=e.xi, eta=e.eta, residual=r, npix=e.npix)
