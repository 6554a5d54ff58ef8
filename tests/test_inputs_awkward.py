"""Valid inputs that used to be refused, invalid ones that used to be accepted, and the
file system as it really is (links, folders, permissions, leftovers).

Each case: a correct result, or one ``skymatch: error:`` line naming the file,
extension and keyword, with every input unchanged.
"""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from fsutil import copy_files, digest, generic_image, hdu_start, leftovers, one_line_error, set_raw_card

from skymatch import UnitsWarning, read_inputs, run_sky
from skymatch.cli import main
from skymatch.datasets import make_mosaic


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2 x 1 tiles x 2 exposures of 64 x 64 px (WFC3/IR-like MEF files)."""
    d = tmp_path_factory.mktemp("tiny")
    truth = make_mosaic(d, tiles=(2, 1), size=64, seed=11)
    return sorted(truth.paths)


@pytest.fixture
def files(tiny, tmp_path):
    return copy_files(tiny, tmp_path / "in")


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def pair(tmp_path, **kw):
    """Two overlapping generic images (levels 150 and 152)."""
    a = generic_image(tmp_path / "a.fits", 150.0, seed=1, **kw)
    b = generic_image(tmp_path / "b.fits", 152.0, dx_pix=20, seed=2, **kw)
    return [a, b]


# ----------------------------------------------------------------- valid, was refused
@pytest.mark.parametrize("kind", ["int16 BSCALE/BZERO", "uint16"])
def test_scaled_integer_images_are_read_and_updated_in_place(kind, tmp_path):
    if kind == "uint16":
        files = [generic_image(tmp_path / "a.fits", 33500.0, seed=1, dtype=np.uint16),
                 generic_image(tmp_path / "b.fits", 33502.0, dx_pix=20, seed=2, dtype=np.uint16)]
        levels = [33500.0, 33502.0]
    else:
        files = pair(tmp_path, dtype=np.int16, bscale=0.5, bzero=100.0)
        levels = [150.0, 152.0]
    with fits.open(files[0], do_not_scale_image_data=True) as hl:
        raw_before = hl[0].data.copy()
    r = run_sky(files, method="localmin", skystat="mean")
    assert [c.sky for c in r.result.chips] == pytest.approx(levels, abs=0.05)
    with fits.open(files[0], do_not_scale_image_data=True) as hl:
        assert hl[0].header["MDRIZSKY"] == pytest.approx(levels[0], abs=0.05)
        assert hl[0].header["BITPIX"] == 16
        assert np.array_equal(hl[0].data, raw_before)  # stored integers untouched


def test_subtract_from_scaled_integers(tmp_path):
    files = pair(tmp_path, dtype=np.int16, bscale=0.5, bzero=100.0)
    with fits.open(files[1], memmap=False) as hl:
        before = np.array(hl[0].data, dtype=np.float32)
    r = run_sky(files, method="localmin", subtract=True)
    sky = r.result.chips[1].sky
    with fits.open(files[1]) as hl:
        assert hl[0].header["BITPIX"] == -32 and "BSCALE" not in hl[0].header
        assert hl[0].header["SMSUBTR"] is True
        np.testing.assert_array_equal(hl[0].data, before - np.float32(sky))


def _gzip(path):
    with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)
    return f"{path}.gz"


def test_gzipped_inputs_are_read_only_inputs(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    plain = pair(tmp_path / "p")
    expected = [c.sky for c in run_sky(plain, method="localmin", readonly=True).result.chips]
    gz = [_gzip(generic_image(tmp_path / f"z{i}.fits", lv, dx_pix=20 * i, seed=i + 1))
          for i, lv in enumerate([150.0, 152.0])]
    code, out, err = cli(capsys, "sky", *gz, "--readonly", "--skymethod", "localmin")
    assert code == 0, err
    got = [c.sky for c in run_sky(gz, method="localmin", readonly=True).result.chips]
    assert got == pytest.approx(expected, rel=1e-7)
    # Writing into them: a clear message, nothing changed.
    before = digest(gz)
    code, _, err = cli(capsys, "sky", *gz, "--skymethod", "localmin")
    assert code == 1 and "compressed files cannot be updated" in one_line_error(err)
    assert "z0.fits.gz" in err and digest(gz) == before
    # run --readonly drizzles them.
    code, out, err = cli(capsys, "run", *gz, "--readonly", "--output", tmp_path / "m")
    assert code == 0, err
    assert fits.getdata(tmp_path / "m_drz_sci.fits").shape[0] > 0


# ----------------------------------------------------------------- invalid, was accepted
@pytest.mark.parametrize("key, token, message", [
    ("CRVAL1", "NaN", r"a.fits\[0\]: keyword CRVAL1 .*(unparsable|not a finite number)"),
    ("CD1_1", "INF", r"a.fits\[0\]: keyword CD1_1 .*(unparsable|not a finite number)"),
    ("CD1_1", "NAN", r"a.fits\[0\]: keyword CD1_1 .*(unparsable|not a finite number)"),
    ("CD1_1", "1e500", r"a.fits\[0\]: keyword CD1_1 = inf is not a finite number"),
    ("CD1_1", "0.0", r"a.fits\[0\]: the CD matrix is singular"),
])
def test_invalid_wcs_values_are_errors(key, token, message, tmp_path, capsys):
    import re

    files = pair(tmp_path)
    set_raw_card(files[0], key, f"{key:<8}= {token:>20}")
    if token == "0.0":
        set_raw_card(files[0], "CD1_2", f"{'CD1_2':<8}= {'0.0':>20}")
    before = digest(files)
    code, _, err = cli(capsys, "sky", *files, "--skymethod", "localmin")
    assert code == 1
    assert re.search(message, one_line_error(err)), err
    assert digest(files) == before


@pytest.mark.parametrize("exptime, says", [(None, "is missing"), (0.0, "is 0"), (-5.0, "is -5")])
def test_counts_need_a_positive_exptime(exptime, says, tmp_path, capsys):
    files = pair(tmp_path, bunit="ELECTRONS", exptime=exptime)
    code, _, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 1
    line = one_line_error(err)
    assert f"a.fits[0]: keyword EXPTIME {says}" in line and "counts" in line


def test_adu_are_counts_and_adu_per_second_a_rate(tmp_path):
    a = generic_image(tmp_path / "a.fits", 150.0, bunit="ADU", exptime=100.0)
    b = generic_image(tmp_path / "b.fits", 1.5, bunit="ADU/S", dx_pix=20)
    ca, cb = read_inputs([a, b])
    assert ca.unit_kind == "counts" and ca.conv == pytest.approx(1 / (0.2 ** 2 * 100.0))
    assert cb.unit_kind == "rate" and cb.conv == pytest.approx(1 / 0.2 ** 2)


def test_missing_bunit_warns_once_in_words(tmp_path):
    paths = [generic_image(tmp_path / f"x{i}.fits", 1.0, dx_pix=10 * i, bunit=None) for i in range(3)]
    with pytest.warns(UnitsWarning) as rec:
        read_inputs(paths)
    assert len(rec) == 1
    text = str(rec[0].message)
    assert "no BUNIT keyword" in text and "a rate" in text and "None" not in text
    assert "x0.fits" in text and "x2.fits" in text


def test_dq_of_another_shape_is_an_error(files, capsys):
    with fits.open(files[0], mode="update") as hl:
        dq = hl["DQ", 1]
        hl[hl.index_of(("DQ", 1))] = fits.ImageHDU(np.zeros((32, 32), np.int16), header=dq.header)
    code, _, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 1
    line = one_line_error(err)
    assert f"{os.path.basename(files[0])}[DQ,1]: shape (32, 32) differs" in line


def test_non_utf8_at_list_is_an_error(files, tmp_path, capsys):
    lst = tmp_path / "inputs.lst"
    lst.write_bytes(b"\xff\xfe" + "\n".join(files).encode("utf-16-le"))
    code, _, err = cli(capsys, "sky", f"@{lst}", "--readonly")
    assert code == 1 and "not a text file in UTF-8" in one_line_error(err)


def test_unparsable_card_in_the_last_input_changes_nothing(files, capsys):
    last = files[-1]
    set_raw_card(last, "WCSNAME", "ORIENTAT= 'unterminated", hdu_start=hdu_start(last, 1))
    before = digest(files)
    code, _, err = cli(capsys, "sky", *files)
    assert code == 1
    line = one_line_error(err)
    assert f"{os.path.basename(last)}[SCI,1]: keyword ORIENTAT has an unparsable value" in line
    assert digest(files) == before and leftovers(os.path.dirname(last)) == []


def test_a_bad_ctype_is_named_in_wcslib_words_without_its_source_lines(files, capsys):
    """The error names the file as given (its folder too) and says what wcslib says, not
    where in wcslib's C source it said it."""
    last = files[-1]
    set_raw_card(last, "CTYPE1", "CTYPE1  = 'RA---XYZ'", hdu_start=hdu_start(last, 1))
    code, _, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 1
    line = one_line_error(err)
    assert line == (f"skymatch: error: {last}[SCI,1]: cannot build a WCS (Unrecognized projection code "
                    "(XYZ in CTYPE1).); fix the WCS keywords")


