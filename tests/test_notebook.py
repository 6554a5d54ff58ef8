"""The STScI notebook's sections 2-5, run as a script with three import lines changed.

The notebook (``shared/seed/sky_matching_notebook.md``) is run the way its user would
run it after switching to skymatch: its code cells, verbatim, in one namespace, in a
folder holding synthetic misaligned visits with visit-level DRZ products, with

    import drizzlepac                  ->  from skymatch import drizzlepac
    from drizzlepac import tweakreg    ->  from skymatch.drizzlepac import tweakreg
    from drizzlepac import tweakback   ->  from skymatch.drizzlepac import tweakback

and nothing else changed.  The cells are extracted from the notebook at test time when
the seed folder is present (``SKYMATCH_SEED`` names it elsewhere) and must then equal
the transcript below, which is what runs when it is absent (so the test runs in every
checkout and cannot drift from the notebook unnoticed).

What does not run, and why:

* Section 1's four cells (MAST query and download, copying files out of
  ``mastDownload/``, header tables with ccdproc): they fetch the real data over the
  network.  :func:`skymatch.demo_data` writes the same files instead: the 18 FLTs with
  the notebook's rootnames and the nine ``ibxl5?030_drz.fits`` visit products, which the
  notebook's headings and DRZ listing name; ``drz.list`` is written from that listing
  (the notebook shows it but makes it by hand).
* In the imports cell, modules used only by cells that do not run or that skymatch does
  not depend on are stand-ins (``unittest.mock.MagicMock``) in ``sys.modules``:
  ``astroquery.mast`` (section 1), ``ccdproc`` (section 1), ``stwcs`` (imported, never
  used), ``bokeh`` (the section-4 plot: its cell runs against the stand-in, which
  records the calls) and ``IPython`` (only when it is not installed).

The data are small (3x3 tiles of 320-px chips, blank sky with stars, noise) so the run
takes seconds; the numbers are checked against the generator's truth: the shift file
against the injected WCS errors, the FLT headers after tweakback against the true WCS,
the section-4 CSV against the true skies, and the four mosaics' sky levels against what
each method should leave.
"""

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import sys
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("tweakwcs")
pytest.importorskip("photutils")
pytest.importorskip("pandas")

from astropy.io import fits
from astropy.wcs import WCS
from conftest import SEED
from test_align import _digest, _errors, _frame_transform

import skymatch

SIZE = 320
NSTARS = 2000  # twice the density of test_align's field (2500 stars for 512-px chips)
MISALIGN = (1.0, 0.02)  # arcsec, degrees (the demo's)
DATA_SEED = 12812

IMPORTS = {
    "import drizzlepac": "from skymatch import drizzlepac",
    "from drizzlepac import tweakreg": "from skymatch.drizzlepac import tweakreg",
    "from drizzlepac import tweakback": "from skymatch.drizzlepac import tweakback",
}
STAND_INS = ("astroquery", "astroquery.mast", "bokeh", "bokeh.plotting", "bokeh.models", "ccdproc", "stwcs")
METHODS = {"localmin": "local", "match": "match", "globalmin_match": "globalmin_match", "globalmin": "globalmin"}

# The notebook's DRZ listing (section 2), in its order: the reference tile first.
DRZ_LIST = ("ibxl54030_drz.fits", "ibxl51030_drz.fits", "ibxl53030_drz.fits", "ibxl55030_drz.fits",
            "ibxl57030_drz.fits", "ibxl50030_drz.fits", "ibxl52030_drz.fits", "ibxl56030_drz.fits",
            "ibxl58030_drz.fits")

