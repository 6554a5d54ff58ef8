"""``skymatch align`` and ``skymatch tweakback``.

Exit status of ``align``: 0 when every image was aligned (or is the reference), 3 when
some image was not aligned (its WCS is unchanged; the others are written).
"""

from __future__ import annotations

import argparse
import math

from .. import api
from ..api import _choices
from ._common import (
    BoolFlag,
    add_common,
    add_log_file,
    api_defaults,
    api_kwargs,
    bits,
    float_or_none,
    int_or_none,
    print_table,
)

__all__ = ["add_align_commands", "report_align", "NOT_ALL_ALIGNED"]

NOT_ALL_ALIGNED = 3


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _cmd_align(a) -> int:
    return report_align(api.align(a.inputs, **api_kwargs(a, api.align)))


def report_align(r) -> int:
    """Print an alignment (table with units, files written); the exit status."""
    rows = [[f.name, f.status, str(f.nsources), str(f.nmatches), _fmt(f.xshift, ".4f"),
             _fmt(f.yshift, ".4f"), _fmt(f.rotation, ".5f"), _fmt(f.scale, ".6f"), _fmt(f.rms_x, ".4f"),
             _fmt(f.rms_y, ".4f")] for f in r.fits]
    print(f"alignment to {r.names[0]} (grouped by {r.grouping})")
    print_table(["image", "status", "nsrc", "nmatch", "xshift[px]", "yshift[px]", "rot[deg]", "scale",
                 "rms_x[px]", "rms_y[px]"], rows)
    print("(shifts and RMS in reference pixels, rotation in degrees)")
    for label, path in (("shift file", r.shiftfile), ("table", r.table_file),
                        ("residuals plot", r.residuals_plot)):
        if path:
            print(f"{label}: {path}")
    if r.updated:
        print(f"updated {len(r.updated)} file(s) with WCSNAME={r.wcsname!r} "
              "(previous solution kept as an alternate WCS)")
    elif any(f.aligned for f in r.fits):
        print("headers not changed (use --update-header to write the corrected WCS)")
    if r.log_file:
        print(f"log: {r.log_file}")
    if r.not_aligned:
        print(f"skymatch: warning: {len(r.not_aligned)} image(s) not aligned, WCS unchanged: "
              + ", ".join(r.not_aligned))
        return NOT_ALL_ALIGNED
    return 0


def _cmd_tweakback(a) -> int:
    for drz in a.drzfile:
        r = api.tweakback(drz, **api_kwargs(a, api.tweakback))
        if r.message:
            print(r.message)
            continue
        for name, c, m, rot in zip(r.chips, r.shift_centre, r.shift_max, r.rotation):
            print(f"{name}: moved {c:.4f} px at the centre (max {m:.4f} px), rotated {rot:.6f} deg")
        if r.dry_run:
            print(f"{drz}: dry run, nothing written")
        else:
            print(f"{drz}: updated {len(r.updated)} file(s) with WCSNAME={r.wcsname!r}")
    if a.log_file is not False:
        print(f"log: {a.log_file or 'skymatch.log'}")
    return 0


def add_align_commands(sub) -> None:
    """Register ``align`` and ``tweakback``."""
    _add_align_command(sub)
    _add_tweakback_command(sub)


def _add_align_command(sub) -> None:
    d = api_defaults(api.align)
    p = sub.add_parser("align",
                       help="align images to the first one (TweakReg on tweakwcs, photutils sources)",
                       description="Align visit-level drizzled files (one correction each) or FLT "
                                   "files (one correction per association) to the first input. "
                                   "Needs: pip install 'skymatch[align]'. Python: skymatch.align(inputs, ...).")
    p.add_argument("inputs", nargs="+",
                   help="files in alignment order (@list keeps its order; first = reference)")
    p.add_argument("--group", choices=_choices.GROUPINGS, default=d["group"],
                   help="one correction per file or per ASN_ID (auto: per file for DRZ/DRC, else per ASN_ID)")
    _add_source_finding(p, d)
    _add_matching_and_fitting(p, d)
    _add_align_output(p, d)
    e = p.add_argument_group("execution")
    e.add_argument("--jobs", type=int_or_none, default=d["jobs"], metavar="N",
                   help="processes for source finding (default: one per core)")
    e.add_argument("--workers", dest="jobs", type=int_or_none, help=argparse.SUPPRESS)  # old name
    add_log_file(p, "skymatch.log in the current directory")
    add_common(p)
    p.set_defaults(func=_cmd_align, api=api.align)