@pytest.mark.parametrize("damage, message", [
    ("short header", r"b.fits: file is truncated \(1,000 bytes"),
    ("non-ASCII bytes", r"b.fits\[0\]: corrupt header \(non-ASCII bytes in card 11, where FITS allows only ASCII"),
    ("garbage keyword", r"b.fits\[0\]: header card \d+ has an invalid keyword"),
    ("truncated data", r"b.fits\[0\]: file is truncated"),
    ("SIMPLE = F", r"b.fits\[0\]: keyword SIMPLE = F: not a standard FITS file"),  # was an AttributeError
])
def test_truncation_and_garbage_are_reported_as_such(damage, message, tmp_path, capsys):
    import re

    files = pair(tmp_path)
    raw = bytearray(Path(files[1]).read_bytes())
    if damage == "short header":
        raw = raw[:1000]
    elif damage == "non-ASCII bytes":
        raw[800:880] = bytes(range(128, 208))
    elif damage == "garbage keyword":
        raw[800:880] = b"C#V@L~ = 12 / garbage".ljust(80)
    elif damage == "SIMPLE = F":
        raw[0:80] = b"SIMPLE  =                    F / a non-standard file".ljust(80)
    else:
        raw = raw[: len(raw) - 3000]
    Path(files[1]).write_bytes(bytes(raw))
    code, _, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 1
    assert re.search(message, one_line_error(err)), err


