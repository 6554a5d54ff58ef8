"""The bytes of an updated FITS file, computed without letting astropy re-interpret data.

An update changes some headers (and, for ``--subtract``, some images).  Everything else
is carried over byte for byte: untouched HDUs and untouched data are copied from the
file as they are, so integer images scaled by ``BSCALE``/``BZERO`` (``uint16`` included)
keep their exact storage.  A header that still fits its FITS blocks becomes a patch of
those blocks (padded with blank cards); one that does not is rewritten with
:data:`RESERVE_CARDS` free slots so that later updates fit in place.  ``CHECKSUM`` and
``DATASUM`` of a changed HDU are recomputed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from ..exceptions import InputError, WriteError

__all__ = ["RESERVE_CARDS", "FileUpdate", "plan_update", "write_spliced"]

#: Free card slots left in a header that has to be rewritten, so that later updates
#: fit in place.
RESERVE_CARDS = 36
BLOCK = 2880
_SCALING = ("BSCALE", "BZERO", "BLANK")
_CHECKSUMS = frozenset({"CHECKSUM", "DATASUM"})
_CHUNK = 1 << 20


@dataclass
class FileUpdate:
    """What an update of one file amounts to.

    ``patches`` (``offset, new bytes``) when every changed header fits its blocks and
    no data changes; otherwise ``patches`` is empty and ``headers``/``data`` hold the
    new bytes of the changed HDUs for :func:`write_spliced`.
    """

    patches: list[tuple[int, bytes]]
    headers: dict[int, bytes]
    data: dict[int, bytes]
    layout: list[tuple[int, int, int]]  # per HDU: header start, data start, data span
    # (patches only: the HDUs patched)

    @property
    def in_place(self) -> bool:
        return not self.headers and not self.data


def _check_preserved(old: bytes, new: bytes, changed: set[str], label: str) -> None:
    """Every card of the old header that the update does not change must come out
    byte for byte: astropy silently re-renders cards it cannot parse (an unterminated
    string, ``NaN``), which would rewrite the user's data behind their back."""
    kept = {new[i:i + 80] for i in range(0, len(new), 80)}
    for i in range(0, len(old), 80):
        card = old[i:i + 80]
        key = card[:8].decode("ascii", "replace").strip()
        if key == "END":
            return
        if not card.strip() or key in changed or key == "CONTINUE" or card in kept:
            continue
        raise InputError(f"{label}: header card {key!r} is not valid FITS "
                         f"({card.decode('ascii', 'replace').rstrip()[:40]!r}); fix or delete that card")


def _set_cards(hdr: fits.Header, cards: Mapping[str, tuple | None]) -> None:
    for key, value in cards.items():
        if value is None or value[0] is None:
            hdr.remove(key, ignore_missing=True, remove_all=True)
        else:
            hdr[key] = value


def _blank_tail(hdr: fits.Header) -> int:
    n = 0
    for card in reversed(hdr.cards):
        if card.keyword == "" and not str(card.value).strip():
            n += 1
        else:
            break
    return n


def _fill_to(hdr: fits.Header, span: int) -> fits.Header | None:
    """``hdr`` with blank cards added or dropped (before END) to take exactly ``span``
    bytes, or None when it cannot."""
    n_cards = len(hdr.cards) + 1  # END
    slots = span // 80
    if n_cards > slots:
        need = n_cards - slots
        if _blank_tail(hdr) < need:
            return None
        hdr = hdr.copy()
        for _ in range(need):
            del hdr[-1]
        n_cards -= need
    if slots - n_cards >= 36:
        # Fill the blocks the header keeps with blank cards (astropy would drop them).
        hdr = hdr.copy()
        for _ in range(slots - n_cards):
            hdr.append(fits.Card(), useblanks=False, bottom=True)
    return hdr


def _reserve(hdr: fits.Header) -> fits.Header:
    """``hdr`` with at least :data:`RESERVE_CARDS` free slots (blank cards at the end)."""
    out = hdr.copy()
    for _ in range(max(0, RESERVE_CARDS - _blank_tail(hdr))):
        out.append(fits.Card(), useblanks=False, bottom=True)
    return out


def _checksum_tool():
    # astropy computes FITS checksums only through methods of an HDU (not public
    # functions); a bare HDU holding the header does the arithmetic.
    return fits.PrimaryHDU()


def _data_sum(raw: bytes) -> int:
    return int(_checksum_tool()._compute_checksum(np.frombuffer(raw, dtype="ubyte")))


def _set_checksum(hdr: fits.Header, datasum: int, label: str) -> None:
    tool = _checksum_tool()
    try:
        hdr["DATASUM"] = str(datasum)
        hdr["CHECKSUM"] = "0" * 16
        tool._header = hdr
        hdr["CHECKSUM"] = tool._calculate_checksum(datasum)
    except Exception as exc:  # pragma: no cover - astropy internals changed
        raise WriteError(f"{label}: cannot recompute CHECKSUM ({exc}); remove CHECKSUM/DATASUM "
                         "from the file first") from exc


