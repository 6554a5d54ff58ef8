"""Fitting sky models: each exposure's own sky, and all overlaps jointly (SPEC section 12).

Equations come from cells (:mod:`skymatch.core._cells`).  An exposure's own cells give
``a . theta_e = b`` (its *local* model); a cell of an overlap between exposures i and j
gives ``a_i . theta_i - a_j . theta_j = d`` (the mean difference of their pixels at the
same positions on the sky), weighted by its inverse variance.

The overlaps are solved jointly as one sparse weighted least-squares problem.  What no
overlap can determine — one polynomial added to every exposure of a connected group — is
fixed by exact constraints: the exposures' mean slope (curvature ...) along every
direction of the mosaic is zero, and their constant terms sum to zero (as the
Reference's pseudo-inverse makes the constant ``match`` skies sum to zero); the level is
then set by ``match_down`` (:mod:`skymatch.core._models_engine`).
The mean of the exposures' own fits is *not* used for the free slopes: under a nebula or
a galaxy those fits are biased by real large-scale emission, and importing their mean
would tilt the mosaic by part of it.

A direction of one exposure's model that its overlaps cannot see (a corner overlap gives
no slopes) takes the exposure's own fit there, and the exposure is reported; a ridge of
negligible weight towards the own fits keeps the system regular everywhere else.

Uncertainties: the covariance of the constrained least-squares solution, scaled by the
Birge ratio ``sqrt(max(1, chi2 / dof))`` when the cells disagree more than their
statistical errors say; computed exactly up to a few thousand unknowns and by random
probing (Hutchinson) beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import eigh
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

__all__ = ["CellEquations", "LocalFit", "ModelSolution", "fit_local", "solve_models",
           "DEGENERATE", "EXACT_LIMIT"]

DEGENERATE = 1e-2  # overlap / own-fit information below which a direction counts as undetermined
DEGENERATE_COVERAGE = 1e-3  # the same against a uniformly covered exposure, without an own fit
EXACT_LIMIT = 3000  # unknowns up to which covariances are computed exactly
_N_PROBES = 96


@dataclass(frozen=True)
class CellEquations:
    """Overlap cell equations ``ai . theta_i - aj . theta_j = bi - bj`` (brightness units)."""

    i: np.ndarray
    j: np.ndarray
    ai: np.ndarray
    aj: np.ndarray
    bi: np.ndarray  # cell value measured on exposure i's pixels (brightness)
    bj: np.ndarray
    sigma: np.ndarray
    npix: np.ndarray
    pair: np.ndarray  # index of the exposure pair (i, j) in the run's pair list
    xi: np.ndarray  # tangent-plane position of the cell (for pictures)
    eta: np.ndarray

    @property
    def n(self) -> int:
        return int(self.bi.size)

    @property
    def d(self) -> np.ndarray:
        return self.bi - self.bj

    def take(self, idx) -> "CellEquations":
        return CellEquations(*(getattr(self, f)[idx] for f in (
            "i", "j", "ai", "aj", "bi", "bj", "sigma", "npix", "pair", "xi", "eta")))

    @classmethod
    def concatenate(cls, parts: list["CellEquations"], n_terms: int) -> "CellEquations":
        if not parts:
            z = np.zeros(0)
            zi = np.zeros(0, np.int64)
            return cls(zi, zi, np.zeros((0, n_terms)), np.zeros((0, n_terms)), z, z, z, z, zi, z, z)
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in (
            "i", "j", "ai", "aj", "bi", "bj", "sigma", "npix", "pair", "xi", "eta")))


@dataclass(frozen=True)
class LocalFit:
    """An exposure's model fitted to its own sky cells."""

    theta: np.ndarray
    cov: np.ndarray
    n_cells: int
    n_used: int
    chi2_red: float
    full_rank: bool


