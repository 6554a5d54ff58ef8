"""``skymatch sky``, ``drizzle``, ``run`` and ``compare``: options and printing.

Each option's ``dest`` is the keyword of the public function of the same name, and
each command calls that function with them (:func:`~._common.api_kwargs`).
"""

from __future__ import annotations

import argparse
import math
import os

from .. import api
from ..api import _choices
from ._common import (
    BoolFlag,
    add_common,
    add_execution,
    add_log_file,
    api_defaults,
    api_kwargs,
    bits,
    float_or_none,
    int_or_none,
    print_lines,
    print_table,
)

__all__ = ["add_sky_commands"]

_METHOD_HELP = (f"sky method: {', '.join(_choices.SKY_METHODS)} (JWST names "
                f"{', '.join(_choices.METHOD_ALIASES)} too); sky and run share one default")


# ---------------------------------------------------------------- option groups
def _add_sky_options(p: argparse.ArgumentParser, d: dict) -> None:
    g = p.add_argument_group("sky statistic (AstroDrizzle names)")
    g.add_argument("--skystat", default=d["skystat"], choices=_choices.SKY_STATISTICS,
                   help="statistic of the sky")
    g.add_argument("--skywidth", type=float, default=d["skywidth"], metavar="SIGMA",
                   help="histogram bin width in sigma (mode, midpt)")
    g.add_argument("--skylower", type=float_or_none, default=d["skylower"], metavar="VALUE",
                   help="lowest usable pixel value, data units; none: no limit")
    g.add_argument("--skyupper", type=float_or_none, default=d["skyupper"], metavar="VALUE",
                   help="highest usable pixel value, data units; none: no limit")
    g.add_argument("--skyclip", type=int, default=d["skyclip"], metavar="N",
                   help="number of sigma-clipping iterations")
    g.add_argument("--skylsigma", type=float, default=d["skylsigma"], metavar="SIGMA",
                   help="lower clipping limit, sigma")
    g.add_argument("--skyusigma", type=float, default=d["skyusigma"], metavar="SIGMA",
                   help="upper clipping limit, sigma")
    g.add_argument("--sky-bits", type=bits, default=d["sky_bits"], metavar="BITS",
                   help="DQ flags counted as good: 0, 64, 4+8, ~4+8 or none")
    g.add_argument("--use-static", action=BoolFlag, default=d["use_static"],
                   help="use AstroDrizzle's static mask (default: on with --compat drizzlepac, else off)")
    g.add_argument("--match-down", action=BoolFlag, default=d["match_down"],
                   help="match: the lowest relative sky is 0 (--no-match-down: the highest)")
    g.add_argument("--allow-empty", action=BoolFlag, default=d["allow_empty"],
                   help="a chip with no usable pixel gets sky 0 (flagged) instead of an error")
    g.add_argument("--compat", choices=_choices.COMPAT_MODES, default=d["compat"],
                   help="reproduce AstroDrizzle's numbers, quirks included")


def _add_sky_model(p: argparse.ArgumentParser, d: dict, *, several: bool = False) -> None:
    p.add_argument("--sky-model", default=d["sky_model"], nargs="+" if several else None, metavar="MODEL",
                   help=f"sky model per exposure: {', '.join(_choices.SKY_MODELS)}"
                        + (" (several: one mosaic per method and model)" if several else ""))


