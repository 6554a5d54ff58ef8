"""Difference cells of an overlap box against a cell-by-cell computation written out
plainly: the dense one-cell-per-row layout (boxes that start and end anywhere in the cell
grid, padding, sums of the kept rows) must not change what any cell holds."""

import numpy as np
import pytest

from skymatch.core._cells import cell_keys, dense_difference_cells


def _plain_cells(bm, bn, rho, xn, yn, use, r0, c0, size, ncols, *, lsigma, usigma, nclip, min_pix):
    """Each cell of chip m's grid that the box reaches, one at a time: the pixels of the box
    in it, clipped until nothing changes (at most ``nclip`` passes), then its figures."""
    h, w = use.shape
    rows = {}
    for gr in range(r0 // size, (r0 + h - 1) // size + 1):
        for gc in range(c0 // size, (c0 + w - 1) // size + 1):
            ys = slice(max(gr * size, r0) - r0, min((gr + 1) * size, r0 + h) - r0)
            xs = slice(max(gc * size, c0) - c0, min((gc + 1) * size, c0 + w) - c0)
            u = use[ys, xs]
            v = (bm - bn)[ys, xs]
            keep = u.copy()
            for _ in range(nclip + 1):
                n = keep.sum()
                mean = v[keep].sum() / n if n else np.nan
                var = ((v[keep] - mean) ** 2).sum() / (n - 1) if n > 1 else np.nan
                new = u & (v >= mean - lsigma * np.sqrt(var)) & (v <= mean + usigma * np.sqrt(var))
                if np.array_equal(new, keep) or _ == nclip:
                    break
                keep = new
            n = int(keep.sum())
            if n < max(min_pix, 2):
                continue
            yy, xx = np.mgrid[ys, xs]
            key = int(cell_keys(np.array([gr * size]), np.array([gc * size]), size, ncols)[0])
            rho_mean = rho[ys, xs][keep].mean()
            rows[key] = dict(diff=mean, value_m=bm[ys, xs][keep].mean(), npix=n,
                             sigma=np.sqrt(var * 2.0 / (1.0 + rho_mean) / n),
                             xm=(xx[keep] + c0).mean(), ym=(yy[keep] + r0).mean(),
                             xn=xn[ys, xs][keep].mean(), yn=yn[ys, xs][keep].mean())
    return rows


@pytest.mark.parametrize("r0, c0, h, w, size", [(13, 77, 150, 97, 16), (0, 0, 64, 48, 16), (5, 31, 40, 200, 32),
                                                  (3, 2, 9, 7, 8)])
def test_dense_cells_equal_cells_computed_one_by_one(r0, c0, h, w, size):
    rng = np.random.default_rng(r0 * 1000 + c0)
    bm = rng.normal(2.0, 0.05, (h, w))
    bm[rng.random((h, w)) < 0.02] += 5.0  # stars: clipped
    bn = rng.normal(1.9, 0.05, (h, w))
    rho = rng.uniform(0.25, 1.0, (h, w))
    xn = rng.uniform(0, 500, (h, w))
    yn = rng.uniform(0, 500, (h, w))
    use = rng.random((h, w)) < 0.85
    bm[~use] = np.nan  # unusable pixels may hold anything
    kw = dict(lsigma=3.0, usigma=3.0, nclip=5)
    got = dense_difference_cells(bm, bn, rho, xn, yn, use, r0, c0, size, 300, order=0, min_pix=10, **kw)
    want = _plain_cells(bm, bn, rho, xn, yn, use, r0, c0, size, 300, min_pix=10, **kw)
    assert len(got) == len(want) > 0
    assert list(got.key) == sorted(want)
    for k, key in enumerate(got.key):
        c = want[int(key)]
        assert got.npix[k] == c["npix"]
        for name, value in (("diff", got.diff[k]), ("value_m", got.value_m[k]), ("sigma", got.sigma[k]),
                            ("xm", got.m[0][k]), ("ym", got.m[1][k]), ("xn", got.n[0][k]), ("yn", got.n[1][k])):
            assert value == pytest.approx(c[name], rel=1e-9, abs=1e-12), (key, name)