def fit_local(a: np.ndarray, b: np.ndarray, sigma: np.ndarray, *, lsigma: float, usigma: float,
              max_iter: int = 10) -> LocalFit | None:
    """Robust weighted fit of ``a . theta = b`` to an exposure's own cells.

    Cells whose normalised residual lies beyond ``lsigma``/``usigma`` times the robust
    scale of all residuals (sources, nebulae) are dropped and the fit repeated until
    the set of cells no longer changes.  Returns None without cells; a rank-deficient
    design falls back to the constant term alone (``full_rank=False``).
    """
    n, T = a.shape
    if n == 0:
        return None
    w = 1.0 / np.maximum(sigma, 1e-300) ** 2
    use = np.ones(n, dtype=bool)
    full_rank = n >= T and np.linalg.matrix_rank(a * np.sqrt(w)[:, None]) == T
    cols = np.arange(T) if full_rank else np.array([0])
    theta = np.zeros(T)
    for _ in range(max_iter):
        aw = a[use][:, cols] * np.sqrt(w[use])[:, None]
        bw = b[use] * np.sqrt(w[use])
        sol, *_ = np.linalg.lstsq(aw, bw, rcond=None)
        theta = np.zeros(T)
        theta[cols] = sol
        z = (b - a @ theta) * np.sqrt(w)
        med = float(np.median(z[use]))
        scale = 1.4826 * float(np.median(np.abs(z[use] - med)))
        if not scale > 0:
            break
        new = (z >= med - lsigma * scale) & (z <= med + usigma * scale)
        if new.sum() < len(cols) or np.array_equal(new, use):
            break
        use = new
    aw = a[use][:, cols] * np.sqrt(w[use])[:, None]
    dof = max(1, int(use.sum()) - len(cols))
    z = (b - a @ theta) * np.sqrt(w)
    chi2_red = float(np.sum(z[use] ** 2) / dof)
    cov = np.zeros((T, T))
    try:
        cov_sub = np.linalg.inv(aw.T @ aw) * max(1.0, chi2_red)
    except np.linalg.LinAlgError:
        cov_sub = np.full((len(cols), len(cols)), np.nan)
    cov[np.ix_(cols, cols)] = cov_sub
    return LocalFit(theta, cov, n, int(use.sum()), chi2_red, bool(full_rank))


@dataclass(frozen=True)
class ModelSolution:
    """The joint solution of the overlap equations.

    ``theta[e]`` (NaN for exposures in no equation), ``cov[e]`` its covariance,
    ``labels`` the connected group of every exposure (-1: in no overlap), ``residuals``
    of every equation, ``undetermined[e]`` True where some direction of e's model came
    from its own fit, ``chi2_red`` and ``birge`` (the scale applied to ``cov``).
    """

    theta: np.ndarray
    cov: np.ndarray
    labels: np.ndarray
    n_components: int
    residuals: np.ndarray
    undetermined: np.ndarray
    chi2_red: float
    birge: float


def _design(eq: CellEquations, index: np.ndarray, T: int, n_unk: int) -> sparse.csr_matrix:
    rows = np.repeat(np.arange(eq.n), 2 * T)
    cols = np.concatenate([(index[eq.i][:, None] * T + np.arange(T)),
                           (index[eq.j][:, None] * T + np.arange(T))], axis=1).ravel()
    vals = np.concatenate([eq.ai, -eq.aj], axis=1).ravel()
    return sparse.csr_matrix((vals, (rows, cols)), shape=(eq.n, n_unk))


