"""The four methods with a sky model beyond a constant (SPEC section 12).

* ``localmin``: each exposure's model fitted to its own cells (sources and nebulae
  clipped cell by cell, then whole cells rejected by a robust fit);
* ``globalmin``: every exposure keeps its own model's shape, and all get one common
  level, the lowest exposure level (the level of a model is its mean over the
  exposure's pixels; for a plane it is the constant term);
* ``match``: the overlap cells solved jointly (:func:`~skymatch.core._modelfit.solve_models`),
  the free polynomial of each connected group fixed by the mean of the exposures' own
  fits (non-constant part) and by ``match_down`` (level);
* ``globalmin+match``: the matched models plus one constant per group,
  ``min_e (L_e - M_e)`` of the levels, as for constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import Chip
from ._constant import _warn_components
from ._frames import ExposureFrame, basis_means, basis_values, exposure_frame
from ._modelfit import CellEquations, LocalFit, ModelSolution, fit_local, solve_models
from ._skymodel import n_terms

__all__ = ["ModelInputs", "MethodModel", "ModelSolved", "model_solutions", "overlap_equations",
           "exposure_frames", "LEVEL_ONLY"]

LEVEL_ONLY = "level only"  # the model's shape came from the exposure's own fit


@dataclass(frozen=True)
class ModelInputs:
    """What the model solutions need from the run's measurements."""

    chips: list
    exposures: object  # _Exposures of the engine (ids, of, members)
    order: int
    chip_cells: list  # CellStats (or None) per chip, from the chip pass
    overlaps: object  # the engine's _Overlaps, or None
    lsigma: float
    usigma: float


@dataclass(frozen=True)
class MethodModel:
    """One method's models: frame coefficients (brightness) per exposure, covariance,
    validity, provenance and status (``''`` or :data:`LEVEL_ONLY`)."""

    theta: np.ndarray
    cov: np.ndarray
    level_err: np.ndarray
    valid: np.ndarray
    how: list
    status: list


@dataclass(frozen=True)
class ModelSolved:
    """Everything the model path produced for one model order."""

    order: int
    frames: list
    local: list
    levels: np.ndarray  # (n_exp, T): level of an exposure = levels[e] @ theta_e
    methods: dict
    equations: CellEquations | None
    solution: ModelSolution | None


def exposure_frames(chips: list[Chip], exps, *, pixel: bool = False) -> list[ExposureFrame]:
    """The frame of every exposure (see :mod:`skymatch.core._frames`); ``pixel``: single
    chips in their own pixel grid."""
    return [exposure_frame([chips[k] for k in members], pixel=pixel) for members in exps.members]


def _cell_design(frame: ExposureFrame, k_in_exp: int, x, y, moments, moment_order: int,
                 order: int) -> np.ndarray:
    u, v, jac = frame.local_affine(k_in_exp, x, y)
    return basis_means(u, v, jac, moments, moment_order, order)


def _position_in_exposure(exps, k: int) -> int:
    members = exps.members[exps.of[k]]
    return int(np.nonzero(members == k)[0][0])


def overlap_equations(chips, exps, overlaps, frames, order: int) -> CellEquations:
    """The overlap cells of a run as equations between exposure models (brightness)."""
    T = n_terms(order)
    parts = []
    pair_index: dict[tuple[int, int], int] = {}
    plane = overlaps.footprints.plane
    for (ei, ej, a, b), res in zip(overlaps.owners, overlaps.results):
        if res.cells is None:
            continue
        c = res.cells
        if not len(c):
            continue
        pa, pb = _position_in_exposure(exps, a), _position_in_exposure(exps, b)
        (xm, ym, mom_m), (xn, yn, mom_n) = c.m, c.n
        ai = _cell_design(frames[ei], pa, xm, ym, mom_m, c.order, order)
        aj = _cell_design(frames[ej], pb, xn, yn, mom_n, c.order, order)
        diff, value_m, sigma, npix = c.diff, c.value_m, c.sigma, c.npix
        ra, dec = chips[a].wcs.deepcopy().pixel_to_world_values(xm, ym)
        xi, eta = plane.project(np.asarray(ra), np.asarray(dec))
        p = pair_index.setdefault((ei, ej), len(pair_index))
        n = len(c)
        parts.append(CellEquations(
            i=np.full(n, ei, np.int64), j=np.full(n, ej, np.int64), ai=ai, aj=aj,
            bi=value_m, bj=value_m - diff, sigma=sigma, npix=npix, pair=np.full(n, p, np.int64),
            xi=np.asarray(xi), eta=np.asarray(eta)))
    return CellEquations.concatenate(parts, T)


