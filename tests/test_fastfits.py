"""The direct FITS header reader (io/_fastfits.py) gives what astropy gives, or steps aside."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from hypothesis import given, settings
from hypothesis import strategies as st

from skymatch import InputError
from skymatch.io import _fits, read_chips, read_inputs
from skymatch.io._fastfits import scan_fits, wcs_from_cards

GRID = np.meshgrid(np.arange(-1.0, 205.0, 3.7), np.arange(-1.0, 205.0, 4.1))


def _same_transforms(wa, wb):
    ra = wa.pixel_to_world_values(*GRID)
    rb = wb.pixel_to_world_values(*GRID)
    assert all(np.array_equal(u, v) for u, v in zip(ra, rb))
    pa = wa.world_to_pixel_values(*ra)
    pb = wb.world_to_pixel_values(*ra)
    assert all(np.array_equal(u, v) for u, v in zip(pa, pb))
    assert (wa.sip is None) == (wb.sip is None)


def _astropy_chips(monkeypatch, paths):
    with monkeypatch.context() as m:
        m.setattr(_fits._CardsFile, "open", classmethod(lambda cls, p: None))
        return read_inputs(paths)


def test_headers_values_equal_astropys(small_mosaic):
    _, truth = small_mosaic
    path = truth.paths[0]
    hdus = scan_fits(path)
    with fits.open(path) as hdul:
        assert len(hdus) == len(hdul)
        for h, ref in zip(hdus, hdul):
            keys = [k for k in ref.header if k not in ("", "COMMENT", "HISTORY")]
            assert list(h.header) == list(dict.fromkeys(keys))
            for k in h.header:
                assert h.header[k] == ref.header[k] and type(h.header[k]) is type(ref.header[k]), k
        for i, h in enumerate(hdus):
            info = hdul.fileinfo(i)
            assert (h.header_offset, h.data_offset) == (info["hdrLoc"], info["datLoc"])


def test_chips_equal_the_astropy_path(small_mosaic, monkeypatch):
    _, truth = small_mosaic
    fast = read_inputs(truth.paths)
    slow = _astropy_chips(monkeypatch, truth.paths)
    assert all(c.pixels.sci_at is not None for c in fast)
    assert all(c.pixels.sci_at is None for c in slow)
    for a, b in zip(fast, slow):
        assert (a.name, a.shape, a.conv, a.exptime, a.unit_kind, a.signature, a.source) == \
               (b.name, b.shape, b.conv, b.exptime, b.unit_kind, b.signature, b.source)
        assert dict(a.meta) == dict(b.meta)
        _same_transforms(a.wcs, b.wcs)
        pa, pb = a.pixels.read(), b.pixels.read()
        assert pa.data.dtype == pb.data.dtype == np.float32 and np.array_equal(pa.data, pb.data)
        assert pa.dq.dtype == pb.dq.dtype and pa.dq.dtype.isnative and np.array_equal(pa.dq, pb.dq)


@pytest.mark.parametrize("kind", ["tan", "sin-pc", "sip-ap-bp"])
def test_wcs_from_cards_equals_astropy(tmp_path, kind):
    w = WCS(naxis=2)
    w.wcs.crpix = [100.5, 90.25]
    w.wcs.crval = [150.123456789, -33.987654321]
    if kind == "sin-pc":
        w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
        w.wcs.cdelt = [-1.1e-5, 1.2e-5]
        w.wcs.pc = [[0.9, 0.1], [-0.12, 0.95]]
    else:
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.cd = [[-3.1e-5, 4.3e-6], [5.1e-6, 3.0e-5]]
    h = w.to_header()
    if kind == "sip-ap-bp":
        h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
        for p, order in (("A", 3), ("B", 3), ("AP", 2), ("BP", 2)):
            h[f"{p}_ORDER"] = order
            for i in range(order + 1):
                for j in range(order + 1 - i):
                    if i + j > 0:
                        h[f"{p}_{i}_{j}"] = 1e-6 * (1 + i - 2 * j) / (1 + i + j) ** 3
    fits.PrimaryHDU(np.zeros((200, 200), np.float32), header=h).writeto(tmp_path / "w.fits")
    (hdu,) = scan_fits(str(tmp_path / "w.fits"))
    ref = WCS(fits.getheader(tmp_path / "w.fits"))
    _same_transforms(wcs_from_cards(hdu.header, hdu.raw), ref)
    assert (ref.sip is not None) == (kind == "sip-ap-bp")


def _with_card(src, dst, *cards: bytes):
    """Copy ``src`` with ``cards`` put before ``END`` of the primary header (which has room)."""
    raw = bytearray(Path(src).read_bytes())
    end = next(i for i in range(0, 2880, 80) if raw[i:i + 3] == b"END")
    new = b"".join(c.ljust(80) for c in cards) + raw[end:end + 80]
    assert end + len(new) <= 2880 and not raw[end + 80:end + len(new)].strip()
    raw[end:end + len(new)] = new
    with open(dst, "wb") as fh:
        fh.write(raw)


@pytest.mark.parametrize("what", ["continue", "hierarch", "gzip", "extra bytes", "truncated"])
def test_unusual_files_go_through_astropy(small_mosaic, tmp_path, monkeypatch, what):
    _, truth = small_mosaic
    src = truth.paths[0]
    dst = str(tmp_path / ("x_flt.fits.gz" if what == "gzip" else "x_flt.fits"))
    if what == "continue":
        _with_card(src, dst, b"LONGSTR = 'abc&'", b"CONTINUE  'def'")
    elif what == "hierarch":
        _with_card(src, dst, b"HIERARCH ESO DET CHIP = 3")
    elif what == "gzip":
        with open(src, "rb") as fi, gzip.open(dst, "wb") as fo:
            shutil.copyfileobj(fi, fo)
    else:
        raw = Path(src).read_bytes()
        raw = raw + b"\0" * 100 if what == "extra bytes" else raw[:-2880]
        with open(dst, "wb") as fh:
            fh.write(raw)
    assert scan_fits(dst) is None
    if what == "truncated":  # refused, with the astropy path's diagnostics
        with pytest.raises(InputError, match="file is truncated"):
            read_chips(dst)
        return
    chips = read_chips(dst)
    ref = read_chips(src)
    assert [c.name.split("[")[1] for c in chips] == [c.name.split("[")[1] for c in ref]
    assert all(c.pixels.sci_at is None for c in chips) and all(c.pixels.sci_at for c in ref)
    for a, b in zip(chips, ref):
        _same_transforms(a.wcs, b.wcs)
        assert np.array_equal(a.pixels.read().data, b.pixels.read().data)


def test_changed_file_is_read_through_astropy(small_mosaic, tmp_path):
    _, truth = small_mosaic
    dst = tmp_path / "c_flt.fits"
    shutil.copy(truth.paths[0], dst)
    (chip, *_) = read_chips(str(dst))
    with fits.open(dst, mode="update") as hdul:  # grows the header: the data move
        for k in range(60):
            hdul[1].header[f"NEW{k}"] = k
        hdul[1].data = hdul[1].data + 1
    data = chip.pixels.read().data
    assert np.array_equal(data, fits.getdata(dst, 1).astype(np.float32))


def _astropy_patches(path, updates):
    from skymatch.io._fitsbytes import plan_update

    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        upd = plan_update(path, hdul, updates, None, label=path)
    return upd.patches if upd.in_place else None


def _apply(path, patches):
    with open(path, "r+b") as fh:
        for offset, text in patches:
            fh.seek(offset)
            fh.write(text)


def test_header_patches_equal_astropys(small_mosaic, tmp_path):
    from skymatch import sky_methods
    from skymatch.io._fastfits import header_patches
    from skymatch.io._headers import sky_cards

    _, truth = small_mosaic
    paths = []
    for p in truth.paths[:4]:
        shutil.copy(p, tmp_path / Path(p).name)
        paths.append(str(tmp_path / Path(p).name))
    chips = read_inputs(paths)
    results = sky_methods(chips, methods=["match", "localmin"])
    extra = {"NEWKEY": (1.5, "a new keyword"), "ROOTNAME": None, "OBSERVER": ("someone", "who")}
    n_patched = 0
    images = {}  # card images shared by every header of the test, as in one journal batch
    for round_, method in enumerate(["match", "localmin", "match"]):
        for chip in chips:
            path, ext = chip.source[0], ("SCI", chip.source[2])
            cards = sky_cards(results[method], results[method].chip(chip.name))
            if round_ == 1:
                cards.update(extra)
                # Equal values, different cards: a shared image must not stand for another.
                first = chip is chips[0]
                cards["NEWKEY"] = (-0.0 if first else 0.0, "a new keyword")
                cards["OBSERVER"] = (True if first else 1, "who")
            updates = {ext: cards}
            ref = _astropy_patches(path, updates)
            fast = header_patches(path, updates, images)
            assert ref is not None and fast == ref
            _apply(path, fast)
            n_patched += 1
        # what was written reads back
        for chip in chips:
            hdr = fits.getheader(chip.source[0], ("SCI", chip.source[2]))
            assert hdr["MDRIZSKY"] == results[method].chip(chip.name).sky
            assert hdr["SMMETHOD"] == method
    assert n_patched == 12
    assert "ROOTNAME" not in fits.getheader(paths[0], 1)


def test_header_patches_leave_hard_cases_to_astropy(small_mosaic, tmp_path):
    from skymatch.io._fastfits import header_patches

    _, truth = small_mosaic
    dst = tmp_path / "h_flt.fits"
    shutil.copy(truth.paths[0], dst)
    many = {f"K{k:07d}": (float(k), "fills the header") for k in range(400)}
    assert header_patches(str(dst), {("SCI", 1): many}) is None  # must grow: rewritten
    assert header_patches(str(dst), {("SCI", 1): {"LONG": ("x" * 65, "long")}}) is None
    assert header_patches(str(dst), {("SCI", 9): {"A": (1, "c")}}) is None
    assert header_patches(str(dst), {("SCI", 1): {"BUNIT": ("ELECTRONS", None)}}) is None


_PIECES = ["", " ", "  ", "'", "''", "/", " / c", "T", "F", "TRUE", "1", "-7", "+3", "1.", ".5", "1.5E3", "2D-2",
           "1e", "E5", "abc", "x'y", "(1, 2)", "nan", "inf", "1_0", "0x1F", "--1", "1.2.3", "'a''b'", "'a'b'"]


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(_PIECES), max_size=6))
def test_card_values_parse_as_the_strict_reader_does(pieces):
    """The one-regex reading of a card's value agrees with :func:`_parse_value` on every
    mixture of value-like pieces: the same value (and type), or both refuse."""
    from skymatch.io._fastfits import _parse_header, _parse_value, _UnsupportedError

    text = "".join(pieces)[:70].ljust(70)
    try:
        want = _parse_value(text)
    except _UnsupportedError:
        want = _UnsupportedError
    try:
        got = _parse_header(("KEY     = " + text).encode("ascii"))[0]["KEY"]
    except _UnsupportedError:
        got = _UnsupportedError
    assert got == want and type(got) is type(want)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.floats(allow_nan=False, allow_infinity=False)
       | st.sampled_from([0.0, -0.0, 1.0, 1e15, 1e16, 1e-5, 123456789.0]),
       st.sampled_from(["MDRIZSKY", "SKYC00", "SKYERR", "A"]),
       st.sampled_from(["Sky value computed by skymatch", "x" * 45, "x" * 56, "x" * 70]))
def test_float_cards_are_astropys(value, key, comment):
    """Float cards laid out without constructing astropy's Card: the same image, or left to
    astropy (a comment that would be truncated)."""
    from astropy.io.fits import Card

    from skymatch.io._fastfits import _float_card

    mine = _float_card(key, value, comment)
    text = f"{key:8}= {value!r}"
    if mine is None:
        assert len(f"{key:8}= {Card(key, value).image[10:30]} / {comment}") > 80, text
    else:
        assert mine == Card(key, value, comment).image.encode("ascii"), text
