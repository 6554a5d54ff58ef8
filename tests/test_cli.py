"""The command line: skymatch sky end to end, bad inputs, safe writing."""

import hashlib
import json
import os
import shutil
import stat

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from skymatch.cli import main


def digest(paths):
    out = {}
    for p in paths:
        with open(p, "rb") as fh:
            out[p] = hashlib.sha256(fh.read()).hexdigest()
    return out


def flts(d):
    return sorted(str(p) for p in d.glob("*_flt.fits"))


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_sky_writes_mdrizsky_and_provenance(mosaic_copy, capsys):
    d, truth = mosaic_copy
    files = flts(d)
    before = {p: fits.getdata(p, ("SCI", 1)).copy() for p in files}
    code, out, err = run(capsys, "sky", str(d / "*_flt.fits"), "--skymethod", "match",
                         "--table", d / "sky.ecsv")
    assert code == 0, err
    assert "MDRIZSKY written to 18 file(s)" in out
    values = {}
    for p in files:
        with fits.open(p) as h:
            hdr = h["SCI", 1].header
            values[h[0].header["ROOTNAME"]] = hdr["MDRIZSKY"]
            assert hdr["SMMETHOD"] == "match" and hdr["SMVALID"] is True and hdr["SMSTAT"] == "median"
            # Pixels untouched (bit for bit).
            assert np.array_equal(h["SCI", 1].data, before[p])
    true = truth["exposures"]
    roots = sorted(values)
    m = np.array([values[r] for r in roots])
    t = np.array([true[r]["sky"] for r in roots])
    assert np.max(np.abs((m - m.min()) - (t - t[np.argmin(m)]))) < 0.02
    tab = Table.read(d / "sky.ecsv")
    assert len(tab) == 18 and set(tab["method"]) == {"match"}
    assert np.allclose(sorted(tab["mdrizsky"]), sorted(m))


def test_readonly_changes_nothing(mosaic_copy, capsys):
    d, _ = mosaic_copy
    files = flts(d)
    before = digest(files)
    code, out, _ = run(capsys, "sky", str(d / "*_flt.fits"), "--skymethod", "localmin", "--readonly",
                       "--table", d / "t.csv")
    assert code == 0 and "read-only: no file changed" in out
    assert digest(files) == before
    assert len(Table.read(d / "t.csv")) == 18


def test_rerun_replaces_values_never_stale(mosaic_copy, capsys):
    d, _ = mosaic_copy
    assert run(capsys, "sky", str(d / "*_flt.fits"), "--skymethod", "localmin")[0] == 0
    local = {p: fits.getval(p, "MDRIZSKY", ("SCI", 1)) for p in flts(d)}
    assert run(capsys, "sky", str(d / "*_flt.fits"), "--skymethod", "match")[0] == 0
    match = {p: fits.getval(p, "MDRIZSKY", ("SCI", 1)) for p in flts(d)}
    assert min(match.values()) == 0.0
    assert all(match[p] < local[p] for p in local)


def test_subtract_reduces_data_and_records_total(mosaic_copy, capsys):
    d, _ = mosaic_copy
    p = flts(d)[0]
    data0 = fits.getdata(p, ("SCI", 1)).astype(np.float64)
    assert run(capsys, "sky", str(d / "*_flt.fits"), "--skymethod", "globalmin", "--subtract")[0] == 0
    sky1 = fits.getval(p, "MDRIZSKY", ("SCI", 1))
    data1 = fits.getdata(p, ("SCI", 1)).astype(np.float64)
    assert np.allclose(data0 - data1, sky1, atol=1e-6)
    assert fits.getval(p, "SMSUBTR", ("SCI", 1)) is True
    # A second subtraction adds to the total.
    assert run(capsys, "sky", str(d / "*_flt.fits"), "--skymethod", "localmin", "--subtract")[0] == 0
    sky2 = fits.getval(p, "MDRIZSKY", ("SCI", 1))
    data2 = fits.getdata(p, ("SCI", 1)).astype(np.float64)
    assert np.allclose(data0 - data2, sky2, atol=1e-5)