def solve_models(n_exp: int, T: int, eq: CellEquations, gauge: np.ndarray, local: np.ndarray,
                 local_cov: np.ndarray | None = None, coverage: np.ndarray | None = None, *,
                 target: np.ndarray | None = None, rng: int | np.random.Generator = 0,
                 exact_limit: int = EXACT_LIMIT) -> ModelSolution:
    """Solve the overlap equations of all exposures jointly.

    Parameters
    ----------
    n_exp, T : int
        Number of exposures and of model coefficients.
    eq : CellEquations
        The overlap cells.
    gauge : array (n_exp, T, T)
        Column k of ``gauge[e]``: the global monomial k (in the mosaic's tangent plane)
        written in exposure e's frame — the directions no overlap can determine.
    local : array (n_exp, T)
        Each exposure's own (local) model, NaN where there is none: it fills directions
        an exposure's overlaps cannot determine.
    local_cov : array (n_exp, T, T), optional
        Its covariance (the uncertainty of directions taken from the own fit).
    coverage : array (n_exp, T, T), optional
        Mean outer product of each exposure's basis over its pixels: what an overlap
        covering the whole exposure would measure, the yardstick of "undetermined".
    target : array (n_exp, T), optional
        A solution whose free polynomial this one must share: the constraints become
        ``C theta = C target`` instead of ``C theta = 0`` (the second stage of
        :func:`skymatch.core._models_engine.model_solutions`).
    rng : int or Generator
        Random probes for the covariance of large problems.
    """
    theta = np.full((n_exp, T), np.nan)
    cov = np.full((n_exp, T, T), np.nan)
    if local_cov is None:
        local_cov = np.full((n_exp, T, T), np.nan)
    labels = np.full(n_exp, -1, dtype=np.int64)
    undetermined = np.zeros(n_exp, dtype=bool)
    if eq.n == 0:
        return ModelSolution(theta, cov, labels, 0, np.zeros(0), undetermined, math.nan, 1.0)
    used = np.unique(np.concatenate([eq.i, eq.j]))
    index = np.full(n_exp, -1, dtype=np.int64)
    index[used] = np.arange(used.size)
    n_unk = used.size * T
    adj = sparse.coo_matrix((np.ones(eq.n), (index[eq.i], index[eq.j])), shape=(used.size, used.size))
    n_comp, comp = connected_components(adj, directed=False)
    # Number the groups in the order of their first exposure, as the constant solve does.
    order = {c: k for k, c in enumerate(dict.fromkeys(comp))}
    comp = np.array([order[c] for c in comp])
    labels[used] = comp

    w = 1.0 / np.maximum(eq.sigma, 1e-300) ** 2
    A = _design(eq, index, T, n_unk)
    N = (A.T @ sparse.diags(w) @ A).tocsr()
    rhs = A.T @ (w * eq.d)
    R, prior_rhs, prior_w, ridge_w, n_strong = _priors(N, used, T, local, local_cov, undetermined, coverage)
    if R.shape[0]:
        rhs = rhs + R.T @ (prior_w * prior_rhs)
    C = _constraints(gauge, used, comp, n_comp, T, undetermined)
    kkt = sparse.bmat([[N + R.T @ sparse.diags(prior_w) @ R, C.T], [C, None]], format="csc")
    c_rhs = np.zeros(C.shape[0]) if target is None else C @ np.nan_to_num(target[used]).ravel()
    x = _kkt_solve(kkt, np.concatenate([rhs, c_rhs]))
    th = x[:n_unk].reshape(used.size, T)
    res = eq.d - A @ th.ravel()
    dof = eq.n + n_strong - (n_unk - C.shape[0])
    chi2 = float(np.sum(w * res**2))
    chi2_red = chi2 / dof if dof > 0 else math.nan
    birge = math.sqrt(max(1.0, chi2_red)) if dof > 0 else 1.0
    theta[used] = th
    blocks = _cov_blocks(kkt, A, w, n_unk, T, exact_limit, rng, (R, prior_w) if R.shape[0] else None)
    # A direction only the ridge determined (no overlap sees it, e.g. a curvature across a
    # strip narrower than the model can resolve) has a variance of ~1/ridge weight: such
    # an exposure took its own fit there.
    for k, e in enumerate(used):
        if T > 1 and ridge_w[k] > 0 and np.max(np.diag(blocks[k])[1:]) > 0.01 / ridge_w[k]:
            undetermined[e] = True
            if np.all(np.isfinite(local_cov[e])):
                blocks[k] = _own_fit_where_ridge(blocks[k], local_cov[e] / birge**2, 0.01 / ridge_w[k])
    cov[used] = blocks * birge**2
    return ModelSolution(theta, cov, labels, int(n_comp), res, undetermined, chi2_red, birge)