# A negative size sends astropy's reader back to the same header without end (memory
# grows; found as a CI run that hung in the slow hypothesis test), a huge NAXIS makes it
# count that many axes: such headers are refused before astropy sees them, on both paths.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("reader", ["fast", "astropy"])
@pytest.mark.parametrize("card, shown", [
    ("NAXIS1  =                  -32", "keyword NAXIS1 = -32 is not valid FITS (NAXIS1 must be an integer, 0 or more)"),
    ("NAXIS   =           2147483648", "keyword NAXIS = 2147483648 is not valid FITS (NAXIS must be an integer from 0"),
    ("GCOUNT  =                   -1", "keyword GCOUNT = -1 is not valid FITS"),
    ("PCOUNT  =                -9000", "keyword PCOUNT = -9000 is not valid FITS"),
    ("BITPIX  =                    3", "keyword BITPIX = 3 is not valid FITS (BITPIX must be one of 8, 16, 32, 64"),
    ("NAXIS2  =       12.3.4 garbage", "keyword NAXIS2 = '12.3.4 garbage' is not valid FITS"),
    ("NAXIS2  =                 48.0", "keyword NAXIS2 = 48.0 is not valid FITS"),
])
def test_size_keywords_that_are_not_valid_fits_are_named(files, card, shown, reader, capsys):
    last = files[-1]
    if reader == "astropy":  # a HIERARCH card: the fast reader leaves the file to astropy
        set_raw_card(last, "TARGNAME", "HIERARCH ESO OBS TARG NAME = 'field'")
    set_raw_card(last, card.split()[0], card, hdu_start=hdu_start(last, 1))
    before = digest(files)
    code, _, err = cli(capsys, "sky", *files)
    assert code == 1
    line = one_line_error(err)
    assert f"{os.path.basename(last)}[SCI,1]: {shown}" in line, line
    assert "correct that card, or download or copy the file again" in line
    assert digest(files) == before and leftovers(os.path.dirname(last)) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["gzip", "bzip2", "zip"])
def test_a_compressed_file_with_a_negative_size_is_named_too(files, kind, capsys):
    """astropy decompresses, then reads the same way: the walk reads the decompressed bytes."""
    import bz2
    import zipfile

    last = files[-1]
    set_raw_card(last, "NAXIS1", "NAXIS1  =                  -32", hdu_start=hdu_start(last, 1))
    raw = Path(last).read_bytes()
    packed = {"gzip": ".gz", "bzip2": ".bz2", "zip": ".zip"}[kind]
    if kind == "gzip":
        with gzip.open(last + packed, "wb") as fh:
            fh.write(raw)
    elif kind == "bzip2":
        Path(last + packed).write_bytes(bz2.compress(raw))
    else:
        with zipfile.ZipFile(last + packed, "w") as z:
            z.writestr(os.path.basename(last), raw)
    os.remove(last)
    code, _, err = cli(capsys, "sky", *files[:-1], last + packed, "--readonly")
    assert code == 1
    assert f"{os.path.basename(last)}{packed}[SCI,1]: keyword NAXIS1 = -32 is not valid FITS" in one_line_error(err)


