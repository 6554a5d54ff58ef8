"""Bad arguments to the public functions and the lower-level building blocks give a
:class:`~skymatch.exceptions.SkymatchError` subclass whose message names the parameter,
never a TypeError or AttributeError from deep inside.  Every case fails before any input
is read (the inputs named here do not exist)."""

from __future__ import annotations

import inspect

import pytest
from astropy.table import Table

import skymatch
from skymatch.exceptions import InputError, ParameterError, SkymatchError, WriteError

FILES = "nonexistent_flt.fits"  # never read: validation comes first
FILE_LIST = [FILES, "other_flt.fits"]

# function name -> (positional arguments, required keywords) of a call that is valid
# apart from the argument under test.
CALLS = {
    "sky": ((FILES,), {"log_file": False}),
    "drizzle": ((FILES,), {"output": "out", "log_file": False}),
    "run": ((FILES,), {"output": "out", "log_file": False}),
    "compare": ((FILES,), {"outdir": "cmp", "log_file": False}),
    "align": ((FILES,), {"log_file": False}),
    "tweakback": (("nonexistent_drz.fits",), {"log_file": False}),
    "summary": ((FILES,), {}),
    "fetch": ((), {"proposal": 12812, "filter": "F160W", "dry_run": True}),
    "demo_data": (("demo",), {}),
}


def _parameters():
    for fname, (args, _) in sorted(CALLS.items()):
        params = inspect.signature(getattr(skymatch, fname)).parameters
        for k, (name, p) in enumerate(params.items()):
            yield fname, name, k < len(args), p.default


def _wrong_type(name, default):
    """A value of a plausible but wrong type for an option with this default."""
    if name.endswith("bits"):  # DQ flags: an int or a string such as '4+8'
        return 1.5
    if isinstance(default, bool):
        return "yes"
    if isinstance(default, (int, float)):
        return "1"
    if isinstance(default, (str, tuple)):
        return 1.5
    return None


def _call(fname, name, positional, value):
    args, kw = CALLS[fname]
    args, kw = list(args), dict(kw)
    if positional:
        args[0] = value
    else:
        kw[name] = value
    getattr(skymatch, fname)(*args, **kw)


