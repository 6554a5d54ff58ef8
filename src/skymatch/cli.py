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

    progress = _Progress(a.progress)
    try:
        run = run_sky(a.inputs, method=a.skymethod, compat=a.compat, readonly=a.readonly,
                      subtract=a.subtract, skyfile=a.skyfile, skyuser=a.skyuser, table=a.table,
                      jobs=a.jobs, dask=a.dask, progress=progress, **_sky_kwargs(a))
    finally:
        progress.close()
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


def _cmd_demo_data(a) -> int:
    from .datasets import make_mosaic

    t0 = time.perf_counter()
    truth = make_mosaic(a.outdir, tiles=tuple(a.tiles), size=a.size, seed=a.seed,
                        gradient=a.gradient, nebula=a.nebula, overwrite=a.overwrite)
    print(f"wrote {len(truth.paths)} exposures to {a.outdir} in {time.perf_counter() - t0:.1f} s")
    print(f"truth: {truth.truth_file}")
    return 0


def _cmd_demo(a) -> int:
    import glob

    from .datasets import make_mosaic
    from .io import comparison_table, write_table
    from .pipeline import run_sky_methods

    data = os.path.join(a.outdir, "data")
    if not glob.glob(os.path.join(data, "*_flt.fits")):
        print(f"building the demo mosaic in {data} ...")
        make_mosaic(data, size=a.size, seed=a.seed)
    progress = _Progress(a.progress)
    try:
        t0 = time.perf_counter()
        run = run_sky_methods(os.path.join(data, "*_flt.fits"), progress=progress)
        dt = time.perf_counter() - t0
    finally:
        progress.close()
    table = comparison_table(run.results, run.chips)
    csv = os.path.join(a.outdir, "mdrizsky_methods.csv")
    write_table(table, csv)
    print("\n".join(table.pformat(max_lines=-1, max_width=-1)))
    print(f"\nfour sky methods on {len(run.chips)} exposures in {dt:.2f} s")
    truth_file = os.path.join(data, "truth.json")
    if os.path.exists(truth_file):
        import json

        import numpy as np

        with open(truth_file, encoding="utf-8") as fh:
            true = json.load(fh)["exposures"]
        t = np.array([true[str(r)]["sky"] for r in table["Rootname"]])
        m = np.asarray(table["match"], dtype=float)
        err = (m - m.mean()) - (t - t.mean())
        print(f"match vs the true sky differences: rms {np.sqrt(np.mean(err ** 2)):.4f}, "
              f"max {np.max(np.abs(err)):.4f} e-/s")
    print(f"results: {csv}")
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

    d = sub.add_parser("demo-data", help="write the synthetic demo mosaic (known sky)")
    d.add_argument("outdir")
    d.add_argument("--tiles", type=int, nargs=2, default=[3, 3], metavar=("NX", "NY"))
    d.add_argument("--size", type=int, default=1014, help="chip size in pixels (default 1014)")
    d.add_argument("--seed", type=int, default=12812)
    d.add_argument("--gradient", type=float, default=0.0, help="max sky gradient across a chip (e-/s)")
    d.add_argument("--nebula", type=float, default=1.0, help="nebula brightness scale")
    d.add_argument("--overwrite", action="store_true")
    d.set_defaults(func=_cmd_demo_data)

    m = sub.add_parser("demo", help="build the demo mosaic and compare the four sky methods")
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
    old = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return int(args.func(args) or 0)
    except SkymatchError as exc:
        print(f"skymatch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skymatch: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = old


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
