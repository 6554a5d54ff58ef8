"""A chip's pixel grid and the mosaic's tangent plane, related by fitted polynomials.

Every overlap task maps small point sets between two chips: the corners of the overlap
polygon into each chip, the coarse nodes of a pixel map from one chip into the other.
Through astropy each set costs a WCS call with ~0.3 ms of Python around a few dozen
points (``all_world2pix`` iterates the SIP inversion in Python), most of a small chip's
task.  For a TAN or TAN-SIP WCS the map from pixels to a gnomonic plane is smooth (a
polynomial distortion, then the projective map between two tangent planes), so a 2-D
Chebyshev series fitted once per chip reproduces it, and its inverse, to far below the
precision of astropy's own iterative inversion (``all_world2pix`` stops at 1e-4 px).
A fit is used only when it reproduces the WCS to :data:`MAX_ERROR_PX` at points midway
between the fitted ones; otherwise (lookup-table distortions, extreme SIP, a chip the
plane cannot hold) the tasks call the WCS as before (:func:`fit_plane_map` gives None).
Compat mode never uses these maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._footprint import TangentPlane

__all__ = ["MAX_ERROR_PX", "PlaneMap", "PlaneMapFitter", "fit_nodes", "fit_plane_map"]

#: Largest error of a fitted map (either direction) at the validation points, in pixels.
MAX_ERROR_PX = 1e-6
#: Degrees tried, lowest first (SIP distortions are at most 5th order in practice).
DEGREES = (3, 5, 7, 9)
#: The fitted domain reaches this far beyond the chip (pixels, at least): the coarse
#: nodes of a pixel map from another chip land up to a node step (16 px) and more
#: outside, and must be right wherever they shape positions inside the chip.
MARGIN_PX = 48
MARGIN_FRACTION = 0.25


def _basis(s: np.ndarray, t: np.ndarray, deg: int) -> np.ndarray:
    """Products T_i(s) T_j(t), i, j <= ``deg``: the (N, (deg+1)^2) design matrix (the
    column order of ``numpy.polynomial.chebyshev.chebvander2d``, without its overheads)."""
    ts = np.empty((deg + 1, s.size))
    tt = np.empty((deg + 1, t.size))
    for T, x in ((ts, s.ravel()), (tt, t.ravel())):
        T[0] = 1.0
        if deg:
            T[1] = x
        for k in range(2, deg + 1):
            np.multiply(T[k - 1], x, out=T[k])
            T[k] *= 2.0
            T[k] -= T[k - 2]
    return (ts.T[:, :, None] * tt.T[:, None, :]).reshape(s.size, -1)


def _cheb_to_power(deg: int) -> np.ndarray:
    """m[k, i]: the coefficient of x^k in T_i(x), i, k <= ``deg``."""
    m = np.zeros((deg + 1, deg + 1))
    m[0, 0] = 1.0
    if deg:
        m[1, 1] = 1.0
    for i in range(2, deg + 1):
        m[1:, i] = 2.0 * m[:-1, i - 1]
        m[:, i] -= m[:, i - 2]
    return m


def _to_power(cheb: np.ndarray, deg: int) -> np.ndarray:
    """Chebyshev coefficients ((deg+1)^2, k) -> power-series matrices (deg+1, k*(deg+1)):
    ``sum_ij c_ij T_i(s) T_j(t) = sum_kl p_kl s^k t^l``, evaluated in :func:`_evaluate`
    with two small products instead of the Chebyshev recurrences (on [-1, 1] the power
    form of a degree <= 9 series loses < 1e-13 relative)."""
    return _to_power_many(cheb[None], deg)[0]


def _to_power_many(cheb: np.ndarray, deg: int) -> np.ndarray:
    """:func:`_to_power` of a stack of coefficient sets ``(chips, (deg+1)^2, k)``."""
    m = _cheb_to_power(deg)
    n = deg + 1
    c = cheb.reshape(cheb.shape[0], n, n, cheb.shape[2]).transpose(0, 3, 1, 2)  # (chips, k, n, n)
    p = m @ c @ m.T  # (chips, k, n, n)
    return p.transpose(0, 2, 1, 3).reshape(cheb.shape[0], n, n * cheb.shape[2])  # the k matrices side by side


def _powers(x: np.ndarray, n: int) -> np.ndarray:
    """``x[:, None] ** arange(n)`` by repeated multiplication (``np.vander``; ``**`` calls
    the C library's ``pow`` for every element, several times slower on large blocks)."""
    return np.vander(x, n, increasing=True)


def _evaluate(power: np.ndarray, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two series of ``power`` (see :func:`_to_power`) at ``s, t`` (1-D)."""
    n = power.shape[0]
    a = _powers(s, n) @ power  # (N, 2 n)
    tk = _powers(t, n)
    return np.einsum("ij,ij->i", a[:, :n], tk), np.einsum("ij,ij->i", a[:, n:], tk)


@dataclass(frozen=True)
class PlaneMap:
    """Fitted maps between one chip's pixels (0-based) and a :class:`TangentPlane`.

    ``to_plane`` is a polynomial in the chip's normalised pixel coordinates; ``to_pixel``
    first applies the best affine inverse, then a polynomial of the remaining distortion
    (both fitted as Chebyshev series, kept in power form).  Outside the fitted domain (far
    beyond the chip) ``to_pixel`` is the affine inverse alone: such positions only ever
    mean "outside this chip".
    """

    centre: np.ndarray  # (2,) pixel x, y of the domain centre
    half: np.ndarray  # (2,) half-widths of the domain (pixels)
    forward: np.ndarray  # (d+1, 2(d+1)): u, v over normalised (x, y), power form
    affine: np.ndarray  # (2, 3): normalised (x, y) ~ affine[:, 0] + affine[:, 1:] @ (u, v)
    inverse: np.ndarray  # (d+1, 2(d+1)): normalised (x, y) over affine-normalised (u, v)
    error_px: float  # largest validation error, pixels

    def to_plane(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Plane coordinates (the plane's units) of pixel positions ``x, y``."""
        x = np.asarray(x, float)
        s = (x.ravel() - self.centre[0]) / self.half[0]
        t = (np.asarray(y, float).ravel() - self.centre[1]) / self.half[1]
        u, v = _evaluate(self.forward, s, t)
        return u.reshape(x.shape), v.reshape(x.shape)

    def to_pixel(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions of plane coordinates ``u, v``."""
        u = np.asarray(u, float)
        shape = u.shape
        u = u.ravel()
        v = np.asarray(v, float).ravel()
        a = self.affine
        p = a[0, 0] + a[0, 1] * u + a[0, 2] * v
        q = a[1, 0] + a[1, 1] * u + a[1, 2] * v
        s, t = _evaluate(self.inverse, p, q)
        outside = (np.abs(p) > 1.0) | (np.abs(q) > 1.0)
        if outside.any():
            s = np.where(outside, p, s)
            t = np.where(outside, q, t)
        x = s * self.half[0] + self.centre[0]
        y = t * self.half[1] + self.centre[1]
        return x.reshape(shape), y.reshape(shape)


def _is_smooth(wcs) -> bool:
    """A celestial TAN or TAN-SIP WCS without lookup-table distortions."""
    try:
        if wcs.naxis != 2 or not wcs.has_celestial:
            return False
        if any(getattr(wcs, k, None) is not None for k in ("cpdis1", "cpdis2", "det2im1", "det2im2")):
            return False
        return all(str(t).split("-")[-1] in ("TAN", "SIP") and "TAN" in str(t) for t in wcs.wcs.ctype)
    except (AttributeError, TypeError, ValueError):  # not an astropy celestial WCS
        return False


def _lstsq(design: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Least squares by the normal equations, for a stack of design matrices
    ``(chips, rows, cols)`` and one ``targets`` ``(rows, k)``: Chebyshev columns on
    [-1, 1] are close to orthogonal, and the validation checks the result (a tenth of
    ``lstsq``'s time).  A singular system (absurd SIP terms) raises ``LinAlgError`` for
    the whole stack: then each chip is solved alone and the singular ones get NaN (no map)."""
    dt = design.transpose(0, 2, 1)
    try:
        return np.linalg.solve(dt @ design, dt @ targets)
    except np.linalg.LinAlgError:
        out = np.full((design.shape[0], design.shape[2], targets.shape[1]), np.nan)
        for c in range(design.shape[0]):
            try:
                out[c] = np.linalg.solve(dt[c] @ design[c], dt[c] @ targets)
            except np.linalg.LinAlgError:
                pass
        return out


def _first_degree(wcs) -> int:
    """The lowest degree worth trying: above the SIP order (its polynomial must fit)."""
    sip = getattr(wcs, "sip", None)
    order = 0 if sip is None else max(int(sip.a_order), int(sip.b_order))
    return next((d for d in DEGREES if d > order), DEGREES[-1])


class PlaneMapFitter:
    """Fits :class:`PlaneMap` for the chips of one run on one plane.

    Chips of one shape share their sampling grid and the forward fit's design matrix
    (kept here, per run, with its factorisation); their inverse fits and validations are
    computed together (:meth:`fit_many`), so a chip costs one WCS call and a share of a
    few batched array operations.
    """

    def __init__(self, plane: TangentPlane) -> None:
        self.plane = plane
        self._grids: dict = {}

    def fit(self, wcs, shape: tuple[int, int]) -> PlaneMap | None:
        """The chip's :class:`PlaneMap`, or None (see :func:`fit_plane_map`)."""
        return self.fit_many([wcs], [shape])[0]

    def fit_many(self, wcss, shapes, sky=None) -> list[PlaneMap | None]:
        """:meth:`fit` of every chip (``wcss[k]`` of shape ``shapes[k]``); ``sky[k]``, when
        given, is the chip's ``(ra, dec)`` at :func:`fit_nodes` (None: computed here)."""
        out: list[PlaneMap | None] = [None] * len(wcss)
        groups: dict = {}
        for k, (wcs, shape) in enumerate(zip(wcss, shapes)):
            if _is_smooth(wcs):
                groups.setdefault((tuple(shape), _first_degree(wcs)), []).append(k)
        for (shape, first), ks in groups.items():
            grid = self._grids.get(shape)
            if grid is None:
                grid = self._grids[shape] = _Grid(shape)
            # Chips per batch: the inverse fit's design matrices of the highest degree
            # (~100 columns) stay within ~10 MB (more chips per batch gain nothing).
            step = max(1, int(1e6 // (grid.x.size * 100)))
            for i in range(0, len(ks), step):
                part = ks[i : i + step]
                ks_ok, u, v = self._sample(wcss, part, grid, sky)
                if ks_ok:
                    with np.errstate(all="ignore"):  # non-finite fits fail validation
                        maps = grid.fit_many(u, v, first)
                    for k, pm in zip(ks_ok, maps):
                        out[k] = pm
        return out

    def _sample(self, wcss, ks, grid: _Grid, sky=None):
        """The grid's nodes on the plane through each ``wcss[k]`` (or at ``sky[k]``):
        ``(ks kept, u, v)``, rows of ``u, v`` one per kept chip (a WCS that fails or goes
        non-finite is left out: no map)."""
        kept, ra, dec = [], [], []
        with np.errstate(all="ignore"):
            for k in ks:
                if sky is not None and sky[k] is not None:
                    r, d = sky[k]
                else:
                    try:
                        r, d = wcss[k].pixel_to_world_values(grid.x, grid.y)
                    except (ValueError, ArithmeticError):
                        continue
                kept.append(k)
                ra.append(r)
                dec.append(d)
            if not kept:
                return [], None, None
            try:
                u, v = self.plane.project(np.concatenate(ra), np.concatenate(dec))
            except ValueError:  # beyond the plane's hemisphere: no map (for this chip)
                return ([], None, None) if len(kept) == 1 else self._sample_each(wcss, kept, grid, sky)
        u = u.reshape(len(kept), -1)
        v = v.reshape(len(kept), -1)
        finite = np.isfinite(u).all(axis=1) & np.isfinite(v).all(axis=1)
        return [k for k, f in zip(kept, finite) if f], u[finite], v[finite]

    def _sample_each(self, wcss, ks, grid: _Grid, sky):
        kept, us, vs = [], [], []
        for k in ks:
            got, u, v = self._sample(wcss, [k], grid, sky)
            if got:
                kept.append(k)
                us.append(u[0])
                vs.append(v[0])
        return kept, (np.stack(us) if us else None), (np.stack(vs) if vs else None)


def fit_nodes(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions ``(x, y)`` where a chip of ``shape`` is sampled for its map."""
    g = _Grid(tuple(shape))
    return g.x, g.y


class _Grid:
    """Sampling nodes of a chip shape's fitted domain, and the forward design matrices."""

    def __init__(self, shape: tuple[int, int]) -> None:
        ny, nx = shape
        lo = np.array([-max(MARGIN_PX, MARGIN_FRACTION * nx), -max(MARGIN_PX, MARGIN_FRACTION * ny)])
        hi = np.array([nx - 1, ny - 1]) - lo
        self.centre, self.half = (lo + hi) / 2, (hi - lo) / 2
        k = int(np.clip(np.ceil((hi - lo).max() / 12) + 1, 17, 41))
        g = np.linspace(-1.0, 1.0, k)
        m = (g[1:] + g[:-1]) / 2
        fs, ft = (a.ravel() for a in np.meshgrid(g, g))
        vs, vt = (a.ravel() for a in np.meshgrid(m, m))
        self.nf = fs.size
        self.st = np.column_stack([np.concatenate([fs, vs]), np.concatenate([ft, vt])])
        self.x = self.st[:, 0] * self.half[0] + self.centre[0]
        self.y = self.st[:, 1] * self.half[1] + self.centre[1]
        self._forward: dict = {}

    def forward(self, deg: int):
        """(solver, validation basis) of the forward fit of degree ``deg``."""
        if deg not in self._forward:
            b = _basis(self.st[:, 0], self.st[:, 1], deg)
            bf = b[: self.nf]
            self._forward[deg] = (np.linalg.solve(bf.T @ bf, bf.T), b[self.nf :])
        return self._forward[deg]

    def fit_many(self, u: np.ndarray, v: np.ndarray, first: int) -> list[PlaneMap | None]:
        """Maps of chips whose nodes landed at ``u[c], v[c]`` on the plane (rows: chips):
        the lowest degree from ``first`` on that reproduces each chip both ways to
        :data:`MAX_ERROR_PX` at the validation nodes, or None."""
        nf, st, half = self.nf, self.st, self.half
        n_chips = u.shape[0]
        uv = np.stack([u, v], axis=2)  # (chips, nodes, 2)
        # Affine inverse (plane -> normalised pixels) and the local scale for errors in pixels.
        lin = np.stack([np.ones((n_chips, nf)), u[:, :nf], v[:, :nf]], axis=2)
        affine = _lstsq(lin, st[:nf]).transpose(0, 2, 1)  # (chips, 2, 3)
        p = affine[:, 0, :1] + affine[:, 0, 1:2] * u + affine[:, 0, 2:3] * v
        q = affine[:, 1, :1] + affine[:, 1, 1:2] * u + affine[:, 1, 2:3] * v
        to_px = half[None, :, None] * affine[:, :, 1:]  # plane offsets -> pixel offsets
        out: list[PlaneMap | None] = [None] * n_chips
        todo = np.arange(n_chips)
        for deg in (d for d in DEGREES if d >= first):
            if (deg + 1) ** 2 * 2 > nf or not todo.size:
                break
            solver, bv = self.forward(deg)
            fwd = solver @ uv[todo, :nf]
            bi = _basis(p[todo], q[todo], deg).reshape(todo.size, p.shape[1], -1)
            inv = _lstsq(bi[:, :nf], st[:nf])
            err_f = np.abs((bv @ fwd - uv[todo, nf:]) @ to_px[todo].transpose(0, 2, 1)).max(axis=(1, 2))
            err_i = np.abs((bi[:, nf:] @ inv - st[nf:]) * half).max(axis=(1, 2))
            err = np.maximum(err_f, err_i)
            ok = err <= MAX_ERROR_PX  # NaN: not ok
            good = np.flatnonzero(ok)
            forward, inverse = _to_power_many(fwd[good], deg), _to_power_many(inv[good], deg)
            for j, i in enumerate(good):
                c = int(todo[i])
                out[c] = PlaneMap(centre=self.centre, half=half, forward=forward[j], affine=affine[c],
                                  inverse=inverse[j], error_px=float(err[i]))
            todo = todo[~ok]
        return out


def fit_plane_map(wcs, shape: tuple[int, int], plane: TangentPlane) -> PlaneMap | None:
    """Fit :class:`PlaneMap` for a chip of ``shape`` with ``wcs`` on ``plane``.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        The chip's celestial WCS (evaluated once, on a grid of nodes and the midpoints
        between them).
    shape : (rows, cols)
        Chip shape.
    plane : TangentPlane
        The mosaic's tangent plane.

    Returns
    -------
    PlaneMap or None
        None when the WCS is not TAN/TAN-SIP without lookup tables, or no degree in
        :data:`DEGREES` reproduces it to :data:`MAX_ERROR_PX` in both directions
        (midway between the fitted nodes).  Many chips: :class:`PlaneMapFitter`.
    """
    return PlaneMapFitter(plane).fit(wcs, shape)