@pytest.mark.parametrize("fname, name, positional, default", list(_parameters()))
def test_every_option_refuses_a_wrong_type_and_names_itself(fname, name, positional, default, tmp_path,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = [object()]
    if _wrong_type(name, default) is not None:
        values.append(_wrong_type(name, default))
    for value in values:
        with pytest.raises(ParameterError) as info:
            _call(fname, name, positional, value)
        assert f"{name}=" in str(info.value), (fname, name, value, str(info.value))
    assert not list(tmp_path.iterdir())  # refused before anything was written


# (call, exception, text the message must contain): the cases users meet.
CASES = [
    (lambda: skymatch.sky(None), ParameterError, "inputs=None"),
    (lambda: skymatch.sky([None]), ParameterError, "inputs[0]=None"),
    (lambda: skymatch.sky([FILES, 3]), ParameterError, "inputs[1]=3"),
    (lambda: skymatch.sky(""), ParameterError, "inputs=''"),
    (lambda: skymatch.sky([]), ParameterError, "inputs=[]"),
    (lambda: skymatch.sky(FILES, skylsigma="x"), ParameterError, "skylsigma='x'"),
    (lambda: skymatch.sky(FILES, skylsigma=-1), ParameterError, "skylsigma=-1"),
    (lambda: skymatch.sky(FILES, skyclip=2.5), ParameterError, "skyclip=2.5"),
    (lambda: skymatch.sky(FILES, skylower=float("nan")), ParameterError, "skylower=nan"),
    (lambda: skymatch.sky(FILES, skylower=2.0, skyupper=1.0), ParameterError, "skylower=2 is not below skyupper=1"),
    (lambda: skymatch.sky(FILES, skymethod="best"), ParameterError, "skymethod='best'"),
    (lambda: skymatch.sky(FILES, skystat="max"), ParameterError, "skystat='max'"),
    (lambda: skymatch.sky(FILES, sky_bits="4+x"), ParameterError, "sky_bits="),
    (lambda: skymatch.sky(FILES, sky_model="cubic"), ParameterError, "sky_model="),
    (lambda: skymatch.sky(FILES, sky_model="plane", compat="drizzlepac"), ParameterError, "sky_model='plane'"),
    (lambda: skymatch.sky(FILES, skyfile="a.txt", skyuser="SKYUSER"), ParameterError, "skyfile='a.txt'"),
    (lambda: skymatch.sky(FILES, readonly=True, subtract=True), ParameterError, "readonly=True"),
    (lambda: skymatch.sky(FILES, table="t.txt"), ParameterError, "table='t.txt'"),
    (lambda: skymatch.sky(FILES, jobs=0), ParameterError, "jobs=0"),
    (lambda: skymatch.sky(FILES, progress="bar"), ParameterError, "progress='bar'"),
    (lambda: skymatch.run([], output="out"), ParameterError, "inputs=[]"),
    (lambda: skymatch.run(FILES, output=None), ParameterError, "output=None"),
    (lambda: skymatch.run(FILES, output="no/such/dir/out"), WriteError, "output='no/such/dir/out'"),
    (lambda: skymatch.run(FILES, output="out", driz_cr=True), ParameterError, "driz_cr=True"),
    (lambda: skymatch.drizzle(FILE_LIST, output=None), ParameterError, "output=None"),
    (lambda: skymatch.drizzle(FILES, output="out", final_pixfrac=2.0), ParameterError, "final_pixfrac=2.0"),
    (lambda: skymatch.drizzle(FILES, output="out", final_kernel="sinc"), ParameterError, "final_kernel='sinc'"),
    (lambda: skymatch.drizzle(FILES, output="out", final_dec=95.0), ParameterError, "final_dec=95.0"),
    (lambda: skymatch.drizzle(FILES, output="out", final_outnx=0), ParameterError, "final_outnx=0"),
    (lambda: skymatch.drizzle(FILES, output="out", dask=3), ParameterError, "dask=3"),
    (lambda: skymatch.compare(FILES, outdir="cmp", methods=[]), ParameterError, "methods=[]"),
    (lambda: skymatch.compare(FILES, outdir="cmp", methods="match,best"), ParameterError, "methods="),
    (lambda: skymatch.compare(FILES, outdir="cmp", prefix="a/b"), ParameterError, "prefix='a/b'"),
    (lambda: skymatch.compare(FILES, outdir="afile"), WriteError, "outdir='afile'"),
    (lambda: skymatch.align(FILES, peakmin=5.0, peakmax=1.0), ParameterError, "peakmin=5 is not below peakmax=1"),
    (lambda: skymatch.align(FILES, fitgeometry="affine"), ParameterError, "fitgeometry='affine'"),
    (lambda: skymatch.align(FILES, wcsname="W" * 69), ParameterError, "wcsname="),
    (lambda: skymatch.tweakback("a_drz.fits", old_key="AB"), ParameterError, "old_key='AB'"),
    (lambda: skymatch.fetch(proposal="12x", filter="F160W"), ParameterError, "proposal='12x'"),
    (lambda: skymatch.fetch(proposal=12812, filter=[]), ParameterError, "filter=[]"),
    (lambda: skymatch.demo_data("demo", tiles=(3,)), ParameterError, "tiles=(3,)"),
    (lambda: skymatch.demo_data("afile"), WriteError, "outdir='afile'"),
    # lower-level building blocks
    (lambda: skymatch.expand_inputs(None), ParameterError, "inputs=None"),
    (lambda: skymatch.expand_inputs([FILES, None]), ParameterError, "inputs[1]=None"),
    (lambda: skymatch.read_inputs(42), ParameterError, "inputs=42"),
    (lambda: skymatch.run_sky(None), ParameterError, "inputs=None"),
    (lambda: skymatch.run_sky([None]), ParameterError, "inputs[0]=None"),
    (lambda: skymatch.run_sky(FILES, method="best"), ParameterError, "skymethod='best'"),
    (lambda: skymatch.run_sky_methods(None), ParameterError, "inputs=None"),
    (lambda: skymatch.match_sky(None), InputError, "chips=None"),
    (lambda: skymatch.sky_methods(None), InputError, "chips=None"),
    (lambda: skymatch.SkyStatParams(statistic="max"), ParameterError, "skystat='max'"),
    (lambda: skymatch.SkyStatParams(nclip="x"), ParameterError, "skyclip='x'"),
    (lambda: skymatch.parse_bits(object()), ParameterError, "sky_bits="),
    (lambda: skymatch.make_executor(jobs="x"), ParameterError, "jobs='x'"),
    (lambda: skymatch.write_table(None, "a.csv"), ParameterError, "table=None"),
    (lambda: skymatch.write_table(Table({"a": [1]}), 3), ParameterError, "path=3"),
    (lambda: skymatch.write_sky(None, []), ParameterError, "result=None"),
    (lambda: skymatch.write_shiftfile(None, "shifts.txt"), ParameterError, "result=None"),
    (lambda: skymatch.datasets.make_mosaic(None), ParameterError, "outdir=None"),
    (lambda: skymatch.datasets.make_mosaic("afile"), WriteError, "outdir='afile'"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bad_argument_gives_a_skymatch_error_naming_it(case, tmp_path, monkeypatch):
    call, kind, text = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file, not a folder")
    with pytest.raises(SkymatchError) as info:
        call()
    assert type(info.value) is kind or isinstance(info.value, kind), (type(info.value), str(info.value))
    assert text in str(info.value), str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written