def _local_fits(inp: ModelInputs, frames) -> list[LocalFit | None]:
    exps, chips, order = inp.exposures, inp.chips, inp.order
    out = []
    for e, members in enumerate(exps.members):
        A, b, s = [], [], []
        for pos, k in enumerate(members):
            cells = inp.chip_cells[k]
            if cells is None or not len(cells):
                continue
            A.append(_cell_design(frames[e], pos, cells.x, cells.y, cells.moments, cells.order, order))
            b.append(chips[k].conv * cells.value)
            s.append(chips[k].conv * cells.sigma)
        if not A:
            out.append(None)
            continue
        out.append(fit_local(np.vstack(A), np.concatenate(b), np.concatenate(s),
                             lsigma=inp.lsigma, usigma=inp.usigma))
    return out


def _levels(chips, exps, frames, order) -> np.ndarray:
    T = n_terms(order)
    out = np.zeros((exps.n, T))
    for e, members in enumerate(exps.members):
        w = np.array([chips[k].shape[0] * chips[k].shape[1] for k in members], dtype=float)
        vecs = np.array([frames[e].chip_mean_vector(pos, order) for pos in range(len(members))])
        out[e] = (w[:, None] * vecs).sum(axis=0) / w.sum()
    return out


def _coverage(exps, frames, order: int, n: int = 9) -> np.ndarray:
    """Mean outer product of every exposure's basis over a grid of its chips' pixels."""
    out = np.zeros((exps.n, n_terms(order), n_terms(order)))
    for e, members in enumerate(exps.members):
        b = []
        for pos in range(len(members)):
            gx, gy = frames[e].chip_grid(pos, n)
            u, v, _ = frames[e].local_affine(pos, gx, gy)
            b.append(basis_values(u, v, order))
        b = np.vstack(b)
        out[e] = b.T @ b / len(b)
    return out


def gauge_vectors(chips, exps, frames, plane, order: int, n: int = 7) -> np.ndarray:
    """``G[e]`` (T x T): column k is the global monomial k of the mosaic's tangent plane
    written in exposure e's frame (a least-squares fit over its chips)."""
    T = n_terms(order)
    samples = []
    for e, members in enumerate(exps.members):
        uv, xy = [], []
        for pos, k in enumerate(members):
            gx, gy = frames[e].chip_grid(pos, n)
            u, v, _ = frames[e].local_affine(pos, gx, gy)
            ra, dec = chips[k].wcs.deepcopy().pixel_to_world_values(gx, gy)
            xi, eta = plane.project(np.asarray(ra), np.asarray(dec))
            uv.append(np.column_stack([u, v]))
            xy.append(np.column_stack([xi, eta]))
        samples.append((np.vstack(uv), np.vstack(xy)))
    allxy = np.vstack([s[1] for s in samples])
    centre = 0.5 * (allxy.min(axis=0) + allxy.max(axis=0))
    half = 0.5 * float(np.max(allxy.max(axis=0) - allxy.min(axis=0))) or 1.0
    G = np.zeros((exps.n, T, T))
    for e, (uv, xy) in enumerate(samples):
        own = basis_values(uv[:, 0], uv[:, 1], order)
        glob = basis_values((xy[:, 0] - centre[0]) / half, (xy[:, 1] - centre[1]) / half, order)
        G[e], *_ = np.linalg.lstsq(own, glob, rcond=None)
        G[e][np.abs(G[e]) < 1e-12] = 0.0
    return G


def model_solutions(inp: ModelInputs, methods, *, match_down: bool = True) -> ModelSolved:
    """Models of every exposure for every requested method.

    A single-chip exposure's model lives in its own pixel grid (where ``SKYCij`` are
    defined: written exactly, and where a detector's sky lives); an exposure of several
    chips in its distortion-free frame (:mod:`skymatch.core._frames`).  With distortion,
    one global plane on the sky is not exactly a plane in every pixel grid, so the
    polynomial no overlap determines is only nearly free there; :func:`_gauge_target`
    fixes it first in distortion-free frames, where it is exactly free.
    """
    chips, exps, order = inp.chips, inp.exposures, inp.order
    T = n_terms(order)
    frames = exposure_frames(chips, exps, pixel=True)
    local = _local_fits(inp, frames)
    levels = _levels(chips, exps, frames, order)
    th_local, cov_local = _stack_local(local, T)
    L = np.einsum("et,et->e", levels, th_local)
    L_err = np.sqrt(np.maximum(np.einsum("et,etu,eu->e", levels, cov_local, levels), 0.0))
    eq = solution = None
    matched = None
    if any("match" in m for m in methods):
        eq = overlap_equations(chips, exps, inp.overlaps, frames, order)
        G = gauge_vectors(chips, exps, frames, inp.overlaps.footprints.plane, order)
        solution = solve_models(exps.n, T, eq, G, th_local, cov_local, _coverage(exps, frames, order),
                                target=_gauge_target(inp, frames))
        matched = _match_down(solution, levels, match_down)
        comps = [[exps.ids[e] for e in np.nonzero(solution.labels == lab)[0]]
                 for lab in range(solution.n_components)]
        _warn_components(comps, [exps.ids[e] for e in range(exps.n) if solution.labels[e] < 0], False)
    out = {}
    for m in methods:
        out[m] = _combine(m, th_local, cov_local, L, L_err, levels, local, matched, solution, T)
    return ModelSolved(order, frames, local, levels, out, eq, solution)