# The notebook's code cells of its imports (section '0') and sections 2-5, verbatim.
TRANSCRIPT = (
    ("0", (
        "# All imports needed through out this notebook are included at the beginning. \n"
        "import glob\n"
        "import os\n"
        "import shutil\n"
        "from shutil import copyfile\n"
        "\n"
        "from astropy.io import fits\n"
        "from astroquery.mast import Observations\n"
        "import bokeh.plotting as bpl\n"
        "import bokeh.models as bmo\n"
        "import pandas as pd\n"
        "\n"
        "from ccdproc import ImageFileCollection\n"
        "\n"
        "import drizzlepac\n"
        "from drizzlepac import tweakreg\n"
        "from drizzlepac import tweakback\n"
        "from stwcs import updatewcs \n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "from astropy.visualization import astropy_mpl_style\n"
        "from IPython.display import Image\n"
        "\n"
        "bpl.output_notebook()\n"
    )),
    ("2", (
        "tweakreg.TweakReg('@drz.list', \n"
        "                  imagefindcfg={'threshold':10,'conv_width':4.5,'peakmin':1}, \n"
        "                  minobj=5, \n"
        "                  shiftfile=True, \n"
        "                  expand_refcat=True, \n"
        "                  enforce_user_order=True, \n"
        "                  outshifts='shift4_drc.txt',\n"
        "                  searchrad=3.0,ylimit=0.5, \n"
        "                  updatehdr=True, \n"
        "                  interactive=False)\n"
    )),
    ("2", (
        "tweakback.tweakback('ibxl50030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl51030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl52030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl53030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl54030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl55030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl56030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl57030_drz.fits', verbose=True)\n"
        "tweakback.tweakback('ibxl58030_drz.fits', verbose=True)\n"
    )),
    ("3", (
        "drizzlepac.astrodrizzle.AstroDrizzle('*flt.fits', \n"
        "                                     output='f160w_localmin',\n"
        "                                     preserve=False, \n"
        "                                     skymethod='localmin', \n"
        "                                     driz_separate=False, \n"
        "                                     median=False, \n"
        "                                     blot=False, \n"
        "                                     driz_cr=False, \n"
        "                                     final_bits='64',\n"
        "                                     final_wcs=True, \n"
        "                                     final_rot=257.)\n"
    )),
    ("3", (
        "drizzlepac.astrodrizzle.AstroDrizzle('*flt.fits', \n"
        "                                     output='f160w_match',\n"
        "                                     preserve=False, \n"
        "                                     skymethod='match',\n"
        "                                     driz_separate=False, \n"
        "                                     median=False, \n"
        "                                     blot=False, \n"
        "                                     driz_cr=False, \n"
        "                                     final_bits='64',\n"
        "                                     final_wcs=True, \n"
        "                                     final_rot=257.)\n"
    )),
    ("3", (
        "drizzlepac.astrodrizzle.AstroDrizzle('*flt.fits', \n"
        "                                     output='f160w_globalmin_match',\n"
        "                                     preserve=False, \n"
        "                                     skymethod='globalmin+match',\n"
        "                                     driz_separate=False, \n"
        "                                     median=False, \n"
        "                                     blot=False, \n"
        "                                     driz_cr=False, \n"
        "                                     final_bits='64',\n"
        "                                     final_wcs=True, \n"
        "                                     final_rot=257.)\n"
    )),
    ("3", (
        "drizzlepac.astrodrizzle.AstroDrizzle('*flt.fits', \n"
        "                                     output='f160w_globalmin',     \n"
        "                                     preserve=False, skymethod='globalmin',     \n"
        "                                     driz_separate=False, \n"
        "                                     median=False, \n"
        "                                     blot=False, \n"
        "                                     driz_cr=False, \n"
        "                                     final_bits='64',\n"
        "                                     final_wcs=True, \n"
        "                                     final_rot=257.)\n"
    )),
    ("4", (
        'im = fits.open("f160w_globalmin_drz_sci.fits")\n'
        "rootname = im[1].data['ROOTNAME']\n"
        "asn_id = im[1].data['ASN_ID']\n"
        "orientat = im[1].data['ORIENTAT']\n"
        "mdrizsky = im[1].data['MDRIZSKY']\n"
        'im.close()\n'
        '\n'
        'im = fits.open("f160w_globalmin_match_drz_sci.fits")\n'
        "globalmatchrootname = im[1].data['ROOTNAME']\n"
        "asn_id = im[1].data['ASN_ID']\n"
        "orientat = im[1].data['ORIENTAT']\n"
        "globalmatchmdrizsky = im[1].data['MDRIZSKY']\n"
        'im.close()\n'
        '\n'
        'im = fits.open("f160w_match_drz_sci.fits")\n'
        "matchrootname = im[1].data['ROOTNAME']\n"
        "asn_id = im[1].data['ASN_ID']\n"
        "orientat = im[1].data['ORIENTAT']\n"
        "matchmdrizsky = im[1].data['MDRIZSKY']\n"
        'im.close()\n'
        '\n'
        'im = fits.open("f160w_localmin_drz_sci.fits")\n'
        "localrootname = im[1].data['ROOTNAME']\n"
        "asn_id = im[1].data['ASN_ID']\n"
        "orientat = im[1].data['ORIENTAT']\n"
        "localmdrizsky = im[1].data['MDRIZSKY']\n"
        'im.close()\n'
        '\n'
        'mkdrisky_val = pd.DataFrame(\n'
        "    {'Rootname': rootname,\n"
        "     'globalmin': mdrizsky,\n"
        "     'globalmin_match': globalmatchmdrizsky,\n"
        "     'match': matchmdrizsky,\n"
        "     'local': localmdrizsky})\n"
        '\n'
        "mkdrisky_val['norm_local'] = mkdrisky_val['local']\n"
        "mkdrisky_val['norm_match'] = mkdrisky_val['match']\n"
        "mkdrisky_val['norm_global'] = mkdrisky_val['globalmin']\n"
        "mkdrisky_val['norm_globalminmatch'] = mkdrisky_val['globalmin_match']\n"
        '\n'
        'mkdrisky_val.to_csv("example_mkdrisky_results.csv")\n'
    )),
    ("4", (
        'mkdrisky_val = pd.read_csv("example_mkdrisky_results.csv")\n'
        'source = bpl.ColumnDataSource(mkdrisky_val)\n'
        '\n'
        '# create figure and plot\n'
        'p = bpl.figure(title="MDRIZSKY Values of Different Sky Matching Techniques", y_range=(-0.1, 1.25))\n'
        'p.xaxis.axis_label = "Individual Images"\n'
        'p.yaxis.axis_label = "MDRIZSKY Value"\n'
        'p.scatter(x=\'index\', y=\'globalmin_match\', legend="Globalmin + Match", size=7, '
        'color="magenta", source=source)\n'
        'p.scatter(x=\'index\', y=\'match\', legend="Match", size=7, color="navy", source=source)\n'
        'p.scatter(x=\'index\', y=\'local\', legend="Localmin", size=7, color="olive", source=source)\n'
        'p.scatter(x=\'index\', y=\'globalmin\', legend="Globalmin", size=7,  color="orange", source=source)\n'
        '\n'
        'p.legend.location = "center_left"\n'
        '\n'
        'bpl.show(p)\n'
    )),
    ("5", (
        "sci=fits.getdata('f160w_match_drz_sci.fits')\n"
        "fig=plt.figure(figsize=(14,14))\n"
        "plt.imshow(sci, vmin=-0.4, vmax=3, cmap='Greys_r', origin='lower')\n"
    )),
)


