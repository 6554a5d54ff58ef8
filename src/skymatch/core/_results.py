"""Turning the engine's arrays into :class:`~skymatch.models.SkyResult` values."""

from __future__ import annotations

import numpy as np

from ..models import ChipSky, ExposureSky, PairStat, SkyResult
from ._constant import combine_constant
from ._flatness import flatness_score
from ._models_engine import LEVEL_ONLY, chip_coefficients, pad
from ._skymodel import MODEL_ORDER, chip_mean, n_terms

__all__ = ["build_constant_results", "build_model_results"]


def build_constant_results(chips, exps, opts, L, L_err, local_chip, npix_chip, match, params, flat):
    """One :class:`SkyResult` per method for the constant model."""
    n = exps.n
    M = match.M if match is not None else np.full(n, np.nan)
    M_err = match.M_err if match is not None else np.full(n, np.nan)
    labels = match.labels if match is not None else np.full(n, -1)
    out = {}
    for method in opts.methods:
        sky, err, valid, how = combine_constant(method, L, L_err, M, M_err, labels, opts.is_compat, exps.ids)
        chip_out = []
        for k, c in enumerate(chips):
            e = exps.of[k]
            b = sky[e]
            chip_out.append(ChipSky(
                name=c.name, exposure_id=c.exposure_id, sky=float(b / c.conv), sky_brightness=float(b),
                valid=bool(valid[e]), how=how[e], conv=float(c.conv), local=float(local_chip[k]),
                npix=int(npix_chip[k]), model="constant", coeffs=(float(b / c.conv),),
                error=float(err[e] / c.conv)))
        exp_out = tuple(
            ExposureSky(exposure_id=exps.ids[e], sky_brightness=float(sky[e]), valid=bool(valid[e]),
                        how=how[e], local=float(L[e]), match=float(M[e]), component=int(labels[e]),
                        error=float(err[e]))
            for e in range(n))
        uses_match = "match" in method and match is not None
        pairs = ()
        if uses_match:
            pairs = tuple(PairStat(exposure_i=exps.ids[i], exposure_j=exps.ids[j], sky_i=si, sky_j=sj,
                                   npix_i=ni, npix_j=nj, weight=w, residual=r, sigma=s,
                                   residual_sigma=r / s if s > 0 else float("nan"))
                          for i, j, si, sj, ni, nj, w, r, s in match.pairs)
        theta = pad(sky[:, None], 0, flat.order) if flat is not None else None
        out[method] = SkyResult(
            method=method, chips=tuple(chip_out), exposures=exp_out, pairs=pairs,
            components=match.components if uses_match else (), parameters={**params, "sky_model": "constant"},
            sky_model="constant", flatness=flatness_score(flat, theta, valid) if flat is not None else None)
    return out


def build_model_results(chips, exps, opts, model, solved, params, flat):
    """One :class:`SkyResult` per method for a polynomial sky model."""
    order = MODEL_ORDER[model]
    out = {}
    for method in opts.methods:
        mm = solved.methods[method]
        chip_out = [None] * len(chips)
        exp_out = []
        for e in range(exps.n):
            level = float(solved.levels[e] @ mm.theta[e]) if mm.valid[e] else 0.0
            th = mm.theta[e] if mm.valid[e] else np.zeros(n_terms(order))
            local = solved.local[e]
            L_e = float(solved.levels[e] @ local.theta) if local is not None else float("nan")
            for k, coeffs_b, mean_vec in chip_coefficients(solved.frames, exps, e, th, order):
                c = chips[k]
                coeffs = tuple(float(v) for v in coeffs_b / c.conv) if mm.valid[e] else (0.0,) * n_terms(order)
                var = float(mean_vec @ mm.cov[e] @ mean_vec) if mm.valid[e] else float("nan")
                if method == "globalmin" and mm.valid[e]:
                    var = float(mm.level_err[e] ** 2)
                how = mm.how[e] + (f" ({LEVEL_ONLY})" if mm.status[e] == LEVEL_ONLY and mm.valid[e] else "")
                chip_out[k] = ChipSky(
                    name=c.name, exposure_id=c.exposure_id, sky=chip_mean(coeffs, c.shape),
                    sky_brightness=float(chip_mean(coeffs_b, c.shape)) if mm.valid[e] else 0.0,
                    valid=bool(mm.valid[e]), how=how[:68], conv=float(c.conv), local=float("nan"),
                    npix=0, model=model, coeffs=coeffs, error=float(np.sqrt(max(var, 0.0)) / c.conv) if np.isfinite(var) else float("nan"))
            sol = solved.solution
            exp_out.append(ExposureSky(
                exposure_id=exps.ids[e], sky_brightness=level, valid=bool(mm.valid[e]), how=mm.how[e],
                local=L_e, match=float(solved.levels[e] @ sol.theta[e]) if sol is not None else float("nan"),
                component=int(sol.labels[e]) if sol is not None else -1,
                error=float(mm.level_err[e]), status=mm.status[e]))
        uses_match = "match" in method and solved.solution is not None
        pairs, comps = (_model_pairs(exps, solved), _components(exps, solved)) if uses_match else ((), ())
        theta = pad(mm.theta, order, flat.order) if flat is not None else None
        out[method] = SkyResult(
            method=method, chips=tuple(chip_out), exposures=tuple(exp_out), pairs=pairs, components=comps,
            parameters={**params, "sky_model": model}, sky_model=model,
            flatness=flatness_score(flat, theta, mm.valid) if flat is not None else None)
    return out


def _model_pairs(exps, solved) -> tuple[PairStat, ...]:
    eq, sol = solved.equations, solved.solution
    if eq is None or eq.n == 0:
        return ()
    w = 1.0 / eq.sigma**2
    z = sol.residuals / eq.sigma
    out = []
    for p in np.unique(eq.pair):
        s = eq.pair == p
        ws = w[s].sum()
        resid = float(np.sum(w[s] * sol.residuals[s]) / ws)
        sigma = float(sol.birge / np.sqrt(ws))
        i, j = int(eq.i[s][0]), int(eq.j[s][0])
        out.append(PairStat(
            exposure_i=exps.ids[i], exposure_j=exps.ids[j],
            sky_i=float(np.sum(w[s] * eq.bi[s]) / ws), sky_j=float(np.sum(w[s] * eq.bj[s]) / ws),
            npix_i=int(eq.npix[s].sum()), npix_j=int(eq.npix[s].sum()), weight=float(ws),
            residual=resid, sigma=sigma, residual_sigma=resid / sigma if sigma > 0 else float("nan"),
            n_cells=int(s.sum()), rms_sigma=float(np.sqrt(np.mean(z[s] ** 2)))))
    return tuple(out)


def _components(exps, solved) -> tuple:
    sol = solved.solution
    comps = [tuple(exps.ids[e] for e in np.nonzero(sol.labels == lab)[0]) for lab in range(sol.n_components)]
    isolated = [(exps.ids[e],) for e in range(exps.n) if sol.labels[e] < 0]
    return tuple(comps) + tuple(isolated)
