"""Issue 10's acceptance list, the parts not covered elsewhere.

* Every public function (the api's nine, the three DrizzlePac entry points) is
  keyword-only past its inputs and has a complete numpydoc docstring: Parameters (each
  with a type and a description), Returns, Raises, Examples.
* A notebook session: ``skymatch.compare(...)`` inside a Jupyter kernel (no terminal)
  shows progress, its result renders as HTML, and the plots draw on ``plt.gca()``.
* The command line labels the units of the numbers it prints (MDRIZSKY in data units,
  the overlap skies in brightness units, the mosaic's units, exposure times and offsets).

Covered elsewhere: the CLI and the library give identical results
(``tests/test_api.py::test_cli_and_library_give_identical_results``); the exposure name
falls back to the file stem without ROOTNAME
(``tests/test_inputs_awkward.py::test_exposure_name_falls_back_to_the_file_stem``).
"""

import inspect
import re
import sys
import types
from html.parser import HTMLParser

import pytest

import skymatch
from skymatch.cli import main
from skymatch.drizzlepac import astrodrizzle, tweakback, tweakreg

PUBLIC = [skymatch.sky, skymatch.drizzle, skymatch.run, skymatch.compare, skymatch.align, skymatch.tweakback,
          skymatch.summary, skymatch.fetch, skymatch.demo_data, astrodrizzle.AstroDrizzle, tweakreg.TweakReg,
          tweakback.tweakback]
# The data arguments (DrizzlePac's tweakback takes its input files positionally too).
INPUTS = {"inputs", "drzfile", "outdir", "input", "files"}


def _sections(doc):
    """``{title: body}`` of a numpydoc docstring (4-space indented, underlined titles)."""
    parts = re.split(r"^    (\w[\w ]*)\n    -{3,}\n", doc, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _parameter_entries(body):
    """``[(names, type, description)]`` of a Parameters section."""
    out = []
    for m in re.finditer(r"^    (\w[\w, ]*) :(.*)\n((?:        .*\n?)*)", body, re.MULTILINE):
        names = [n.strip() for n in m.group(1).split(",")]
        out.append((names, m.group(2).strip(), m.group(3).strip()))
    return out


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__qualname__ if f.__module__ == "skymatch.api" else
                         f"{f.__module__}.{f.__qualname__}")
def test_public_functions_are_keyword_only_with_complete_numpydoc(fn):
    params = inspect.signature(fn).parameters.values()
    positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
    assert set(positional) <= INPUTS, positional  # options are keyword-only
    assert not [p for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    sections = _sections(fn.__doc__)
    assert {"Parameters", "Returns", "Raises", "Examples"} <= set(sections), list(sections)
    entries = _parameter_entries(sections["Parameters"])
    documented = [n for names, _, _ in entries for n in names]
    assert sorted(documented) == sorted(p.name for p in params)
    for names, kind, text in entries:
        assert kind and text, (names, kind, text)  # a type and a description for each
    for title in ("Returns", "Raises"):
        first = sections[title].strip().splitlines()
        assert len(first) >= 2 and first[1].startswith("        "), (title, first)  # type, then description
    assert ">>> " in sections["Examples"]


# ------------------------------------------------------------------ a notebook session
class ZMQInteractiveShell:
    """What ``get_ipython()`` returns inside a Jupyter kernel (its class name is what counts)."""


def _jupyter_kernel():
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell
    ipython.version_info = (9, 0)
    return ipython


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open, self.text = [], []

    def handle_starttag(self, tag, _attrs):
        if tag not in ("br", "hr", "img", "meta", "col"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_compare_in_a_notebook_shows_progress_renders_and_plots_inline(small_mosaic, tmp_path, capsys, monkeypatch):
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from skymatch.plotting import plot_mdrizsky, plot_mosaic

    d, _ = small_mosaic
    files = str(d / "*_flt.fits")
    capsys.readouterr()
    # outside a notebook, with no terminal: no bars
    skymatch.compare(files, outdir=tmp_path / "plain", methods="match,localmin", pictures=False, log_file=False)
    assert capsys.readouterr().err == ""
    # in a Jupyter kernel (stderr is still no terminal): bars, by default
    with monkeypatch.context() as mp:
        mp.setitem(sys.modules, "IPython", _jupyter_kernel())
        mp.delitem(sys.modules, "ipywidgets", raising=False)
        c = skymatch.compare(files, outdir=tmp_path / "nb", methods="match,localmin", pictures=False,
                             log_file=False)
    err = capsys.readouterr().err
    assert re.search(r"chips: .*18/18", err) and re.search(r"overlaps: .*100%", err), err
    # the result renders: well-formed HTML with its table and units
    page = c._repr_html_()
    tags = _Tags()
    tags.feed(page)
    tags.close()
    assert tags.open == [] and "<table" in page
    text = " ".join(tags.text)
    assert "ELECTRONS/S" in text and "match" in text and "local" in text and "ibxl54bgq" in text
    # plots draw on the current axes, so they appear inline
    try:
        plt.figure()
        assert c.plot() is plt.gca() and len(plt.gca().collections) == 2
        plt.figure()
        ax = plot_mosaic(c.mosaics["match"].sci)
        assert ax is plt.gca() and len(ax.images) == 1
        plt.figure()
        ax = plot_mdrizsky(c.to_table())
        assert ax is plt.gca() and ax.get_ylabel()
    finally:
        plt.close("all")


# ------------------------------------------------------------------ units in printed output
def test_the_command_line_labels_the_units_of_what_it_prints(small_mosaic, tmp_path, capsys):
    d, _ = small_mosaic
    files = str(d / "*_flt.fits")
    assert main(["sky", files, "--readonly", "--no-log-file", "-v"]) == 0
    out = capsys.readouterr().out
    assert "MDRIZSKY [ELECTRONS/S]" in out and "MDRIZSKY in data units (ELECTRONS/S)" in out
    assert "residual in brightness units: ELECTRONS/S per arcsec²; not MDRIZSKY's data units" in out
    assert main(["run", files, "--readonly", "--no-log-file", "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "MDRIZSKY [ELECTRONS/S]" in out and "mosaic in counts per second (e.g. ELECTRONS/S)" in out
    assert main(["summary", files]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, units = lines[0].split(), lines[1].split()
    assert header[header.index("exptime"):] == ["exptime", "postarg1", "postarg2"]
    assert units == ["s", "arcsec", "arcsec"]
