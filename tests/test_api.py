"""The public Python API: skymatch.sky / drizzle / run / compare / align / tweakback /
summary / fetch / demo_data, called with the CLI's own option names.

Numbers are checked against the synthetic mosaics' truth; the CLI and the library are
checked to give identical results for the same options; every option is validated at
the boundary with a message naming it as the caller spelled it.
"""

import dataclasses
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import typing
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from fsutil import leftovers

import skymatch
from skymatch import InputError, ParameterError, SkymatchError, SkymatchWarning, WriteError
from skymatch.api import COMMANDS
from skymatch.cli import build_parser, main
from skymatch.cli._common import CLI_ONLY_DESTS

PUBLIC = [skymatch.sky, skymatch.drizzle, skymatch.run, skymatch.compare, skymatch.align,
          skymatch.tweakback, skymatch.summary, skymatch.fetch, skymatch.demo_data]


def digest(paths):
    out = {}
    for p in paths:
        with open(p, "rb") as fh:
            out[str(p)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _doc_parameters(doc):
    """Parameter names of a numpydoc 'Parameters' section, in order."""
    section = re.search(r"\n    Parameters\n    -+\n(.*?)\n    (Returns|Raises)\n", doc, re.DOTALL)
    assert section, "no Parameters section"
    return re.findall(r"^    (\w+) :", section.group(1), re.MULTILINE)


# ------------------------------------------------------------------ signatures and docs
@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__name__)
def test_signature_is_keyword_only_typed_and_documented(fn):
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    # Only the data argument (inputs, drzfile, outdir) is positional; no *args/**kwargs.
    assert len(positional) <= 1
    assert all(p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
               for p in params)
    # Return types live in skymatch.api._results (imported when a function runs).
    from skymatch.api import _results

    hints = typing.get_type_hints(fn, globalns={**fn.__globals__, **vars(_results)})
    assert set(hints) == {p.name for p in params} | {"return"}
    doc = fn.__doc__
    assert "%(" not in doc  # every shared block was filled in
    assert _doc_parameters(doc) == [p.name for p in params]
    for section in ("Returns", "Examples"):
        assert f"\n    {section}\n    ---" in doc


def test_cli_options_equal_the_api_keywords_and_defaults():
    """Each command's options are the keywords of the function of the same name, with
    the same defaults: the CLI and the library cannot drift apart."""
    _, commands = build_parser()
    for name, fn in COMMANDS.items():
        sub = commands[name]
        dests = {a.dest for a in sub._actions} - CLI_ONLY_DESTS
        sig = inspect.signature(fn).parameters
        assert dests == set(sig), name
        for a in sub._actions:
            if a.dest in sig and a.option_strings and not a.required and a.dest != "progress":
                default = sig[a.dest].default
                cli = tuple(a.default) if isinstance(a.default, list) else a.default
                want = tuple(default) if isinstance(default, list) else default
                assert cli == want, (name, a.dest)


def test_run_and_sky_share_one_default_method():
    assert inspect.signature(skymatch.run).parameters["skymethod"].default == "match"
    assert inspect.signature(skymatch.sky).parameters["skymethod"].default == "match"


def test_choices_equal_the_core_constants():
    from skymatch.alignment import GROUPINGS
    from skymatch.api import _choices
    from skymatch.core import METHOD_ALIASES, SKY_METHODS, SKY_STATISTICS
    from skymatch.core._align import FITGEOMETRIES
    from skymatch.core._drizzle import DRIZZLE_KERNELS
    from skymatch.core._methods import COMPAT_MODES
    from skymatch.core._skymodel import SKY_MODELS

    assert _choices.SKY_METHODS == SKY_METHODS
    assert set(_choices.METHOD_ALIASES) <= set(METHOD_ALIASES)
    assert _choices.SKY_STATISTICS == SKY_STATISTICS
    assert _choices.DRIZZLE_KERNELS == DRIZZLE_KERNELS
    assert _choices.FITGEOMETRIES == FITGEOMETRIES
    assert _choices.GROUPINGS == GROUPINGS
    assert _choices.SKY_MODELS == SKY_MODELS
    assert tuple(c for c in COMPAT_MODES if c) == _choices.COMPAT_MODES