@pytest.mark.parametrize("reader", ["fast", "astropy"])
def test_an_extension_past_the_end_of_the_file_is_refused_not_dropped(files, reader, capsys):
    """astropy stops reading at an HDU whose data run past the end of the file and drops
    it and all after it without an error: here the DQ array, which would have run the
    sky without its bad-pixel mask."""
    last = files[-1]
    if reader == "astropy":
        set_raw_card(last, "TARGNAME", "HIERARCH ESO OBS TARG NAME = 'field'")
    set_raw_card(last, "NAXIS1", "NAXIS1  =              9999999", hdu_start=hdu_start(last, 2))
    code, _, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 1
    line = one_line_error(err)
    assert f"{os.path.basename(last)}[2]: file is truncated" in line
    assert "NAXIS1 = 9999999, NAXIS2 = 64" in line and "correct a wrong size keyword" in line


@pytest.mark.parametrize("junk", [bytes(range(256)) * 12, b"\0" * 2880, b"END OF OBSERVATION LOG\n"])
def test_bytes_after_the_last_extension_are_ignored_as_astropy_does(files, junk, capsys):
    """FITS allows records after the last HDU; whatever their bytes, the run is the run of
    the file without them (random bytes were a false 'corrupt header')."""
    clean = run_sky(files, method="match", readonly=True).result
    with open(files[-1], "ab") as fh:
        fh.write(junk)
    code, out, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 0, err
    again = run_sky(files, method="match", readonly=True).result
    assert [c.sky for c in again.chips] == [c.sky for c in clean.chips]


@pytest.mark.parametrize("where, message", [
    # Garbage in the DQ header (its 10th and last card; after its END card): named by
    # extension and card.
    (720, r"\[DQ,1\]: corrupt header \(non-ASCII bytes in card 10, where FITS allows only ASCII"),
    (1200, r"\[DQ,1\]: corrupt header \(non-ASCII bytes in the blanks after its END card"),
    # Garbage over its XTENSION card: the header is gone, NEXTEND says it should be there.
    (0, r"\[3\]: NEXTEND = 3 but the bytes at [\d,]+, where extension 3 should start, are not a FITS header"),
])
def test_a_damaged_header_is_named_not_mistaken_for_bytes_after_the_last_one(files, where, message, capsys):
    import re

    last = files[-1]
    raw = bytearray(Path(last).read_bytes())
    at = hdu_start(last, 3) + where
    raw[at:at + 80] = bytes(range(128, 208))
    Path(last).write_bytes(bytes(raw))
    code, _, err = cli(capsys, "sky", *files, "--readonly")
    assert code == 1
    assert re.search(re.escape(os.path.basename(last)) + message, one_line_error(err)), err


def test_exposure_name_falls_back_to_the_file_stem(tmp_path):
    names = ["c4d_210101_000001_ooi_g_v1.fits", "c4d_210101_000002_ooi_g_v1.fits",
             "c4d_210101_000003_ooi_g_v1.fits.gz"]
    paths = [generic_image(tmp_path / n.replace(".gz", ""), 1.0, dx_pix=10 * i) for i, n in enumerate(names)]
    paths[2] = _gzip(paths[2])
    chips = read_inputs(paths)
    assert [c.meta["ROOTNAME"] for c in chips] == [n.split(".")[0] for n in names]


# ----------------------------------------------------------------- the file system
def test_symlinked_inputs_are_written_through(files, tmp_path, capsys):
    links = tmp_path / "links"
    links.mkdir()
    for f in files:
        os.symlink(f, links / os.path.basename(f))
    inodes = {f: os.stat(f).st_ino for f in files}
    code, _, err = cli(capsys, "sky", *sorted(links.iterdir()), "--skymethod", "localmin")
    assert code == 0, err
    for f in files:
        link = links / os.path.basename(f)
        assert link.is_symlink() and os.readlink(link) == f
        assert os.stat(f).st_ino == inodes[f]  # patched in place
        assert "MDRIZSKY" in fits.getheader(f, ("SCI", 1))
    # The same through --subtract (full rewrite): the target is replaced, the link kept.
    code, _, err = cli(capsys, "sky", *sorted(links.iterdir()), "--skymethod", "localmin", "--subtract")
    assert code == 0, err
    assert all((links / os.path.basename(f)).is_symlink() for f in files)
    assert fits.getval(files[0], "SMSUBTR", ("SCI", 1)) is True


