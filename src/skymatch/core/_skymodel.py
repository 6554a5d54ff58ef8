"""Sky models: polynomials in a chip's normalised pixel coordinates (SPEC section 12).

A chip's sky is ``sky(x, y) = sum SKYCij * u**i * v**j`` over ``i + j <= order`` with
``u = (x - xc) / h``, ``v = (y - yc) / h``, ``x, y`` the 0-based column and row,
``xc = (nx - 1) / 2``, ``yc = (ny - 1) / 2``, ``h = max(nx, ny) / 2``, in the chip's
data units.  Coefficients are ordered by total degree, then by falling power of ``u``:
``SKYC00, SKYC10, SKYC01, SKYC20, SKYC11, SKYC02, SKYC30, ...`` (:func:`monomials`).
A constant sky is the one coefficient ``(SKYC00,)``.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from ..exceptions import ParameterError

__all__ = [
    "SKY_MODELS",
    "MODEL_ORDER",
    "canonical_model",
    "monomials",
    "n_terms",
    "coefficient_names",
    "normalisation",
    "evaluate",
    "evaluate_block",
    "chip_mean",
    "order_of_coeffs",
]

SKY_MODELS = ("constant", "plane", "poly2", "poly3")
MODEL_ORDER = MappingProxyType({"constant": 0, "plane": 1, "poly2": 2, "poly3": 3})


def canonical_model(model: str, *, name: str = "sky_model") -> str:
    """``model`` as one of :data:`SKY_MODELS` (case-insensitive), or ParameterError."""
    text = str(model).strip().lower()
    if text not in MODEL_ORDER:
        raise ParameterError(f"{name}={model!r} is not a sky model; use one of {', '.join(SKY_MODELS)}")
    return text


def monomials(order: int) -> tuple[tuple[int, int], ...]:
    """Powers ``(i, j)`` of ``u**i * v**j`` with ``i + j <= order``, in keyword order."""
    return tuple((d - j, j) for d in range(order + 1) for j in range(d + 1))


def n_terms(order: int) -> int:
    """Number of coefficients of a polynomial of total degree ``order``."""
    return (order + 1) * (order + 2) // 2


def order_of_coeffs(n: int) -> int:
    """The order whose polynomial has ``n`` coefficients."""
    for order in range(0, 10):
        if n_terms(order) == n:
            return order
    raise ParameterError(f"{n} sky coefficients do not make a full polynomial (1, 3, 6, 10 ...)")


def coefficient_names(order: int) -> tuple[str, ...]:
    """Header keywords of the coefficients: ``('SKYC00', 'SKYC10', 'SKYC01', ...)``."""
    return tuple(f"SKYC{i}{j}" for i, j in monomials(order))


def normalisation(shape: tuple[int, int]) -> tuple[float, float, float]:
    """``(xc, yc, h)`` of a chip of ``shape = (ny, nx)``."""
    ny, nx = shape
    return (nx - 1) / 2.0, (ny - 1) / 2.0, max(nx, ny) / 2.0


def evaluate(coeffs, x, y, shape: tuple[int, int]) -> np.ndarray:
    """The model with ``coeffs`` at 0-based pixel positions ``x`` (column), ``y`` (row)."""
    coeffs = np.asarray(coeffs, dtype=float)
    order = order_of_coeffs(coeffs.size)
    xc, yc, h = normalisation(shape)
    u = (np.asarray(x, dtype=float) - xc) / h
    v = (np.asarray(y, dtype=float) - yc) / h
    out = np.zeros(np.broadcast(u, v).shape)
    for c, (i, j) in zip(coeffs, monomials(order)):
        if c:
            out += c * u**i * v**j
    return out


def evaluate_block(coeffs, shape: tuple[int, int], rows: slice | None = None,
                   cols: slice | None = None, *, dtype=np.float32) -> np.ndarray:
    """The model on the pixel grid of a block ``[rows, cols]`` of a chip of ``shape``.

    A constant model gives a constant array without evaluating powers.
    """
    coeffs = np.asarray(coeffs, dtype=float)
    ny, nx = shape
    r = np.arange(ny)[rows if rows is not None else slice(None)]
    c = np.arange(nx)[cols if cols is not None else slice(None)]
    if coeffs.size == 1:
        return np.full((r.size, c.size), coeffs[0], dtype=dtype)
    order = order_of_coeffs(coeffs.size)
    xc, yc, h = normalisation(shape)
    u = (c - xc) / h
    v = (r - yc) / h
    out = np.zeros((r.size, c.size))
    for k, (i, j) in enumerate(monomials(order)):
        if coeffs[k]:
            out += coeffs[k] * np.outer(v**j, u**i)
    return out.astype(dtype, copy=False)


def chip_mean(coeffs, shape: tuple[int, int]) -> float:
    """Mean of the model over all pixels of a chip of ``shape`` (what MDRIZSKY holds)."""
    coeffs = np.asarray(coeffs, dtype=float)
    if coeffs.size == 1:
        return float(coeffs[0])
    order = order_of_coeffs(coeffs.size)
    ny, nx = shape
    xc, yc, h = normalisation(shape)
    u = (np.arange(nx) - xc) / h
    v = (np.arange(ny) - yc) / h
    mu = [float(np.mean(u**i)) for i in range(order + 1)]
    mv = [float(np.mean(v**j)) for j in range(order + 1)]
    return float(sum(c * mu[i] * mv[j] for c, (i, j) in zip(coeffs, monomials(order))))
