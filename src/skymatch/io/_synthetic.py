"""Files of the synthetic data sets (:mod:`skymatch.datasets`): FITS headers, FLT-like
files and truth tables, written through io like every other file."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.io import fits

from ._atomic import atomic_write, atomic_write_text

__all__ = ["new_header", "write_image_file", "write_json", "fresh_copy", "write_list_file"]


def new_header() -> fits.Header:
    """An empty FITS header to fill (``header[key] = value`` or ``(value, comment)``)."""
    return fits.Header()


def write_image_file(path: str, primary: fits.Header,
                     extensions: Sequence[tuple[fits.Header, np.ndarray]], *,
                     overwrite: bool = False) -> str:
    """Write a multi-extension FITS file: a header-only PRIMARY and image extensions
    ``(header, data)``, atomically."""
    hdus = [fits.PrimaryHDU(header=primary)] + [fits.ImageHDU(data, header=h) for h, data in extensions]
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    data = buf.getvalue()
    return atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)


def write_json(path: str, obj: Any) -> str:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_text(os.fspath(path), json.dumps(obj, indent=1))


def fresh_copy(source: str, destination: str) -> str:
    """Replace ``destination`` by a copy of the folder ``source`` (a demo's work copy)."""
    import shutil

    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination)
    return destination


def write_list_file(path: str, names: Sequence[str]) -> str:
    """An ``@list`` file: one name per line, atomically."""
    return atomic_write_text(path, "".join(f"{n}\n" for n in names))