# ------------------------------------------------------------------ the notebook's cells
CELL = "In [None]:"


def _is_heading(lines, k):
    # A markdown heading stands alone between blank lines; a code comment does not.
    return (lines[k].startswith("#") and (k == 0 or not lines[k - 1].strip())
            and (k + 1 >= len(lines) or not lines[k + 1].strip()))


def notebook_cells(text):
    """``(section, code)`` of every code cell of the notebook's markdown export.

    A cell is the text after ``In [None]:`` up to the next cell or heading, less any
    trailing prose paragraph (what does not compile); sections are the ``## N.``
    headings, ``'0'`` before the first.
    """
    lines = text.splitlines()
    section, cells, k = "0", [], 0
    while k < len(lines):
        m = re.match(r"^## (\d+)\. ", lines[k])
        if m:
            section = m.group(1)
        if lines[k].strip() != CELL:
            k += 1
            continue
        body = []
        k += 1
        while k < len(lines) and lines[k].strip() != CELL and not _is_heading(lines, k):
            body.append(lines[k])
            k += 1
        code = "\n".join(body).strip("\n")
        while True:
            try:
                compile(code, "cell", "exec")
                break
            except SyntaxError:
                head, _, _ = code.rstrip().rpartition("\n\n")
                assert head, f"no code in cell:\n{code}"
                code = head.rstrip()
        cells.append((section, code + "\n"))
    return cells


def drz_listing(text):
    """The DRZ files of the notebook's ``drz.list`` listing (section 2), in order."""
    section2 = text.split("## 2. ", 1)[1].split(CELL, 1)[0]
    return tuple(re.findall(r"^\s+(\w+_drz\.fits)\b", section2, re.MULTILINE))


def _seed_notebook():
    folder = Path(os.environ.get("SKYMATCH_SEED", SEED))
    path = folder / "sky_matching_notebook.md"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _cells():
    text = _seed_notebook()
    if text is None:
        return TRANSCRIPT
    return tuple((s, c) for s, c in notebook_cells(text) if s in ("0", "2", "3", "4", "5"))