def _add_drizzle_options(p: argparse.ArgumentParser, d: dict) -> None:
    g = p.add_argument_group("final drizzle (AstroDrizzle names; --final_bits works too)")
    g.add_argument("--final-bits", type=bits, default=d["final_bits"], metavar="BITS",
                   help="DQ flags counted as good in the drizzle (the notebook: 64)")
    g.add_argument("--final-kernel", default=d["final_kernel"], choices=_choices.DRIZZLE_KERNELS,
                   help="drizzle kernel")
    g.add_argument("--final-pixfrac", type=float, default=d["final_pixfrac"], metavar="FRAC",
                   help="drop size relative to the input pixel, in (0, 1]")
    g.add_argument("--final-fillval", type=float_or_none, default=d["final_fillval"], metavar="VALUE",
                   help="value of output pixels with no data; none: NaN")
    g.add_argument("--final-units", choices=_choices.FINAL_UNITS, default=d["final_units"],
                   help="output in rates (cps) or counts")
    g.add_argument("--final-wcs", action=BoolFlag, default=d["final_wcs"],
                   help="use the --final-rot/--final-scale/... frame parameters (--final-wcs True works too)")
    g.add_argument("--final-rot", type=float_or_none, default=d["final_rot"], metavar="DEG",
                   help="orientation of the output, degrees East of North (the notebook: 257)")
    g.add_argument("--final-scale", type=float_or_none, default=d["final_scale"], metavar="ARCSEC",
                   help="output pixel scale, arcsec; none: the first input's")
    g.add_argument("--final-ra", type=float_or_none, default=d["final_ra"], metavar="DEG",
                   help="right ascension of the output centre, degrees")
    g.add_argument("--final-dec", type=float_or_none, default=d["final_dec"], metavar="DEG",
                   help="declination of the output centre, degrees")
    g.add_argument("--final-outnx", type=int_or_none, default=d["final_outnx"], metavar="PX",
                   help="output width, pixels")
    g.add_argument("--final-outny", type=int_or_none, default=d["final_outny"], metavar="PX",
                   help="output height, pixels")
    g.add_argument("--final-refimage", default=d["final_refimage"], metavar="FITS",
                   help="image whose WCS is the output frame")
    g.add_argument("--stepsize", type=int, default=d["stepsize"], metavar="N",
                   help="pixel map exact every N pixels, interpolated between (1: exact everywhere)")
    g.add_argument("--build", action=BoolFlag, default=d["build"],
                   help="one multi-extension NAME_drz.fits instead of _sci/_wht/_ctx files")
    g.add_argument("--overwrite", action=BoolFlag, default=d["overwrite"], help="replace existing products")


def _add_cosmic_ray_options(p: argparse.ArgumentParser, d: dict) -> None:
    g = p.add_argument_group("cosmic-ray rejection (not supported: must be off; "
                             "--driz-cr False and --driz_cr=False work)")
    for name in ("driz_separate", "median", "blot", "driz_cr"):
        g.add_argument("--" + name.replace("_", "-"), action=BoolFlag, default=d[name],
                       help=f"AstroDrizzle's {name}: only off is accepted")


# ---------------------------------------------------------------- printing
def _units(chips) -> str:
    return ", ".join(sorted({c.units or "unknown units" for c in chips}))


