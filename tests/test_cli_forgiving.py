"""A command line that forgives habits: AstroDrizzle spellings, misspelt flags, -v after
the command, help with defaults and choices, an instant --help, no traceback on a
closed pipe or an unreachable MAST."""

import argparse
import os
import subprocess
import sys

import pytest

from skymatch.cli import _parse, build_parser, main
from skymatch.cli._common import BoolFlag, HelpFormatter


def parse(*argv):
    args, _ = _parse([str(a) for a in argv])
    return args


# ------------------------------------------------------------------ AstroDrizzle habits
def test_underscore_spellings_are_aliases():
    a = parse("run", "x_flt.fits", "--output", "o", "--final_bits", "64", "--final_rot=257",
              "--sky_bits", "4+8", "--final_wcs")
    assert (a.final_bits, a.final_rot, a.sky_bits, a.final_wcs) == ("64", 257.0, "4+8", True)
    assert a.inputs == ["x_flt.fits"]


@pytest.mark.parametrize("argv, expected", [
    (["--final-wcs", "True"], True),
    (["--final-wcs", "false"], False),
    (["--final_wcs=False"], False),
    (["--final-wcs=yes"], True),
    (["--final-wcs"], True),
    (["--no-final-wcs"], False),
    ([], False),
])
def test_booleans_take_astrodrizzle_values(argv, expected):
    a = parse("run", "x_flt.fits", "--output", "o", *argv)
    assert a.final_wcs is expected and a.inputs == ["x_flt.fits"]


def test_a_flag_before_the_inputs_does_not_swallow_them():
    a = parse("run", "--final-wcs", "x_flt.fits", "y_flt.fits", "--output", "o")
    assert a.final_wcs is True and a.inputs == ["x_flt.fits", "y_flt.fits"]


def test_cosmic_ray_switches_as_astrodrizzle_writes_them():
    a = parse("run", "x", "--output", "o", "--driz_separate", "False", "--median=false", "--blot", "no",
              "--driz-cr", "0")
    assert (a.driz_separate, a.median, a.blot, a.driz_cr) == (False, False, False, False)


def test_a_bad_boolean_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "x", "--output", "o", "--final-wcs=maybe"])
    assert exc.value.code == 2
    assert "--final-wcs" in capsys.readouterr().err


def test_unknown_flag_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "x", "--output", "o", "--final-bit", "64"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized argument --final-bit; did you mean --final-bits?" in err
    with pytest.raises(SystemExit):
        main(["sky", "x", "--skymetod", "match"])
    assert "did you mean --skymethod?" in capsys.readouterr().err
    # Every other unknown option is named too (not "and 2 more"); an option's value is not one.
    with pytest.raises(SystemExit):
        main(["sky", "x", "--skymetod", "match", "--foo", "--bar", "1"])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.endswith("unrecognized argument --skymetod; did you mean --skymethod? "
                         "(also unrecognized: --foo --bar)")


def test_unknown_command_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["skyy", "x"])
    assert exc.value.code == 2
    assert "did you mean 'sky'?" in capsys.readouterr().err


def test_verbose_works_after_the_command():
    assert parse("sky", "x", "-v").verbose == 1
    assert parse("-v", "sky", "x", "-vv").verbose == 3
    assert parse("sky", "x").verbose == 0


def test_progress_after_the_command():
    assert parse("sky", "x", "--no-progress").progress is False
    assert parse("--progress", "sky", "x").progress is True
    assert parse("sky", "x").progress is None


def test_workers_is_a_hidden_alias_of_jobs(capsys):
    assert parse("align", "a", "b", "--workers", "2").jobs == 2
    assert parse("align", "a", "b", "--jobs", "2").jobs == 2
    with pytest.raises(SystemExit):
        main(["align", "--help"])
    out = capsys.readouterr().out
    assert "--jobs" in out and "--workers" not in out


