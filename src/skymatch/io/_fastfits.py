"""Reading FITS headers and building WCS objects without astropy's card machinery.

astropy parses every card of every header through its configurable, verifying ``Card``
class (about 80 µs a card) and ``WCS(header)`` serialises and re-parses the header
three times; for a run over thousands of small exposures that is most of the time.
This module reads the header blocks of a plain (uncompressed) FITS file directly and
parses the cards with a strict subset of the FITS rules.  Anything outside that subset
(``CONTINUE``, ``HIERARCH``, record-valued or complex values, a malformed card, random
groups, compressed images, a truncated file, bytes after the last HDU, lookup-table
distortions) makes :func:`scan_fits` return ``None``: the caller then reads the file with
astropy, which accepts or rejects it with its usual diagnostics.  So every file read
here is one astropy would read to the same values.  Size keywords that are not valid
FITS (a negative ``NAXISn``, ``NAXIS`` beyond 999, ...) are an error here, and
:func:`check_structure` looks for them before astropy opens a file: astropy's reader
does not stop on them (:class:`StructureError`).

:func:`wcs_from_cards` builds the same :class:`~astropy.wcs.WCS` ``WCS(header)`` builds
(bit for bit: the core keywords go through wcslib's own parser, the SIP coefficients
through Python's ``float`` as in astropy) in a fraction of the time.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS

from ..exceptions import InputError

__all__ = ["CardsWCS", "HduCards", "check_structure", "header_layout", "header_patches", "layout_is_current",
           "scan_fits", "Structure", "wcs_from_cards", "wcs_header_bytes", "BLOCK"]

BLOCK = 2880
_CARD = 80
_KEY_RE = re.compile(r"[A-Z0-9_-]{1,8}\Z")
_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?\Z")
_COMMENTARY = frozenset({"", "COMMENT", "HISTORY"})
# astropy's SIP keyword pattern (astropy/wcs/wcs.py SIP_KW) and the order keywords it
# removes before handing a header to wcslib.
_SIP_KW = re.compile(r"^[AB]P?_1?[0-9]_1?[0-9][A-Z]?$")
_SIP_ORDERS = frozenset({"A_ORDER", "B_ORDER", "AP_ORDER", "BP_ORDER"})
# Keywords of distortions astropy reads from other HDUs or treats specially: such
# headers go through astropy.
_ASTROPY_ONLY = ("D2IM", "CPDIS", "CPERR", "DP1", "DP2", "DQ1", "DQ2", "AXISCORR", "PV1_", "PV2_")
_BITPIX = frozenset({8, 16, 32, 64, -32, -64})


class _UnsupportedError(Exception):
    """A card or layout this reader leaves to astropy."""


@dataclass(frozen=True)
class HduCards:
    """One HDU's header as parsed cards, and where its data are in the file.

    ``header`` maps each keyword to the value of its first card (as astropy's
    ``Header[key]``); ``raw`` is the header's bytes up to (excluding) ``END``.
    """

    header: dict
    items: tuple  # every (keyword, value) card in order, commentary cards left out
    raw: bytes
    header_offset: int
    data_offset: int
    data_bytes: int  # unpadded
    is_image: bool


def _parse_string(text: str) -> tuple[str, str]:
    """The value of a string card (``text`` starts with the opening quote) and the rest."""
    out = []
    i = 1
    n = len(text)
    while True:
        j = text.find("'", i)
        if j < 0:
            raise _UnsupportedError("unterminated string")
        out.append(text[i:j])
        if j + 1 < n and text[j + 1] == "'":
            out.append("'")
            i = j + 2
            continue
        return "".join(out).rstrip(), text[j + 1:]


def _parse_value(text: str):
    """Value of the part of a card after ``= `` (astropy's rules, strict subset)."""
    s = text.lstrip(" ")
    if s.startswith("'"):
        value, rest = _parse_string(s)
        rest = rest.strip(" ")
        if rest and not rest.startswith("/"):
            raise _UnsupportedError("text after a string value")
        return value
    v = s.split("/", 1)[0].strip(" ")
    if v == "T":
        return True
    if v == "F":
        return False
    if _INT_RE.match(v):
        return int(v)
    if _FLOAT_RE.match(v):
        return float(v.replace("D", "E").replace("d", "e"))
    if v == "":
        raise _UnsupportedError("undefined value")
    raise _UnsupportedError(f"value {v!r}")


#: The value part of a card (after ``= ``) in the forms :func:`_parse_value` accepts, in
#: one match: a string (``''`` for a quote), T/F, an integer or a float, then an optional
#: comment.  Anything else does not match (and goes to :func:`_parse_value` for its error).
_VALUE_RE = re.compile(r" *(?:'(?P<s>(?:[^']|'')*)'|(?P<b>[TF])|(?P<i>[+-]?[0-9]+)"
                       r"|(?P<f>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?)) *(?:/.*)?\Z", re.DOTALL)


def _matched_value(m: re.Match):
    """The value of a card whose value part :data:`_VALUE_RE` matched."""
    kind = m.lastgroup
    v = m.group(kind)
    if kind == "s":
        return v.replace("''", "'").rstrip()
    if kind == "f":
        return float(v.replace("D", "E").replace("d", "e"))
    if kind == "i":
        return int(v)
    return v == "T"


def _parse_header(raw: bytes) -> tuple[dict, tuple]:
    """Parse the cards of ``raw`` (ending before ``END``): the first value of each
    keyword and every (keyword, value) in order."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _UnsupportedError("non-ASCII header") from None
    cards: dict = {}
    items = []
    key_ok = _KEY_RE.match
    value_of = _VALUE_RE.match
    for i in range(0, len(text), _CARD):
        card = text[i:i + _CARD]
        key = card[:8].rstrip(" ")
        if key in _COMMENTARY:
            if key == "" and card.strip(" "):
                raise _UnsupportedError("text in a blank keyword card")
            continue
        if not key_ok(key):
            raise _UnsupportedError(f"keyword {key!r}")
        if card[8:10] != "= ":
            raise _UnsupportedError(f"card {key} without a value")
        m = value_of(card, 10)
        # _parse_value raises: not a supported value
        value = _parse_value(card[10:]) if m is None else _matched_value(m)
        cards.setdefault(key, value)
        items.append((key, value))
    return cards, tuple(items)


class StructureError(Exception):
    """An HDU whose size keywords (BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT) are not valid
    FITS: where its data end, and so where the next HDU starts, is unknown.

    Such a header must not reach astropy: a negative size makes its reader step back to
    the same header again and again (astropy 7: ``HDUList`` appends HDUs without end and
    memory grows), and a huge ``NAXIS`` makes it count that many axes.
    """

    def __init__(self, keyword: str, value, rule: str) -> None:
        super().__init__(keyword)
        self.keyword, self.value, self.rule = keyword, value, rule

    def message(self, where: str) -> str:
        """One line for the user; ``where`` is ``path[extension]``."""
        if self.value is None:
            what = f"has no {self.keyword} keyword"
        else:
            what = f"keyword {self.keyword} = {_shown(self.value)} is not valid FITS"
        return (f"{where}: {what} ({self.keyword} must be {self.rule}), so its data cannot be "
                f"located; correct that card, or download or copy the file again")


@dataclass(frozen=True)
class _Unparsed:
    """A size keyword's value text that is not a FITS value at all."""

    text: str


def _shown(v) -> str:
    """A card value as the header would show it."""
    if isinstance(v, _Unparsed):
        return v.text
    if isinstance(v, bool):
        return "T" if v else "F"
    return repr(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _data_bytes(h: dict, *, primary: bool) -> int:
    """Unpadded data size of the HDU with header ``h``; :class:`StructureError` when its
    size keywords are missing or not valid FITS."""
    bitpix = h.get("BITPIX")
    if not _is_int(bitpix) or bitpix not in _BITPIX:
        raise StructureError("BITPIX", bitpix, "one of 8, 16, 32, 64, -32, -64")
    naxis = h.get("NAXIS")
    if not _is_int(naxis) or not 0 <= naxis <= 999:
        raise StructureError("NAXIS", naxis, "an integer from 0 to 999")
    if naxis == 0:
        return 0
    dims = [h.get(f"NAXIS{k}") for k in range(1, naxis + 1)]
    for k, d in enumerate(dims, 1):
        if not _is_int(d) or d < 0:
            raise StructureError(f"NAXIS{k}", d, "an integer, 0 or more")
    if primary and (dims[0] == 0 or h.get("GROUPS") is True):
        raise _UnsupportedError("random groups")
    pcount = h.get("PCOUNT", 0)
    gcount = h.get("GCOUNT", 1)
    for key, v in (("PCOUNT", pcount), ("GCOUNT", gcount)):
        if not _is_int(v) or v < 0:
            raise StructureError(key, v, "an integer, 0 or more")
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(dims))


_SIZE_KEY = re.compile(r"(?:SIMPLE|BITPIX|NAXIS[0-9]{0,3}|PCOUNT|GCOUNT|GROUPS|EXTNAME|EXTVER|NEXTEND) *\Z")


def _size_cards(raw: bytes) -> dict:
    """The first card of each size keyword (and EXTNAME/EXTVER/NEXTEND) of a header, whatever
    the other cards hold; a value that is not a FITS value becomes :class:`_Unparsed`."""
    text = raw.decode("latin-1")
    out: dict = {}
    for i in range(0, len(text), _CARD):
        key = text[i:i + 8]
        if not _SIZE_KEY.match(key):
            continue
        key = key.rstrip(" ")
        if key in out:
            continue
        card = text[i:i + _CARD]
        m = _VALUE_RE.match(card, 10) if card[8:10] == "= " else None
        if m is None:
            out[key] = _Unparsed(repr(card[10:].split("/", 1)[0].strip()[:30]))
            continue
        out[key] = _matched_value(m)
    return out


def _label(h: dict, index: int) -> str:
    """``[SCI,1]`` for a named extension, else ``[index]`` (as the astropy path says it)."""
    name = h.get("EXTNAME")
    if index > 0 and isinstance(name, str) and name.strip():
        ver = h.get("EXTVER", 1)
        return f"[{name.strip()},{ver if _is_int(ver) else 1}]"
    return f"[{index}]"


@dataclass(frozen=True)
class Structure:
    """The HDUs :func:`check_structure` followed.

    ``hdus`` HDUs end at byte ``end``; ``trailing``: the bytes after them do not start a
    FITS header (special records, or bytes appended to the file: astropy ignores them
    too), as opposed to a header the walk could not read; ``nextend``: the primary
    header's ``NEXTEND`` when it is an integer.
    """

    hdus: int
    end: int
    trailing: bool
    nextend: int | None


def check_structure(path: str, *, compressed: bool = False) -> Structure:
    """Raise :class:`~skymatch.exceptions.InputError` when an HDU of the FITS file at
    ``path`` has size keywords that are not valid FITS (see :class:`StructureError`).

    Also errors: an HDU whose data run past the end of the file (astropy would drop it
    and every HDU after it without an error), ``SIMPLE = F``, and a header with bytes that
    are not ASCII (named by extension and card).  Run before astropy opens a file the fast
    reader left to it.  Only the size keywords are parsed; the walk stops quietly where it
    cannot follow the file (no ``END``, bytes that are not a header), leaving astropy to
    report that.  A ``compressed`` file (gzip, bzip2, zip: its first member, as astropy
    reads it) is walked through its decompressed bytes, without the check for truncated
    data (its size is not known without decompressing it all).
    """
    with _open_decompressed(path) if compressed else open(path, "rb") as fh:
        size = None if compressed else os.path.getsize(path)
        return _walk(fh, path, size)


def _open_decompressed(path: str):
    """A seekable reader of a compressed file's decompressed bytes."""
    import bz2
    import gzip
    import zipfile

    with open(path, "rb") as raw:
        magic = raw.read(3)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic == b"BZh":
        return bz2.open(path, "rb")
    archive = zipfile.ZipFile(path)
    try:
        return archive.open(archive.namelist()[0])
    finally:
        archive.close()  # the member keeps its own handle on the file


def _walk(fh, path: str, size: int | None) -> Structure:
    """:func:`check_structure` on the open file ``fh`` (``size``: None when unknown)."""
    nextend = None
    offset, index = 0, 0
    while size is None or offset < size:
        fh.seek(offset)
        head = fh.read(9)
        fh.seek(offset)
        if not head:  # the end of a compressed file's bytes
            return Structure(index, offset, False, nextend)
        if index and head != b"XTENSION=":
            return Structure(index, offset, True, nextend)
        try:
            raw, data_offset, rest = _header_blocks(fh, offset)
        except _UnsupportedError:
            return Structure(index, offset, False, nextend)
        if not index and not raw.startswith(b"SIMPLE  ="):
            return Structure(index, offset, False, nextend)
        h = _size_cards(raw)
        where = f"{path}{_label(h, index)}"
        if index == 0:
            if h.get("SIMPLE") is not True:
                raise InputError(f"{where}: keyword SIMPLE = {_shown(h.get('SIMPLE'))}: not a standard "
                                 "FITS file (SIMPLE must be T); give a standard FITS file")
            nextend = h.get("NEXTEND") if _is_int(h.get("NEXTEND")) else None
        try:
            nbytes = _data_bytes(h, primary=index == 0)
        except _UnsupportedError:
            return Structure(index, offset, False, nextend)
        except StructureError as exc:
            raise InputError(exc.message(where)) from None
        if not (raw + rest).isascii():
            bad = next(i // _CARD for i in range(0, len(raw) + len(rest), _CARD)
                       if not (raw + rest)[i:i + _CARD].isascii())
            what = f"card {bad + 1}" if bad < len(raw) // _CARD else "the blanks after its END card"
            raise InputError(f"{where}: corrupt header (non-ASCII bytes in {what}, where FITS "
                             "allows only ASCII text); download or copy the file again")
        if size is not None and data_offset + nbytes > size:  # astropy would drop it and those after it
            keys = ["BITPIX", "NAXIS", *(f"NAXIS{k}" for k in range(1, h["NAXIS"] + 1))]
            keys += [k for k, usual in (("PCOUNT", 0), ("GCOUNT", 1)) if h.get(k, usual) != usual]
            sizes = ", ".join(f"{k} = {h[k]}" for k in keys)
            raise InputError(f"{path}[{index}]: file is truncated ({size:,} bytes; extension {index} "
                             f"needs {data_offset + nbytes:,} for {sizes}); download or copy it "
                             "again, or correct a wrong size keyword")
        offset = data_offset + -(-nbytes // BLOCK) * BLOCK
        index += 1
    return Structure(index, offset, False, nextend)


def _read_header(fh, offset: int) -> tuple[bytes, int]:
    """Header bytes before ``END`` starting at ``offset`` and the offset after its blocks."""
    raw, pos, rest = _header_blocks(fh, offset)
    if rest.strip(b" "):
        raise _UnsupportedError("cards after END")
    return raw, pos


def _header_blocks(fh, offset: int) -> tuple[bytes, int, bytes]:
    """Header bytes before ``END`` starting at ``offset``, the offset after its blocks and
    the rest of its last block after the ``END`` card (blanks in a valid header)."""
    chunks = []
    pos = offset
    while True:
        block = fh.read(BLOCK)
        if len(block) < BLOCK:
            raise _UnsupportedError("truncated header")
        pos += BLOCK
        for i in range(0, BLOCK, _CARD):
            if block[i:i + 3] == b"END" and block[i + 3:i + _CARD].strip(b" ") == b"":
                chunks.append(block[:i])
                return b"".join(chunks), pos, block[i + _CARD:]
        chunks.append(block)


def scan_fits(path: str) -> list[HduCards] | None:
    """Every HDU of an uncompressed FITS file, parsed, or None to let astropy read it.

    Parameters
    ----------
    path : str
        A regular, uncompressed file.

    Returns
    -------
    list of HduCards or None
        None for anything this reader does not handle (see the module docstring).

    Raises
    ------
    InputError
        An HDU's size keywords are not valid FITS (:class:`StructureError`).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            return _scan(fh, size, path)
    except (_UnsupportedError, OSError):
        return None


def _scan(fh, size: int, path: str) -> list[HduCards]:
    out: list[HduCards] = []
    offset = 0
    while offset < size:
        raw, data_offset = _read_header(fh, offset)
        primary = not out
        if primary != raw.startswith(b"SIMPLE  ="):
            raise _UnsupportedError("SIMPLE/XTENSION")
        h, items = _parse_header(raw)
        if primary and h.get("SIMPLE") is not True:
            raise _UnsupportedError("SIMPLE = F")
        xt = None if primary else h.get("XTENSION")
        if not primary and not isinstance(xt, str):
            raise _UnsupportedError("XTENSION")
        if "ZIMAGE" in h or (xt is not None and xt not in ("IMAGE", "BINTABLE", "TABLE")):
            raise _UnsupportedError("compressed image or unknown extension")
        try:
            nbytes = _data_bytes(h, primary=primary)
        except StructureError as exc:
            raise InputError(exc.message(f"{path}{_label(h, len(out))}")) from None
        end = data_offset + -(-nbytes // BLOCK) * BLOCK
        if end > size:
            raise _UnsupportedError("truncated data")
        out.append(HduCards(h, items, raw, offset, data_offset, nbytes, is_image=xt in (None, "IMAGE")))
        offset = end
        fh.seek(offset)
    if offset != size or not out:
        raise _UnsupportedError("bytes after the last HDU")
    return out


def needs_astropy_wcs(header: dict) -> bool:
    """True when the WCS of ``header`` uses something :func:`wcs_from_cards` leaves to astropy."""
    return any(k.startswith(_ASTROPY_ONLY) for k in header)


def wcs_header_bytes(raw: bytes) -> bytes:
    """The cards of ``raw`` that astropy hands to wcslib (no SIP keywords)."""
    keep = []
    for i in range(0, len(raw), _CARD):
        card = raw[i:i + _CARD]
        key = card[:8].decode("ascii").rstrip(" ")
        if _SIP_KW.match(key) or key in _SIP_ORDERS:
            continue
        keep.append(card)
    return b"".join(keep)


def _sip_matrix(header: dict, prefix: str, order: int) -> np.ndarray:
    m = np.zeros((order + 1, order + 1), np.double)
    for i in range(order + 1):
        for j in range(order - i + 1):
            v = header.get(f"{prefix}_{i}_{j}")
            if v is not None:
                m[i, j] = v
    return m


def _sip(header: dict):
    """Astropy's ``WCS._read_sip_kw`` on parsed cards (None without SIP)."""
    from astropy.wcs import Sip

    def order(key):
        v = header.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(f"{key} = {v!r} is not a number")
        return v

    a = b = ap = bp = None
    ao, bo = order("A_ORDER"), order("B_ORDER")
    if ao is not None and ao > 1:
        if bo is None:
            raise ValueError("A_ORDER provided without corresponding B_ORDER keyword for SIP distortion")
        if bo > 1:
            a = _sip_matrix(header, "A", int(ao))
            b = _sip_matrix(header, "B", int(bo))
    elif bo is not None and bo > 1:
        raise ValueError("B_ORDER provided without corresponding A_ORDER keyword for SIP distortion")
    apo, bpo = order("AP_ORDER"), order("BP_ORDER")
    if apo is not None and apo > 1:
        if bpo is None:
            raise ValueError("AP_ORDER provided without corresponding BP_ORDER keyword for SIP distortion")
        if bpo > 1:
            ap = _sip_matrix(header, "AP", int(apo))
            bp = _sip_matrix(header, "BP", int(bpo))
    elif bpo is not None and bpo > 1:
        raise ValueError("BP_ORDER provided without corresponding AP_ORDER keyword for SIP distortion")
    if a is None and b is None and ap is None and bp is None:
        return None
    if "CRPIX1" not in header or "CRPIX2" not in header:
        raise ValueError("Header has SIP keywords without CRPIX keywords")
    return Sip(a, b, ap, bp, (header["CRPIX1"], header["CRPIX2"]))


def wcs_from_cards(header: dict, raw: bytes):
    """``astropy.wcs.WCS(header)`` of a header without lookup-table distortions.

    Parameters
    ----------
    header : dict
        Parsed cards (:attr:`HduCards.header`).
    raw : bytes
        The header's card bytes (:attr:`HduCards.raw`).

    Returns
    -------
    astropy.wcs.WCS
        Equal, transform for transform and bit for bit, to ``WCS(header)``; callers
        check :func:`needs_astropy_wcs` first.
    """
    from astropy.wcs import Wcsprm

    wcsprm = Wcsprm(header=wcs_header_bytes(raw), key=" ", relax=True, keysel=-1, colsel=None,
                    hdulist=None, preserve_units=False)
    sip = _sip(header)
    if wcsprm.naxis != 2 and sip is not None:
        raise ValueError("SIP distortions only work in 2 dimensions; the core WCS has "
                         f"{wcsprm.naxis}")
    w = CardsWCS(naxis=wcsprm.naxis) if wcsprm.naxis else CardsWCS()
    w.wcs = wcsprm
    w.sip = sip
    w.fix()
    w.wcs.set()
    w._skymatch_cards = (header, raw, _fingerprint(w))  # noqa: SLF001 - the cards travel with the WCS (CardsWCS)
    return w


def _fingerprint(w) -> tuple:
    """What a WCS built from cards can have changed since (the core WCS, the SIP
    polynomials, the pixel bounds)."""
    sip = w.sip
    poly = () if sip is None else tuple(None if m is None else m.tobytes()
                                        for m in (sip.a, sip.b, sip.ap, sip.bp, sip.crpix))
    return (w.wcs.to_header(True), poly, w.pixel_bounds, w.cpdis1, w.cpdis2, w.det2im1, w.det2im2)


def _rebuild(header: dict, raw: bytes, pixel_shape):
    w = wcs_from_cards(header, raw)
    if pixel_shape is not None:
        w.pixel_shape = pixel_shape
    return w


class CardsWCS(WCS):
    """:class:`astropy.wcs.WCS` that pickles as its header cards while unchanged.

    astropy pickles a WCS by writing it to a FITS file in memory and reading it back
    (~12 ms for a SIP chip); tasks sent to processes or Dask workers carry chips, so
    that cost was paid per chip per task.  A WCS built by :func:`wcs_from_cards` is
    rebuilt from its cards instead (~0.2 ms, bit for bit the same), unless it has been
    changed since (then astropy's own pickling is used).
    """

    def __reduce__(self):
        cards = self.__dict__.get("_skymatch_cards")
        if cards is not None and _fingerprint(self) == cards[2]:
            return (_rebuild, (cards[0], cards[1], self.pixel_shape))
        return super().__reduce__()


# ---------------------------------------------------------------- header patches
_BLANK = b" " * _CARD
_END = b"END".ljust(_CARD)
_COMMENTARY_B = frozenset({b"", b"COMMENT", b"HISTORY"})


def _ext_index(hdus: list[HduCards], ext) -> int | None:
    """Index of ``ext`` (an index or ``(EXTNAME, EXTVER)``) as astropy resolves it."""
    if isinstance(ext, int) and not isinstance(ext, bool):
        return ext if 0 <= ext < len(hdus) else None
    if isinstance(ext, tuple) and len(ext) == 2 and isinstance(ext[0], str):
        hits = [i for i, h in enumerate(hdus)
                if str(h.header.get("EXTNAME", "")).strip().upper() == ext[0].strip().upper()
                and h.header.get("EXTVER", 1) == ext[1]]
        return hits[0] if len(hits) == 1 else None
    return None


def _card_key(card: bytes) -> bytes:
    return card[:8].rstrip(b" ")


def _patched_header(cards: list[bytes], span: int, updates, images: dict | None = None) -> bytes | None:
    """The header ``cards`` (no END) after ``updates``, as astropy's Header would
    produce it and :mod:`skymatch.io._fitsbytes` lay it into ``span`` bytes, or None
    for anything outside the simple cases (then astropy does it).  ``images``: card
    images already made (``(key, type, repr(value), comment) -> bytes``), shared by the
    headers of one batch (most of their cards are the same)."""
    cards = list(cards)
    keys = [_card_key(c) for c in cards]
    present = set(keys)
    if images is None:
        images = {}
    for key, value in updates.items():
        kb = key.upper().encode("ascii")
        n = keys.count(kb) if kb in present else 0
        if value is None or value[0] is None:
            while n:
                i = keys.index(kb)
                del cards[i], keys[i]
                n -= 1
            present.discard(kb)
            continue
        if n > 1:
            return None
        val, comment = value if len(value) == 2 else (value[0], None)
        if isinstance(val, str) and len(val) > 60:
            return None  # a long string could need CONTINUE cards
        if n:
            if comment is None:
                return None  # astropy keeps the old comment: leave it to astropy
            cards[keys.index(kb)] = _card_image(images, key, val, comment)
            continue
        new = _card_image(images, key, val, comment)
        if len(new) != _CARD:
            return None
        # Header.append(card, useblanks=True, bottom=False): after the last
        # non-commentary card, then one trailing blank card is used up.
        k = len(cards) - 1
        while k >= 0 and keys[k] in _COMMENTARY_B:
            k -= 1
        cards.insert(k + 1, new)
        keys.insert(k + 1, kb)
        present.add(kb)
        if cards[-1] == _BLANK:
            cards.pop()
            keys.pop()
    return _fill(cards, span)


def _card_image(images: dict, key: str, val, comment) -> bytes:
    """Astropy's image of the card ``key = val / comment`` (remembered in ``images``)."""
    memo = (key, type(val), repr(val), comment)  # repr: -0.0 and 0.0 are different cards
    image = images.get(memo)
    if image is None:
        image = images[memo] = _float_card(key, val, comment) or _astropy_card(key, val, comment)
    return image


def _astropy_card(key: str, val, comment) -> bytes:
    from astropy.io.fits import Card

    return Card(key, val, comment).image.encode("ascii")


def _float_card(key: str, val, comment) -> bytes | None:
    """``Card(key, val, comment).image`` of a float on a standard keyword, laid out as
    astropy's ``Card._format_image`` does (its own value formatter; a Card costs ~0.1 ms,
    most of it configuration lookups, and every chip has three new float cards).  None
    for anything else (astropy then makes the card)."""
    if type(val) is not float or not math.isfinite(val) or len(key) > 8 or key != key.upper() or not comment:
        return None
    from astropy.io.fits.card import _format_value

    text = f"{key:8}= {_format_value(val)} / {comment}"
    return text.ljust(_CARD).encode("ascii") if len(text) <= _CARD else None


def _fill(cards: list[bytes], span: int) -> bytes | None:
    """:func:`skymatch.io._fitsbytes._fill_to` and astropy's ``tostring`` on card bytes."""
    slots = span // _CARD
    n = len(cards) + 1
    if n > slots:
        need = n - slots
        tail = 0
        for c in reversed(cards):
            if c != _BLANK:
                break
            tail += 1
        if tail < need:
            return None
        cards = cards[:len(cards) - need]
        n -= need
    if slots - n >= 36:
        cards = cards + [_BLANK] * (slots - n)
    text = b"".join(cards) + _END
    text += b" " * (-len(text) % BLOCK)
    return text if len(text) == span else None


def header_layout(hdus: list[HduCards]) -> tuple[HduCards, ...]:
    """What :func:`header_patches` needs of a scanned file, kept small: every HDU's place
    and EXTNAME/EXTVER/CHECKSUM/DATASUM, the header bytes of the SCI extensions only
    (``raw`` empty elsewhere: updating those scans the file again)."""
    keep = ("EXTNAME", "EXTVER", "CHECKSUM", "DATASUM")
    out = []
    for h in hdus:
        sci = str(h.header.get("EXTNAME", "")).strip().upper() == "SCI"
        out.append(HduCards({k: h.header[k] for k in keep if k in h.header}, (), h.raw if sci else b"",
                            h.header_offset, h.data_offset, h.data_bytes, h.is_image))
    return tuple(out)


def layout_is_current(fd: int, size: int, layout, patches) -> bool:
    """Whether the file open as ``fd`` (``size`` bytes) still has the header bytes that
    ``layout`` (:func:`header_layout`) recorded wherever ``patches`` will write."""
    last = layout[-1]
    if size != last.data_offset + -(-last.data_bytes // BLOCK) * BLOCK:
        return False
    at = {h.header_offset: h.raw for h in layout}
    for offset, _ in patches:
        raw = at.get(offset)
        if not raw or os.pread(fd, len(raw) + _CARD, offset) != raw + _END:
            return False
    return True


def header_patches(path: str, updates, images: dict | None = None,
                   layout=None) -> list[tuple[int, bytes]] | None:
    """``(offset, new header bytes)`` of every header ``updates`` change in ``path``.

    The same bytes :func:`skymatch.io._fitsbytes.plan_update` computes with astropy
    for header-only updates that fit in place (``tests/test_fastfits.py`` compares
    them), without parsing the file with astropy.  None when the file or an update is
    not one of the simple cases (checksums, long strings, duplicated keywords, a header
    that must grow): the caller then plans the update with astropy.

    Parameters
    ----------
    path : str
    updates : mapping
        ``{extension: {keyword: (value, comment) or None}}``.
    images : dict, optional
        Card images made for earlier headers of the same batch (filled in here).
    layout : sequence of HduCards, optional
        The file as this run read it (:func:`header_layout`), instead of scanning it
        again; the caller checks that it is current (:func:`layout_is_current`).
    """
    hdus = scan_fits(path) if layout is None else layout
    if hdus is None:
        return None
    out = []
    for ext, cards in updates.items():
        idx = _ext_index(hdus, ext)
        if idx is None:
            return None
        h = hdus[idx]
        if "CHECKSUM" in h.header or "DATASUM" in h.header:
            return None
        raw = h.raw
        if not raw:
            return None  # not kept in the layout
        if any(raw[i:i + 8] == b"CONTINUE" for i in range(0, len(raw), _CARD)):
            return None
        span = h.data_offset - h.header_offset
        text = _patched_header([raw[i:i + _CARD] for i in range(0, len(raw), _CARD)], span, cards, images)
        if text is None:
            return None
        out.append((h.header_offset, text))
    return out
