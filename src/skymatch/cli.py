"""The ``skymatch`` command line.

Exit status: 0 success, 1 a skymatch error (printed as one line), 2 usage error.
This module is the only place that configures logging or prints.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from typing import Sequence

from . import __version__
from .core import SKY_METHODS, SKY_STATISTICS
from .exceptions import SkymatchError, SkymatchWarning

__all__ = ["main"]

log = logging.getLogger("skymatch")


# ---------------------------------------------------------------- helpers
class _Progress:
    """tqdm bars, one per stage, on stderr when it is a terminal (or when forced)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=f"{stage:>12s}", unit="task",
                                          leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _with_progress(a, fn, *args, **kwargs):
    """Call ``fn(*args, progress=bars, **kwargs)`` with progress bars, closed afterwards."""
    progress = _Progress(a.progress)
    try:
        return fn(*args, progress=progress, **kwargs)
    finally:
        progress.close()


def _float_or_none(text: str):
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    return float(text)


def _bits(text: str):
    if text is None or text.strip().lower() in ("", "none"):
        return None
    return text


def _add_sky_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sky statistic (AstroDrizzle names)")
    g.add_argument("--skystat", default="median", choices=SKY_STATISTICS,
                   help="statistic of the sky (default: median)")
    g.add_argument("--skywidth", type=float, default=0.1, help="histogram bin width in sigma (mode, midpt)")
    g.add_argument("--skylower", type=_float_or_none, default=None, help="lowest usable value (data units)")
    g.add_argument("--skyupper", type=_float_or_none, default=None, help="highest usable value (data units)")
    g.add_argument("--skyclip", type=int, default=5, help="number of clipping iterations (default 5)")
    g.add_argument("--skylsigma", type=float, default=4.0, help="lower clipping limit in sigma")
    g.add_argument("--skyusigma", type=float, default=4.0, help="upper clipping limit in sigma")
    g.add_argument("--sky-bits", type=_bits, default="0", metavar="BITS",
                   help="DQ flags counted as good: '0', '64', '4+8', '~4+8' or 'none' (default 0)")
    g.add_argument("--use-static", dest="use_static", action=argparse.BooleanOptionalAction,
                   default=None, help="use AstroDrizzle's static mask (default: on with --compat)")
    g.add_argument("--no-match-down", dest="match_down", action="store_false",
                   help="match: make the highest relative sky 0 instead of the lowest")
    g.add_argument("--allow-empty", action="store_true",
                   help="chips with no usable pixel get sky 0 (flagged) instead of an error")
    g.add_argument("--compat", choices=["drizzlepac"], default=None,
                   help="reproduce AstroDrizzle's numbers (quirks included)")
    g.add_argument("--jobs", type=int, default=None,
                   help="run statistics in N processes (default: threads, one per core)")
    g.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run statistics on a dask.distributed scheduler at ADDRESS")


def _add_drizzle_options(p: argparse.ArgumentParser) -> None:
    from .core._drizzle import DRIZZLE_KERNELS

    g = p.add_argument_group("final drizzle (AstroDrizzle names)")
    g.add_argument("--final-bits", type=_bits, default="0", metavar="BITS",
                   help="DQ flags counted as good in the drizzle (notebook: 64)")
    g.add_argument("--final-kernel", default="square", choices=DRIZZLE_KERNELS)
    g.add_argument("--final-pixfrac", type=float, default=1.0)
    g.add_argument("--final-fillval", type=_float_or_none, default=None,
                   help="value of output pixels with no data (default NaN)")
    g.add_argument("--final-units", choices=["cps", "counts"], default="cps")
    g.add_argument("--stepsize", type=int, default=10,
                   help="pixel map exact every N pixels and interpolated (1: exact everywhere)")
    g.add_argument("--final-wcs", action="store_true", help="use the final_* frame parameters")
    g.add_argument("--final-rot", type=float, default=None, help="orientation of the output (deg)")
    g.add_argument("--final-scale", type=float, default=None, help="output pixel scale (arcsec)")
    g.add_argument("--final-ra", type=float, default=None)
    g.add_argument("--final-dec", type=float, default=None)
    g.add_argument("--final-outnx", type=int, default=None)
    g.add_argument("--final-outny", type=int, default=None)
    g.add_argument("--final-refimage", default=None, help="FITS image whose WCS is the output frame")
    g.add_argument("--build", action="store_true", help="one multi-extension NAME_drz.fits")
    g.add_argument("--overwrite", action="store_true", help="replace existing products")
    cr = p.add_argument_group("cosmic-ray rejection (not supported: must be off)")
    for name in ("driz-separate", "median", "blot", "driz-cr"):
        cr.add_argument(f"--{name}", type=_yes_no, default=False, metavar="BOOL",
                        help="only 'false' is accepted for now")