# ------------------------------------------------------------------ sky
def test_sky_recovers_the_true_sky_differences(small_mosaic):
    d, truth = small_mosaic
    before = digest(truth.paths)
    r = skymatch.sky(str(d / "*_flt.fits"), skymethod="match", readonly=True, log_file=False)
    assert digest(truth.paths) == before
    from skymatch.pipeline import SkyRun as PipelineSkyRun

    assert isinstance(r, skymatch.SkyRun) and isinstance(r, PipelineSkyRun)
    t = r.to_table()
    assert len(t) == 18 and set(t["units"]) == {"ELECTRONS/S"}
    roots = list(t["rootname"])
    m = np.asarray(t["mdrizsky"], float)
    true = np.array([truth.sky[x] for x in roots])
    assert m.min() == 0.0
    assert np.max(np.abs((m - m.min()) - (true - true[np.argmin(m)]))) < 0.02
    assert np.allclose(m, [c.sky for c in r.result.chips])
    # brightness = MDRIZSKY / pixel area (arcsec^2) for rates
    conv = np.array([c.conv for c in r.chips])
    assert np.allclose(t["sky_brightness"], m * conv, rtol=1e-6, atol=1e-9)
    assert "per arcsec" in t["sky_brightness"].description
    pairs = r.pairs_table()
    assert len(pairs) == len(r.result.pairs) > 0
    assert "brightness units" in pairs.meta["units"] and "not MDRIZSKY" in pairs.meta["units"]
    df = r.to_pandas()
    assert list(df["mdrizsky"]) == list(m)


def test_result_views_are_short_frozen_and_html(small_mosaic):
    d, _ = small_mosaic
    r = skymatch.sky(str(d / "*_flt.fits"), skymethod="localmin", readonly=True, log_file=False)
    text = repr(r)
    assert "\n" not in text and len(text) < 200
    assert "18 chips" in text and "localmin" in text and "ELECTRONS/S" in text and "sky model" not in text
    plane = skymatch.sky(str(d / "*_flt.fits"), sky_model="plane", readonly=True, log_file=False)
    assert "skymethod match, sky model plane, MDRIZSKY in ELECTRONS/S" in repr(plane)
    page = r._repr_html_()
    assert "<table" in page and "SkyRun" in page and "ELECTRONS/S per arcsec" in page
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.log_file = "x"
    with pytest.raises(TypeError):
        r.parameters["readonly"] = False
    import pickle

    back = pickle.loads(pickle.dumps(r))
    assert [c.sky for c in back.result.chips] == [c.sky for c in r.result.chips]
    assert back.parameters["skymethod"] == "localmin" and repr(back) == repr(r)


def test_to_pandas_without_pandas_is_one_clear_error(small_mosaic, monkeypatch):
    import sys

    d, _ = small_mosaic
    r = skymatch.summary(str(d / "*_flt.fits"))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(SkymatchError, match=r"needs pandas: pip install pandas"):
        r.to_pandas()


def test_cli_and_library_give_identical_results(mosaic_copy, tmp_path, capsys):
    d, _ = mosaic_copy
    opts = ["--skymethod", "globalmin+match", "--skystat", "mode", "--skywidth", "0.2", "--skyclip", "3",
            "--skylsigma", "3.5", "--skyusigma", "3", "--sky-bits", "64", "--readonly"]
    assert main(["sky", str(d / "*_flt.fits"), *opts, "--table", str(tmp_path / "cli.ecsv")]) == 0
    capsys.readouterr()
    r = skymatch.sky(str(d / "*_flt.fits"), skymethod="globalmin+match", skystat="mode", skywidth=0.2,
                     skyclip=3, skylsigma=3.5, skyusigma=3, sky_bits="64", readonly=True,
                     table=tmp_path / "api.ecsv")
    cli, lib = Table.read(tmp_path / "cli.ecsv"), Table.read(tmp_path / "api.ecsv")
    assert list(cli["mdrizsky"]) == list(lib["mdrizsky"]) == [c.sky for c in r.result.chips]
    assert set(cli["method"]) == {"globalmin+match"}
    # and a mosaic: the same drizzle options give the same pixels
    drz = ["--final-bits", "64", "--final-wcs", "--final-rot", "257", "--final-kernel", "turbo",
           "--final-pixfrac", "0.8"]
    assert main(["run", str(d / "*_flt.fits"), "--output", str(tmp_path / "cli"), "--readonly",
                 "--skymethod", "localmin", *drz]) == 0
    m = skymatch.run(str(d / "*_flt.fits"), output=str(tmp_path / "lib"), readonly=True, skymethod="localmin",
                     final_bits="64", final_wcs=True, final_rot=257, final_kernel="turbo", final_pixfrac=0.8)
    a = fits.getdata(tmp_path / "cli_drz_sci.fits")
    b = fits.getdata(tmp_path / "lib_drz_sci.fits")
    assert np.array_equal(a, b, equal_nan=True) and np.array_equal(b, m.mosaic.sci, equal_nan=True)
    assert repr(m).startswith("<MosaicRun: 18 chips onto ") and "arcsec/px" in repr(m)
    mt = m.to_table()
    assert list(mt["mdrizsky"]) == [c.sky for c in m.sky.result.chips] and set(mt["units"]) == {"ELECTRONS/S"}
    assert isinstance(m.sky, skymatch.SkyRun) and m.sky.method == "localmin"
    assert fits.getheader(tmp_path / "lib_drz_sci.fits")["ORIENTAT"] == pytest.approx(257.0)