def test_skyfile_and_skyuser(mosaic_copy, capsys):
    d, _ = mosaic_copy
    files = flts(d)
    sf = d / "sky.txt"
    sf.write_text("# applied = no\n" + "".join(f"{os.path.basename(p)} {0.5 + k / 100}\n" for k, p in enumerate(files)))
    assert run(capsys, "sky", str(d / "*_flt.fits"), "--skyfile", sf)[0] == 0
    assert fits.getval(files[3], "MDRIZSKY", ("SCI", 1)) == pytest.approx(0.53)
    assert fits.getval(files[3], "SMHOW", ("SCI", 1)) == "user"
    for p in files:
        fits.setval(p, "MYSKY", value=0.25, ext=("SCI", 1))
    assert run(capsys, "sky", str(d / "*_flt.fits"), "--skyuser", "MYSKY")[0] == 0
    assert fits.getval(files[0], "MDRIZSKY", ("SCI", 1)) == pytest.approx(0.25)
    assert fits.getval(files[0], "SMSUBTR", ("SCI", 1)) is True
    sf.write_text(f"{os.path.basename(files[0])} 1.0\n")
    code, _, err = run(capsys, "sky", str(d / "*_flt.fits"), "--skyfile", sf)
    assert code == 1 and "no line for input" in err


def test_processes_give_the_same_answer(small_mosaic, capsys):
    d, _ = small_mosaic
    from skymatch import run_sky
    a = run_sky(str(d / "*_flt.fits"), method="globalmin+match", readonly=True, jobs=1)
    b = run_sky(str(d / "*_flt.fits"), method="globalmin+match", readonly=True, jobs=2)
    assert [c.sky for c in a.result.chips] == [c.sky for c in b.result.chips]


