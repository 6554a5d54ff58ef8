"""The output frame in blocks: what reaches each block, and the drizzle of one block.

A mosaic is drizzled block by block.  Each block is made from the *pieces* of the chips
that overlap it: the rectangle of a chip's pixels whose drops can reach the block, plus
a margin.  Only a piece's pixels are read and only its pixel map is computed, so the
memory of a block task is bounded by the block size, not by the mosaic.

Why a piece is drizzled onto its own window rather than straight onto the block: drizzle
(``src/cdrizzlemap.c`` of spacetelescope/drizzle, ``init_image_scanner`` and
``get_scanline_limits``) maps the four corners of the input box into the output, clips
that quadrilateral to the output array, maps the clipped polygon back to the input and
resamples only the input pixels lying *entirely* inside it (the scan-line limits are moved
inwards by half a pixel, ``init_edge``).  Input pixels that straddle the edge of the output
array are therefore dropped altogether, and where a chip's edge crosses the output array
the straight-edged polygon departs from the distorted edge (by ~0.7 px over 300 px of
WFC3/IR SIP distortion), dropping edge pixels as well.  On a whole frame that contains
every input this never matters; on blocks it would leave seams.  So each piece is
drizzled onto a window that contains its whole image (nothing is clipped), and the part of
the window inside the block is accumulated.  Each block pixel then receives exactly the
contributions it receives in a whole-frame drizzle (tested for block sizes smaller than a
chip in ``tests/test_blocks.py``).

Several mosaics (one per sky method and model) share one resampling of the data through
linearity: with ``S_c(x)`` the weighted sum chip ``c`` adds to a pixel and ``W`` the total
weight, ``mosaic_m = (sum_c S_c(data_c) - sum_c S_c(model_cm)) / W``, and
``S_c(model_cm) = sum_t a_cmt S_c(u^i v^j)``: the basis images of a chip's model are
drizzled once with the chip's weights and combined with each mosaic's coefficients (the
constant term needs no drizzle: ``S_c(1)`` is the chip's weight times the flux scale).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from drizzle.resample import Drizzle

from ..models import Chip
from ._ctxtable import ContextIds, n_planes, set_plane_bits
from ._masks import dq_good_mask
from ._pixmap import _segments, _upsample, grid_nodes
from ._skymodel import monomials, normalisation, order_of_coeffs

__all__ = [
    "BLOCK_SIZE",
    "Block",
    "Piece",
    "PieceTask",
    "BlockTask",
    "BlockResult",
    "RegionPixels",
    "block_grid",
    "plan_pieces",
    "piece_pixmap",
    "drizzle_block",
    "read_region_in_memory",
]

BLOCK_SIZE = 1024
NON_CONSERVING_KERNELS = ("gaussian", "lanczos2", "lanczos3")
# Spacing (input pixels) of the exact WCS grid used to find which pixels reach a block.
PLAN_STEP = 16
# Input pixels added around a piece: pixels on a piece's inner border get drops
# extrapolated from the pixel map, so they must stay clear of the block.
PIECE_MARGIN = 3


@dataclass(frozen=True)
class Block:
    """Rows ``row0:row1`` and columns ``col0:col1`` of the output frame."""

    index: int
    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.row1 - self.row0, self.col1 - self.col0)


@dataclass(frozen=True)
class Piece:
    """Rows ``row0:row1`` and columns ``col0:col1`` of input ``index`` that reach a block."""

    index: int
    row0: int
    row1: int
    col0: int
    col1: int


@dataclass(frozen=True)
class RegionPixels:
    """Pixels of one piece: science data, DQ (or None), static mask (or None, True = keep)."""

    data: np.ndarray
    dq: np.ndarray | None = None
    static: np.ndarray | None = None


@dataclass(frozen=True)
class PieceTask:
    """One piece and what the block needs to drizzle it.

    ``skies[m]`` holds mosaic ``m``'s sky coefficients of this chip in data units (the
    :mod:`~skymatch.core._skymodel` basis; ``(0.0,)`` when nothing is to be subtracted).
    ``static`` is the chip's static mask (array, or a reference the reader resolves);
    ``location`` tells the pipeline's reader where the pixels are in the file.
    """

    piece: Piece
    chip: Chip
    skies: tuple[tuple[float, ...], ...]
    static: Any = None
    location: Any = None  # where the pipeline's reader finds the pixels (io)


@dataclass(frozen=True)
class BlockTask:
    """Everything one block needs: small metadata and chips (which read their own pixels)."""

    block: Block
    pieces: tuple[PieceTask, ...]
    frame_wcs: Any
    params: Any  # DrizzleParams
    n_labels: int
    shared: bool
    n_inputs: int
    context: str  # 'planes', 'table' or 'none'
    total_exptime: float


@dataclass(frozen=True)
class BlockResult:
    """One block's mosaics (float32, one per label), weight and context."""

    block: Block
    sci: tuple[np.ndarray, ...]
    wht: np.ndarray
    ctx: np.ndarray | None = None  # planes (n, rows, cols) or local ids (rows, cols)
    ctx_sets: tuple[tuple[int, ...], ...] = ()