# ------------------------------------------------------------------ validation
FILES = "no_such_dir/*_flt.fits"  # validation must fail before any file is looked at


@pytest.mark.parametrize("fn, kwargs, message", [
    ("sky", dict(inputs=None), r"^inputs=None: give file names"),
    ("sky", dict(inputs=[None]), r"^inputs\[0\]=None: give file names"),
    ("sky", dict(inputs=[]), r"^inputs=\[\]: give file names"),
    ("sky", dict(skylower=float("nan")), r"^skylower=nan: give a finite number"),
    ("sky", dict(skyupper=float("inf")), r"^skyupper=inf: give a finite number"),
    ("sky", dict(skylower=2.0, skyupper=1.0), r"^skylower=2 is not below skyupper=1"),
    ("sky", dict(skylsigma="x"), r"^skylsigma='x': give a number"),
    ("sky", dict(skyusigma=0), r"^skyusigma=0: must be > 0"),
    ("sky", dict(skyclip=-1), r"^skyclip=-1: must be >= 0"),
    ("sky", dict(skyclip=2.5), r"^skyclip=2.5: give a whole number"),
    ("sky", dict(skyclip=True), r"^skyclip=True: give a whole number"),
    ("sky", dict(skywidth=-0.1), r"^skywidth=-0.1: must be > 0"),
    ("sky", dict(skymethod="median"), r"^skymethod='median' is not a sky method"),
    ("sky", dict(skymethod=["match"]), r"^skymethod=\['match'\]: give a sky method name"),
    ("sky", dict(skystat="average"), r"^skystat='average': use one of median, mode, mean, midpt"),
    ("sky", dict(sky_bits="4+x"), r"^sky_bits='4\+x': cannot read 'x'"),
    ("sky", dict(sky_bits=True), r"^sky_bits=True: give an integer"),
    ("sky", dict(use_static="yes"), r"^use_static='yes': give True or False"),
    ("sky", dict(readonly="yes"), r"^readonly='yes': give True or False"),
    ("sky", dict(compat="astrodrizzle"), r"^compat='astrodrizzle': use one of drizzlepac"),
    ("sky", dict(jobs=0), r"^jobs=0: must be >= 1"),
    ("sky", dict(jobs="2"), r"^jobs='2': give a whole number"),
    ("sky", dict(dask=5), r"^dask=5: give a scheduler address"),
    ("sky", dict(progress="yes"), r"^progress='yes': give None"),
    ("sky", dict(table="out.txt"), r"^table='out.txt': table files must end in .csv or .ecsv"),
    ("sky", dict(skyfile="a.txt", skyuser="MYSKY"), r"^skyfile='a.txt' and skyuser='MYSKY': give one"),
    ("sky", dict(subtract=True, readonly=True), r"^subtract=True and readonly=True exclude each other"),
    ("sky", dict(sky_model="plane", compat="drizzlepac"), r"constant"),
    ("sky", dict(sky_model="cubic"), r"^sky_model='cubic' is not a sky model"),
    ("sky", dict(log_file=3), r"^log_file=3: give a file path"),
    ("run", dict(output="o", final_bits="4+x"), r"^final_bits='4\+x': cannot read 'x'"),
    ("run", dict(output="o", final_pixfrac=1.5), r"^final_pixfrac=1.5: must be in \(0, 1\]"),
    ("run", dict(output="o", final_pixfrac=0), r"^final_pixfrac=0: must be > 0"),
    ("run", dict(output="o", final_dec=100), r"^final_dec=100: must be <= 90"),
    ("run", dict(output="o", final_wcs="True"), r"^final_wcs='True': give True or False"),
    ("run", dict(output="o", final_kernel="box"), r"^final_kernel='box': use one of square"),
    ("run", dict(output="o", final_outnx=0), r"^final_outnx=0: must be >= 1"),
    ("run", dict(output="o", driz_cr=True), r"^driz_cr=True: cosmic-ray rejection is not supported"),
    ("run", dict(output=None), r"^output=None: give a file path"),
    ("drizzle", dict(output="o", stepsize=0), r"^stepsize=0: must be >= 1"),
    ("compare", dict(outdir="c", methods="matchx"), r"^methods='matchx' is not a sky method"),
    ("compare", dict(outdir="c", methods=[1]), r"^methods=\[1\]: every entry must be a string"),
    ("compare", dict(outdir="c", methods=""), r"^methods='': name at least one"),
    ("compare", dict(outdir="c", sky_model="constant,cubic"), r"^sky_model='cubic' is not a sky model"),
    ("compare", dict(outdir="c", prefix="a/b"), r"^prefix='a/b': a name, not a path"),
    ("align", dict(threshold=-1), r"^threshold=-1: must be > 0"),
    ("align", dict(peakmin=5, peakmax=1), r"^peakmin=5 is not below peakmax=1"),
    ("align", dict(fitgeometry="affine"), r"^fitgeometry='affine': use one of shift"),
    ("align", dict(group="visit"), r"^group='visit': use one of auto, file, asn"),
    ("align", dict(wcsname=""), r"^wcsname='': give a non-empty string"),
    ("align", dict(minobj=0), r"^minobj=0: must be >= 1"),
    ("align", dict(dqbits="x"), r"^dqbits='x'"),
    ("tweakback", dict(drzfile=None), r"^drzfile=None: give a file path"),
    ("tweakback", dict(drzfile="a_drz.fits", old_key="AB"), r"^old_key='AB': give one letter"),
    ("tweakback", dict(drzfile="a_drz.fits", force=1), r"^force=1: give True or False"),
    ("summary", dict(inputs=5), r"^inputs=5: give file names"),
    ("fetch", dict(proposal="abc", filter="F160W"), r"^proposal='abc': give an HST proposal id"),
    ("fetch", dict(proposal=12812, filter=5), r"^filter=5: give a name"),
    ("fetch", dict(proposal=12812, filter="F160W", products=""), r"^products='': name at least one"),
    ("demo_data", dict(outdir="x", tiles=(3,)), r"^tiles=\(3,\): give two numbers"),
    ("demo_data", dict(outdir="x", size=4), r"^size=4: must be >= 16"),
    ("demo_data", dict(outdir="x", misalign=(1.0, float("nan"))), r"^misalign=nan: give a finite number"),
])
def test_bad_options_name_the_parameter(fn, kwargs, message):
    func = getattr(skymatch, fn)
    params = inspect.signature(func).parameters
    kw = dict(kwargs)
    args = []
    first = next(iter(params))
    if params[first].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        args = [kw.pop(first, FILES)]
    with pytest.raises(ParameterError, match=message):
        func(*args, **kw)
    assert not os.listdir(".")  # nothing written: not even a log file


