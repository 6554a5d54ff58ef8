"""skymatch.drizzlepac: DrizzlePac's AstroDrizzle, TweakReg and tweakback calls on skymatch.

* Each entry point is a translation to the api: the same run through
  ``skymatch.drizzlepac`` and through ``skymatch.run`` gives the same pixels and skies,
  and DrizzlePac's parameters that make no difference leave them unchanged.
* Parameters skymatch cannot honour stop the call before any file is read, all of them
  named in one message; bad values are named as the caller spelled them.
* The notebook's own calls, on synthetic data with known answers: tests/test_notebook.py.
"""

import inspect
import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import skymatch
from skymatch import ParameterError
from skymatch.drizzlepac import astrodrizzle, tweakback, tweakreg

FILES = "no_such_dir/*_flt.fits"  # refusals come before any file is looked at
CR_OFF = {"preserve": False, "driz_separate": False, "median": False, "blot": False, "driz_cr": False}
ENTRY_POINTS = [
    (astrodrizzle.AstroDrizzle, ("input",)),
    (tweakreg.TweakReg, ("files",)),
    (tweakback.tweakback, ("drzfile", "input")),
]


# ------------------------------------------------------------------ signatures and docs
def _doc_sections(doc):
    return re.findall(r"^    (\w[\w ]*)\n    -+$", doc, re.MULTILINE)


def _doc_parameters(doc):
    """Names of the numpydoc Parameters section (``a, b : type`` entries give several)."""
    section = re.search(r"\n    Parameters\n    -+\n(.*?)\n    Returns\n", doc, re.DOTALL)
    assert section, "no Parameters section"
    names = []
    for entry in re.findall(r"^    (\w[\w, ]*) :", section.group(1), re.MULTILINE):
        names += [n.strip() for n in entry.split(",")]
    return names


@pytest.mark.parametrize("fn, positional", ENTRY_POINTS, ids=lambda v: getattr(v, "__name__", ""))
def test_keyword_only_past_the_inputs_typed_and_documented(fn, positional):
    params = list(inspect.signature(fn).parameters.values())
    assert tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD) == positional
    assert all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)  # no *args, **kwargs
    from skymatch.api import _results

    hints = typing.get_type_hints(fn, globalns={**fn.__globals__, **vars(_results)})
    assert set(hints) == {p.name for p in params} | {"return"}
    # every parameter documented once (no-effect ones grouped, so not in signature order)
    assert sorted(_doc_parameters(fn.__doc__)) == sorted(p.name for p in params)
    assert _doc_sections(fn.__doc__) == ["Parameters", "Returns", "Raises", "See Also", "Examples"]


