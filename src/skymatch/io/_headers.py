"""Writing sky values into input headers, atomically (SPEC section 8).

Every file is updated through a temporary copy in the same directory that replaces the
original with ``os.replace`` once complete, so an interrupted run leaves each file
either wholly old or wholly new.  When the new header still fits its FITS blocks only
the header bytes of the copy are rewritten (pixel bytes are copied verbatim).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
from astropy.io import fits

from .._version import __version__
from ..core._user import USER_APPLIED
from ..exceptions import WriteError
from ..models import Chip, SkyResult

__all__ = ["check_writable", "update_files_atomic", "update_headers_atomic", "write_sky"]

SKY_KEYWORD = "MDRIZSKY"


def check_writable(paths: Iterable[str]) -> None:
    """Raise :class:`WriteError` for the first file that cannot be updated in place."""
    for p in dict.fromkeys(paths):
        d = os.path.dirname(os.path.abspath(p)) or "."
        mode = os.stat(p).st_mode
        # A file without any write permission bit is read-only, even for root.
        if not os.access(p, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise WriteError(f"{p}: file is read-only; make it writable, or use --readonly to only report the skies")
        if not os.access(d, os.W_OK | os.X_OK):
            raise WriteError(f"{p}: its directory {d} is not writable (needed for a safe update); use --readonly")


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stage(path: str, updates: Mapping[object, Mapping[str, tuple]],
           data_updates: Mapping[object, np.ndarray] | None = None) -> str:
    """Write the updated copy of ``path`` to a temporary file beside it; return its name."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".skymatch-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        with fits.open(path, memmap=True) as hdul:
            patched = []
            fits_in_place = not data_updates
            for ext, cards in updates.items():
                idx = hdul.index_of(ext)
                hdr = hdul[idx].header.copy()
                for key, (value, comment) in cards.items():
                    hdr[key] = (value, comment)
                if "CHECKSUM" in hdr or "DATASUM" in hdr:
                    fits_in_place = False
                info = hdul.fileinfo(idx)
                text = hdr.tostring().encode("ascii")
                if len(text) != info["datLoc"] - info["hdrLoc"]:
                    fits_in_place = False
                patched.append((idx, hdr, text, info["hdrLoc"]))
            if fits_in_place:
                shutil.copyfile(path, tmp)
                with open(tmp, "r+b") as fh:
                    for _, _, text, loc in patched:
                        fh.seek(loc)
                        fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                out = fits.HDUList([h.copy() for h in hdul])
                for idx, hdr, _, _ in patched:
                    out[idx].header = hdr
                for ext, data in (data_updates or {}).items():
                    out[hdul.index_of(ext)].data = data
                checksum = any("CHECKSUM" in h.header for h in hdul)
                out.writeto(tmp, overwrite=True, checksum=checksum, output_verify="silentfix")
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
        shutil.copymode(path, tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return tmp


def update_headers_atomic(
    path: str,
    updates: Mapping[object, Mapping[str, tuple]],
    *,
    data_updates: Mapping[object, np.ndarray] | None = None,
) -> None:
    """Apply header (and optionally data) updates to one FITS file atomically.

    Parameters
    ----------
    path : str
        The file.
    updates : mapping
        ``{extension: {keyword: (value, comment)}}``; extensions as astropy accepts them
        (index or ``(EXTNAME, EXTVER)``).
    data_updates : mapping, optional
        ``{extension: new data array}``; forces a full rewrite.
    """
    tmp = _stage(path, updates, data_updates)
    try:
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(os.path.abspath(path)) or ".")


def update_files_atomic(updates: Mapping[str, Mapping[object, Mapping[str, tuple]]]) -> None:
    """Header updates of several files, all or nothing.

    Every updated copy is written and synced first; only when all exist do they replace
    their originals (each by an atomic rename).  An error while staging leaves every
    file untouched.

    Parameters
    ----------
    updates : mapping
        ``{path: {extension: {keyword: (value, comment)}}}``.
    """
    check_writable(updates)
    staged: list[tuple[str, str]] = []
    try:
        for path, upd in updates.items():
            staged.append((_stage(path, upd), path))
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    for d in {os.path.dirname(os.path.abspath(p)) or "." for _, p in staged}:
        _fsync_dir(d)


def write_sky(result: SkyResult, chips: Sequence[Chip], *, subtract: bool = False,
              progress=None) -> list[str]:
    """Write ``MDRIZSKY`` and provenance keywords into the SCI headers of file inputs.

    Parameters
    ----------
    result : SkyResult
        The sky values.
    chips : sequence of Chip
        The chips the result was computed from (in-memory chips are skipped).
    subtract : bool
        Also subtract the sky from the pixel data; ``MDRIZSKY`` then holds the total
        subtracted so far and ``SMSUBTR = T`` records it.
    progress : callable(stage, done, total), optional

    Returns
    -------
    list of str
        The files updated.
    """
    by_file: dict[str, list[tuple[Chip, object]]] = defaultdict(list)
    for chip in chips:
        if chip.source is None:
            continue
        by_file[chip.source[0]].append((chip, result.chip(chip.name)))
    check_writable(by_file)
    params = result.parameters
    done = []
    for k, (path, items) in enumerate(by_file.items()):
        updates, data_updates = {}, {}
        for chip, sky in items:
            _, extname, extver = chip.source
            ext = (extname, extver) if isinstance(extname, str) else extname
            value = float(sky.sky)
            cards = {
                SKY_KEYWORD: (value, "Sky value computed by skymatch"),
                "SMMETHOD": (result.method, "skymatch sky method"),
                "SMSTAT": (str(params.get("skystat", "")), "skymatch sky statistic"),
                "SMVALID": (bool(sky.valid), "sky determined from the data"),
                "SMHOW": (sky.how[:68], "how the sky value was obtained"),
                "SMCOMPAT": (str(params.get("compat") or "none"), "skymatch compatibility mode"),
                "SMVERS": (__version__, "skymatch version"),
            }
            if sky.how == USER_APPLIED:
                # The user already subtracted this value from the data.
                cards[SKY_KEYWORD] = (value, "Sky subtracted from data by the user")
                cards["SMSUBTR"] = (True, "MDRIZSKY has been subtracted from the data")
            elif subtract:
                with fits.open(path, memmap=True) as hdul:
                    hdr = hdul[ext].header
                    prev = float(hdr.get(SKY_KEYWORD, 0.0)) if hdr.get("SMSUBTR", False) else 0.0
                    data = np.array(hdul[ext].data, dtype=np.float32) - np.float32(value)
                cards[SKY_KEYWORD] = (prev + value, "Total sky subtracted from data by skymatch")
                cards["SMSUBTR"] = (True, "MDRIZSKY has been subtracted from the data")
                data_updates[ext] = data
            elif chip.meta.get("SMSUBTR", False):
                # Data were reduced earlier (the chip's headers were read with it): keep
                # that total on record; the new MDRIZSKY is what remains to be subtracted.
                cards["SMPRESUB"] = (float(chip.meta.get(SKY_KEYWORD, 0.0)),
                                     "sky subtracted from data earlier")
                cards["SMSUBTR"] = (False, "MDRIZSKY is not yet subtracted")
            updates[ext] = cards
        update_headers_atomic(path, updates, data_updates=data_updates or None)
        done.append(path)
        if progress:
            progress("write", k + 1, len(by_file))
    return done