def test_output_directory_must_exist():
    with pytest.raises(WriteError, match=r"^output='no_such_dir/o': the directory .* does not exist"):
        skymatch.drizzle(FILES, output="no_such_dir/o")
    assert not os.listdir(".")


def test_a_method_string_is_one_method_not_letters(small_mosaic, tmp_path):
    d, truth = small_mosaic
    c = skymatch.compare(str(d / "*_flt.fits"), outdir=tmp_path / "c", methods="match", pictures=False)
    assert c.methods == ("match",) and list(c.mosaics) == ["match"]
    assert repr(c).startswith("<CompareRun: 1 methods x 1 sky model(s) for 18 chips") and "\n" not in repr(c)
    assert "<table" in c._repr_html_() and "ELECTRONS/S" in c._repr_html_()
    assert sorted(os.path.basename(p) for p in c.products["match"]) == [
        "f160w_match_drz_ctx.fits", "f160w_match_drz_sci.fits", "f160w_match_drz_wht.fits"]
    t = c.to_table()
    assert "match" in t.colnames and "local" not in t.colnames
    c2 = skymatch.compare(str(d / "*_flt.fits"), outdir=tmp_path / "c2", methods="local, match",
                          pictures=False)
    assert c2.methods == ("localmin", "match")
    # the same match skies either way
    assert np.array_equal(np.asarray(t["match"]), np.asarray(c2.to_table()["match"]))
    from skymatch.datasets import sky_truth_errors

    errors = sky_truth_errors(c2.to_table(), truth.truth_file)
    assert errors["match"]["max"] < 0.02
    # localmin measures each exposure's own level, which the nebula can only raise
    assert errors["local"]["offset"] > 0