def _print_sky(r, *, verbose: int) -> None:
    from ..api._tabular import brightness_units

    res = r.result
    units = {c.name: c.units or "?" for c in r.chips}
    mixed = len(set(units.values())) > 1
    errors = any(math.isfinite(cs.error) for cs in res.chips)
    model = res.sky_model != "constant"
    status = {e.exposure_id: e.status for e in res.exposures}
    rows = []
    for c, cs in zip(r.chips, res.chips):
        path = c.source[0] if c.source else c.name
        ext = cs.name[cs.name.rfind("["):] if "[" in cs.name else ""
        row = [os.path.basename(path), ext, str(c.meta.get("ROOTNAME", "")), f"{cs.sky:.8g}"]
        row += [f"{cs.error:.2g}" if math.isfinite(cs.error) else "-"] if errors else []
        row += _slopes(cs) if model else []
        row += [units[cs.name]] if mixed else []
        note = status.get(cs.exposure_id, "")
        note = f" ({note})" if note and f"({note})" not in cs.how else ""  # the chip's how may say it
        rows.append([*row, "yes" if cs.valid else "NO", cs.how + note])
    u = "" if mixed else f" [{_units(r.chips)}]"
    head = ["file", "ext", "exposure", "MDRIZSKY" + u] + (["SKYERR" + u] if errors else [])
    head += ["SKYC10" + u, "SKYC01" + u] if model else []
    print_table(head + (["units"] if mixed else []) + ["valid", "how"], rows)
    compat = r.parameters.get("compat")
    print(f"\n{len(r.chips)} chips, skymethod {res.method}{' (compat ' + compat + ')' if compat else ''}, "
          f"sky model {res.sky_model}; MDRIZSKY in data units ({_units(r.chips)})"
          f"{', as are SKYERR (1 sigma)' if errors else ''}{' and SKYCij' if model else ''}"
          f"{'; MDRIZSKY is the model mean over the chip' if model else ''}")
    if model:
        where = [w for w, done in (("the headers", not r.parameters.get("readonly")),
                                   ("the table", bool(r.parameters.get("table")))) if done]
        print("SKYCij: sky(x, y) = sum SKYCij u^i v^j, u = (x - xc)/h, v = (y - yc)/h over each chip's pixels"
              + (f" (all coefficients in {' and '.join(where)})" if where else
                 " (all coefficients: give --table FILE, or write them without --readonly)"))
    _print_flatness(res.flatness)
    groups = [c for c in res.components if len(c) > 1]
    if len(groups) > 1:
        print(f"warning: {len(res.components)} disconnected groups of exposures")
    if verbose and res.pairs:
        print(f"\noverlaps used by match (sky_i, sky_j, residual in brightness units: "
              f"{brightness_units(r.chips)}; not MDRIZSKY's data units)")
        print_lines(r.pairs_table())


def _slopes(cs) -> list[str]:
    c = cs.coefficients
    return [f"{c[1]:.4g}", f"{c[2]:.4g}"] if len(c) >= 3 else ["-", "-"]


def _print_flatness(fl) -> None:
    if fl is None or not math.isfinite(fl.rms):
        return
    print(f"flatness: {fl.rms:.3g} {fl.units} rms of the sky difference between overlapping exposures "
          f"after their skies are removed (noise alone: {fl.noise:.3g}; {fl.n_cells} cells, {fl.n_pairs} pairs)")


def _print_written(r) -> None:
    if r.written:
        print(f"MDRIZSKY written to {len(r.written)} file(s)")
    elif r.parameters.get("readonly"):
        print("read-only: no file changed")
    else:
        print("nothing written")


def _print_products(r) -> None:
    for label, paths in r.products.items():
        print(f"{label}: " + ", ".join(paths))
    if r.log_file:
        print(f"log: {r.log_file}")


def _timings(timings: dict) -> str:
    return ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())


# ---------------------------------------------------------------- commands
def _cmd_sky(a) -> int:
    r = api.sky(a.inputs, **api_kwargs(a, api.sky))
    _print_sky(r, verbose=a.verbose)
    _print_written(r)
    if r.table_file:
        print(f"table: {r.table_file}")
    if r.log_file:
        print(f"log: {r.log_file}")
    import logging

    logging.getLogger("skymatch").info("timings: %s", _timings(r.timings))
    return 0


def _log_timings(r) -> None:
    import logging

    logging.getLogger("skymatch").info("timings: %s", _timings(r.timings))


def _cmd_drizzle(a) -> int:
    r = api.drizzle(a.inputs, **api_kwargs(a, api.drizzle))
    _log_timings(r)
    fr = r.frame
    print(f"drizzled {len(r.chips)} chips onto {fr.shape[1]} x {fr.shape[0]} px "
          f"({fr.pixel_scale_arcsec:.4f} arcsec/px) in {r.timings['total']:.2f} s; "
          f"sky subtracted: {'the sky models in the headers (SKYMODEL/SKYCij; else MDRIZSKY)' if a.skysub else 'none'} "
          f"(data units: {_units(r.chips)}); mosaic in {_mosaic_units(a.final_units)}")
    _print_products(r)
    return 0


def _mosaic_units(final_units: str) -> str:
    return "counts" if final_units == "counts" else "counts per second (e.g. ELECTRONS/S)"