def _with_skymatch_imports(code):
    """The imports cell with its three DrizzlePac imports replaced (and nothing else)."""
    lines = code.split("\n")
    for old, new in IMPORTS.items():
        assert lines.count(old) == 1, old
        lines[lines.index(old)] = new
    return "\n".join(lines)


def test_the_transcript_is_the_notebook():
    text = _seed_notebook()
    if text is None:
        pytest.skip("the seed notebook is not here (set SKYMATCH_SEED to its folder)")
    cells = notebook_cells(text)
    assert [s for s, _ in cells].count("1") == 4  # section 1: the four MAST cells, not run
    assert tuple((s, c) for s, c in cells if s != "1") == TRANSCRIPT
    assert drz_listing(text) == DRZ_LIST


# ------------------------------------------------------------------ the run
def _stand_ins():
    mods = {name: mock.MagicMock(name=name) for name in STAND_INS}
    mods["bokeh"].plotting = mods["bokeh.plotting"]
    mods["bokeh"].models = mods["bokeh.models"]
    mods["astroquery"].mast = mods["astroquery.mast"]
    if importlib.util.find_spec("IPython") is None:
        # A module, not a MagicMock: matplotlib asks IPython for its shell (None: none) and version.
        ipython = types.ModuleType("IPython")
        ipython.get_ipython = lambda: None
        ipython.version_info = (9, 0)
        ipython.display = mock.MagicMock(name="IPython.display")
        mods["IPython"], mods["IPython.display"] = ipython, ipython.display
    return mods


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """Run sections 2-5 in a copy of synthetic data; return what is needed to check it."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    base = tmp_path_factory.mktemp("notebook")
    orig = base / "original"
    t = skymatch.demo_data(orig, size=SIZE, nstars=NSTARS, nebula=0.0, misalign=MISALIGN, drz=True,
                           seed=DATA_SEED)
    work = base / "work"
    shutil.copytree(orig, work)
    (work / "drz.list").write_text("".join(f"{name}\n" for name in DRZ_LIST), encoding="utf-8")
    truth = json.loads(Path(t.truth_file).read_text(encoding="utf-8"))
    cells = _cells()
    stand_ins = _stand_ins()
    namespace = {"__name__": "__notebook__"}
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        for name, module in stand_ins.items():
            mp.setitem(sys.modules, name, module)
        try:
            with contextlib.redirect_stdout(out):
                for k, (section, cell) in enumerate(cells):
                    code = _with_skymatch_imports(cell) if section == "0" else cell
                    exec(compile(code, f"<notebook section {section}, cell {k}>", "exec"), namespace)
            figure = plt.gcf()
            drawn = [len(ax.images) for ax in figure.axes]
        finally:
            plt.close("all")
    return {"orig": orig, "work": work, "truth": truth, "ns": namespace, "stdout": out.getvalue(),
            "bokeh": stand_ins["bokeh.plotting"], "drawn": drawn, "cells": cells}


def test_every_cell_of_sections_2_to_5_ran(notebook):
    sections = [s for s, _ in notebook["cells"]]
    assert sections == ["0", "2", "2", "3", "3", "3", "3", "4", "4", "5"]
    ns = notebook["ns"]
    assert ns["drizzlepac"].__name__ == "skymatch.drizzlepac"
    assert ns["tweakreg"].__name__ == "skymatch.drizzlepac.tweakreg"
    assert ns["tweakback"].__name__ == "skymatch.drizzlepac.tweakback"


def _shift_rows(work):
    lines = (work / "shift4_drc.txt").read_text(encoding="utf-8").splitlines()
    assert lines[:4] == ["# frame: output", "# refimage: ibxl54030_drz.fits", "# form: delta", "# units: pixels"]
    return [ln.split() for ln in lines[4:]]


def test_section_2_shift_file_undoes_the_injected_misalignment(notebook):
    orig, work, truth = notebook["orig"], notebook["work"], notebook["truth"]
    rows = _shift_rows(work)
    assert [r[0] for r in rows] == list(DRZ_LIST[1:])  # the notebook's order, the reference left out
    for row in rows:
        name, xsh, ysh, rot, scale = row[0], *map(float, row[1:5])
        visit = name[4:6]
        flt = next(orig / f"{r}_flt.fits" for r, e in truth["exposures"].items() if e["visit"] == visit)
        m, s, centre = _frame_transform(str(orig / DRZ_LIST[0]), str(orig / name), str(flt), truth)
        # The truth's correction in reference pixels: TweakReg's rotation convention, the
        # displacement at the product's centre.
        rot_true = np.degrees(np.arctan2(m[0, 1] - m[1, 0], m[0, 0] + m[1, 1]))
        r = np.radians(rot)
        fitted = scale * np.array([[np.cos(r), np.sin(r)], [-np.sin(r), np.cos(r)]]) @ centre + [xsh, ysh]
        assert np.hypot(*(m @ centre + s - centre)) > 1.5, name  # a real error (0.3-1.0 arcsec)
        # Measured: 0.029 px and 6.5e-3 deg at worst (the injected rotations reach 0.02 deg).
        assert np.hypot(*(fitted - (m @ centre + s))) < 0.1, (name, fitted, m @ centre + s)
        assert abs(rot - rot_true) < 0.01, (name, rot, rot_true)
        assert abs(scale - 1.0) < 1e-3, (name, scale)


def test_section_2_tweakback_gives_the_flts_their_true_wcs(notebook):
    orig, work, truth = notebook["orig"], notebook["work"], notebook["truth"]
    before = {n: c for n, _, c, _ in _errors(orig, truth)}
    after = _errors(work, truth)
    assert len(after) == 18
    for name, visit, c, r in after:
        if visit == truth["reference_visit"]:  # the reference tile: untouched
            assert before[name] < 1e-6 and c < 1e-6
            continue
        assert before[name] > 1.5  # misaligned by 0.3-1.0 arcsec
        # Measured: 0.029 px and 6.5e-3 deg at worst.
        assert c < 0.1 and abs(r) < 0.015, (name, before[name], c, r)
        assert fits.getval(work / name, "WCSNAME", 1) == "TWEAK"
    # verbose=True printed what moved, per visit product
    printed = notebook["stdout"]
    for name in DRZ_LIST[1:]:
        assert re.search(rf"^{name}: WCS 'TWEAK' carried back to 2 file\(s\)$", printed, re.MULTILINE), name
    assert re.search(rf"^{DRZ_LIST[0]}\S*: no alignment to propagate .*nothing changed", printed, re.MULTILINE)
    assert _digest(work / DRZ_LIST[0]) == _digest(orig / DRZ_LIST[0])


def test_section_3_writes_what_astrodrizzle_writes(notebook):
    work = notebook["work"]
    for label in METHODS:
        for suffix in ("sci", "wht", "ctx"):
            assert (work / f"f160w_{label}_drz_{suffix}.fits").is_file(), (label, suffix)
        with fits.open(work / f"f160w_{label}_drz_sci.fits") as h:
            assert h[1].name == "HDRTAB" and len(h[1].data) == 18
            assert h[0].header["ORIENTAT"] == pytest.approx(257.0)
            assert h[0].data.dtype.kind == "f" and h[0].data.ndim == 2
    log = (work / "astrodrizzle.log").read_text(encoding="utf-8")
    assert log.count("skymethod") >= 4 and "final_rot" in log and "globalmin+match" in log
    assert "tweakwcs" in (work / "tweakreg.log").read_text(encoding="utf-8")
    # Like AstroDrizzle, each run wrote its MDRIZSKY into the FLTs: the last was globalmin.
    with fits.open(work / "f160w_globalmin_drz_sci.fits") as h:
        tab = h[1].data
        for root, sky in zip(tab["ROOTNAME"], tab["MDRIZSKY"], strict=True):
            assert fits.getval(work / f"{root.strip()}_flt.fits", "MDRIZSKY", 1) == pytest.approx(sky, abs=1e-6)


def _csv(notebook):
    import pandas as pd

    return pd.read_csv(notebook["work"] / "example_mkdrisky_results.csv")


def test_section_4_csv_skies_against_the_truth(notebook):
    df = _csv(notebook)
    truth = notebook["truth"]["exposures"]
    assert list(df.columns) == ["Unnamed: 0", "Rootname", "globalmin", "globalmin_match", "match", "local",
                                "norm_local", "norm_match", "norm_global", "norm_globalminmatch"]
    assert len(df) == 18 and sorted(df["Rootname"]) == sorted(truth)
    t = np.array([truth[r]["sky"] for r in df["Rootname"]])
    local, match = df["local"].to_numpy(), df["match"].to_numpy()
    gmin, gmatch = df["globalmin"].to_numpy(), df["globalmin_match"].to_numpy()
    # Blank sky: localmin is each exposure's true sky (faint stars bias it up a little);
    # measured within 0.001 e-/s (the skies span 0.8-1.4 e-/s).
    assert np.max(np.abs(local - t)) < 0.005, np.abs(local - t)
    # globalmin: one value, the lowest of the exposures' skies.
    assert np.ptp(gmin) == 0 and gmin[0] == pytest.approx(local.min(), abs=1e-6)
    # match: the true sky differences, the lowest made 0; measured rms 0.0003, max 0.0008 e-/s.
    err = (match - match.mean()) - (t - t.mean())
    assert np.sqrt(np.mean(err**2)) < 0.002 and np.max(np.abs(err)) < 0.004, err
    assert match.min() == pytest.approx(0.0, abs=1e-9)
    # globalmin+match: match's differences on globalmin's level: the true skies here.
    assert np.ptp(gmatch - match) < 1e-6
    assert np.max(np.abs(gmatch - t)) < 0.005  # measured 0.0009
    for a, b in (("norm_local", "local"), ("norm_match", "match"), ("norm_global", "globalmin"),
                 ("norm_globalminmatch", "globalmin_match")):
        assert df[a].equals(df[b])


def _visit_levels(path, truth):
    """Median of the mosaic in a 41x41-px box at each visit's centre (both exposures)."""
    with fits.open(path) as h:
        sci, w = h[0].data, WCS(h[0].header)
    out = {}
    for visit in sorted({e["visit"] for e in truth.values()}):
        ra, dec = np.mean([e["crval"] for e in truth.values() if e["visit"] == visit], axis=0)
        x, y = w.all_world2pix([[ra, dec]], 0)[0]
        col, row = round(float(x)), round(float(y))
        out[visit] = float(np.nanmedian(sci[row - 20:row + 21, col - 20:col + 21]))
    return out