# ------------------------------------------------------------------ log file and progress
def test_default_log_files_and_what_they_hold(mosaic_copy, tmp_path):
    d, _ = mosaic_copy
    r = skymatch.sky(str(d / "*_flt.fits"), skymethod="localmin", readonly=True)
    assert r.log_file == "skymatch.log" and os.path.isfile("skymatch.log")  # the cwd, like astrodrizzle.log
    text = Path("skymatch.log").read_text(encoding="utf-8")
    for needle in ("skymatch 0.", ": sky, started", "versions: python", "numpy ", "astropy ",
                   "skymethod = 'localmin'", "readonly = True", "timings (s):", "finished in",
                   "MDRIZSKY (localmin, data units: ELECTRONS/S)"):
        assert needle in text, needle
    # appended, not replaced
    skymatch.sky(str(d / "*_flt.fits"), readonly=True)
    assert Path("skymatch.log").read_text(encoding="utf-8").count(": sky, started") == 2
    os.makedirs(tmp_path / "out")
    m = skymatch.run(str(d / "*_flt.fits"), output=str(tmp_path / "out" / "m"), readonly=True)
    assert m.log_file == str(tmp_path / "out" / "m") + "_skymatch.log"
    assert "products:" in Path(m.log_file).read_text(encoding="utf-8")
    c = skymatch.compare(str(d / "*_flt.fits"), outdir=str(tmp_path / "cmp"), methods="match", pictures=False)
    assert c.log_file == os.path.join(str(tmp_path / "cmp"), "skymatch.log") and os.path.isfile(c.log_file)
    skymatch.drizzle(str(d / "*_flt.fits"), output=str(tmp_path / "nolog"), log_file=False)
    assert not (tmp_path / "nolog_skymatch.log").exists()


def test_log_file_records_warnings_and_failures(mosaic_copy, tmp_path):
    d, _ = mosaic_copy
    out = str(tmp_path / "w")
    with pytest.warns(SkymatchWarning, match="ignored without final_wcs"):
        skymatch.drizzle(str(d / "*_flt.fits"), output=out, final_rot=10.0)
    text = Path(out + "_skymatch.log").read_text(encoding="utf-8")
    assert "WARNING SkymatchWarning: final_rot/final_scale" in text
    with pytest.raises(WriteError, match="already exists"):
        skymatch.drizzle(str(d / "*_flt.fits"), output=out, log_file=tmp_path / "second.log")
    text = (tmp_path / "second.log").read_text(encoding="utf-8")
    assert "failed after" in text and "WriteError" in text


def test_log_file_changes_nothing_the_user_sees(small_mosaic, tmp_path, caplog):
    d, _ = small_mosaic
    logger = logging.getLogger("skymatch")
    state = (logger.level, list(logger.handlers), logger.propagate)
    with caplog.at_level(logging.WARNING):
        skymatch.sky(str(d / "*_flt.fits"), readonly=True, log_file=tmp_path / "a.log")
    # the INFO record reached the file but not the user's handlers (set to WARNING)
    assert "sky computed for 18 chips" in (tmp_path / "a.log").read_text()
    assert "sky computed" not in caplog.text
    assert (logger.level, list(logger.handlers), logger.propagate) == state
    with caplog.at_level(logging.INFO, logger="skymatch"):
        skymatch.sky(str(d / "*_flt.fits"), readonly=True, log_file=tmp_path / "b.log")
    assert "sky computed for 18 chips" in caplog.text
    assert "sky computed for 18 chips" in (tmp_path / "b.log").read_text()