RIDGE = 1e-10  # weight of each exposure's own fit, relative to its strongest overlap information


def _priors(N, used, T, local, local_cov, undetermined, coverage):
    """Prior equations pulling exposure models towards their own fits.

    Every non-constant coefficient gets a ridge of weight ``RIDGE`` times the exposure's
    strongest overlap information (negligible wherever overlaps determine the model,
    decisive where nothing does, so the system is never singular).  A direction of an
    exposure's model on which its overlaps carry less than ``DEGENERATE`` of the
    information its own sky fit carries (generalised eigenvalues of the overlap
    information against the own fit's precision; against ``coverage[e]``, the whole
    exposure uniformly covered, when there is no own fit) gets a strong prior towards
    that fit and marks the exposure: a corner overlap, a strip too thin for a slope.
    The own fit's uncertainty grows with what it could not fit (a nebula inflates its
    reduced chi-square), so a biased own fit rarely takes over.  Returns the rows ``R``,
    their right-hand sides and weights, each exposure's ridge weight and the number of
    strong prior rows.
    """
    n_unk = used.size * T
    rows, cols, vals, rhs, wts = [], [], [], [], []
    ridge_w = np.zeros(used.size)
    r = n_strong = 0
    for k, e in enumerate(used):
        sl = slice(k * T, (k + 1) * T)
        block = N[sl, sl].toarray()
        top = float(np.linalg.eigvalsh(block).max())
        if T == 1 or top <= 0:
            continue
        have_local = bool(np.all(np.isfinite(local[e])) and np.all(np.isfinite(local_cov[e])))
        prior = local[e] if have_local else np.zeros(T)
        ridge_w[k] = RIDGE * top
        for t in range(1, T):
            rows.append(np.array([r]))
            cols.append(np.array([k * T + t]))
            vals.append(np.array([1.0]))
            rhs.append(prior[t])
            wts.append(ridge_w[k])
            r += 1
        ref, threshold = _information_yardstick(block, local_cov[e] if have_local else None,
                                                coverage[e] if coverage is not None else None, top, T)
        # The shape (non-constant) directions, with the level profiled out: the level is
        # always the overlaps' to determine, never the own fit's.
        vals_e, vecs = eigh(_schur(block), _schur(ref))
        weak = vals_e < threshold
        if weak.any():
            undetermined[e] = True
            for q in vecs[:, weak].T:
                q = np.concatenate([[0.0], q / np.linalg.norm(q)])
                rows.append(np.full(T, r))
                cols.append(k * T + np.arange(T))
                vals.append(q)
                rhs.append(float(q @ prior))
                wts.append(1e-2 * top)
                r += 1
                n_strong += 1
    if r == 0:
        return sparse.csr_matrix((0, n_unk)), np.zeros(0), np.zeros(0), ridge_w, 0
    R = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(r, n_unk))
    return R, np.asarray(rhs, float), np.asarray(wts, float), ridge_w, n_strong


def _own_fit_where_ridge(block: np.ndarray, own: np.ndarray, limit: float) -> np.ndarray:
    """An exposure's covariance with its ridge-determined directions (variance above
    ``limit``: the solution took the own fit there) given the own fit's covariance, and
    the directions the overlaps determined keeping theirs.  (The whole block used to be
    replaced, which hid the overlaps' own noise: poly3 on 20 % strip overlaps reported
    SKYERR ~1e-3 e-/s for skies ~2 e-/s off.)"""
    vals, vecs = np.linalg.eigh(0.5 * (block + block.T))
    ridge = vals > limit
    keep = vecs[:, ~ridge]
    p = vecs[:, ridge] @ vecs[:, ridge].T
    return keep @ np.diag(np.maximum(vals[~ridge], 0.0)) @ keep.T + p @ own @ p


