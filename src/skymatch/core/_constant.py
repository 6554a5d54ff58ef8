"""The constant sky model: AstroDrizzle's four methods, one value per exposure (SPEC 5-7).

Everything here keeps the numbers of the Reference (compat) and of skymatch's default
mode exactly; what it adds is the 1-sigma uncertainty of every value (``SKYERR``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..exceptions import DisconnectedMosaicWarning, UndeterminedSkyWarning
from ._solve import solution_covariance_diag, solve_match

__all__ = ["PairTotals", "ConstantMatch", "constant_match", "combine_constant", "stat_sigma",
           "exposure_label"]

# Standard error of a statistic over n pixels of standard deviation s: factor * s / sqrt(n)
# (the median and the histogram statistics are ~1.25 times noisier than the mean).
_STAT_SIGMA_FACTOR = MappingProxyType({"mean": 1.0, "median": math.sqrt(math.pi / 2), "mode": math.sqrt(math.pi / 2),
                      "midpt": math.sqrt(math.pi / 2)})


def stat_sigma(statistic: str, std: float, npix: int) -> float:
    """Standard error of a sky statistic of ``npix`` pixels of standard deviation ``std``."""
    if npix < 2 or not np.isfinite(std):
        return math.nan
    return _STAT_SIGMA_FACTOR.get(statistic, 1.0) * std / math.sqrt(npix)


def exposure_label(exposure_id: str) -> str:
    """Short name of an exposure for messages (file name without its directory)."""
    import os

    return os.path.basename(exposure_id) or exposure_id


@dataclass
class PairTotals:
    """Overlap statistics of one exposure pair accumulated over its chip pairs
    (brightness x npix sums, npix, variance sums)."""

    sum_i: float = 0.0
    n_i: int = 0
    var_i: float = 0.0
    sum_j: float = 0.0
    n_j: int = 0
    var_j: float = 0.0

    def add(self, side: str, value_b: float, npix: int, sigma_b: float) -> None:
        if side == "i":
            self.sum_i += value_b * npix
            self.n_i += npix
            self.var_i += (sigma_b * npix) ** 2 if np.isfinite(sigma_b) else 0.0
        else:
            self.sum_j += value_b * npix
            self.n_j += npix
            self.var_j += (sigma_b * npix) ** 2 if np.isfinite(sigma_b) else 0.0


@dataclass(frozen=True)
class ConstantMatch:
    """Relative skies ``M`` of the constant ``match`` with their uncertainties."""

    M: np.ndarray
    M_err: np.ndarray
    labels: np.ndarray
    pairs: tuple  # (i, j, s_i, s_j, n_i, n_j, w, residual, sigma)
    components: tuple
    birge: float


def constant_match(n_exp: int, exp_ids: list[str], totals: dict[tuple[int, int], PairTotals], *,
                   is_compat: bool, match_down: bool) -> ConstantMatch:
    """Solve the constant ``match`` from accumulated pair totals (SPEC section 7)."""
    keys = sorted(k for k, t in totals.items() if t.n_i > 0 and t.n_j > 0)
    pi = np.array([k[0] for k in keys], dtype=np.int64)
    pj = np.array([k[1] for k in keys], dtype=np.int64)
    s_i = np.array([totals[k].sum_i / totals[k].n_i for k in keys])
    s_j = np.array([totals[k].sum_j / totals[k].n_j for k in keys])
    n_i = np.array([totals[k].n_i for k in keys], dtype=np.int64)
    n_j = np.array([totals[k].n_j for k in keys], dtype=np.int64)
    # Standard error of each side's npix-weighted mean, and of their difference.
    sig = np.array([math.hypot(math.sqrt(totals[k].var_i) / totals[k].n_i,
                               math.sqrt(totals[k].var_j) / totals[k].n_j) for k in keys])
    w = 0.5 * (n_i + n_j)
    sol = solve_match(n_exp, pi, pj, s_i, s_j, w)
    d = sol.d
    good = np.isfinite(d)
    M = np.full(n_exp, np.nan)
    if good.any():
        if is_compat:
            ref = np.min(d[good]) if match_down else np.max(d[good])
            M[good] = d[good] - ref
        else:
            for lab in range(sol.n_components):
                members = sol.labels == lab
                ref = d[members].min() if match_down else d[members].max()
                M[members] = d[members] - ref
    # Uncertainties of d (the component-mean gauge), scaled by the pairs' agreement.
    var_d = solution_covariance_diag(n_exp, pi, pj, w, sig)
    birge = _birge(sol.residuals, sig, n_pairs=len(keys), n_free=int(good.sum()) - sol.n_components)
    M_err = np.sqrt(var_d) * birge
    comps = [tuple(exp_ids[e] for e in np.nonzero(sol.labels == lab)[0]) for lab in range(sol.n_components)]
    isolated = [exp_ids[e] for e in range(n_exp) if not good[e]]
    _warn_components(comps, isolated, is_compat)
    pairs = tuple((int(pi[k]), int(pj[k]), float(s_i[k]), float(s_j[k]), int(n_i[k]), int(n_j[k]),
                   float(w[k]), float(sol.residuals[k]), float(sig[k])) for k in range(len(keys)))
    return ConstantMatch(M, M_err, sol.labels, pairs, tuple(comps) + tuple((e,) for e in isolated), birge)


def _birge(residuals, sigma, *, n_pairs: int, n_free: int) -> float:
    dof = n_pairs - n_free
    ok = np.isfinite(sigma) & (sigma > 0)
    if dof <= 0 or not ok.all():
        return 1.0
    chi2 = float(np.sum((residuals / sigma) ** 2))
    return math.sqrt(max(1.0, chi2 / dof))


def _warn_components(comps, isolated, is_compat: bool) -> None:
    if len(comps) > 1:
        listing = "; ".join("{" + ", ".join(exposure_label(x) for x in c) + "}" for c in comps)
        how = "anchored at its own minimum" if not is_compat else "left at the Reference's arbitrary offsets"
        warnings.warn(
            f"the overlap graph has {len(comps)} disconnected groups ({listing}); "
            f"their relative sky levels are not constrained by the data; each group is {how}",
            DisconnectedMosaicWarning, stacklevel=4)
    if isolated:
        warnings.warn(
            f"no usable overlap for {', '.join(exposure_label(x) for x in isolated)}: match cannot determine "
            "their sky (written as 0 and flagged invalid)", UndeterminedSkyWarning, stacklevel=4)


def combine_constant(method: str, L: np.ndarray, L_err: np.ndarray, M: np.ndarray, M_err: np.ndarray,
                     labels: np.ndarray, is_compat: bool, exp_ids: list[str]):
    """Each exposure's sky (brightness), uncertainty, validity and provenance for ``method``."""
    n = len(L)
    sky = np.zeros(n)
    err = np.full(n, np.nan)
    valid = np.zeros(n, dtype=bool)
    how = [method] * n
    defined = np.isfinite(L)
    if method == "localmin":
        sky[defined] = L[defined]
        err[defined] = L_err[defined]
        valid = defined.copy()
    elif method == "globalmin":
        if defined.any():
            k = int(np.nonzero(defined)[0][np.argmin(L[defined])])
            sky[:] = L[k]
            err[:] = L_err[k]
            valid[:] = True
    elif method == "match":
        good = np.isfinite(M)
        sky[good] = M[good]
        err[good] = M_err[good]
        valid = good.copy()
        for e in np.nonzero(~good)[0]:
            how[e] = "no-overlap"
    else:  # globalmin+match
        _combine_global_match(sky, err, valid, how, L, L_err, M, M_err, labels, is_compat, defined)
    for e in np.nonzero(~valid)[0]:
        if how[e] == method:
            how[e] = "no-data"
        sky[e] = 0.0
        err[e] = np.nan
    undetermined = [exposure_label(exp_ids[e]) for e in np.nonzero(~valid)[0]]
    if undetermined and method != "match":
        warnings.warn(
            f"{method}: no sky could be determined for {', '.join(undetermined)} "
            "(written as 0 and flagged invalid)", UndeterminedSkyWarning, stacklevel=4)
    return sky, err, valid, how


def _combine_global_match(sky, err, valid, how, L, L_err, M, M_err, labels, is_compat, defined):
    n = len(L)
    Mz = np.where(np.isfinite(M), M, 0.0)
    Mz_err = np.where(np.isfinite(M), M_err, 0.0)
    if is_compat:
        groups = [np.arange(n)]
    else:
        groups = [np.nonzero(labels == lab)[0] for lab in np.unique(labels[labels >= 0])]
        groups += [np.array([e]) for e in np.nonzero(labels < 0)[0]]
    for g in groups:
        dg = g[defined[g]]
        if dg.size:
            k = int(dg[np.argmin(L[dg] - Mz[dg])])
            c = float(L[k] - Mz[k])
            c_var = L_err[k] ** 2 + Mz_err[k] ** 2
        else:
            c, c_var = 0.0, np.nan
        sky[g] = Mz[g] + c
        err[g] = np.sqrt(Mz_err[g] ** 2 + c_var)
        valid[g] = dg.size > 0
    for e in np.nonzero(~np.isfinite(M))[0]:
        how[e] = "globalmin+match (no overlap)"