def test_importing_the_drop_in_loads_nothing_heavy():
    heavy = ("numpy", "astropy", "scipy", "matplotlib", "drizzle", "tweakwcs", "photutils")
    code = ("import sys; from skymatch import drizzlepac; from skymatch.drizzlepac import tweakreg, tweakback; "
            "drizzlepac.astrodrizzle.AstroDrizzle; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout + p.stderr


# ------------------------------------------------------------------ refusals
def test_drizzlepac_defaults_skymatch_does_not_do_are_named_at_once():
    with pytest.raises(ParameterError) as err:
        astrodrizzle.AstroDrizzle(FILES, output="f160w")
    msg = str(err.value)
    assert msg.startswith("AstroDrizzle: not supported by skymatch: preserve=True: ")
    named = re.findall(r"(?:^|; |, )(\w+)=True", msg.split(": not supported by skymatch: ", 1)[1])
    assert named == ["preserve", "driz_separate", "median", "blot", "driz_cr"]
    # parameters refused for the same reason share one sentence
    assert msg.count("cosmic-ray rejection") == 1
    assert "\n" not in msg and "driz_cr=False" in msg  # one line, with the fix


@pytest.mark.parametrize("fn, kwargs, message", [
    ("AstroDrizzle", {"output": ""}, r"output='': name the products"),
    ("AstroDrizzle", {"driz_cr": True}, r"driz_cr=True: skymatch does no cosmic-ray rejection"),
    ("AstroDrizzle", {"median": True, "blot": True}, r"median=True, blot=True: skymatch does no cosmic-ray rejection"),
    ("AstroDrizzle", {"restore": True}, r"restore=True: skymatch keeps no OrigFiles/"),
    ("AstroDrizzle", {"context": False}, r"context=False: the context image .* is always written"),
    ("AstroDrizzle", {"coeffs": False}, r"coeffs=False: the distortion .* is always applied"),
    ("AstroDrizzle", {"wcskey": "A"}, r"wcskey='A': the primary WCS is used"),
    ("AstroDrizzle", {"proc_unit": "electrons"}, r"proc_unit='electrons': data are processed in their own units"),
    ("AstroDrizzle", {"group": "1"}, r"group='1': every SCI extension is used"),
    ("AstroDrizzle", {"static_sig": 3.0}, r"static_sig=3.0: .*default 4 sigma"),
    ("AstroDrizzle", {"skymask_cat": "masks.cat"}, r"skymask_cat='masks.cat': give masks in an @list"),
    ("AstroDrizzle", {"final_wht_type": "IVM"}, r"final_wht_type='IVM': weights are EXPTIME"),
    ("AstroDrizzle", {"final_wt_scl": "expsq"}, r"final_wt_scl='expsq'"),
    ("AstroDrizzle", {"final_maskval": 0.0}, r"final_maskval=0.0"),
    ("AstroDrizzle", {"final_crpix1": 100.0}, r"final_crpix1=100.0: the reference pixel is the frame's centre"),
    ("AstroDrizzle", {"exptime": 500.0}, r"exptime=500.0: EXPTIME is read from each input's header"),
    ("AstroDrizzle", {"mdriztab": True, "editpars": True},
     r"mdriztab=True, editpars=True: pass the parameters as keywords"),
    ("AstroDrizzle", {"configobj": {"a": 1}}, r"configobj=\{'a': 1\}: pass the parameters as keywords"),
    ("AstroDrizzle", {"wcsmap": "mymap"}, r"wcsmap='mymap': pixels are mapped"),
    ("AstroDrizzle", {"skysub": False, "driz_combine": False}, r"driz_combine=False: with skysub=False too"),
    ("TweakReg", {"refcat": "gaia.cat"}, r"^TweakReg: not supported by skymatch: refcat='gaia.cat': sources are found"),
    ("TweakReg", {"catfile": "cats.list"}, r"catfile='cats.list': sources are found in the images"),
    ("TweakReg", {"exclusions": "ex.txt"}, r"exclusions='ex.txt'"),
    ("TweakReg", {"updatewcs": True}, r"updatewcs=True: the inputs' WCS are used as they are"),
    ("TweakReg", {"searchunits": "pixels"}, r"searchunits='pixels': give searchrad in arcseconds"),
    ("TweakReg", {"xoffset": 2.0}, r"xoffset=2.0: the initial offset is found"),
    ("TweakReg", {"headerlet": True}, r"headerlet=True: the solution is written into the headers"),
    ("TweakReg", {"imagefindcfg": {"use_sharp_round": True}}, r"imagefindcfg\['use_sharp_round'\]=True"),
    ("TweakReg", {"imagefindcfg": {"ratio": 0.5}}, r"imagefindcfg\['ratio'\]=0.5: only TweakReg's default 1.0"),
    ("TweakReg", {"imagefindcfg": {"threshold": 10}, "refimagefindcfg": {"threshold": 5}},
     r"refimagefindcfg=\{'threshold': 5\}: sources are found the same way in every image"),
    ("tweakback", {"origwcs": "OPUS"}, r"^tweakback: not supported by skymatch: origwcs='OPUS'"),
    ("tweakback", {"extname": "SCIX"}, r"extname='SCIX': the SCI extensions are updated"),
])
def test_what_skymatch_does_not_do_stops_the_call(fn, kwargs, message):
    module = {"AstroDrizzle": astrodrizzle, "TweakReg": tweakreg, "tweakback": tweakback}[fn]
    call = getattr(module, fn)
    base = {"AstroDrizzle": {"output": "o", **CR_OFF}, "TweakReg": {}, "tweakback": {}}[fn]
    first = "x_drz.fits" if fn == "tweakback" else FILES
    with pytest.raises(ParameterError, match=message):
        call(first, **{**base, **kwargs})
    assert os.listdir(".") == []  # nothing written (the test runs in an empty folder)


@pytest.mark.parametrize("fn, args, kwargs, message", [
    # Renamed parameters are named as DrizzlePac spells them ...
    ("AstroDrizzle", (None,), {"output": "o", **CR_OFF}, r"^input=None: give file names"),
    ("AstroDrizzle", (FILES,), {"output": "o", **CR_OFF, "num_cores": 0}, r"^num_cores=0: must be >= 1"),
    ("AstroDrizzle", (FILES,), {"output": "o", **CR_OFF, "runfile": 3}, r"^runfile=3: give a file path"),
    ("AstroDrizzle", (FILES,), {"output": "o", **CR_OFF, "static": "yes"}, r"^static='yes': give True or False"),
    ("TweakReg", (None,), {}, r"^files=None: give file names"),
    ("TweakReg", (FILES,), {"updatehdr": "yes"}, r"^updatehdr='yes': give True or False"),
    ("TweakReg", (FILES,), {"shiftfile": True, "outshifts": None}, r"^outshifts=None: give a file path"),
    ("TweakReg", (FILES,), {"imagefindcfg": {"thresh": 10}}, r"^imagefindcfg: 'thresh' not TweakReg image-find"),
    ("TweakReg", (FILES,), {"imagefindcfg": "threshold=10"}, r"^imagefindcfg='threshold=10': give a dict"),
    ("tweakback", ("x_drz.fits",), {"verbose": "yes"}, r"^verbose='yes': give True or False"),
    ("tweakback", ("x_drz.fits", 5), {}, r"^input=5: give file names"),
    # ... and shared ones as skymatch's api names them (the same names).
    ("AstroDrizzle", (FILES,), {"output": "o", **CR_OFF, "final_bits": "4+x"}, r"^final_bits='4\+x': cannot read"),
    ("AstroDrizzle", (FILES,), {"output": "o", **CR_OFF, "skymethod": "median"}, r"^skymethod='median' is not"),
    ("TweakReg", (FILES,), {"fitgeometry": "affine"}, r"^fitgeometry='affine': use one of shift"),
    ("TweakReg", (FILES,), {"imagefindcfg": {"threshold": -1}}, r"^threshold=-1: must be > 0"),
])
def test_bad_values_are_named_as_spelled(fn, args, kwargs, message):
    module = {"AstroDrizzle": astrodrizzle, "TweakReg": tweakreg, "tweakback": tweakback}[fn]
    with pytest.raises(ParameterError, match=message):
        getattr(module, fn)(*args, **kwargs)


# ------------------------------------------------------------------ translation
def _copy(small_mosaic, folder):
    _d, truth = small_mosaic
    folder.mkdir()
    for p in truth.paths:
        shutil.copy(p, folder / os.path.basename(p))
    return folder


def _hdrtab_skies(path):
    with fits.open(path) as h:
        return list(h["HDRTAB"].data["MDRIZSKY"])


def test_astrodrizzle_is_skymatch_run_and_ignores_what_makes_no_difference(small_mosaic, tmp_path, monkeypatch):
    a = _copy(small_mosaic, tmp_path / "a")
    b = _copy(small_mosaic, tmp_path / "b")
    notebook = {"final_bits": "64", "final_wcs": True, "final_rot": 257.0}
    # DrizzlePac's defaults: skymethod 'localmin', static mask on.
    monkeypatch.chdir(a)
    inert = {"combine_type": "median", "combine_nsigma": "3 2", "driz_sep_kernel": "lanczos3", "driz_sep_bits": 64,
             "blot_interp": "linear", "driz_cr_snr": "5 4", "crbit": 0, "resetbits": 0, "clean": True,
             "in_memory": True, "overwrite": False, "gain": 2.5, "rdnoise": 20.0, "driz_sep_wcs": True}
    m = astrodrizzle.AstroDrizzle("*flt.fits", output="f160w", **CR_OFF, **notebook, **inert, progress=False)
    monkeypatch.chdir(b)
    r = skymatch.run("*flt.fits", output="f160w", skymethod="localmin", use_static=True, **notebook,
                     progress=False, log_file=False)
    sci_a, sci_b = fits.getdata(a / "f160w_drz_sci.fits"), fits.getdata(b / "f160w_drz_sci.fits")
    assert np.array_equal(sci_a, sci_b, equal_nan=True) and np.array_equal(sci_a, m.mosaic.sci, equal_nan=True)
    assert _hdrtab_skies(a / "f160w_drz_sci.fits") == _hdrtab_skies(b / "f160w_drz_sci.fits")
    assert m.sky.method == "localmin" and m.parameters["use_static"] is True
    skies = [c.sky for c in r.sky.result.chips]
    assert [c.sky for c in m.sky.result.chips] == skies and len(set(skies)) > 1
    # Like AstroDrizzle: MDRIZSKY in the inputs, the log in astrodrizzle.log ...
    first = min(a.glob("*_flt.fits"))
    assert fits.getval(first, "MDRIZSKY", 1) == pytest.approx(m.sky.result.chips[0].sky, abs=1e-6)
    log = (a / "astrodrizzle.log").read_text(encoding="utf-8")
    assert "skymethod" in log and "localmin" in log and "final_rot" in log
    # ... and the products replaced by the next run, whichever way the output is spelled.
    monkeypatch.chdir(a)
    again = astrodrizzle.AstroDrizzle("*flt.fits", output="f160w_drz.fits", skymethod="match", **CR_OFF, **notebook,
                                      progress=False)
    assert again.sky.method == "match" and sorted(p.name for p in a.glob("f160w*")) == [
        "f160w_drz_ctx.fits", "f160w_drz_sci.fits", "f160w_drz_wht.fits"]
    assert _hdrtab_skies(a / "f160w_drz_sci.fits") == [c.sky for c in again.sky.result.chips]
    assert min(c.sky for c in again.sky.result.chips) == 0.0  # match: the lowest made 0


def test_sky_only_and_no_sky_runs(mosaic_copy, tmp_path):
    d, truth = mosaic_copy
    files = str(d / "*_flt.fits")
    s = astrodrizzle.AstroDrizzle(files, **CR_OFF, skymethod="globalmin", driz_combine=False, runfile="")
    assert isinstance(s, skymatch.SkyRun) and sorted(p.name for p in d.iterdir() if "_drz" in p.name) == []
    skies = {c.name: c.sky for c in s.result.chips}
    assert len(set(skies.values())) == 1  # globalmin: one value
    assert fits.getval(d / "ibxl54bgq_flt.fits", "MDRIZSKY", 1) == pytest.approx(skies["ibxl54bgq_flt.fits[SCI,1]"])
    m = astrodrizzle.AstroDrizzle(files, output=str(tmp_path / "raw"), **CR_OFF, skysub=False, runfile="")
    ref = skymatch.drizzle(files, output=str(tmp_path / "ref"), skysub=False, log_file=False)
    assert np.array_equal(m.mosaic.sci, ref.mosaic.sci, equal_nan=True)
    # nothing subtracted: the mosaic holds the true skies (~0.8-1.4 e-/s) under the scene
    assert np.nanmin(m.mosaic.sci) > 0.5 * min(truth["exposures"][r]["sky"] for r in truth["exposures"])


def test_skyfile_values_are_used_as_given(mosaic_copy, tmp_path):
    d, truth = mosaic_copy
    values = {f"{root}_flt.fits": round(e["sky"], 4) for root, e in truth["exposures"].items()}
    (d / "skies.txt").write_text("".join(f"{name} {v}\n" for name, v in values.items()), encoding="utf-8")
    m = astrodrizzle.AstroDrizzle(str(d / "*_flt.fits"), output=str(tmp_path / "user"), **CR_OFF,
                                  skyfile=str(d / "skies.txt"), runfile=str(tmp_path / "ad.log"))
    with fits.open(tmp_path / "user_drz_sci.fits") as h:
        tab = h["HDRTAB"].data
        got = {f"{r.strip()}_flt.fits": s for r, s in zip(tab["ROOTNAME"], tab["MDRIZSKY"], strict=True)}
    assert got == pytest.approx(values, abs=1e-6)
    assert fits.getval(d / "ibxl51eoq_flt.fits", "MDRIZSKY", 1) == pytest.approx(values["ibxl51eoq_flt.fits"])
    assert m.output == str(tmp_path / "user")


def test_tweakreg_and_tweakback_translate_to_align_and_tweakback(monkeypatch, capsys):
    calls = []

    def fake(name, result):
        def record(*args, **kwargs):
            calls.append((name, args, kwargs))
            return result
        return record

    monkeypatch.setattr(skymatch.api, "align", fake("align", "aligned"))
    r = tweakreg.TweakReg("@drz.list", imagefindcfg={"threshold": 10, "conv_width": 4.5, "peakmin": 1,
                                                     "skysigma": 3.0, "sharplo": 0.5},
                          minobj=5, shiftfile=True, expand_refcat=True, enforce_user_order=True,
                          outshifts="shift4_drc.txt", searchrad=3.0, ylimit=0.5, updatehdr=True, interactive=False,
                          refimage="ref_drz.fits", see2dplot=False, writecat=False, outwcs="w.fits")
    assert r == "aligned"
    _name, args, kw = calls.pop()
    assert args == (["ref_drz.fits", "@drz.list"],)
    assert kw == {"threshold": 10, "conv_width": 4.5, "peakmin": 1, "minobj": 5, "searchrad": 3.0,
                  "separation": 0.5, "tolerance": 1.0, "use2dhist": True, "expand_refcat": True,
                  "enforce_user_order": True, "fitgeometry": "rscale", "nclip": 3, "sigma": 3.0,
                  "update_header": True, "wcsname": "TWEAK", "shiftfile": "shift4_drc.txt", "ylimit": 0.5,
                  "progress": None, "log_file": "tweakreg.log"}
    tweakreg.TweakReg(["a.fits", "b.fits"], runfile="")
    _, args, kw = calls.pop()
    assert args == (["a.fits", "b.fits"],) and kw["shiftfile"] is None and kw["log_file"] is False

    result = skymatch.TweakbackResult(drz="x_drz.fits", wcsname="TWEAK", chips=("a_flt.fits[SCI,1]",),
                                      shift_centre=(1.25,), shift_max=(1.5,), rotation=(0.01,),
                                      updated=("a_flt.fits",))
    monkeypatch.setattr(skymatch.api, "tweakback", fake("tweakback", result))
    assert tweakback.tweakback("x_drz.fits", newname="MINE", verbose=True) is result
    assert calls.pop() == ("tweakback", ("x_drz.fits",), {"inputs": None, "wcsname": "MINE", "force": False,
                                                          "log_file": False})
    out = capsys.readouterr().out
    assert out == ("x_drz.fits: WCS 'TWEAK' carried back to 1 file(s)\n"
                   "  a_flt.fits[SCI,1]: moved 1.2500 px at the centre (1.5000 px at most), rotated 0.010000 deg\n")
    tweakback.tweakback("x_drz.fits", "a_flt.fits")
    assert calls.pop()[2]["inputs"] == "a_flt.fits" and capsys.readouterr().out == ""


def test_the_parameter_table_covers_every_notebook_parameter():
    """docs/from_drizzlepac.md names every parameter the notebook passes, and every
    parameter of the three entry points."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "from_drizzlepac.md").read_text(encoding="utf-8")
    documented = {name for cell in re.findall(r"^\|([^|]*)\|", doc, re.MULTILINE)
                  for name in re.findall(r"`(\w+)`", cell)}
    notebook = {"imagefindcfg", "threshold", "conv_width", "peakmin", "minobj", "shiftfile", "expand_refcat",
                "enforce_user_order", "outshifts", "searchrad", "ylimit", "updatehdr", "interactive", "verbose",
                "output", "preserve", "skymethod", "driz_separate", "median", "blot", "driz_cr", "final_bits",
                "final_wcs", "final_rot"}
    params = {p for fn, _ in ENTRY_POINTS for p in inspect.signature(fn).parameters}
    assert notebook <= documented and params - {"progress"} <= documented, sorted((notebook | params) - documented)