def test_hard_linked_duplicate_is_refused(files, capsys):
    twin = files[0].replace("_flt.fits", "x_flt.fits")
    os.link(files[0], twin)
    code, _, err = cli(capsys, "sky", *files, twin, "--readonly")
    assert code == 1
    assert "given more than once" in one_line_error(err) and "through a link" in err


@pytest.mark.parametrize("table, message", [
    ("/nonexistent/t.csv", "/nonexistent: folder for the table does not exist"),
    ("t.txt", "t.txt': table files must end in .csv or .ecsv"),
    ("folder.csv", "folder.csv: is a folder"),
])
def test_table_is_validated_before_any_input_is_touched(table, message, files, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.csv").mkdir()
    before = digest(files)
    code, _, err = cli(capsys, "sky", *files, "--table", table)
    assert code == 1 and message in one_line_error(err)
    assert digest(files) == before


def test_missing_output_folder_for_run(files, tmp_path, capsys):
    before = digest(files)
    code, _, err = cli(capsys, "run", *files, "--output", tmp_path / "nope" / "m")
    assert code == 1 and "does not exist" in one_line_error(err)
    assert digest(files) == before and not (tmp_path / "nope").exists()


def test_products_get_the_permissions_of_the_umask(files, tmp_path, capsys):
    old = os.umask(0o027)
    try:
        code, _, err = cli(capsys, "compare", *files, "--outdir", tmp_path / "cmp", "--methods",
                           "localmin", "match", "--prefix", "t")
        assert code == 0, err
        code, _, err = cli(capsys, "sky", *files, "--table", tmp_path / "t.ecsv")
        assert code == 0, err
    finally:
        os.umask(old)
    made = [*list((tmp_path / "cmp").iterdir()), tmp_path / "t.ecsv"]
    assert {p.suffix for p in made} >= {".fits", ".csv", ".png", ".gif", ".html", ".ecsv"}
    assert {oct(p.stat().st_mode & 0o777) for p in made} == {oct(0o640)}
    # Inputs keep their own mode (0644 from the copy) through in-place updates.
    assert {oct(os.stat(f).st_mode & 0o777) for f in files} == {oct(0o644)}


def test_orphaned_leftovers_are_cleaned_and_live_ones_kept(files, capsys):
    from skymatch.io._atomic import locked_temp

    d = os.path.dirname(files[0])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    orphan = os.path.join(d, f".skymatch-copy-{dead}-0123456789ab.tmp")
    Path(orphan).write_bytes(b"x" * 1000)
    legacy = os.path.join(d, ".skymatch-k2j3h4.tmp")  # an older version's copy, never locked
    Path(legacy).write_bytes(b"x" * 1000)
    os.utime(legacy, (1e9, 1e9))
    stage = os.path.join(d, f".skymatch-stage-{dead}-0123456789ab")
    os.mkdir(stage)
    Path(stage, "m_drz_sci.fits").write_bytes(b"partial")
    fd, live = locked_temp(d, "copy")  # a run in progress (this process) holds it
    try:
        code, _, err = cli(capsys, "sky", *files, "--readonly")
        assert code == 0, err
        assert leftovers(d) == [live]
    finally:
        os.close(fd)
        os.unlink(live)


def test_read_only_file_refused_even_for_root(files, capsys):
    os.chmod(files[1], 0o444)
    before = digest(files)
    code, _, err = cli(capsys, "sky", *files)
    assert code == 1 and "file is read-only" in one_line_error(err)
    assert digest(files) == before


def _as_nobody(argv) -> tuple[int, str]:
    """``main(argv)`` in a forked child running as user 'nobody' (real EACCES)."""
    import contextlib
    import io

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code, text = 99, ""
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main([str(a) for a in argv])
            text = err.getvalue()
        except BaseException as exc:  # noqa: BLE001 - the child reports any failure to the parent
            text = f"child failed: {exc!r}"
        finally:
            os.write(w, f"{code}\n{text}".encode())
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    code, _, text = data.decode().partition("\n")
    return int(code), text


def test_folder_not_writable_for_another_user(files):
    """EACCES for real: a user who may read but not write (needs root to switch user)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run as another user")
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="skymatch-eacces-"))
    try:
        os.chmod(d, 0o755)
        mine = copy_files(files, d)
        for p in mine:
            os.chmod(p, 0o644)
        before = digest(mine)
        code, err = _as_nobody(["sky", *mine, "--readonly", "--table", d / "t.csv"])
        assert code == 1 and "folder for the table is not writable" in one_line_error(err)
        code, err = _as_nobody(["sky", *mine])
        assert code == 1 and "file is read-only" in one_line_error(err)
        assert digest(mine) == before and leftovers(d) == []
    finally:
        shutil.rmtree(d)