def _cmd_run(a) -> int:
    r = api.run(a.inputs, **api_kwargs(a, api.run))
    _log_timings(r)
    res = r.sky.result
    rows = [[cs.name, f"{cs.sky:.8g}", "yes" if cs.valid else "NO", cs.how] for cs in res.chips]
    print_table(["chip", f"MDRIZSKY [{_units(r.chips)}]", "valid", "how"], rows)
    print(f"\nsky ({res.method}, sky model {res.sky_model}) and drizzle in {r.timings['total']:.2f} s; "
          f"{'inputs unchanged (read-only)' if a.readonly else 'MDRIZSKY written to the inputs'}; "
          f"mosaic in {_mosaic_units(a.final_units)}")
    _print_products(r)
    return 0


def report_compare(r) -> None:
    """Print a compare run: the table (units said), timings, where everything is."""
    print_lines(r.to_table())
    print(f"(sky columns: MDRIZSKY in data units, {_units(r.chips)}; ORIENTAT in degrees)")
    timings = {k: v for k, v in r.timings.items() if k != "total"}
    models = f" x {len(r.sky_models)} sky models" if len(r.sky_models) > 1 else ""
    print(f"\n{len(r.methods)} sky methods{models} and their mosaics for {len(r.chips)} chips in "
          f"{r.timings['total']:.2f} s ({_timings(timings)})")
    flat = r.extras.get("flatness")
    if flat is not None and len(flat):
        print("\nflatness: rms of the sky difference between overlapping exposures after their skies are removed "
              "(lower is flatter; noise: what the statistics alone give; excess: the seams)")
        print_lines(flat)
    print(f"table:   {r.extras['csv']}")
    if r.extras.get("flatness_csv"):
        print(f"flatness: {r.extras['flatness_csv']}")
    for key, label in (("plot", "plot"), ("gif", "GIF"), ("html", "page")):
        if key in r.extras:
            print(f"{label + ':':8s} {r.extras[key]}")
    print(f"mosaics: {os.path.join(r.outdir, r.prefix + '_*_drz_sci.fits')}")
    if r.log_file:
        print(f"log:     {r.log_file}")


def _cmd_compare(a) -> int:
    r = api.compare(a.inputs, **api_kwargs(a, api.compare))
    _log_timings(r)
    report_compare(r)
    return 0


# ---------------------------------------------------------------- registration
_INPUTS_HELP = "files, globs ('*flt.fits'), comma-separated lists or @list files"


def add_sky_commands(sub) -> None:
    """Register ``sky``, ``drizzle``, ``run`` and ``compare``."""
    _add_sky_command(sub)
    _add_drizzle_command(sub)
    _add_run_command(sub)
    _add_compare_command(sub)


def _add_sky_command(sub) -> None:
    d = api_defaults(api.sky)
    s = sub.add_parser("sky", help="compute the sky of every input and write MDRIZSKY",
                       description="Compute each exposure's sky and write MDRIZSKY into the SCI headers "
                                   "(AstroDrizzle's sky step). Python: skymatch.sky(inputs, ...).")
    s.add_argument("inputs", nargs="+", help=_INPUTS_HELP)
    s.add_argument("--skymethod", default=d["skymethod"], metavar="METHOD", help=_METHOD_HELP)
    _add_sky_model(s, d)
    s.add_argument("--skyfile", default=d["skyfile"], metavar="FILE",
                   help="user sky values: 'filename sky [sky2 ...]' lines")
    s.add_argument("--skyuser", default=d["skyuser"], metavar="KEYWORD",
                   help="header keyword holding a sky the user already subtracted")
    s.add_argument("--readonly", action=BoolFlag, default=d["readonly"],
                   help="compute and report; change no file (AstroDrizzle's skysub=False)")
    s.add_argument("--subtract", action=BoolFlag, default=d["subtract"],
                   help="also subtract the sky from the pixel data")
    s.add_argument("--table", default=d["table"], metavar="FILE", help="also write a .csv or .ecsv table")
    _add_sky_options(s, d)
    add_execution(s, d)
    add_log_file(s, "skymatch.log in the current directory")
    add_common(s)
    s.set_defaults(func=_cmd_sky, api=api.sky)


