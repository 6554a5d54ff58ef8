"""Saving pictures: matplotlib figures as PNG, RGB arrays as PNG, frames as a GIF.

Plotting (:mod:`skymatch.plotting`) draws; this module writes, atomically (or staged
in a run's transaction), like every other writer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

import numpy as np

from ._atomic import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from ._transaction import RunTransaction

__all__ = ["save_figure", "save_png", "save_gif", "png_bytes", "gif_bytes", "PictureWriter"]


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


def _pil_image(rgb: np.ndarray):
    """A Pillow image of an RGB(A) ``uint8`` array with the same pixels in the fewest
    channels: an opaque RGBA picture is stored as RGB, a grey one as 8-bit grey (a third
    of the data, and no palette to choose for a GIF)."""
    from PIL import Image

    a = np.asarray(rgb)
    if a.ndim == 3 and a.shape[2] == 4 and (a[..., 3] == 255).all():
        a = a[..., :3]
    if a.ndim == 3 and a.shape[2] == 3 and (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
        a = a[..., 0]
    return Image.fromarray(np.ascontiguousarray(a))


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG of an RGB (or RGBA) ``uint8`` array (Pillow, which matplotlib ships with).

    zlib level 3: a little larger than Pillow's default 6, in half the time."""
    buf = io.BytesIO()
    _pil_image(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def gif_bytes(frames: Sequence[np.ndarray], *, duration_ms: int = 1200) -> bytes:
    """An animated GIF cycling the RGB ``frames`` (cropped to the first frame's shape)."""
    shape = frames[0].shape
    imgs = [_pil_image(np.asarray(f)[: shape[0], : shape[1]]) for f in frames]
    if len({im.mode for im in imgs}) > 1:
        imgs = [im.convert("RGB") for im in imgs]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def save_png(rgb: np.ndarray, path: str, *, transaction: RunTransaction | None = None) -> str:
    """Save an RGB (or RGBA) ``uint8`` array as PNG (Pillow, which matplotlib ships with)."""
    return _write(path, png_bytes(rgb), transaction)


def save_gif(frames: Sequence[np.ndarray], path: str, *, duration_ms: int = 1200,
             transaction: RunTransaction | None = None) -> str:
    """An animated GIF cycling the RGB ``frames`` (cropped to the first frame's shape)."""
    return _write(path, gif_bytes(frames, duration_ms=duration_ms), transaction)


class PictureWriter:
    """Writes pictures in worker threads while the caller draws the next one.

    Pillow encodes without holding the GIL, so PNG and GIF compression overlaps
    matplotlib's drawing.  Paths are staged in the caller's thread (a run's transaction
    is not shared between threads); each worker encodes and writes its own file
    atomically.  Leaving the ``with`` block waits for every file and raises the first
    error; a transaction's files are then handed to it to be made durable before its
    commit (:meth:`~skymatch.io._transaction.RunTransaction.sync_later`).

    Parameters
    ----------
    transaction : RunTransaction, optional
        Stage the files in this run (they appear when the run commits).
    workers : int
        Worker threads.
    """

    def __init__(self, *, transaction: RunTransaction | None = None, workers: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._transaction = transaction
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="skymatch-pictures")
        self._jobs: list = []
        self._staged: list[str] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:  # else the caller's error is the one to see
                for job in self._jobs:
                    job.result()
                if self._transaction is not None:
                    self._transaction.sync_later(self._staged)  # durable before the commit
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, fn, *args):
        """Run ``fn(*args)`` on a worker (e.g. reading or binning the next image)."""
        return self._pool.submit(fn, *args)

    def _put(self, path: str, encode) -> str:
        if self._transaction is None:
            self._jobs.append(self._pool.submit(atomic_write, path, lambda fh: fh.write(encode())))
            return path
        target = self._transaction.staging_path(path, overwrite=True)
        self._staged.append(target)
        self._jobs.append(self._pool.submit(atomic_write, target, lambda fh: fh.write(encode()), durable=False))
        return path

    def png(self, rgb: np.ndarray, path: str) -> str:
        """Write ``rgb`` (RGB or RGBA ``uint8``, not modified afterwards) as PNG; returns ``path``."""
        return self._put(path, lambda: png_bytes(rgb))

    def gif(self, frames: Sequence[np.ndarray], path: str, *, duration_ms: int = 1200) -> str:
        """Write an animated GIF cycling ``frames``; returns ``path``."""
        return self._put(path, lambda: gif_bytes(frames, duration_ms=duration_ms))