def _yes_no(text: str) -> bool:
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "y", "t", "on"):
        return True
    if t in ("0", "false", "no", "n", "f", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _drizzle_kwargs(a) -> tuple[dict, object]:
    from .exceptions import ParameterError
    from .pipeline import FrameOptions

    for name in ("driz_separate", "median", "blot", "driz_cr"):
        if getattr(a, name):
            raise ParameterError(
                f"--{name.replace('_', '-')} true: cosmic-ray rejection is not supported by skymatch "
                "yet; use inputs already cleaned of cosmic rays (WFC3/IR FLTs are) and set it false")
    params = dict(kernel=a.final_kernel, pixfrac=a.final_pixfrac, fillval=a.final_fillval,
                  units=a.final_units, bits=a.final_bits, stepsize=a.stepsize)
    frame = FrameOptions(final_wcs=a.final_wcs, rot=a.final_rot, scale=a.final_scale, ra=a.final_ra,
                         dec=a.final_dec, outnx=a.final_outnx, outny=a.final_outny,
                         refimage=a.final_refimage)
    return params, frame


def _sky_kwargs(a) -> dict:
    return dict(skystat=a.skystat, binwidth=a.skywidth, lower=a.skylower, upper=a.skyupper,
                nclip=a.skyclip, lsigma=a.skylsigma, usigma=a.skyusigma, sky_bits=a.sky_bits,
                use_static=a.use_static, match_down=a.match_down,
                on_empty="warn" if a.allow_empty else "error")


def _format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


# ---------------------------------------------------------------- commands
def _cmd_sky(a) -> int:
    from .pipeline import run_sky

    run = _with_progress(a, run_sky, a.inputs, method=a.skymethod, compat=a.compat,
                         readonly=a.readonly, subtract=a.subtract, skyfile=a.skyfile,
                         skyuser=a.skyuser, table=a.table, jobs=a.jobs, dask=a.dask,
                         **_sky_kwargs(a))
    res = run.result
    rows = []
    for c, cs in zip(run.chips, res.chips):
        path = c.source[0] if c.source else c.name
        ext = cs.name[cs.name.rfind("["):] if "[" in cs.name else ""
        rows.append([os.path.basename(path), ext, str(c.meta.get("ROOTNAME", "")),
                     f"{cs.sky:.8g}", "yes" if cs.valid else "NO", cs.how])
    print(_format_table(["file", "ext", "exposure", "MDRIZSKY", "valid", "how"], rows))
    units = sorted({c.units or "?" for c in run.chips})
    print(f"\n{len(run.chips)} chips, method {res.method}"
          f"{' (compat ' + a.compat + ')' if a.compat else ''}; MDRIZSKY in data units ({', '.join(units)})")
    if res.components and len([c for c in res.components if len(c) > 1]) > 1:
        print(f"warning: {len(res.components)} disconnected groups of exposures")
    if run.written:
        print(f"MDRIZSKY written to {len(run.written)} file(s)")
    elif not a.readonly:
        print("nothing written")
    else:
        print("read-only: no file changed")
    if a.table:
        print(f"table: {a.table}")
    log.info("timings: %s", ", ".join(f"{k} {v:.2f}s" for k, v in run.timings.items()))
    return 0


def _print_products(run) -> None:
    for label, paths in run.products.items():
        print(f"{label}: " + ", ".join(paths))


def _cmd_drizzle(a) -> int:
    from .pipeline import run_drizzle

    params, frame = _drizzle_kwargs(a)
    run = _with_progress(a, run_drizzle, a.inputs, a.output, frame=frame, skysub=not a.no_skysub,
                         use_static=bool(a.use_static), build=a.build, overwrite=a.overwrite,
                         **params)
    fr = run.frame
    print(f"drizzled {len(run.chips)} chips onto {fr.shape[1]} x {fr.shape[0]} px "
          f"({fr.pixel_scale_arcsec:.4f}\"/px) in {run.timings['total']:.2f} s")
    _print_products(run)
    return 0


def _cmd_run(a) -> int:
    from .pipeline import run

    params, frame = _drizzle_kwargs(a)
    r = _with_progress(a, run, a.inputs, a.output, method=a.skymethod, compat=a.compat,
                       readonly=a.readonly, frame=frame, build=a.build, overwrite=a.overwrite,
                       jobs=a.jobs, dask=a.dask, drizzle=params, **_sky_kwargs(a))
    res = r.sky.result
    rows = [[cs.name, f"{cs.sky:.8g}", "yes" if cs.valid else "NO", cs.how] for cs in res.chips]
    print(_format_table(["chip", "MDRIZSKY", "valid", "how"], rows))
    print(f"\nsky ({res.method}) and drizzle in {r.timings['total']:.2f} s; "
          f"{'inputs unchanged (read-only)' if a.readonly else 'MDRIZSKY written to the inputs'}")
    _print_products(r)
    return 0


def _cmd_compare(a) -> int:
    from .pipeline import run_compare

    params, frame = _drizzle_kwargs(a)
    r = _with_progress(a, run_compare, a.inputs, a.outdir, methods=a.methods, compat=a.compat,
                       prefix=a.prefix, frame=frame, build=a.build, overwrite=a.overwrite,
                       jobs=a.jobs, dask=a.dask, drizzle=params, pictures=not a.no_pictures,
                       **_sky_kwargs(a))
    _report_compare(r, a.outdir)
    return 0


def _report_compare(r, outdir: str) -> None:
    print("\n".join(r.table.pformat(max_lines=-1, max_width=-1)))
    print(f"\n{len(r.sky.results)} sky methods and mosaics for {len(r.chips)} chips in "
          f"{r.timings['total']:.2f} s (" + ", ".join(f"{k} {v:.2f} s" for k, v in r.timings.items()
                                                    if k != "total") + ")")
    print(f"table:   {r.extras['csv']}")
    for key, label in (("plot", "plot"), ("gif", "GIF"), ("html", "page")):
        if key in r.extras:
            print(f"{label + ':':8s} {r.extras[key]}")
    print(f"mosaics: {os.path.join(outdir, '*_drz_sci.fits')}")


def _cmd_summary(a) -> int:
    from .io import expand_inputs, header_summary, write_table

    t = header_summary([s.path for s in expand_inputs(a.inputs)])
    print("\n".join(t.pformat(max_lines=-1, max_width=-1)))
    if a.table:
        write_table(t, a.table)
        print(f"table: {a.table}")
    return 0


def _cmd_fetch(a) -> int:
    from .io._mast import fetch_products, plan_fetch

    products = [p for p in a.products.split(",") if p.strip()]
    plan = plan_fetch(proposal=a.proposal, filters=a.filter, products=products, outdir=a.outdir)
    print(f"MAST: {plan.n_files} file(s) to download, {plan.total_bytes / 1e6:.1f} MB"
          f"{f'; {len(plan.skipped)} already present and complete' if plan.skipped else ''}")
    for r in plan.products:
        print(f"  {r['productFilename']}  {r['productSubGroupDescription']}  {int(r['size']) / 1e6:.1f} MB")
    if a.dry_run or plan.n_files == 0:
        return 0
    res = _with_progress(a, fetch_products, plan, a.outdir)
    print(f"wrote {len(res.written)} file(s) to {a.outdir}")
    if res.failed:
        print(f"skymatch: error: {len(res.failed)} download(s) failed: {', '.join(res.failed)}; run again",
              file=sys.stderr)
        return 1
    return 0


def _cmd_demo_data(a) -> int:
    from .datasets import make_mosaic

    t0 = time.perf_counter()
    truth = make_mosaic(a.outdir, tiles=tuple(a.tiles), size=a.size, seed=a.seed,
                        gradient=a.gradient, nebula=a.nebula, nstars=a.nstars,
                        misalign=tuple(a.misalign) if a.misalign else None, overwrite=a.overwrite)
    if a.drz:
        from .datasets import make_visit_drz

        drz = make_visit_drz(truth.paths, a.outdir, overwrite=a.overwrite)
        print(f"wrote {len(drz)} visit-level drizzled products (*_drz.fits)")
    print(f"wrote {len(truth.paths)} exposures to {a.outdir} in {time.perf_counter() - t0:.1f} s")
    print(f"truth: {truth.truth_file}")
    return 0


def _cmd_demo(a) -> int:
    import glob
    import json

    import numpy as np

    from .datasets import make_mosaic
    from .io import header_summary
    from .pipeline import FrameOptions, run_compare

    data = os.path.join(a.outdir, "data")
    files = sorted(glob.glob(os.path.join(data, "*_flt.fits")))
    if not files:
        print(f"building the demo mosaic in {data} ...")
        make_mosaic(data, size=a.size, seed=a.seed)
        files = sorted(glob.glob(os.path.join(data, "*_flt.fits")))
    print("\n".join(header_summary(files).pformat(max_lines=-1, max_width=-1)))
    print("\ncomparing the four sky methods (the notebook's AstroDrizzle calls: final_bits=64, "
          "final_wcs, final_rot=257) ...\n")
    out = os.path.join(a.outdir, "compare")
    r = _with_progress(a, run_compare, os.path.join(data, "*_flt.fits"), out,
                       frame=FrameOptions(final_wcs=True, rot=257.0), drizzle=dict(bits="64"),
                       overwrite=True)
    _report_compare(r, out)
    truth_file = os.path.join(data, "truth.json")
    if os.path.exists(truth_file):
        with open(truth_file, encoding="utf-8") as fh:
            true = json.load(fh)["exposures"]
        t = np.array([true[str(x)]["sky"] for x in r.table["Rootname"]])
        m = np.asarray(r.table["match"], dtype=float)
        err = (m - m.mean()) - (t - t.mean())
        print(f"\nmatch vs the true sky differences: rms {np.sqrt(np.mean(err ** 2)):.4f}, "
              f"max {np.max(np.abs(err)):.4f} e-/s")
    return 0


# ---------------------------------------------------------------- parser
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="skymatch",
        description="Match the sky background of overlapping exposures (AstroDrizzle's skymethod).")
    p.add_argument("--version", action="version", version=f"skymatch {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("sky", help="compute the sky of every input and write MDRIZSKY",
                       description="Compute each exposure's sky and write MDRIZSKY into the SCI headers.")
    s.add_argument("inputs", nargs="+", help="files, globs ('*flt.fits'), comma lists or @list files")
    s.add_argument("--skymethod", default="match",
                   help=f"one of {', '.join(SKY_METHODS)} (JWST names local, global, global+match too)")
    s.add_argument("--skyfile", default=None, help="user sky values: 'filename sky [sky2 ...]' lines")
    s.add_argument("--skyuser", default=None, metavar="KEYWORD",
                   help="header keyword holding a sky the user already subtracted")
    s.add_argument("--readonly", action="store_true", help="compute and report; change no file")
    s.add_argument("--subtract", action="store_true", help="also subtract the sky from the pixel data")
    s.add_argument("--table", default=None, metavar="FILE", help="write a .csv or .ecsv table of the results")
    _add_sky_options(s)
    s.set_defaults(func=_cmd_sky)

    dz = sub.add_parser("drizzle", help="drizzle inputs (sky from their MDRIZSKY) into one mosaic")
    dz.add_argument("inputs", nargs="+")
    dz.add_argument("--output", required=True, help="output name (NAME_drz_sci.fits ...)")
    dz.add_argument("--no-skysub", action="store_true", help="do not subtract MDRIZSKY")
    dz.add_argument("--use-static", action="store_true", help="zero weights in the static mask")
    _add_drizzle_options(dz)
    dz.set_defaults(func=_cmd_drizzle)

    r = sub.add_parser("run", help="AstroDrizzle one-shot without CR rejection: sky, then drizzle",
                       description="Compute the sky (writing MDRIZSKY) and drizzle the mosaic, as "
                                   "AstroDrizzle('*flt.fits', output=..., skymethod=...) does.")
    r.add_argument("inputs", nargs="+")
    r.add_argument("--output", required=True)
    r.add_argument("--skymethod", default="localmin")
    r.add_argument("--readonly", action="store_true", help="do not write MDRIZSKY into the inputs")
    _add_sky_options(r)
    _add_drizzle_options(r)
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("compare", help="all sky methods, one mosaic each, table, CSV, plots, GIF, page")
    c.add_argument("inputs", nargs="+")
    c.add_argument("--outdir", required=True)
    c.add_argument("--methods", nargs="+", default=list(SKY_METHODS))
    c.add_argument("--prefix", default=None, help="product name prefix (default: the filter, e.g. f160w)")
    c.add_argument("--no-pictures", action="store_true")
    _add_sky_options(c)
    _add_drizzle_options(c)
    c.set_defaults(func=_cmd_compare)

    sm = sub.add_parser("summary", help="header summary of inputs (the notebook's ImageFileCollection table)")
    sm.add_argument("inputs", nargs="+")
    sm.add_argument("--table", default=None, help="also save as .csv or .ecsv")
    sm.set_defaults(func=_cmd_summary)

    f = sub.add_parser("fetch", help="download HST products from MAST (needs astroquery)")
    f.add_argument("--proposal", required=True, help="HST proposal id, e.g. 12812")
    f.add_argument("--filter", nargs="+", required=True, help="filter(s), e.g. F160W")
    f.add_argument("--products", default="FLT,DRZ", help="product types, comma-separated (default FLT,DRZ)")
    f.add_argument("--outdir", default=".")
    f.add_argument("--dry-run", action="store_true", help="list what would be downloaded")
    f.set_defaults(func=_cmd_fetch)

    from .cli_align import add_align_commands

    add_align_commands(sub)

    d = sub.add_parser("demo-data", help="write the synthetic demo mosaic (known sky)")
    d.add_argument("outdir")
    d.add_argument("--tiles", type=int, nargs=2, default=[3, 3], metavar=("NX", "NY"))
    d.add_argument("--size", type=int, default=1014, help="chip size in pixels (default 1014)")
    d.add_argument("--seed", type=int, default=12812)
    d.add_argument("--gradient", type=float, default=0.0, help="max sky gradient across a chip (e-/s)")
    d.add_argument("--nebula", type=float, default=1.0, help="nebula brightness scale")
    d.add_argument("--nstars", type=int, default=None, help="number of stars (default scales with area)")
    d.add_argument("--misalign", type=float, nargs=2, default=None, metavar=("ARCSEC", "DEG"),
                   help="give every visit but the reference a known WCS error up to this shift and rotation")
    d.add_argument("--drz", action="store_true", help="also write visit-level <asn>_drz.fits products")
    d.add_argument("--overwrite", action="store_true")
    d.set_defaults(func=_cmd_demo_data)

    m = sub.add_parser("demo", help="build the demo mosaic, summarise it and compare the four sky methods")
    m.add_argument("--outdir", default="demo")
    m.add_argument("--size", type=int, default=1014)
    m.add_argument("--seed", type=int, default=12812)
    m.set_defaults(func=_cmd_demo)
    return p


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("skymatch: %(levelname)s: %(message)s"))
    root = logging.getLogger("skymatch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    kind = "warning" if issubclass(category, SkymatchWarning) else category.__name__
    print(f"skymatch: {kind}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    with warnings.catch_warnings():
        # skymatch's own warnings are reported as one line each, never raised.
        warnings.simplefilter("always", SkymatchWarning)
        warnings.showwarning = _show_warning
        try:
            return int(args.func(args) or 0)
        except SkymatchError as exc:
            print(f"skymatch: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("skymatch: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