def test_errors_use_the_flag_spelling(capsys):
    code = main(["sky", "x_flt.fits", "--skylower", "nan"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("skymatch: error: --skylower=nan: give a finite number")
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ help
def _optional_actions():
    _, commands = build_parser()
    for name, sub in commands.items():
        for a in sub._actions:
            if a.option_strings and a.help is not argparse.SUPPRESS and not isinstance(a, argparse._HelpAction):
                yield name, sub, a


def test_every_option_has_help_with_default_and_choices():
    n = 0
    for name, sub, a in _optional_actions():
        text = HelpFormatter(sub.prog)._get_help_string(a)
        assert a.help and len(a.help) > 8, (name, a.option_strings)
        if isinstance(a, (argparse._StoreConstAction, argparse._CountAction)):
            continue  # --no-log-file, -v: no value, nothing to default
        assert "default:" in text or "required" in text, (name, a.option_strings, text)
        if a.choices:
            assert all(str(c) in text for c in a.choices), (name, a.option_strings, text)
        n += 1
    assert n > 100


def test_help_texts_render(capsys):
    for name in ("sky", "run", "compare", "drizzle", "align", "tweakback", "summary", "fetch",
                 "demo-data", "demo"):
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "default" in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "--final-wcs, --no-final-wcs" in out and "(default: match" in " ".join(out.split())


# ------------------------------------------------------------------ start-up and exits
HEAVY = ("numpy", "astropy", "scipy", "matplotlib", "drizzle", "shapely", "tqdm")

_PROBE = """
import sys
from skymatch.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["sky", "--help"], ["run", "--help"],
                                  ["align", "--help"]])
def test_help_imports_no_heavy_library(argv):
    probe = _PROBE.format(heavy=HEAVY)
    p = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
    assert p.stderr.strip().splitlines()[-1:] in ([], [""]), p.stderr


def test_import_skymatch_is_light():
    code = f"import sys, skymatch; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout + p.stderr
    # ... and the names are there when asked for
    code = "import skymatch; print(skymatch.match_sky.__name__, skymatch.sky.__name__, skymatch.SkyRun.__name__)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["match_sky", "sky", "SkyRun"], p.stderr


def test_closed_pipe_is_quiet(small_mosaic):
    d, _ = small_mosaic
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written (like `| head` that quit)
    try:
        p = subprocess.run([sys.executable, "-m", "skymatch.cli", "summary", str(d / "*_flt.fits")],
                           stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.returncode == 141


def test_closed_pipe_in_process(small_mosaic, monkeypatch, capsys):
    d, _ = small_mosaic

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["summary", str(d / "*_flt.fits")]) == 141
    assert capsys.readouterr().err == ""


def test_unreachable_mast_is_one_line(monkeypatch, capsys):
    from skymatch.io import _mast

    class Offline:
        def query_criteria(self, **kw):
            raise ConnectionError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_mast, "mast_observations", Offline)
    assert main(["fetch", "--proposal", "12812", "--filter", "F160W", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skymatch: error: MAST is not reachable") and len(err.strip().splitlines()) == 1


def test_boolflag_is_used_for_every_switch():
    """No store_true flag is left: every switch takes --no-x and AstroDrizzle's values."""
    for name, _sub, a in _optional_actions():
        assert not isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction)), (name, a.dest)
    assert any(isinstance(a, BoolFlag) for _, _, a in _optional_actions())


@pytest.fixture
def default_sigint():
    """SIGINT with Python's default handler during the test: a test run started in the
    background (nohup, `&`, some CI runners) inherits SIGINT ignored, and ``main()`` rightly
    leaves an ignored SIGINT alone (the reason a fresh-clone run of this test once failed)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_interrupt_that_surfaces_as_another_error_is_reported_as_interrupted(monkeypatch, capsys,
                                                                                default_sigint):
    """Ctrl-C inside a library that turns it into its own error (matplotlib interrupted while
    drawing raises ValueError) still ends as 'interrupted', exit 130, no traceback."""
    import signal

    from skymatch import cli
    from skymatch.cli import _data

    def interrupted_inside_a_library(_args):
        try:
            signal.raise_signal(signal.SIGINT)  # to this thread; its handler runs on return
        except KeyboardInterrupt:
            raise ValueError("Invalid affine transformation matrix") from None
        return 0

    monkeypatch.setattr(_data, "_cmd_summary", interrupted_inside_a_library)
    assert cli.main(["summary", "x.fits"]) == 130
    assert "interrupted" in capsys.readouterr().err
    # and an ordinary error without an interrupt is still an error (not hidden as one)
    def broken(_args):
        raise ValueError("a real bug")

    monkeypatch.setattr(_data, "_cmd_summary", broken)
    with pytest.raises(ValueError, match="a real bug"):
        cli.main(["summary", "x.fits"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