def test_section_3_mosaic_sky_levels_against_the_truth(notebook):
    work, truth = notebook["work"], notebook["truth"]["exposures"]
    t_visit = {v: np.mean([e["sky"] for e in truth.values() if e["visit"] == v]) for v in
               {e["visit"] for e in truth.values()}}
    t_min = min(e["sky"] for e in truth.values())
    expected = {  # what each method leaves of visit v's true sky, e-/s
        "localmin": dict.fromkeys(t_visit, 0.0),
        "globalmin": {v: t_visit[v] - t_min for v in t_visit},
        "match": dict.fromkeys(t_visit, t_min),
        "globalmin_match": dict.fromkeys(t_visit, 0.0),
    }
    for label, want in expected.items():
        levels = _visit_levels(work / f"f160w_{label}_drz_sci.fits", truth)
        assert len(levels) == 9
        for v, level in levels.items():
            # Noise ~0.05 e-/s per pixel: a 41x41 median is good to ~0.002, and faint
            # stars raise it a little; measured within 0.0047 e-/s for every method.
            assert level == pytest.approx(want[v], abs=0.01), (label, v, level, want[v])


def test_section_4_plot_and_section_5_display(notebook):
    bpl = notebook["bokeh"]
    source = bpl.ColumnDataSource.call_args.args[0]
    assert source.equals(_csv(notebook))  # the plot cell read the CSV back
    p = bpl.figure.return_value
    assert [c.kwargs["y"] for c in p.scatter.call_args_list] == ["globalmin_match", "match", "local", "globalmin"]
    bpl.show.assert_called_once_with(p)
    sci = notebook["ns"]["sci"]
    assert np.array_equal(sci, fits.getdata(notebook["work"] / "f160w_match_drz_sci.fits"), equal_nan=True)
    assert notebook["drawn"] == [1]  # section 5's imshow drew the mosaic


def test_tweakback_refuses_a_wcsname_that_is_not_the_products(notebook):
    from skymatch.drizzlepac import tweakback

    work = notebook["work"]
    before = _digest(work / "ibxl51eoq_flt.fits")
    with pytest.raises(skymatch.ParameterError, match=r"^wcsname='OTHER': the product's current WCS is 'TWEAK'"):
        tweakback.tweakback(str(work / "ibxl51030_drz.fits"), wcsname="OTHER", force=True)
    assert _digest(work / "ibxl51eoq_flt.fits") == before
