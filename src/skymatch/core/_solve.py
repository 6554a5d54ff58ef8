"""The ``match`` linear system (SPEC section 7), solved with sparse linear algebra.

For every usable exposure pair (i, j) with overlap skies ``s_i``, ``s_j`` and weight
``w = (n_i + n_j) / 2`` there is one equation ``w (d_i - d_j) = w (s_i - s_j)``.  The
Reference takes the minimum-norm least-squares solution of the stacked system
(``pinv``).  Its null space is one constant per connected component of the overlap
graph, so that solution is: least squares within each component with the component's
``d`` summing to zero.  We compute exactly that from the sparse normal equations (a
weighted graph Laplacian, weights ``w**2``) with one unknown pinned per component, then
remove each component's mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu, spsolve

__all__ = ["MatchSolution", "solve_match", "solution_covariance_diag"]


@dataclass(frozen=True)
class MatchSolution:
    """Relative skies ``d`` (component means zero; NaN for exposures in no pair), the
    component label of every exposure (-1 for isolated ones) and the residual of every
    pair equation."""

    d: np.ndarray
    labels: np.ndarray
    n_components: int
    residuals: np.ndarray


def solve_match(n_exposures: int, i: np.ndarray, j: np.ndarray, s_i: np.ndarray,
                s_j: np.ndarray, w: np.ndarray) -> MatchSolution:
    """Solve the ``match`` system.

    Parameters
    ----------
    n_exposures : int
        Number of unknowns.
    i, j : int arrays
        Exposure indices of each pair equation.
    s_i, s_j : float arrays
        Overlap skies (brightness) measured on i's and j's pixels.
    w : float array
        Equation weights ``(n_i + n_j) / 2``.

    Returns
    -------
    MatchSolution
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    s_i = np.asarray(s_i, dtype=float)
    s_j = np.asarray(s_j, dtype=float)
    w = np.asarray(w, dtype=float)
    d = np.full(n_exposures, np.nan)
    labels = np.full(n_exposures, -1, dtype=np.int64)
    if i.size == 0:
        return MatchSolution(d, labels, 0, np.zeros(0))

    # Scale-free weights (the solution does not depend on a common factor).
    w2 = (w / w.max()) ** 2
    rhs_pair = w2 * (s_i - s_j)
    rhs = np.bincount(i, weights=rhs_pair, minlength=n_exposures) - np.bincount(
        j, weights=rhs_pair, minlength=n_exposures
    )
    lap, comp, in_pair, free = _pair_graph(n_exposures, i, j, w2)
    sol = np.zeros(n_exposures)
    if free.size:
        sub = lap[free][:, free].tocsc()
        x = spsolve(sub, rhs[free])
        sol[free] = np.atleast_1d(x)

    label_map = {}
    for k in np.nonzero(in_pair)[0]:
        label_map.setdefault(int(comp[k]), len(label_map))
    for c, lab in label_map.items():
        members = np.nonzero((comp == c) & in_pair)[0]
        labels[members] = lab
        d[members] = sol[members] - sol[members].mean()
    residuals = (d[i] - d[j]) - (s_i - s_j)
    return MatchSolution(d, labels, len(label_map), residuals)


def _pair_graph(n_exposures: int, i: np.ndarray, j: np.ndarray, w2: np.ndarray):
    """The pair equations' weighted Laplacian, each exposure's connected component,
    which exposures are in a pair, and the free ones: the first member of every component
    (with an equation) is pinned to zero."""
    lap = sparse.coo_matrix(
        (np.concatenate([w2, w2, -w2, -w2]),
         (np.concatenate([i, j, i, j]), np.concatenate([i, j, j, i]))),
        shape=(n_exposures, n_exposures),
    ).tocsr()
    adjacency = sparse.coo_matrix((np.ones(i.size), (i, j)), shape=(n_exposures, n_exposures))
    _, comp = connected_components(adjacency, directed=False)
    in_pair = np.zeros(n_exposures, dtype=bool)
    in_pair[i] = True
    in_pair[j] = True
    pinned = np.zeros(n_exposures, dtype=bool)
    seen = set()
    for k in np.nonzero(in_pair)[0]:
        if comp[k] not in seen:
            seen.add(comp[k])
            pinned[k] = True
    return lap, comp, in_pair, np.nonzero(in_pair & ~pinned)[0]


_DENSE_LIMIT = 2000  # exposures up to which the covariance is computed exactly
_N_PROBES = 96


def solution_covariance_diag(n_exposures: int, i: np.ndarray, j: np.ndarray, w: np.ndarray,
                             sigma: np.ndarray, *, rng: int | np.random.Generator = 0) -> np.ndarray:
    """Variance of every ``d`` of :func:`solve_match` given the pairs' standard errors.

    ``d`` is linear in the pair differences ``s_i - s_j``: ``d = K (s_i - s_j)`` (the
    weighted least-squares solution with each component's mean removed), so
    ``var(d_e) = sum_p K_ep**2 sigma_p**2`` — computed exactly for up to a few thousand
    exposures and by random probing beyond.  NaN for exposures in no pair.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    out = np.full(n_exposures, np.nan)
    if i.size == 0:
        return out
    sigma = np.where(np.isfinite(sigma), sigma, 0.0)
    w2 = (np.asarray(w, float) / np.max(w)) ** 2
    lap, comp, in_pair, free = _pair_graph(n_exposures, i, j, w2)
    # B maps pair differences to the right-hand side: rhs = B @ (s_i - s_j).
    B = sparse.coo_matrix((np.concatenate([w2, -w2]), (np.concatenate([i, j]), np.concatenate(
        [np.arange(i.size), np.arange(i.size)]))), shape=(n_exposures, i.size)).tocsr()
    groups = [np.nonzero((comp == c) & in_pair)[0] for c in np.unique(comp[in_pair])]

    def demean(x):
        for g in groups:
            x[g] -= x[g].mean(axis=0)
        return x

    if free.size == 0:
        out[in_pair] = 0.0
        return out
    sub = lap[free][:, free].tocsc()
    Bf = B[free]
    if free.size <= _DENSE_LIMIT:
        # K = demean(G B) with G the inverse of the pinned Laplacian (zero rows and columns
        # elsewhere), so diag(K S^2 K^T) = rowsum((H M) * H) with H = demean(G) and the
        # sparse M = B S^2 B^T: one n x n inverse instead of a solve per pair.
        H = np.zeros((n_exposures, n_exposures))
        H[np.ix_(free, free)] = np.linalg.inv(sub.toarray())
        H = demean(H)
        M = (B @ sparse.diags(sigma**2) @ B.T).tocsr()
        var = np.einsum("ij,ij->i", np.asarray((M.T @ H.T).T), H)
    else:
        lu = splu(sub)
        gen = np.random.default_rng(rng)
        acc = np.zeros(n_exposures)
        for _ in range(_N_PROBES):
            z = gen.choice((-1.0, 1.0), size=i.size) * sigma
            y = np.zeros(n_exposures)
            y[free] = lu.solve(Bf @ z)
            acc += demean(y) ** 2
        var = acc / _N_PROBES
    out[in_pair] = var[in_pair]
    return out