def test_progress_values(small_mosaic, capsys):
    d, _ = small_mosaic
    seen = []
    skymatch.sky(str(d / "*_flt.fits"), readonly=True, log_file=False,
                 progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert ("chips", 18, 18) in seen and {"chips", "overlaps"} <= {s for s, _, _ in seen}
    capsys.readouterr()
    skymatch.sky(str(d / "*_flt.fits"), readonly=True, log_file=False, progress=True)
    assert "chips" in capsys.readouterr().err  # tqdm bars on stderr
    for value in (False, None):  # None: automatic, and stderr is not a terminal here
        skymatch.sky(str(d / "*_flt.fits"), readonly=True, log_file=False, progress=value)
        assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ other commands
def test_summary_with_units(small_mosaic, tmp_path):
    d, _ = small_mosaic
    s = skymatch.summary([str(d / "ibxl54bgq_flt.fits"), str(d / "ibxl51eoq_flt.fits")],
                         table=tmp_path / "s.ecsv")
    t = s.to_table()
    assert list(t["file"]) == ["ibxl54bgq_flt.fits", "ibxl51eoq_flt.fits"]
    assert str(t["exptime"].unit) == "s" and str(t["postarg1"].unit) == "arcsec"
    assert t["exptime"][0] == pytest.approx(602.937317)
    assert len(Table.read(tmp_path / "s.ecsv")) == 2
    assert repr(s).startswith("<SummaryResult: 2 files") and "<table" in s._repr_html_()
    assert list(s.to_pandas()["file"]) == ["ibxl54bgq_flt.fits", "ibxl51eoq_flt.fits"]


def test_demo_data_truth_and_wcs_errors(tmp_path):
    t = skymatch.demo_data(tmp_path / "m", tiles=(2, 1), size=64, misalign=(1.0, 0.02), nstars=50)
    truth = json.loads((tmp_path / "m" / "truth.json").read_text())
    tab = t.to_table()
    assert len(tab) == 4 and str(tab["sky"].unit) == "electron / s"
    assert repr(t).startswith("<MosaicTruth: 4 exposures in ")
    assert [truth["exposures"][r]["sky"] for r in tab["rootname"]] == list(tab["sky"])
    with pytest.raises(WriteError, match="already holds a synthetic mosaic"):
        skymatch.demo_data(tmp_path / "m", tiles=(2, 1), size=64)
    from skymatch.datasets import wcs_truth_errors

    errors = wcs_truth_errors(t.paths, t.truth_file)
    ref = truth["reference_visit"]
    scale = 0.12825
    for root, (centre, worst) in errors.items():
        v = truth["visits"][truth["exposures"][root]["visit"]]
        shift = np.hypot(v["dx_arcsec"], v["dy_arcsec"])
        if truth["exposures"][root]["visit"] == ref:
            assert centre < 1e-6 and worst < 1e-6
        else:
            # The header is off by `shift` arcsec at the centre (pixels ~0.12-0.14"), and
            # more towards the edges by the rotation.
            assert shift / 0.14 < centre < shift / 0.11, (root, centre, shift / scale)
            assert worst > centre


def test_sky_truth_errors_exact():
    from skymatch.datasets import sky_truth_errors

    truth = {"exposures": {"a": {"sky": 1.0}, "b": {"sky": 1.2}, "c": {"sky": 0.9}}}
    path = "truth.json"
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(truth, fh)
    t = Table({"Rootname": ["a", "b", "c"], "match": [0.1, 0.3, 0.0], "local": [1.05, 1.25, 0.95]})
    e = sky_truth_errors(t, path)
    assert e["match"]["rms"] == pytest.approx(0.0, abs=1e-12)
    assert e["match"]["offset"] == pytest.approx(-0.9)
    assert e["local"]["offset"] == pytest.approx(0.05) and e["local"]["max"] == pytest.approx(0.0, abs=1e-12)
    # A comparison of several sky models names its columns method_model; ORIENTAT is no sky.
    t = Table({"Rootname": ["a", "b", "c"], "ORIENTAT": [0.0, 10.0, 20.0], "match_constant": [0.1, 0.3, 0.0],
               "match_plane": [0.2, 0.4, 0.2]})
    e = sky_truth_errors(t, path)
    assert sorted(e) == ["match_constant", "match_plane"]
    assert e["match_constant"]["rms"] == pytest.approx(0.0, abs=1e-12)
    assert e["match_plane"]["max"] == pytest.approx(0.2 / 3)  # errors -1/30, -1/30, +2/30
    with pytest.raises(ValueError, match="no sky column in the table"):
        sky_truth_errors(Table({"Rootname": ["a"], "ORIENTAT": [0.0]}), path)


class _FakeMast:
    """astroquery.mast.Observations stand-in serving copies of local FITS files."""

    def __init__(self, files):
        self.files = files

    def query_criteria(self, **kw):
        return Table({"obsid": ["1"]})

    def get_product_list(self, table):
        names = sorted(self.files)
        return Table({"obsID": ["1"] * len(names), "productFilename": names,
                      "productSubGroupDescription": ["FLT"] * len(names),
                      "size": [os.path.getsize(self.files[n]) for n in names]})

    def download_products(self, products, download_dir, mrp_only=False):
        paths = []
        for r in products:
            dst = os.path.join(download_dir, str(r["productFilename"]))
            shutil.copy(self.files[str(r["productFilename"])], dst)
            paths.append(dst)
        return Table({"Local Path": paths, "Status": ["COMPLETE"] * len(paths)})


def test_fetch_with_a_fake_mast(small_mosaic, tmp_path, monkeypatch):
    from skymatch.io import _mast

    _, truth = small_mosaic
    files = {os.path.basename(p): p for p in truth.paths[:3]}
    monkeypatch.setattr(_mast, "mast_observations", lambda: _FakeMast(files))
    plan = skymatch.fetch(proposal=12812, filter="F160W", products="flt", outdir=tmp_path / "d", dry_run=True)
    assert plan.dry_run and plan.plan.n_files == 3 and not (tmp_path / "d").exists()
    assert list(plan.to_table()["file"]) == sorted(files)
    assert repr(plan).startswith("<FetchResult: dry run: 3 file(s)") and "MB" in plan._repr_html_()
    r = skymatch.fetch(proposal="12812", filter=["F160W"], products=["FLT"], outdir=tmp_path / "d",
                       progress=False)
    assert sorted(os.path.basename(p) for p in r.written) == sorted(files)
    for name, src in files.items():
        assert list(digest([tmp_path / "d" / name]).values()) == list(digest([src]).values())


def test_fetch_unreachable_mast_is_one_line(monkeypatch):
    from skymatch.io import _mast

    class Offline:
        def query_criteria(self, **kw):
            raise ConnectionError("HTTPSConnectionPool(host='mast.stsci.edu'): Max retries exceeded "
                                  "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_mast, "mast_observations", Offline)
    with pytest.raises(SkymatchError, match=r"^MAST is not reachable: .*check the connection"):
        skymatch.fetch(proposal=12812, filter="F160W")


# ------------------------------------------------------------------ plots inline
def test_plots_draw_on_the_current_axes(small_mosaic, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skymatch.plotting import plot_mdrizsky, plot_mosaic

    d, _ = small_mosaic
    c = skymatch.compare(str(d / "*_flt.fits"), outdir=tmp_path / "c", methods="match,localmin",
                         pictures=False, log_file=False)
    try:
        plt.figure()
        ax = c.plot()
        assert ax is plt.gca()
        assert len(ax.collections) == 2  # one scatter per method
        plt.figure()
        ax2 = plot_mosaic(c.mosaics["match"].sci)
        assert ax2 is plt.gca() and len(ax2.images) == 1
        # an explicit ax is used as given
        fig, ax3 = plt.subplots()
        assert plot_mdrizsky(c.to_table(), ax=ax3) is ax3
    finally:
        plt.close("all")


# ------------------------------------------------------------------ align and tweakback
def test_align_and_tweakback_from_python(tmp_path):
    pytest.importorskip("tweakwcs")
    pytest.importorskip("photutils")
    from skymatch.datasets import wcs_truth_errors

    t = skymatch.demo_data(tmp_path / "d", tiles=(2, 1), size=300, nstars=1500, misalign=(0.6, 0.01), seed=7,
                           nebula=0.3, drz=True)
    truth = json.loads(Path(t.truth_file).read_text())
    ref_asn = next(e["asn_id"] for e in truth["exposures"].values() if e["visit"] == truth["reference_visit"])
    ref = next(p for p in t.drz if os.path.basename(p).lower().startswith(ref_asn.lower()))
    other = next(p for p in t.drz if p != ref)
    flts = sorted(str(p) for p in (tmp_path / "d").glob("*_flt.fits"))
    before = wcs_truth_errors(flts, t.truth_file)
    a = skymatch.align([ref, other], threshold=8.0, conv_width=2.5, minobj=5, searchrad=2.0,
                       expand_refcat=True, update_header=True, shiftfile=tmp_path / "shift.txt",
                       table=tmp_path / "fits.ecsv", jobs=1, log_file=tmp_path / "align.log")
    assert a.all_aligned and a.not_aligned == () and a.updated == (other,)
    tab = a.to_table()
    assert str(tab["xshift"].unit) == "pix" and str(tab["rotation"].unit) == "deg"
    assert (tmp_path / "shift.txt").exists() and len(Table.read(tmp_path / "fits.ecsv")) == 2
    assert "tweakwcs " in (tmp_path / "align.log").read_text()
    assert repr(a).startswith("<AlignResult: 1 of 1 images aligned to ") and "<table" in a._repr_html_()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        fig = a.plot_residuals(ylimit=0.5)
        assert fig is plt.gcf() and len(fig.axes) == 2
        assert fig.axes[0].get_ylim() == (-0.5, 0.5)
    finally:
        plt.close("all")
    dry = skymatch.tweakback(other, dry_run=True)
    assert dry.updated == () and len(dry.to_table()) == 2 and max(dry.shift_max) > 1.0
    back = skymatch.tweakback(other)
    assert len(back.updated) == 2 and back.wcsname == "TWEAK"
    assert repr(back).endswith("2 file(s) updated>") and str(back.to_table()["shift_max"].unit) == "pix"
    assert "no alignment to propagate" in skymatch.tweakback(ref).message
    after = wcs_truth_errors(flts, t.truth_file)
    moved = [r for r in before if before[r][0] > 0.5]
    assert moved and all(after[r][0] < 0.05 for r in after), after
    with pytest.raises(InputError, match="would apply the correction twice"):
        skymatch.tweakback(other)


def test_compare_without_the_flatness_score_gives_the_same_skies_and_mosaics(small_mosaic, tmp_path):
    # flatness=False leaves out the overlap residual cells (half the sky time on large
    # chips) and what shows them; the skies and mosaics are those of a full compare.
    d, _ = small_mosaic
    full = skymatch.compare(str(d / "*_flt.fits"), outdir=tmp_path / "full", methods="localmin,match")
    bare = skymatch.compare(str(d / "*_flt.fits"), outdir=tmp_path / "bare", methods="localmin,match",
                            flatness=False)
    for lab in ("localmin", "match"):
        assert full.sky.results[lab].flatness is not None and bare.sky.results[lab].flatness is None
        for a, b in zip(full.products[lab], bare.products[lab]):
            assert np.array_equal(fits.getdata(a), fits.getdata(b), equal_nan=True), a
    assert np.array_equal(np.asarray(full.to_table()["match"]), np.asarray(bare.to_table()["match"]))
    made = sorted(p.name for p in (tmp_path / "bare").iterdir())
    assert "flatness.csv" in os.listdir(tmp_path / "full") and "flatness.csv" not in made
    assert not [m for m in made if m.endswith("_flatness.png")] and "index.html" in made
    page = (tmp_path / "bare" / "index.html").read_text()
    assert "Flatness" not in page and "f160w_methods.gif" in page
    # The full page shows flatness.csv's columns and numbers (excess included).
    import re

    from astropy.table import Table
    flat = Table.read(tmp_path / "full" / "flatness.csv")
    page = (tmp_path / "full" / "index.html").read_text()
    head = re.search(r"Flatness \(lower is flatter\)</h2><table><tr>(.*?)</tr>", page).group(1)
    assert re.findall(r"<th>(.*?)</th>", head) == flat.colnames
    for row in flat:
        cells = f"<td>{row['label']}</td><td>{row['method']}</td><td>{row['sky_model']}</td>" + "".join(
            f"<td>{row[c]:.5f}</td>" for c in ("flatness", "noise", "excess"))
        assert cells in page, cells


def test_the_flatness_score_sees_the_seams_the_true_skies_say_are_there(small_mosaic, tmp_path):
    # localmin's two exposures of one tile see the same nebula and agree closely, while
    # its tiles disagree by ~0.1 e-/s: those seams are the score.  Clipped against every
    # overlap at once (as it once was) they fell out as "outliers" and localmin scored
    # ten times too flat.  The score of each method must show at least half the rms of
    # the true errors of its sky differences.
    d, truth = small_mosaic
    c = skymatch.compare(str(d / "*_flt.fits"), outdir=tmp_path / "c", methods="localmin,globalmin,match",
                         pictures=False)
    errors = skymatch.datasets.sky_truth_errors(c.to_table(), truth.truth_file)
    column = {"localmin": "local", "globalmin": "globalmin", "match": "match"}
    flat = {m: c.sky.results[m].flatness for m in column}
    for m, col in column.items():
        assert flat[m].rms >= 0.5 * errors[col]["rms"], (m, flat[m].rms, errors[col]["rms"])
        assert flat[m].n_cells >= 0.99 * flat[m].residual.size  # only egregious cells set aside
    # match, the only method whose true errors are at the noise level, scores flattest by
    # far (the other two: the truth weighs every exposure, the score every overlap cell,
    # so their order need not agree).
    assert flat["match"].rms < 0.1 * min(flat["localmin"].rms, flat["globalmin"].rms)


def test_compare_over_an_earlier_compare_leaves_none_of_its_outputs_looking_current(small_mosaic, tmp_path):
    # With overwrite, what this run does not write again (the flatness score, pictures,
    # page) is removed when it commits; anything else in the folder stays.
    d, _ = small_mosaic
    out = tmp_path / "cmp"
    skymatch.compare(str(d / "*_flt.fits"), outdir=out, methods="localmin,match", log_file=False)
    before = set(os.listdir(out))
    assert {"flatness.csv", "index.html", "f160w_match_flatness.png", "f160w_methods.gif"} <= before
    (out / "notes.txt").write_text("mine")
    (out / "f160w_globalmin_mosaic.png").write_bytes(b"another run's")  # not this run's label
    skymatch.compare(str(d / "*_flt.fits"), outdir=out, methods="localmin,match", flatness=False,
                     pictures=False, overwrite=True, log_file=False)
    after = set(os.listdir(out))
    assert after == {"notes.txt", "f160w_globalmin_mosaic.png", "mdrizsky_methods.csv"} | {
        f"f160w_{m}_drz_{k}.fits" for m in ("localmin", "match") for k in ("sci", "wht", "ctx")}
    assert leftovers(out) == []
