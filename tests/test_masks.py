"""DQ bit flags (astropy.nddata.bitmask syntax) and the usable-pixel mask (SPEC section 2)."""

import re

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from skymatch.cli import main
from skymatch.core import dq_good_mask, parse_bits
from skymatch.core._masks import MAX_BITS, usable_mask
from skymatch.exceptions import ParameterError

SPEC_DQ = np.array([0, 1, 4, 8, 64, 68, 4096])
T, F = True, False


def _good(dq, spec):
    return dq_good_mask(dq, parse_bits(spec))


# ------------------------------------------------------------------ SPEC section 2
def test_spec_examples():
    assert _good(SPEC_DQ, "64").tolist() == [T, F, F, F, T, F, F]
    assert _good(SPEC_DQ, "~64").tolist() == [T, T, T, T, F, F, T]
    assert parse_bits("4+8") == parse_bits("4,8") == parse_bits(12) == (12, False)
    assert _good(SPEC_DQ, "0").tolist() == _good(SPEC_DQ, 0).tolist() == [T, F, F, F, F, F, F]
    for spec in (None, "", "none", "NONE", "  "):
        assert parse_bits(spec) == (None, False)
        assert _good(SPEC_DQ, spec) is None
    assert _good(SPEC_DQ, "~4+8").tolist() == [T, T, F, F, T, F, T]


def _rule(dq, bits, invert):
    """SPEC's rule on the DQ bit pattern: good iff DQ & ~bits == 0 (DQ & bits with ~)."""
    width = dq.dtype.itemsize * 8
    u = dq.view(f"u{dq.dtype.itemsize}").astype(object)  # exact Python integers
    full = (1 << width) - 1
    test = (bits if invert else ~bits) & full
    return np.array([(int(v) & test) == 0 for v in u])


SPECS = ["64", "~64", "4+8", "4,8", "4|8", " 4 + 8 ", "~ 64", "~(4+8)", "(4+8)", "0", 0, "~0",
         "32768", "~32768", 2**15, 2**31, 2**40, 2**63, MAX_BITS, "9223372036854775808",
         "~9223372036854775808", np.uint16(64), np.int64(4096), "4+4"]


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "uint32", "int64", "uint64", "uint8"])
def test_every_accepted_spelling_follows_the_spec_rule(dtype):
    # astropy's interpret_bit_flags / bitfield_to_boolean_mask against the rule written
    # out bit by bit, on DQ values that use every bit of the type (negative ones too).
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    dq = np.concatenate([
        SPEC_DQ.astype(dtype) if info.max >= 4096 else np.array([0, 1, 4, 8, 64, 68], dtype),
        np.array([info.min, info.max, 0], dtype=dtype),
        np.array([1 << k for k in range(info.bits - (info.min < 0))], dtype=dtype),
        rng.integers(info.min, info.max, 200, dtype=dtype, endpoint=True),
    ])
    for spec in SPECS:
        bits, invert = parse_bits(spec)
        assert dq_good_mask(dq, (bits, invert)).tolist() == _rule(dq, bits, invert).tolist(), spec


@pytest.mark.parametrize("spec, expected", [
    ("64", (64, False)), ("~64", (64, True)), ("4+8", (12, False)), ("4,8", (12, False)),
    ("4|8", (12, False)), ("~(4+8)", (12, True)), ("~0", (0, True)), ("0", (0, False)),
    (" 4 , 8 ", (12, False)), ("~ 64", (64, True)), ("4+4", (4, False)), ("INDEF", (None, False)),
    ("12", (12, False)), (str(MAX_BITS), (MAX_BITS, False)), (np.uint64(2**63), (2**63, False)),
])
def test_parse_bits_values(spec, expected):
    got = parse_bits(spec)
    assert got == expected and type(got[0]) in (int, type(None)) and type(got[1]) is bool


def test_tilde_zero_means_every_flag_is_good():
    dq = np.array([0, 1, 4096, -1], dtype=np.int16)
    assert _good(dq, "~0").all()


def test_duplicate_flags_do_not_warn():
    # astropy warns "Duplicate bit flags will be ignored"; 4+4 simply means 4.
    assert parse_bits("4+4") == (4, False)