def block_grid(shape: tuple[int, int], block_size: int = BLOCK_SIZE) -> tuple[Block, ...]:
    """Square blocks of ``block_size`` covering a frame of ``shape`` (rows, cols), row-major."""
    ny, nx = shape
    b = int(block_size)
    out = []
    for r0 in range(0, ny, b):
        for c0 in range(0, nx, b):
            out.append(Block(len(out), r0, min(ny, r0 + b), c0, min(nx, c0 + b)))
    return tuple(out)


def kernel_reach(kernel: str, pixfrac: float) -> float:
    """How far (input pixels) a drop can reach from its pixel's centre, generously."""
    if kernel in ("square", "turbo"):
        return 0.75 * pixfrac + 0.5
    if kernel == "point":
        return 1.0
    if kernel == "gaussian":
        return max(2.5 * pixfrac / 2.3548, 1.2) + 1.0
    return {"lanczos2": 2.0, "lanczos3": 3.0}.get(kernel, 3.0) + 1.0


def _grid_positions(chip: Chip, frame_wcs, ys: np.ndarray, xs: np.ndarray):
    """Frame positions of a chip's grid of nodes; ``frame_wcs`` must be the caller's own
    copy (astropy WCS objects are not documented as thread-safe; the chip's is copied here)."""
    gx, gy = np.meshgrid(xs, ys)
    world = chip.wcs.deepcopy().pixel_to_world_values(gx.ravel(), gy.ravel())
    tx, ty = frame_wcs.world_to_pixel_values(*world)
    return np.asarray(tx, float).reshape(gy.shape), np.asarray(ty, float).reshape(gy.shape)


def _plan_grids(chips: Sequence[Chip], frame_wcs) -> list[tuple]:
    """Each chip's plan grid (nodes every :data:`PLAN_STEP` pixels) and its positions in the
    frame: one WCS call per chip to the sky and, for a frame without distortion (whose
    inversion is exact per point), one call for all chips back to the frame."""
    frame = frame_wcs.deepcopy()
    nodes, worlds = [], []
    for chip in chips:
        ny, nx = chip.shape
        ys = grid_nodes(0, ny, PLAN_STEP)
        xs = grid_nodes(0, nx, PLAN_STEP)
        gx, gy = np.meshgrid(xs, ys)
        # Planning runs before any task: the chip's WCS is not in use elsewhere.
        worlds.append(chip.wcs.pixel_to_world_values(gx.ravel(), gy.ravel()))
        nodes.append((ys, xs))
    if not chips:
        return []
    if not frame.has_distortion:  # astropy then inverts with wcslib, point by point
        tx, ty = frame.world_to_pixel_values(np.concatenate([w[0] for w in worlds]),
                                             np.concatenate([w[1] for w in worlds]))
        ends = np.cumsum([w[0].size for w in worlds])[:-1]
        mapped = zip(np.split(np.asarray(tx, float), ends), np.split(np.asarray(ty, float), ends))
    else:
        mapped = (tuple(np.asarray(a, float) for a in frame.world_to_pixel_values(*w)) for w in worlds)
    return [(ys, xs, mx.reshape(ys.size, xs.size), my.reshape(ys.size, xs.size))
            for (ys, xs), (mx, my) in zip(nodes, mapped)]


