"""``skymatch demo`` (what ``make demo`` runs): the notebook's whole path on synthetic data.

Misaligned visits with visit-level DRZ products -> header summary -> ``align`` (the
notebook's TweakReg parameters and tile order) -> ``tweakback`` -> ``compare`` (the
notebook's AstroDrizzle parameters), printing where each result is and how close the
results are to the known truth.  The pristine data are made once in ``OUTDIR/data``;
each demo works on a fresh copy in ``OUTDIR/work``.
"""

from __future__ import annotations

import os
import time

from .. import api
from ._common import add_common, print_lines

__all__ = ["add_demo_command"]


def _step(n: int, text: str, t0: float) -> None:
    print(f"\n== {n}. {text}  [{time.perf_counter() - t0:.0f} s]")


def _have_align_extra() -> bool:
    try:
        import photutils  # noqa: F401
        import tweakwcs  # noqa: F401
    except ImportError:
        return False
    return True


def _wcs_line(label: str, errors: dict) -> str:
    centre = max(c for c, _ in errors.values())
    worst = max(m for _, m in errors.values())
    return (f"{label}: every exposure within {centre:.3f} px of its true WCS at the chip centre "
            f"({worst:.3f} px anywhere on the chip)")


def _cmd_demo(a) -> int:
    from ..api._demo import MISALIGN, prepare_demo

    t0 = time.perf_counter()
    _step(1, "data: 9 visits x 2 WFC3/IR-like exposures with known skies and known WCS errors "
             f"(up to {MISALIGN[0]:g} arcsec, {MISALIGN[1]:g} deg), and visit-level DRZ products", t0)
    folders = prepare_demo(a.outdir, size=a.size, seed=a.seed)
    print(f"pristine data: {folders.data}; this demo works on a copy: {folders.work}")
    print_lines(api.summary(folders.flts).to_table())
    log_file = os.path.join(folders.work, "skymatch.log")
    if _have_align_extra():
        _demo_align(folders, log_file, a.progress, t0)
    else:
        _step(2, "align and tweakback skipped: they need pip install 'skymatch[align]' "
                 "(make demo installs it)", t0)
    c = _demo_compare(folders, os.path.join(a.outdir, "compare"), a.progress, t0)
    print(f"\ndemo done in {time.perf_counter() - t0:.0f} s. Where everything is:")
    print(f"  data (pristine):   {folders.data}  (truth: {folders.truth_file})")
    if _have_align_extra():
        print(f"  aligned copy:      {folders.work}  (shift file shift4_drc.txt, align_fits.csv, "
              "align_residuals.png)")
    print(f"  mosaics and page:  {c.outdir}  (open {c.extras.get('html', 'index.html')})")
    print(f"  log:               {log_file} and {c.log_file}")
    return 0


def _demo_align(folders, log_file: str, progress, t0: float) -> None:
    """Steps 2 and 3: align the DRZ files as the notebook does, then tweakback."""
    from ..api._demo import NOTEBOOK_ALIGN, NOTEBOOK_ALIGN_ORDER, demo_wcs_errors
    from ._align import report_align

    work, drz_list = folders.work, folders.drz_list
    _step(2, f"align the DRZ files in the notebook's order ({drz_list}) with its TweakReg parameters", t0)
    r = api.align("@" + drz_list, **dict(NOTEBOOK_ALIGN), shiftfile=os.path.join(work, "shift4_drc.txt"),
                  table=os.path.join(work, "align_fits.csv"),
                  residuals_plot=os.path.join(work, "align_residuals.png"), log_file=log_file,
                  progress=progress)
    report_align(r)
    _step(3, "tweakback: carry each visit's correction back to its FLT files", t0)
    for v in sorted(NOTEBOOK_ALIGN_ORDER):
        tb = api.tweakback(os.path.join(work, f"ibxl{v}030_drz.fits"), log_file=log_file)
        print(tb.message or f"{os.path.basename(tb.drz)}: {len(tb.updated)} file(s) updated, moved up to "
              f"{max(tb.shift_max):.3f} px")
    before = demo_wcs_errors(folders, work=False)
    after = demo_wcs_errors(folders, work=True)
    print(_wcs_line("before alignment", before))
    print(_wcs_line("after align + tweakback", after))


def _demo_compare(folders, out: str, progress, t0: float):
    """Step 4: the four sky methods with the notebook's drizzle parameters, against the truth."""
    from ..api._demo import NOTEBOOK_DRIZZLE, demo_sky_errors
    from ._sky import report_compare

    _step(4, "compare the four sky methods, one mosaic each (the notebook's AstroDrizzle calls: "
             "final_bits=64, final_wcs, final_rot=257)", t0)
    c = api.compare(folders.flts, outdir=out, **dict(NOTEBOOK_DRIZZLE), overwrite=True, progress=progress)
    report_compare(c)
    errors = demo_sky_errors(c.to_table(), folders)
    if "match" in errors:
        e = errors["match"]
        print(f"\nmatch vs the true sky differences between exposures: rms {e['rms']:.4f}, "
              f"max {e['max']:.4f} e-/s")
    return c


def add_demo_command(sub) -> None:
    """Register ``demo``."""
    m = sub.add_parser("demo", help="the notebook's whole path on synthetic data (what make demo runs)",
                       description=__doc__)
    m.add_argument("--outdir", default="demo", metavar="DIR", help="where to work")
    m.add_argument("--size", type=int, default=1014, metavar="PX", help="chip size of the synthetic data")
    m.add_argument("--seed", type=int, default=12812, help="random seed of the synthetic data")
    add_common(m)
    m.set_defaults(func=_cmd_demo)