def _add_source_finding(p: argparse.ArgumentParser, d: dict) -> None:
    g = p.add_argument_group("source finding (TweakReg imagefindpars)")
    g.add_argument("--threshold", type=float, default=d["threshold"], metavar="SIGMA",
                   help="detection threshold, sigma")
    g.add_argument("--conv-width", type=float, default=d["conv_width"], metavar="PX",
                   help="FWHM of the detection kernel, pixels")
    g.add_argument("--peakmin", type=float_or_none, default=d["peakmin"], metavar="VALUE",
                   help="minimum source peak above the background")
    g.add_argument("--peakmax", type=float_or_none, default=d["peakmax"], metavar="VALUE",
                   help="maximum source peak above the background")
    g.add_argument("--nbright", type=int_or_none, default=d["nbright"], metavar="N",
                   help="keep only the N brightest sources per chip")
    g.add_argument("--dqbits", type=bits, default=d["dqbits"], metavar="BITS",
                   help="DQ flags counted as good (0: any flag is bad)")


def _add_matching_and_fitting(p: argparse.ArgumentParser, d: dict) -> None:
    m = p.add_argument_group("matching and fitting")
    m.add_argument("--minobj", type=int, default=d["minobj"], metavar="N",
                   help="minimum sources and matched sources per image")
    m.add_argument("--searchrad", type=float, default=d["searchrad"], metavar="ARCSEC",
                   help="search radius, arcsec")
    m.add_argument("--separation", type=float, default=d["separation"], metavar="PX",
                   help="minimum source separation, pixels")
    m.add_argument("--tolerance", type=float, default=d["tolerance"], metavar="PX",
                   help="matching tolerance, pixels")
    m.add_argument("--use2dhist", action=BoolFlag, default=d["use2dhist"],
                   help="find the initial offset from a 2-D histogram")
    m.add_argument("--expand-refcat", action=BoolFlag, default=d["expand_refcat"],
                   help="add each aligned image's sources to the reference catalogue")
    m.add_argument("--enforce-user-order", action=BoolFlag, default=d["enforce_user_order"],
                   help="align in the order given (off: the image overlapping most goes next)")
    m.add_argument("--fitgeometry", choices=_choices.FITGEOMETRIES, default=d["fitgeometry"],
                   help="fit geometry")
    m.add_argument("--nclip", type=int, default=d["nclip"], metavar="N", help="sigma-clipping iterations")
    m.add_argument("--sigma", type=float, default=d["sigma"], metavar="RMS", help="clipping limit, in RMS")
    m.add_argument("--unweighted", action=BoolFlag, default=d["unweighted"],
                   help="equal weights (TweakReg); off: weights from the expected centroid errors")


def _add_align_output(p: argparse.ArgumentParser, d: dict) -> None:
    o = p.add_argument_group("output")
    o.add_argument("--update-header", action=BoolFlag, default=d["update_header"],
                   help="write the corrected WCS (previous one kept as an alternate WCS); all files or none")
    o.add_argument("--wcsname", default=d["wcsname"], help="WCSNAME of the corrected solution")
    o.add_argument("--shiftfile", default=d["shiftfile"], metavar="FILE", help="write TweakReg's shift file")
    o.add_argument("--table", default=d["table"], metavar="FILE", help="write the fit table (.csv or .ecsv)")
    o.add_argument("--residuals-plot", default=d["residuals_plot"], metavar="PNG",
                   help="save the fit residuals plot")
    o.add_argument("--ylimit", type=float_or_none, default=d["ylimit"], metavar="PX",
                   help="y-axis limit of the residuals plot, pixels")


def _add_tweakback_command(sub) -> None:
    d = api_defaults(api.tweakback)
    t = sub.add_parser("tweakback",
                       help="propagate an aligned drizzled product's correction to its input chips",
                       description="DrizzlePac's tweakback. Python: skymatch.tweakback(drzfile, ...).")
    t.add_argument("drzfile", nargs="+", help="aligned drizzled product(s)")
    t.add_argument("--inputs", nargs="+", default=d["inputs"], metavar="FILE",
                   help="its input files (default: those its header lists, beside it)")
    t.add_argument("--old-key", default=d["old_key"], metavar="LETTER",
                   help="alternate WCS key of the solution before alignment (default: SMWCSOLD)")
    t.add_argument("--wcsname", default=d["wcsname"],
                   help="WCSNAME for the inputs (default: the product's)")
    t.add_argument("--force", action=BoolFlag, default=d["force"],
                   help="apply even to inputs whose WCS changed since the product was drizzled")
    t.add_argument("--dry-run", action=BoolFlag, default=d["dry_run"], help="report the changes, write nothing")
    add_log_file(t, "skymatch.log in the current directory")
    add_common(t, progress=False)
    t.set_defaults(func=_cmd_tweakback, api=api.tweakback)