def _stack_local(local, T):
    th = np.array([f.theta if f is not None else np.full(T, np.nan) for f in local])
    cov = np.array([f.cov if f is not None else np.full((T, T), np.nan) for f in local])
    return th, cov


def _gauge_target(inp: ModelInputs, frames) -> np.ndarray | None:
    """The joint solution in distortion-free frames, written in ``frames`` (None when they
    are the same): the free polynomial of the final solve is set equal to its."""
    chips, exps, order = inp.chips, inp.exposures, inp.order
    lin = exposure_frames(chips, exps)
    if all(a.single == b.single for a, b in zip(lin, frames)):
        return None
    T = n_terms(order)
    th_local, cov_local = _stack_local(_local_fits(inp, lin), T)
    eq = overlap_equations(chips, exps, inp.overlaps, lin, order)
    G = gauge_vectors(chips, exps, lin, inp.overlaps.footprints.plane, order)
    sol = solve_models(exps.n, T, eq, G, th_local, cov_local, _coverage(exps, lin, order))
    target = sol.theta.copy()
    for e, (a, b) in enumerate(zip(lin, frames)):
        if b.single and not a.single and np.all(np.isfinite(target[e])):
            target[e] = a.to_chip(0, order) @ target[e]
    return target


def _match_down(sol: ModelSolution, levels, match_down: bool) -> np.ndarray:
    theta = sol.theta.copy()
    lev = np.einsum("et,et->e", levels, theta)
    for lab in range(sol.n_components):
        members = np.nonzero(sol.labels == lab)[0]
        ref = lev[members].min() if match_down else lev[members].max()
        theta[members, 0] -= ref
    return theta


def _combine(method, th_local, cov_local, L, L_err, levels, local, matched, sol, T) -> MethodModel:
    n = th_local.shape[0]
    theta = np.full((n, T), np.nan)
    cov = np.full((n, T, T), np.nan)
    level_err = np.full(n, np.nan)
    how = [method] * n
    status = [""] * n
    defined = np.isfinite(L)
    for e in range(n):
        if local[e] is not None and not local[e].full_rank:
            status[e] = LEVEL_ONLY
    if method == "localmin":
        theta[defined] = th_local[defined]
        cov[defined] = cov_local[defined]
        level_err[defined] = L_err[defined]
    elif method == "globalmin":
        if defined.any():
            k = int(np.nonzero(defined)[0][np.argmin(L[defined])])
            theta[defined] = th_local[defined]
            theta[defined, 0] += L[k] - L[defined]
            cov[defined] = cov_local[defined]
            level_err[defined] = L_err[k]
    else:
        good = np.all(np.isfinite(matched), axis=1)
        status = [LEVEL_ONLY if sol.undetermined[e] else status[e] for e in range(n)]
        M = np.einsum("et,et->e", levels, np.where(good[:, None], matched, 0.0))
        M_err = np.sqrt(np.maximum(np.einsum("et,etu,eu->e", levels, np.where(good[:, None, None], sol.cov, 0.0), levels), 0.0))
        if method == "match":
            theta[good] = matched[good]
            cov[good] = sol.cov[good]
            level_err[good] = M_err[good]
            for e in np.nonzero(~good)[0]:
                how[e] = "no-overlap"
        else:  # globalmin+match, per connected group; exposures in no overlap keep their own fit
            for lab in range(sol.n_components):
                g = np.nonzero(sol.labels == lab)[0]
                dg = g[defined[g]]
                if not dg.size:
                    continue
                k = int(dg[np.argmin(L[dg] - M[dg])])
                theta[g] = matched[g]
                theta[g, 0] += L[k] - M[k]
                cov[g] = sol.cov[g]
                level_err[g] = np.sqrt(M_err[g] ** 2 + L_err[k] ** 2 + M_err[k] ** 2)
            for e in np.nonzero(~good & defined)[0]:
                theta[e] = th_local[e]
                cov[e] = cov_local[e]
                level_err[e] = L_err[e]
                how[e] = "globalmin+match (no overlap)"
    valid = np.all(np.isfinite(theta), axis=1)
    for e in np.nonzero(~valid)[0]:
        if how[e] == method:
            how[e] = "no-data"
    return MethodModel(theta, cov, level_err, valid, how, status)


def chip_coefficients(frames, exps, e: int, theta: np.ndarray, order: int):
    """Per chip of exposure ``e``: (chip index, SKYCij in brightness, mean vector)."""
    out = []
    for pos, k in enumerate(exps.members[e]):
        M = frames[e].to_chip(pos, order)
        out.append((int(k), M @ theta, frames[e].chip_mean_vector(pos, order)))
    return out


def pad(theta: np.ndarray, order: int, to_order: int) -> np.ndarray:
    """Coefficients of a lower-order model as a ``to_order`` model (monomials are a prefix)."""
    out = np.zeros(theta.shape[:-1] + (n_terms(to_order),))
    out[..., : n_terms(order)] = theta
    return out