def _schur(m: np.ndarray) -> np.ndarray:
    """Information on the non-constant coefficients with the constant one profiled out."""
    if m[0, 0] <= 0:
        return m[1:, 1:]
    return m[1:, 1:] - np.outer(m[1:, 0], m[0, 1:]) / m[0, 0]


def _information_yardstick(block, cov_local, coverage, top, T):
    """The matrix an exposure's overlap information is measured against, and the ratio
    below which a direction counts as undetermined (see :func:`_priors`)."""
    if cov_local is not None:
        try:
            ref = np.linalg.inv(cov_local)
            if np.all(np.isfinite(ref)) and np.all(np.linalg.eigvalsh(0.5 * (ref + ref.T)) > 0):
                return 0.5 * (ref + ref.T), DEGENERATE
        except np.linalg.LinAlgError:
            pass
    if coverage is not None and block[0, 0] > 0:
        return coverage * block[0, 0], DEGENERATE_COVERAGE
    return np.eye(T) * top, DEGENERATE_COVERAGE


def _constraints(gauge, used, comp, n_comp, T, undetermined) -> sparse.csr_matrix:
    """Rows ``C`` such that ``C theta = 0`` fixes each group's undetermined polynomial.

    Row 0 of a group: its exposures' constant terms sum to zero.  Row k >= 1: the
    projection of their non-constant coefficients on the global monomial k is zero —
    the group's mean slope (curvature ...) along each direction of the mosaic is zero,
    whatever the levels.  Exposures whose shape their own fit gave (``undetermined``)
    do not take part in the mean: their slopes are their own.
    """
    data, rows, cols = [], [], []
    r = 0
    for c in range(n_comp):
        members = np.nonzero(comp == c)[0]
        for k in range(T):
            if k == 0:
                vec = np.concatenate([np.eye(T)[0] for _ in members])
            else:
                vec = np.concatenate([np.concatenate([[0.0], gauge[used[m]][1:, k]])
                                      if not undetermined[used[m]] else np.zeros(T) for m in members])
            norm = np.linalg.norm(vec)
            if norm == 0:
                continue
            vec = vec / norm
            idx = np.concatenate([m * T + np.arange(T) for m in members])
            nz = vec != 0
            data.append(vec[nz])
            cols.append(idx[nz])
            rows.append(np.full(int(nz.sum()), r))
            r += 1
    if not data:
        return sparse.csr_matrix((0, used.size * T))
    return sparse.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(r, used.size * T))


def _kkt_solve(kkt, b):
    try:
        return splu(kkt).solve(b)
    except RuntimeError:  # singular: a direction neither data nor constraints fix
        x, *_ = np.linalg.lstsq(kkt.toarray(), b, rcond=None)
        return x


def _cov_blocks(kkt, A, w, n_unk, T, exact_limit, rng, prior):
    """Per-exposure T x T blocks of the solution's covariance (before the Birge scale)."""
    n_used = n_unk // T
    if kkt.shape[0] <= exact_limit:
        inv = np.linalg.inv(kkt.toarray())[:n_unk, :n_unk]
        return np.stack([inv[k * T:(k + 1) * T, k * T:(k + 1) * T] for k in range(n_used)])
    # Hutchinson: y = P A^T W^(1/2) z has E[y y^T] = P (P = the constrained inverse).
    gen = np.random.default_rng(rng)
    lu = splu(kkt)
    acc = np.zeros((n_used, T, T))
    sw = np.sqrt(w)
    n_con = kkt.shape[0] - n_unk
    for _ in range(_N_PROBES):
        z = gen.choice((-1.0, 1.0), size=A.shape[0])
        rhs = A.T @ (sw * z)
        if prior is not None:
            R, pw = prior
            rhs = rhs + R.T @ (np.sqrt(pw) * gen.choice((-1.0, 1.0), size=R.shape[0]))
        y = lu.solve(np.concatenate([rhs, np.zeros(n_con)]))[:n_unk].reshape(n_used, T)
        acc += y[:, :, None] * y[:, None, :]
    return acc / _N_PROBES