@pytest.mark.parametrize("spec, text", [
    ("4+x", "sky_bits='4+x': cannot read 'x'"),
    ("3+4", "sky_bits='3+4': cannot read it (Input list contains invalid (not powers of two)"),
    ("4+8,16", "sky_bits='4+8,16': cannot read it (Only one type of bit flag separator"),
    ("+4", "sky_bits='+4': cannot read an empty flag"),
    ("~", "sky_bits='~': cannot read it (Empty bit flag lists"),
    ("(4+8", "sky_bits='(4+8': cannot read it (Unbalanced parentheses"),
    ("4~8", "sky_bits='4~8': cannot read it (Bitwise-NOT must precede"),
    ("0x40", "sky_bits='0x40': cannot read '0x40'"),
    ("-4", "sky_bits='-4': bit flags must be non-negative"),
    (-65, "sky_bits=-65: bit flags must be non-negative"),
    ("~-4", "sky_bits='~-4': bit flags must be non-negative"),
    (64.0, "sky_bits=64.0: expected an integer or a string"),
    (True, "sky_bits=True: expected an integer or a string"),
    ([4, 8], "sky_bits=[4, 8]: expected an integer or a string"),
    (99999999999999999999, "sky_bits=99999999999999999999: 99999999999999999999 does not fit in 64 bits"),
    ("99999999999999999999", "sky_bits='99999999999999999999': 99999999999999999999 does not fit"),
    ("~" + str(2**64), "does not fit in 64 bits"),
    (2**64, "does not fit in 64 bits"),
])
def test_refused_bit_flags(spec, text):
    with pytest.raises(ParameterError, match=re.escape(text)) as exc:
        parse_bits(spec)
    assert "\n" not in str(exc.value)
    assert "'4+8'" in str(exc.value) or "64 bits" in str(exc.value)


def test_parameter_name_in_messages():
    with pytest.raises(ParameterError, match=r"^final_bits='99999999999999999999': "):
        parse_bits("99999999999999999999", name="final_bits")
    with pytest.raises(ParameterError, match=r"^final_bits='4\+x': cannot read 'x'"):
        parse_bits("4+x", name="final_bits")


def test_non_integer_dq_is_truncated():
    dq = np.array([0.0, 64.0, 4.0, 68.9])
    assert _good(dq, "64").tolist() == [T, T, F, F]


def test_largest_flags_work_on_64_bit_dq():
    dq = np.array([0, 2**63, 2**63 + 4, 4], dtype=np.uint64)
    assert _good(dq, str(2**63)).tolist() == [T, T, F, F]
    assert _good(dq, "~" + str(2**63)).tolist() == [T, F, F, T]
    dq = dq.view(np.int64)  # the same bits, negative numbers
    assert _good(dq, str(2**63)).tolist() == [T, T, F, F]


# ------------------------------------------------------------------ usable_mask
def test_usable_mask_combines_every_rule():
    data = np.array([[1.0, np.nan, 3.0, 4.0], [5.0, 6.0, np.inf, 8.0]], dtype=np.float32)
    dq = np.array([[0, 0, 0, 64], [4, 0, 0, 0]], dtype=np.int16)
    user = np.array([[1, 1, 1, 1], [1, 0, 1, 2]], dtype=np.uint8)
    static = np.array([[T, T, T, T], [T, T, T, F]])
    finite = np.isfinite(data)
    assert usable_mask(data).tolist() == finite.tolist()
    assert usable_mask(data, dq).tolist() == finite.tolist()  # default flags: DQ not used
    assert usable_mask(data, dq, flags=parse_bits("0")).tolist() == [[T, F, T, F], [F, T, F, T]]
    assert usable_mask(data, dq, flags=parse_bits("64")).tolist() == [[T, F, T, T], [F, T, F, T]]
    got = usable_mask(data, dq, flags=parse_bits("64"), user_mask=user, static=static)
    assert got.tolist() == [[T, F, T, T], [F, F, F, F]]
    assert usable_mask(data, None, flags=parse_bits("0"), user_mask=user).tolist() == [[T, F, T, T], [T, F, F, T]]
    assert got.dtype == bool and got.flags.writeable


def test_usable_mask_is_what_the_sky_step_uses():
    from skymatch.chips import make_chip
    from skymatch.core._context import RunContext

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, 20.0]
    w.wcs.crpix = [3.0, 3.0]
    w.wcs.cdelt = [-1e-4, 1e-4]
    data = np.arange(25, dtype=np.float32).reshape(5, 5)
    data[0, 0] = np.nan
    mask = np.ones((5, 5), dtype=np.uint8)
    mask[4, 4] = 0
    dq = np.zeros((5, 5), dtype=np.int16)
    dq[2, :] = [0, 64, 4, 68, 0]
    chip = make_chip(data, w, mask=mask, dq=dq, name="t")
    u = RunContext().usable(chip, parse_bits("64"))
    assert u.good.tolist() == usable_mask(data, dq, flags=parse_bits("64"), user_mask=mask).tolist()
    assert u.good.sum() == 25 - 1 - 1 - 2


# ------------------------------------------------------------------ command line
def test_cli_huge_sky_bits_is_a_one_line_parameter_error(tmp_path, capsys):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, 20.0]
    w.wcs.crpix = [16.0, 16.0]
    w.wcs.cdelt = [-1e-4, 1e-4]
    hdr = w.to_header()
    hdr["BUNIT"] = "COUNTS/S"
    p = tmp_path / "img.fits"
    fits.PrimaryHDU(np.ones((32, 32), np.float32), header=hdr).writeto(p)
    code = main(["sky", str(p), "--readonly", "--sky-bits", "99999999999999999999"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("skymatch: error: --sky-bits='99999999999999999999': ")