def test_progress_callback(small_mosaic):
    d, _ = small_mosaic
    from skymatch import run_sky
    seen = []
    run_sky(str(d / "*_flt.fits"), method="match", readonly=True,
            progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = {s for s, _, _ in seen}
    assert {"chips", "overlaps"} <= stages
    assert all(done <= total for _, done, total in seen)
    assert ("chips", 18, 18) in seen


# ------------------------------------------------------------------ bad input
@pytest.fixture
def good_and_dir(small_mosaic, tmp_path):
    _, truth = small_mosaic
    good = tmp_path / "good_flt.fits"
    shutil.copy(truth.paths[0], good)
    return good, tmp_path


def _bad_file(kind, good, d):
    p = d / f"{kind}_flt.fits"
    if kind == "notfits":
        p.write_text("this is not a FITS file\n" * 10)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        raw = good.read_bytes()
        p.write_bytes(raw[: len(raw) // 2])
    elif kind == "nowcs":
        with fits.open(good) as h:
            for key in list(h["SCI"].header):
                if key.startswith(("CTYPE", "CRVAL", "CRPIX", "CD", "A_", "B_")) or key == "WCSAXES":
                    del h["SCI"].header[key]
            h.writeto(p)
    elif kind == "cube":
        fits.PrimaryHDU(np.zeros((3, 8, 8), np.float32)).writeto(p)
    elif kind == "masked":
        with fits.open(good) as h:
            h["DQ"].data[:] = 4
            h.writeto(p)
    return p


@pytest.mark.parametrize("kind, message", [
    ("missing", r"missing_flt.fits: file not found"),
    ("notfits", r"notfits_flt.fits: not a FITS file \(it does not start with a FITS header: SIMPLE = T\)$"),
    ("empty", r"empty_flt.fits: file is empty \(0 bytes\); download or copy it again$"),
    ("truncated", r"truncated_flt.fits\[\d\]: file is truncated"),
    ("nowcs", r"nowcs_flt.fits\[SCI,1\]: no celestial WCS"),
    ("cube", r"cube_flt.fits\[0\]: data are 3-D"),
    ("masked", r"masked_flt.fits\[SCI,1\]: no usable pixels after --sky-bits='0' .*relax --sky-bits"),
])
def test_bad_input_files(kind, message, good_and_dir, capsys):
    import re
    good, d = good_and_dir
    bad = d / f"{kind}_flt.fits" if kind == "missing" else _bad_file(kind, good, d)
    existing = [str(good)] + ([str(bad)] if bad.exists() else [])
    before = digest(existing)
    code, out, err = run(capsys, "sky", good, bad, "--skymethod", "localmin")
    assert code == 1
    assert "MDRIZSKY written" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skymatch: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert digest(existing) == before


def test_file_given_twice(good_and_dir, capsys):
    good, _ = good_and_dir
    code, _, err = run(capsys, "sky", good, f"{good},{good}")
    assert code == 1 and "given more than once" in err and "good_flt.fits" in err


def test_read_only_file(good_and_dir, capsys):
    good, d = good_and_dir
    other = d / "other_flt.fits"
    shutil.copy(good, other)
    fits.setval(other, "CRVAL1", value=fits.getval(good, "CRVAL1", ("SCI", 1)) + 1e-4, ext=("SCI", 1))
    os.chmod(good, stat.S_IRUSR | stat.S_IRGRP)
    before = digest([good, other])
    try:
        code, _, err = run(capsys, "sky", good, other, "--skymethod", "localmin")
        assert code == 1 and "good_flt.fits: file is read-only" in err and "--readonly" in err
        assert digest([good, other]) == before
        assert run(capsys, "sky", good, other, "--readonly")[0] == 0
    finally:
        os.chmod(good, stat.S_IRUSR | stat.S_IWUSR)


@pytest.mark.parametrize("args, message", [
    (["--skymethod", "median"], "is not a sky method"),
    (["--sky-bits", "4+x"], "--sky-bits='4+x': cannot read 'x'"),
    (["--skyclip", "-1"], "skyclip"),
])
def test_bad_options(good_and_dir, capsys, args, message):
    good, _ = good_and_dir
    before = digest([good])
    code, _, err = run(capsys, "sky", good, *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert digest([good]) == before


def test_unknown_statistic_is_a_usage_error(good_and_dir, capsys):
    good, _ = good_and_dir
    with pytest.raises(SystemExit) as exc:
        main(["sky", str(good), "--skystat", "average"])
    assert exc.value.code == 2
    assert "invalid choice: 'average'" in capsys.readouterr().err


def test_interrupted_update_leaves_file_whole(good_and_dir, monkeypatch):
    from skymatch.io import _headers, _journal
    good, d = good_and_dir
    before = digest([good])

    def torn(plan):
        # Half of the new header bytes reach the file, then the run is interrupted.
        plan.applied = True
        fd = os.open(plan.path, os.O_WRONLY)
        x = plan.patches[0]
        os.pwrite(fd, x.new[: len(x.new) // 2], x.offset)
        os.close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(_journal, "_apply", torn)
    with pytest.raises(KeyboardInterrupt):
        _headers.update_headers_atomic(str(good), {("SCI", 1): {"MDRIZSKY": (1.0, "x")}})
    assert digest([good]) == before
    assert [p.name for p in d.iterdir() if p.name.startswith(".skymatch-")] == []


def test_header_growth_falls_back_to_full_rewrite(good_and_dir):
    from skymatch.io import update_headers_atomic
    good, _ = good_and_dir
    data = fits.getdata(good, ("SCI", 1)).copy()
    cards = {f"K{i:06d}": (float(i), "filler card to overflow the header blocks") for i in range(200)}
    update_headers_atomic(str(good), {("SCI", 1): cards})
    with fits.open(good) as h:
        assert h["SCI", 1].header["K000199"] == 199.0
        assert np.array_equal(h["SCI", 1].data, data)
        assert h["DQ", 1].data is not None


def test_demo_data_command(tmp_path, capsys):
    code, out, _ = run(capsys, "demo-data", tmp_path / "m", "--tiles", "2", "1", "--size", "64")
    assert code == 0 and "wrote 4 exposures" in out
    truth = json.loads((tmp_path / "m" / "truth.json").read_text())
    assert len(truth["exposures"]) == 4