def _add_drizzle_command(sub) -> None:
    d = api_defaults(api.drizzle)
    dz = sub.add_parser("drizzle", help="drizzle inputs (sky from their MDRIZSKY) into one mosaic",
                        description="Drizzle the inputs with the sky in their headers. "
                                    "Python: skymatch.drizzle(inputs, output=...).")
    dz.add_argument("inputs", nargs="+", help=_INPUTS_HELP)
    dz.add_argument("--output", required=True, metavar="NAME", help="output name (NAME_drz_sci.fits ...)")
    dz.add_argument("--skysub", action=BoolFlag, default=d["skysub"], help="subtract each chip's MDRIZSKY")
    dz.add_argument("--use-static", action=BoolFlag, default=d["use_static"],
                    help="no weight for pixels in AstroDrizzle's static mask")
    _add_drizzle_options(dz, d)
    add_execution(dz, d)
    add_log_file(dz, "NAME_skymatch.log")
    add_common(dz)
    dz.set_defaults(func=_cmd_drizzle, api=api.drizzle)


def _add_run_command(sub) -> None:
    d = api_defaults(api.run)
    r = sub.add_parser("run", help="AstroDrizzle one-shot without CR rejection: sky, then drizzle",
                       description="Compute the sky (writing MDRIZSKY) and drizzle the mosaic, as "
                                   "AstroDrizzle('*flt.fits', output=..., skymethod=...) does. "
                                   "Python: skymatch.run(inputs, output=...).")
    r.add_argument("inputs", nargs="+", help=_INPUTS_HELP)
    r.add_argument("--output", required=True, metavar="NAME", help="output name (NAME_drz_sci.fits ...)")
    r.add_argument("--skymethod", default=d["skymethod"], metavar="METHOD", help=_METHOD_HELP)
    _add_sky_model(r, d)
    r.add_argument("--readonly", action=BoolFlag, default=d["readonly"],
                   help="do not write MDRIZSKY into the inputs")
    _add_sky_options(r, d)
    _add_drizzle_options(r, d)
    _add_cosmic_ray_options(r, d)
    add_execution(r, d)
    add_log_file(r, "NAME_skymatch.log")
    add_common(r)
    r.set_defaults(func=_cmd_run, api=api.run)


def _add_compare_command(sub) -> None:
    d = api_defaults(api.compare)
    c = sub.add_parser("compare", help="all sky methods, one mosaic each, table, CSV, plots, GIF, page",
                       description="The notebook's four AstroDrizzle runs and its section 4 in one "
                                   "command; the inputs are not changed. "
                                   "Python: skymatch.compare(inputs, outdir=...).")
    c.add_argument("inputs", nargs="+", help=_INPUTS_HELP)
    c.add_argument("--outdir", required=True, metavar="DIR", help="output directory (created if needed)")
    c.add_argument("--methods", nargs="+", default=list(d["methods"]), metavar="METHOD",
                   help="sky methods to compare (names or comma-separated lists)")
    _add_sky_model(c, d, several=True)
    c.add_argument("--prefix", default=d["prefix"], help="product name prefix; none: the filter, e.g. f160w")
    c.add_argument("--pictures", action=BoolFlag, default=d["pictures"],
                   help="write the plot, mosaic pictures, GIF and page")
    c.add_argument("--flatness", action=BoolFlag, default=d["flatness"],
                   help="measure the flatness score (overlap residuals after each method's skies: about half "
                        "the sky time on large chips), its table and pictures")
    _add_sky_options(c, d)
    _add_drizzle_options(c, d)
    add_execution(c, d)
    add_log_file(c, "DIR/skymatch.log")
    add_common(c)
    c.set_defaults(func=_cmd_compare, api=api.compare)
