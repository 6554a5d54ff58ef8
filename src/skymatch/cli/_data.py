"""``skymatch summary``, ``fetch`` and ``demo-data``."""

from __future__ import annotations

import sys
import time

from .. import api
from ._common import BoolFlag, add_common, api_defaults, api_kwargs, print_lines

__all__ = ["add_data_commands"]


def _cmd_summary(a) -> int:
    r = api.summary(a.inputs, **api_kwargs(a, api.summary))
    print_lines(r.to_table())
    if r.table_file:
        print(f"table: {r.table_file}")
    return 0


def _cmd_fetch(a) -> int:
    r = api.fetch(**api_kwargs(a, api.fetch))
    plan = r.plan
    print(f"MAST: {plan.n_files} file(s) to download, {plan.total_bytes / 1e6:.1f} MB"
          f"{f'; {len(plan.skipped)} already present and complete' if plan.skipped else ''}")
    if plan.n_files:
        print_lines(r.to_table())
    if r.dry_run or plan.n_files == 0:
        return 0
    print(f"wrote {len(r.written)} file(s) to {r.outdir}")
    if r.failed:
        print(f"skymatch: error: {len(r.failed)} download(s) failed: {', '.join(r.failed)}; run again",
              file=sys.stderr)
        return 1
    return 0


def _cmd_demo_data(a) -> int:
    t0 = time.perf_counter()
    truth = api.demo_data(a.outdir, **api_kwargs(a, api.demo_data))
    if truth.drz:
        print(f"wrote {len(truth.drz)} visit-level drizzled products (*_drz.fits)")
    print(f"wrote {len(truth.paths)} exposures to {a.outdir} in {time.perf_counter() - t0:.1f} s")
    print(f"truth: {truth.truth_file}")
    return 0


def add_data_commands(sub) -> None:
    """Register ``summary``, ``fetch`` and ``demo-data``."""
    d = api_defaults(api.summary)
    sm = sub.add_parser("summary", help="header summary of inputs (the notebook's ImageFileCollection table)",
                        description="Python: skymatch.summary(inputs).")
    sm.add_argument("inputs", nargs="+", help="files, globs, comma-separated lists or @list files")
    sm.add_argument("--table", default=d["table"], metavar="FILE", help="also save as .csv or .ecsv")
    add_common(sm, progress=False)
    sm.set_defaults(func=_cmd_summary, api=api.summary)

    d = api_defaults(api.fetch)
    f = sub.add_parser("fetch", help="download HST products from MAST (needs astroquery)",
                       description="Needs: pip install 'skymatch[mast]'. Python: skymatch.fetch(proposal=..., "
                                   "filter=...).")
    f.add_argument("--proposal", required=True, help="HST proposal id, e.g. 12812")
    f.add_argument("--filter", nargs="+", required=True, metavar="FILTER", help="filter(s), e.g. F160W")
    f.add_argument("--products", default=d["products"], metavar="TYPES",
                   help="product types, comma-separated (FLT, FLC, DRZ, DRC ...)")
    f.add_argument("--outdir", default=d["outdir"], metavar="DIR", help="where the files go")
    f.add_argument("--dry-run", action=BoolFlag, default=d["dry_run"], help="list what would be downloaded")
    add_common(f)
    f.set_defaults(func=_cmd_fetch, api=api.fetch)

    d = api_defaults(api.demo_data)
    dd = sub.add_parser("demo-data", help="write the synthetic demo mosaic (known sky, optional WCS errors)",
                        description="Python: skymatch.demo_data(outdir, ...).")
    dd.add_argument("outdir", help="directory to write into")
    dd.add_argument("--tiles", type=int, nargs=2, default=list(d["tiles"]), metavar=("NX", "NY"),
                    help="tiles along x and y (3 3: the notebook's visits)")
    dd.add_argument("--size", type=int, default=d["size"], metavar="PX", help="chip size, pixels")
    dd.add_argument("--seed", type=int, default=d["seed"], help="random seed")
    dd.add_argument("--gradient", type=float, default=d["gradient"], metavar="E/S",
                    help="maximum sky gradient across a chip, e-/s")
    dd.add_argument("--nebula", type=float, default=d["nebula"], metavar="SCALE",
                    help="nebula brightness scale (0: blank sky)")
    dd.add_argument("--nstars", type=int, default=d["nstars"], metavar="N",
                    help="number of stars (none: scales with the area)")
    dd.add_argument("--misalign", type=float, nargs=2, default=d["misalign"], metavar=("ARCSEC", "DEG"),
                    help="give every visit but the reference a known WCS error up to this shift and rotation")
    dd.add_argument("--drz", action=BoolFlag, default=d["drz"],
                    help="also write visit-level <asn>_drz.fits products")
    dd.add_argument("--overwrite", action=BoolFlag, default=d["overwrite"], help="replace existing files")
    add_common(dd, progress=False)
    dd.set_defaults(func=_cmd_demo_data, api=api.demo_data)
