"""``skymatch align`` and ``skymatch tweakback`` (registered by :mod:`skymatch.cli`).

Exit status of ``align``: 0 when every image was aligned (or is the reference),
3 when some image was not aligned (its WCS is unchanged; the others are written).
"""

from __future__ import annotations

import math

__all__ = ["add_align_commands"]

NOT_ALL_ALIGNED = 3


def _fmt(v: float, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _need_align_extra() -> None:
    from .exceptions import SkymatchError

    try:
        import photutils  # noqa: F401
        import tweakwcs  # noqa: F401
    except ImportError as exc:
        raise SkymatchError(f"alignment needs photutils and tweakwcs ({exc.name} is missing); "
                            "install them with: pip install 'skymatch[align]'") from None


def _cmd_align(a) -> int:
    _need_align_extra()
    from .alignment import align, write_shiftfile
    from .cli import _format_table, _with_progress
    from .core._align import AlignParams
    from .core._sources import SourceFindParams

    find = SourceFindParams(threshold=a.threshold, conv_width=a.conv_width, peakmin=a.peakmin,
                            peakmax=a.peakmax, nbright=a.nbright)
    params = AlignParams(minobj=a.minobj, searchrad=a.searchrad, separation=a.separation,
                         tolerance=a.tolerance, use2dhist=a.use2dhist, expand_refcat=a.expand_refcat,
                         enforce_user_order=a.enforce_user_order, fitgeometry=a.fitgeometry,
                         nclip=a.nclip, sigma=a.sigma, weighted=not a.unweighted)
    r = _with_progress(a, align, a.inputs, find=find, params=params, group=a.group, dqbits=a.dqbits,
                       update_header=a.update_header, wcsname=a.wcsname, jobs=a.workers)
    rows = [[f.name, f.status, str(f.nsources), str(f.nmatches), _fmt(f.xshift, ".4f"),
             _fmt(f.yshift, ".4f"), _fmt(f.rotation, ".5f"), _fmt(f.scale, ".6f"), _fmt(f.rms_x, ".4f"),
             _fmt(f.rms_y, ".4f")] for f in r.fits]
    print(f"alignment to {r.names[0]} (grouped by {r.grouping}; shifts and RMS in reference pixels, "
          "rotation in degrees)")
    print(_format_table(["image", "status", "nsrc", "nmatch", "xshift", "yshift", "rot", "scale",
                         "rms_x", "rms_y"], rows))
    if a.shiftfile:
        write_shiftfile(r, a.shiftfile)
        print(f"shift file: {a.shiftfile}")
    if a.table:
        from .io._tables import write_table

        write_table(r.table(), a.table)
        print(f"table: {a.table}")
    if a.residuals_plot:
        from .plotting import plot_alignment_residuals

        plot_alignment_residuals(r, a.residuals_plot, ylimit=a.ylimit)
        print(f"residuals plot: {a.residuals_plot}")
    if a.update_header:
        print(f"updated {len(r.updated)} file(s) with WCSNAME={r.wcsname!r} "
              "(previous solution kept as an alternate WCS)")
    elif any(f.aligned for f in r.fits):
        print("headers not changed (use --update-header to write the corrected WCS)")
    failed = [f for f in r.fits if not (f.aligned or f.reference)]
    if failed:
        print(f"skymatch: warning: {len(failed)} image(s) not aligned, WCS unchanged: "
              + ", ".join(f.name for f in failed))
        return NOT_ALL_ALIGNED
    return 0


def _cmd_tweakback(a) -> int:
    from .alignment import tweakback

    for drz in a.drzfile:
        r = tweakback(drz, inputs=a.inputs or None, old_key=a.old_key, wcsname=a.wcsname,
                      force=a.force, write=not a.dry_run)
        if r.message:
            print(r.message)
            continue
        for name, c, m, rot in zip(r.chips, r.shift_centre, r.shift_max, r.rotation):
            print(f"{name}: moved {c:.4f} px at the centre (max {m:.4f} px), rotated {rot:.6f} deg")
        if a.dry_run:
            print(f"{drz}: dry run, nothing written")
        else:
            print(f"{drz}: updated {len(r.updated)} file(s) with WCSNAME={r.wcsname!r}")
    return 0


def add_align_commands(sub) -> None:
    """Register ``align`` and ``tweakback`` on the ``skymatch`` subparsers."""
    from .alignment import GROUPINGS
    from .cli import _bits, _float_or_none
    from .core._align import FITGEOMETRIES

    p = sub.add_parser("align",
                       help="align images to the first one (TweakReg on tweakwcs, photutils sources)",
                       description="Align visit-level drizzled files (one correction each) or FLT "
                                   "files (one correction per association) to the first input.")
    p.add_argument("inputs", nargs="+", help="files in alignment order (@list keeps its order; first = reference)")
    p.add_argument("--group", choices=GROUPINGS, default="auto",
                   help="one correction per file or per ASN_ID (auto: per file for DRZ/DRC, else per ASN_ID)")
    g = p.add_argument_group("source finding (TweakReg imagefindpars)")
    g.add_argument("--threshold", type=float, default=4.0, help="detection threshold in sigma (4)")
    g.add_argument("--conv-width", type=float, default=3.5, help="FWHM of the detection kernel, px (3.5)")
    g.add_argument("--peakmin", type=_float_or_none, default=None, help="minimum source peak above background")
    g.add_argument("--peakmax", type=_float_or_none, default=None, help="maximum source peak above background")
    g.add_argument("--nbright", type=int, default=None, help="keep only the N brightest sources per chip")
    g.add_argument("--dqbits", type=_bits, default=0, help="DQ flags counted as good (0: any flag is bad)")
    m = p.add_argument_group("matching and fitting")
    m.add_argument("--minobj", type=int, default=15, help="minimum sources and matched sources per image (15)")
    m.add_argument("--searchrad", type=float, default=1.0, help="search radius, arcsec (1.0)")
    m.add_argument("--separation", type=float, default=0.5, help="minimum source separation, px (0.5)")
    m.add_argument("--tolerance", type=float, default=1.0, help="matching tolerance, px (1.0)")
    m.add_argument("--no-use2dhist", dest="use2dhist", action="store_false",
                   help="do not find the initial offset from a 2-D histogram")
    m.add_argument("--expand-refcat", action="store_true",
                   help="add each aligned image's sources to the reference catalogue")
    m.add_argument("--enforce-user-order", dest="enforce_user_order", action="store_true", default=True,
                   help="align in the order given (default)")
    m.add_argument("--no-enforce-user-order", dest="enforce_user_order", action="store_false",
                   help="align the image with the largest overlap next")
    m.add_argument("--fitgeometry", choices=FITGEOMETRIES, default="rscale", help="fit geometry (rscale)")
    m.add_argument("--nclip", type=int, default=3, help="sigma-clipping iterations (3)")
    m.add_argument("--sigma", type=float, default=3.0, help="clipping limit in RMS (3.0)")
    m.add_argument("--unweighted", action="store_true",
                   help="equal weights (TweakReg); default weights sources by expected centroid error")
    o = p.add_argument_group("output")
    o.add_argument("--update-header", action="store_true",
                   help="write the corrected WCS (previous one kept as an alternate WCS); all files or none")
    o.add_argument("--wcsname", default="TWEAK", help="WCSNAME of the corrected solution (TWEAK)")
    o.add_argument("--shiftfile", metavar="FILE", help="write TweakReg's shift file")
    o.add_argument("--table", metavar="FILE", help="write the fit table (.csv or .ecsv)")
    o.add_argument("--residuals-plot", metavar="PNG", help="plot the fit residuals")
    o.add_argument("--ylimit", type=float, default=None, help="y-axis limit of the residuals plot, px")
    o.add_argument("--workers", type=int, default=None, help="processes for source finding (CPU count)")
    p.set_defaults(func=_cmd_align)

    t = sub.add_parser("tweakback",
                       help="propagate an aligned drizzled product's correction to its input chips")
    t.add_argument("drzfile", nargs="+", help="aligned drizzled product(s)")
    t.add_argument("--inputs", nargs="+", help="its input files (default: those its header lists, beside it)")
    t.add_argument("--old-key", help="alternate WCS key of the solution before alignment (default: SMWCSOLD)")
    t.add_argument("--wcsname", help="WCSNAME for the inputs (default: the product's)")
    t.add_argument("--force", action="store_true",
                   help="apply even to inputs whose WCS changed since the product was drizzled")
    t.add_argument("--dry-run", action="store_true", help="report the changes, write nothing")
    t.set_defaults(func=_cmd_tweakback)
