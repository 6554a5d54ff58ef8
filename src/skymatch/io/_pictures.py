"""Saving pictures: matplotlib figures as PNG, RGB arrays as PNG, frames as a GIF.

Plotting (:mod:`skymatch.plotting`) draws; this module writes, atomically (or staged
in a run's transaction), like every other writer.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._atomic import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from ._transaction import RunTransaction

__all__ = ["save_figure", "save_png", "save_gif", "save_comparison_pictures"]


def _write(path: str, data: bytes, transaction) -> str:
    if transaction is not None:
        return transaction.write(path, lambda fh: fh.write(data))
    return atomic_write(path, lambda fh: fh.write(data))


def save_figure(figure, path: str, *, dpi: int = 110,
                transaction: RunTransaction | None = None) -> str:
    """Save a matplotlib ``Figure`` (or the figure of an ``Axes``) as PNG.

    Parameters
    ----------
    figure : matplotlib Figure or Axes
    path : str
    dpi : int
    transaction : RunTransaction, optional
        Stage the file in this run (it appears when the run commits).

    Returns
    -------
    str
        ``path``.
    """
    fig = getattr(figure, "figure", figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return _write(path, buf.getvalue(), transaction)


def save_png(rgb: np.ndarray, path: str, *, transaction: RunTransaction | None = None) -> str:
    """Save an RGB (or RGBA) ``uint8`` array as PNG (Pillow, which matplotlib ships with)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb)).save(buf, format="PNG")
    return _write(path, buf.getvalue(), transaction)


def save_gif(frames: Sequence[np.ndarray], path: str, *, duration_ms: int = 1200,
             transaction: RunTransaction | None = None) -> str:
    """An animated GIF cycling the RGB ``frames`` (cropped to the first frame's shape)."""
    from PIL import Image

    shape = frames[0].shape
    imgs = [Image.fromarray(np.asarray(f)[: shape[0], : shape[1]]) for f in frames]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms,
                 loop=0)
    return _write(path, buf.getvalue(), transaction)


def save_comparison_pictures(figures: Mapping[str, object], outdir: str, prefix: str, *,
                             transaction: RunTransaction | None = None) -> dict:
    """Write what :func:`skymatch.plotting.comparison_figures` drew.

    ``PREFIX_mdrizsky.png``, one ``PREFIX_METHOD_mosaic.png`` per method and
    ``PREFIX_methods.gif`` cycling them.

    Returns
    -------
    dict
        ``{'plot': path, 'mosaics': {method: path}, 'gif': path}``.
    """
    out: dict[str, object] = {}
    out["plot"] = save_figure(figures["plot"], os.path.join(outdir, f"{prefix}_mdrizsky.png"),
                              transaction=transaction)
    pngs = {}
    for name, rgb in figures["mosaics"].items():
        p = os.path.join(outdir, f"{prefix}_{name.replace('+', '_')}_mosaic.png")
        pngs[name] = save_png(rgb, p, transaction=transaction)
    out["mosaics"] = pngs
    out["gif"] = save_gif(list(figures["mosaics"].values()), os.path.join(outdir, f"{prefix}_methods.gif"),
                          transaction=transaction)
    return out