def _out_px_per_in_px(chip: Chip, frame_scale: float) -> float:
    scale = chip.pixel_scale_arcsec if chip.pixel_scale_arcsec and chip.pixel_scale_arcsec > 0 else frame_scale
    return scale / frame_scale


def plan_pieces(chips: Sequence[Chip], frame, blocks: Sequence[Block], *, kernel: str = "square",
                pixfrac: float = 1.0) -> list[list[Piece]]:
    """For each block, the pieces of the chips that reach it (headers and WCS only).

    Each chip's WCS is evaluated exactly on a grid every :data:`PLAN_STEP` pixels; a grid
    cell is kept for a block when its mapped bounding box, widened by the kernel's reach,
    the cell's own non-linearity and a margin, meets the block.  The piece is the bounding
    rectangle of the kept cells plus :data:`PIECE_MARGIN` pixels.
    """
    out: list[list[Piece]] = [[] for _ in blocks]
    if not blocks:
        return out
    ny_f, nx_f = frame.shape
    bsize_r = blocks[0].row1 - blocks[0].row0
    bsize_c = blocks[0].col1 - blocks[0].col0
    ncols_b = -(-nx_f // bsize_c)
    nrows_b = -(-ny_f // bsize_r)
    frame_scale = frame.pixel_scale_arcsec
    grids = _plan_grids(chips, frame.wcs)
    for k, chip in enumerate(chips):
        ny, nx = chip.shape
        ys, xs, tx, ty = grids[k]
        if not (np.isfinite(tx).any() and np.isfinite(ty).any()):
            continue
        if ys.size < 2 or xs.size < 2:  # a chip one pixel wide: one degenerate cell
            ys = np.array([ys[0], ys[-1]]) if ys.size >= 2 else np.array([ys[0], ys[0]])
            xs = np.array([xs[0], xs[-1]]) if xs.size >= 2 else np.array([xs[0], xs[0]])
            tx, ty = _grid_positions(chip, frame.wcs.deepcopy(), ys, xs)
        corners_x = np.stack([tx[:-1, :-1], tx[1:, :-1], tx[:-1, 1:], tx[1:, 1:]])
        corners_y = np.stack([ty[:-1, :-1], ty[1:, :-1], ty[:-1, 1:], ty[1:, 1:]])
        cx0, cx1 = np.nanmin(corners_x, axis=0), np.nanmax(corners_x, axis=0)
        cy0, cy1 = np.nanmin(corners_y, axis=0), np.nanmax(corners_y, axis=0)
        scale = 1.25 * _out_px_per_in_px(chip, frame_scale)
        margin = (kernel_reach(kernel, pixfrac) + 1.0) * scale + 2.0
        x_lo, x_hi = np.nanmin(cx0) - margin, np.nanmax(cx1) + margin
        y_lo, y_hi = np.nanmin(cy0) - margin, np.nanmax(cy1) + margin
        if x_hi < -0.5 or y_hi < -0.5 or x_lo > nx_f - 0.5 or y_lo > ny_f - 0.5:
            continue
        bc0 = max(0, int(np.floor((x_lo + 0.5) / bsize_c)))
        bc1 = min(ncols_b - 1, int(np.floor((x_hi + 0.5) / bsize_c)))
        br0 = max(0, int(np.floor((y_lo + 0.5) / bsize_r)))
        br1 = min(nrows_b - 1, int(np.floor((y_hi + 0.5) / bsize_r)))
        for br in range(br0, br1 + 1):
            for bc in range(bc0, bc1 + 1):
                blk = blocks[br * ncols_b + bc]
                hit = ((cx1 >= blk.col0 - 0.5 - margin) & (cx0 <= blk.col1 - 0.5 + margin)
                       & (cy1 >= blk.row0 - 0.5 - margin) & (cy0 <= blk.row1 - 0.5 + margin))
                if not hit.any():
                    continue
                rows = np.flatnonzero(hit.any(axis=1))
                cols = np.flatnonzero(hit.any(axis=0))
                r0 = max(0, int(ys[rows[0]]) - PIECE_MARGIN)
                r1 = min(ny, int(ys[rows[-1] + 1]) + 1 + PIECE_MARGIN)
                c0 = max(0, int(xs[cols[0]]) - PIECE_MARGIN)
                c1 = min(nx, int(xs[cols[-1] + 1]) + 1 + PIECE_MARGIN)
                out[blk.index].append(Piece(k, r0, r1, c0, c1))
    return out


def piece_pixmap(chip: Chip, frame_wcs, piece: Piece, stepsize: int | None) -> np.ndarray:
    """The pixel map (rows, cols, 2) of a piece, equal to that part of the whole chip's.

    ``frame_wcs`` must be the caller's own copy (a block task copies the frame's once).

    With ``stepsize`` > 1 the WCS is evaluated exactly on the chip's grid of nodes every
    ``stepsize`` pixels (anchored at pixel 0, as for the whole chip) and interpolated
    bilinearly; otherwise it is evaluated at every pixel (``drizzle.utils.calc_pixmap``'s
    computation restricted to the piece).
    """
    ny, nx = chip.shape
    rows = np.arange(piece.row0, piece.row1, dtype=float)
    cols = np.arange(piece.col0, piece.col1, dtype=float)
    ys_all = grid_nodes(0, ny, int(stepsize)) if stepsize and stepsize > 1 else None
    xs_all = grid_nodes(0, nx, int(stepsize)) if stepsize and stepsize > 1 else None
    if ys_all is None or ys_all.size < 2 or xs_all.size < 2:
        gx, gy = np.meshgrid(cols, rows)
        x, y = frame_wcs.world_to_pixel_values(*chip.wcs.deepcopy().pixel_to_world_values(gx, gy))
        return np.dstack([np.asarray(x, np.float64), np.asarray(y, np.float64)])
    ky, ty = _segments(ys_all, rows)
    kx, tx = _segments(xs_all, cols)
    ny0, ny1 = int(ky.min()), int(ky.max()) + 2
    nx0, nx1 = int(kx.min()), int(kx.max()) + 2
    gxv, gyv = _grid_positions(chip, frame_wcs, ys_all[ny0:ny1], xs_all[nx0:nx1])
    ky = ky - ny0
    kx = kx - nx0
    xy = _upsample(np.stack((gxv, gyv)), ky, ty, kx, tx)
    return np.stack([xy[0].astype(np.float64), xy[1].astype(np.float64)], axis=-1)


def read_region_in_memory(task: PieceTask) -> RegionPixels:
    """Read a piece through its chip's :class:`~skymatch.models.PixelSource` (whole chip,
    then sliced); the static mask must be an array or None."""
    p = task.piece
    px = task.chip.pixels.read()
    sl = (slice(p.row0, p.row1), slice(p.col0, p.col1))
    static = None if task.static is None else np.asarray(task.static)[sl]
    return RegionPixels(np.asarray(px.data)[sl], None if px.dq is None else np.asarray(px.dq)[sl], static)


def _basis(shape, piece: Piece, i: int, j: int) -> np.ndarray:
    xc, yc, h = normalisation(shape)
    u = (np.arange(piece.col0, piece.col1) - xc) / h
    v = (np.arange(piece.row0, piece.row1) - yc) / h
    return np.outer(v**j, u**i).astype(np.float32)


def _model(shape, piece: Piece, coeffs: tuple[float, ...]) -> np.ndarray | np.float32:
    if len(coeffs) == 1:
        return np.float32(coeffs[0])
    out = np.zeros((piece.row1 - piece.row0, piece.col1 - piece.col0))
    xc, yc, h = normalisation(shape)
    u = (np.arange(piece.col0, piece.col1) - xc) / h
    v = (np.arange(piece.row0, piece.row1) - yc) / h
    for c, (i, j) in zip(coeffs, monomials(order_of_coeffs(len(coeffs)))):
        if c:
            out += c * np.outer(v**j, u**i)
    return out.astype(np.float32)


def _terms(skies: Sequence[tuple[float, ...]]) -> list[tuple[int, int]]:
    """Non-constant monomials with a non-zero coefficient in any of ``skies``."""
    terms: list[tuple[int, int]] = []
    for coeffs in skies:
        for c, t in zip(coeffs, monomials(order_of_coeffs(len(coeffs)))):
            if c and t != (0, 0) and t not in terms:
                terms.append(t)
    return terms


def _coeff(coeffs: tuple[float, ...], term: tuple[int, int]) -> float:
    mono = monomials(order_of_coeffs(len(coeffs)))
    return float(coeffs[mono.index(term)]) if term in mono else 0.0


def drizzle_block(task: BlockTask, read_region: Callable[[PieceTask], RegionPixels] = read_region_in_memory,
                  ) -> BlockResult:
    """Drizzle one block of the output frame from its pieces.

    Parameters
    ----------
    task : BlockTask
        The block, its pieces (in input order) and the drizzle options.
    read_region : callable
        Returns a piece's pixels (the pipeline reads FITS sections; the default reads
        the chip through its pixel source and slices).

    Returns
    -------
    BlockResult
        One float32 mosaic block per label, the float32 weight and the context block
        (bit planes, or local ids and their input sets).
    """
    blk = task.block
    params = task.params
    shape = blk.shape
    flags = params.flags
    nlab = task.n_labels
    num = np.zeros(shape, dtype=np.float64)  # sum of weight x data (x sky-free data)
    wsum = np.zeros(shape, dtype=np.float64)
    skysum = [np.zeros(shape, dtype=np.float64) for _ in range(nlab)] if task.shared else []
    planes = ids = None
    if task.context == "planes":
        planes = np.zeros((n_planes(task.n_inputs),) + shape, dtype=np.int32)
    elif task.context == "table":
        ids = ContextIds(shape)
    out_scale = _frame_scale(task.frame_wcs)
    frame_wcs = task.frame_wcs.deepcopy()  # this task's own (see piece_pixmap)
    for pt in task.pieces:
        piece, chip = pt.piece, pt.chip
        data, good = _piece_pixels(read_region(pt), flags)
        if not good.any():
            continue
        exptime = chip.exptime if chip.exptime and chip.exptime > 0 else 1.0
        weight = good.astype(np.float32) * np.float32(exptime)
        counts = chip.unit_kind == "counts"
        ratio = out_scale / chip.pixel_scale_arcsec
        pixmap = piece_pixmap(chip, frame_wcs, piece, params.stepsize)
        win = _window(pixmap, blk, (kernel_reach(params.kernel, params.pixfrac) + 1.0) * 1.25 / ratio + 2.0)
        if win is None:
            continue
        (wr0, wr1, wc0, wc1), (core, wsl) = win
        pixmap -= np.array([wc0, wr0], dtype=np.float64)
        kw = dict(exptime=exptime, pixmap=pixmap, weight_map=weight, iscale=ratio * ratio,
                  pixel_scale_ratio=ratio, pixfrac=params.pixfrac, in_units="counts" if counts else "cps")
        wshape = (wr1 - wr0, wc1 - wc0)
        img = data if task.shared else data - _model(chip.shape, piece, pt.skies[0])
        mean, dw, hit = _drizzle_window(img, wshape, params.kernel, kw, task.context != "none")
        dw = dw[wsl]
        contributed = dw != 0
        num[core] += np.where(contributed, mean[wsl].astype(np.float64) * dw, 0.0)
        wsum[core] += dw
        if task.shared:
            factor = float(np.float32(ratio * ratio) / np.float32(exptime if counts else 1.0))
            _add_skies(skysum, pt, core, wsl, dw, factor,
                       partial(_drizzled_basis, shape=chip.shape, piece=piece, wshape=wshape,
                               kernel=params.kernel, kw=kw))
        if hit is not None:
            if planes is not None:
                set_plane_bits(planes, piece.index, hit[wsl], core)
            else:
                ids.add(piece.index, hit[wsl], core)
    scis = _block_images(task, num, wsum, skysum)
    if ids is not None:
        ids.compact()
        return BlockResult(blk, tuple(scis), wsum.astype(np.float32), ids.ids, tuple(ids.sets))
    return BlockResult(blk, tuple(scis), wsum.astype(np.float32), planes)


def _piece_pixels(px: RegionPixels, flags) -> tuple[np.ndarray, np.ndarray]:
    """A piece's data (float32, non-finite set to 0) and its usable pixels (finite, DQ
    flags, static mask)."""
    data = np.array(px.data, dtype=np.float32)
    good = np.isfinite(data)
    dqgood = dq_good_mask(px.dq, flags)
    if dqgood is not None:
        good &= dqgood
    if px.static is not None:
        good &= np.asarray(px.static, dtype=bool)
    data[~np.isfinite(data)] = 0.0
    return data, good


def _drizzled_basis(term, *, shape, piece, wshape, kernel, kw) -> np.ndarray:
    """One monomial of the sky model over a piece, drizzled like its data (the mean)."""
    return _drizzle_window(_basis(shape, piece, *term), wshape, kernel, kw, False)[0]


def _add_skies(skysum: list, pt, core, wsl, dw: np.ndarray, factor: float, drizzled_basis) -> None:
    """Add every label's sky model of one piece, drizzled like its data, to ``skysum``:
    the constant terms directly, each other monomial drizzled once (``drizzled_basis``)
    and shared by all labels."""
    for m, coeffs in enumerate(pt.skies):
        if coeffs[0]:
            skysum[m][core] += (float(coeffs[0]) * factor) * dw
    contributed = dw != 0
    for term in _terms(pt.skies):
        bmean = drizzled_basis(term)
        bsum = np.where(contributed, bmean[wsl].astype(np.float64) * dw, 0.0)
        for m, coeffs in enumerate(pt.skies):
            a = _coeff(coeffs, term)
            if a:
                skysum[m][core] += a * bsum


def _block_images(task: BlockTask, num: np.ndarray, wsum: np.ndarray, skysum: list) -> list[np.ndarray]:
    """The block's float32 image of every label (fill value where nothing landed)."""
    params = task.params
    has = wsum > 0
    fill = np.nan if params.fillval is None else np.float32(params.fillval)
    scis = []
    for m in range(task.n_labels):
        with np.errstate(invalid="ignore", divide="ignore"):
            val = (num - skysum[m]) / wsum if task.shared else num / wsum
        sci = val.astype(np.float32)
        if params.units == "counts":
            sci *= np.float32(task.total_exptime)
        sci[~has] = fill
        scis.append(sci)
    return scis


def _frame_scale(wcs) -> float:
    cd = wcs.wcs.cd if wcs.wcs.has_cd() else wcs.pixel_scale_matrix
    return float(np.hypot(cd[0, 0], cd[1, 0]) * 3600.0)


def _window(pixmap: np.ndarray, blk: Block, pad: float):
    """The output window (rows, cols) holding a piece's whole image, and the slices of its
    overlap with the block (block-relative, window-relative); None when they miss."""
    x = pixmap[..., 0]
    y = pixmap[..., 1]
    if not (np.isfinite(x).any() and np.isfinite(y).any()):
        return None
    wc0 = int(np.floor(np.nanmin(x) - pad))
    wc1 = int(np.ceil(np.nanmax(x) + pad)) + 1
    wr0 = int(np.floor(np.nanmin(y) - pad))
    wr1 = int(np.ceil(np.nanmax(y) + pad)) + 1
    r0, r1 = max(wr0, blk.row0), min(wr1, blk.row1)
    c0, c1 = max(wc0, blk.col0), min(wc1, blk.col1)
    if r0 >= r1 or c0 >= c1:
        return None
    core = (slice(r0 - blk.row0, r1 - blk.row0), slice(c0 - blk.col0, c1 - blk.col0))
    wsl = (slice(r0 - wr0, r1 - wr0), slice(c0 - wc0, c1 - wc0))
    return (wr0, wr1, wc0, wc1), (core, wsl)


def _drizzle_window(img: np.ndarray, wshape, kernel: str, kw: dict, context: bool):
    """Drizzle one image onto a fresh window: (weighted mean, weight, contributed or None)."""
    d = Drizzle(kernel=kernel, fillval=None, out_shape=wshape, max_ctx_id=0, disable_ctx=not context)
    if kernel in NON_CONSERVING_KERNELS:
        # drizzle warns at every call for these kernels; plan_drizzle warns once instead.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not a flux-conserving kernel")
            warnings.filterwarnings("ignore", message="In lanczos kernel, pixel_fraction is ignored")
            d.add_image(img, **kw)
    else:
        d.add_image(img, **kw)
    hit = None
    if context:
        hit = (d.out_ctx[0] & 1) != 0
    return d.out_img, d.out_wht, hit