def _read(fd: int, offset: int, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.pread(fd, min(_CHUNK, n - len(out)), offset + len(out))
        if not chunk:
            raise WriteError(f"file shorter than its headers say (truncated at {offset + len(out):,} bytes)")
        out += chunk
    return bytes(out)


def _data_bytes(data: np.ndarray, hdr: fits.Header, label: str) -> bytes:
    arr = np.asarray(data)
    shape = tuple(int(hdr.get(f"NAXIS{n}", 0)) for n in range(int(hdr.get("NAXIS", 0)), 0, -1))
    if arr.shape != shape:
        raise WriteError(f"{label}: new data of shape {arr.shape} for an image of shape {shape}")
    bitpix = {np.dtype(np.float32): -32, np.dtype(np.float64): -64, np.dtype(np.int16): 16,
              np.dtype(np.int32): 32, np.dtype(np.int64): 64, np.dtype(np.uint8): 8}
    key = np.dtype(arr.dtype.newbyteorder("="))
    if key not in bitpix:
        arr, key = arr.astype(np.float32), np.dtype(np.float32)
    hdr["BITPIX"] = bitpix[key]
    for k in _SCALING:
        hdr.remove(k, ignore_missing=True)
    raw = arr.astype(key.newbyteorder(">"), copy=False).tobytes()
    return raw + b"\0" * (-len(raw) % BLOCK)


class _Layout:
    """Offsets of the HDUs (``fileinfo`` is costly: asked only for the HDUs needed)."""

    def __init__(self, hdul):
        self._hdul = hdul
        self._cache: dict[int, tuple[int, int, int]] = {}

    def __getitem__(self, i: int) -> tuple[int, int, int]:
        if i not in self._cache:
            info = self._hdul.fileinfo(i)
            self._cache[i] = (info["hdrLoc"], info["datLoc"], info["datSpan"])
        return self._cache[i]

    def all(self) -> list[tuple[int, int, int]]:
        return [self[i] for i in range(len(self._hdul))]


def plan_update(path: str, hdul: fits.HDUList, updates: Mapping[object, Mapping[str, tuple | None]],
                data_updates: Mapping[object, np.ndarray] | None, *, label: str) -> FileUpdate:
    """Work out the new bytes of ``path`` (open as ``hdul``) after ``updates``.

    Parameters
    ----------
    path : str
    hdul : HDUList
        The file, opened by the caller (headers only are used).
    updates : mapping
        ``{extension: {keyword: (value, comment) or None}}`` (None removes the keyword).
    data_updates : mapping, optional
        ``{extension: new data}``.
    label : str
        The file as the user named it (messages).
    """
    layout = _Layout(hdul)
    new: dict[int, fits.Header] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        changed: dict[int, set[str]] = {}
        for ext, cards in updates.items():
            idx = hdul.index_of(ext)
            hdr = new.get(idx) or hdul[idx].header.copy()
            _set_cards(hdr, cards)
            new[idx] = hdr
            changed.setdefault(idx, set()).update(k.upper() for k in cards)
        data: dict[int, bytes] = {}
        for ext, arr in (data_updates or {}).items():
            idx = hdul.index_of(ext)
            hdr = new.setdefault(idx, hdul[idx].header.copy())
            data[idx] = _data_bytes(arr, hdr, f"{label}[{idx}]")
            changed.setdefault(idx, set()).update(("BITPIX", *_SCALING))
        fd = os.open(path, os.O_RDONLY)
        try:
            if not data:
                patches = []
                for idx, hdr in new.items():
                    hs, ds, dspan = layout[idx]
                    filled = _fill_to(hdr, ds - hs)
                    if filled is None:
                        break
                    if "CHECKSUM" in filled or "DATASUM" in filled:
                        _set_checksum(filled, _datasum(filled, fd, ds, dspan), f"{label}[{idx}]")
                    text = filled.tostring().encode("ascii")
                    if len(text) != ds - hs:
                        break
                    _check_preserved(_read(fd, hs, ds - hs), text, changed[idx] | _CHECKSUMS,
                                     f"{label}[{idx}]")
                    patches.append((hs, text))
                else:
                    return FileUpdate(patches, {}, {}, layout)
            headers = {}
            for idx, hdr in new.items():
                hdr = _reserve(hdr)
                if "CHECKSUM" in hdr or "DATASUM" in hdr:
                    hs, ds, dspan = layout[idx]
                    s = _data_sum(data[idx]) if idx in data else _datasum(hdr, fd, ds, dspan)
                    _set_checksum(hdr, s, f"{label}[{idx}]")
                headers[idx] = hdr.tostring().encode("ascii")
                hs, ds, _ = layout[idx]
                _check_preserved(_read(fd, hs, ds - hs), headers[idx], changed[idx] | _CHECKSUMS,
                                 f"{label}[{idx}]")
        finally:
            os.close(fd)
    return FileUpdate([], headers, data, layout.all())


def _datasum(hdr: fits.Header, fd: int, start: int, span: int) -> int:
    """The data's checksum: the header's DATASUM when it is a number, else computed."""
    v = hdr.get("DATASUM")
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return _data_sum(_read(fd, start, span))


def write_spliced(src_path: str, update: FileUpdate, out: IO[bytes]) -> None:
    """Write the updated file: changed headers and data from ``update``, every other
    byte copied from ``src_path`` as it is."""
    fd = os.open(src_path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        end = 0
        for idx, (hs, ds, dspan) in enumerate(update.layout):
            if idx in update.headers:
                out.write(update.headers[idx])
            else:
                _copy(fd, hs, ds - hs, out)
            if idx in update.data:
                out.write(update.data[idx])
            else:
                _copy(fd, ds, dspan, out)
            end = ds + dspan
        if end < size:
            _copy(fd, end, size - end, out)
    finally:
        os.close(fd)


def _copy(fd: int, offset: int, n: int, out: IO[bytes]) -> None:
    done = 0
    while done < n:
        chunk = os.pread(fd, min(_CHUNK, n - done), offset + done)
        if not chunk:
            raise WriteError(f"file shorter than its headers say (truncated at {offset + done:,} bytes)")
        out.write(chunk)
        done += len(chunk)
