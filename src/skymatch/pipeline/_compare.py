"""All sky methods on the same inputs, one mosaic each, a table, plots and a page."""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from ..core import SKY_METHODS, canonical_method
from ..io import RunTransaction, read_inputs, transactional, write_table
from ..models import Chip
from ._mosaic import DrizzleRun, FrameOptions, _check_outputs, _drizzle_params, _skies_and_static, _write_mosaics, output_frame
from ._sky import SkyRun

__all__ = ["run_compare", "default_prefix"]


def default_prefix(chips: Sequence[Chip]) -> str:
    """``'f160w'`` from the first input's FILTER, else ``'mosaic'``."""
    f = str(chips[0].meta.get("FILTER", "")).strip().lower() if chips else ""
    return f if f and f not in ("clear", "n/a") else "mosaic"


@transactional
def run_compare(txn: RunTransaction, inputs, outdir: str, *, methods: Sequence[str] = SKY_METHODS,
                compat: str | None = None, prefix: str | None = None,
                frame: FrameOptions = FrameOptions(final_wcs=False), build: bool = False,
                overwrite: bool = False, pictures: bool = True, jobs: int | None = None,
                dask: Any = None, progress: Callable[[str, int, int], None] | None = None,
                drizzle: dict | None = None, **sky_options: Any) -> DrizzleRun:
    """All sky methods on the same inputs, one mosaic each, a table, plots and a page.

    Skies are computed once for all methods (shared statistics) without touching the
    inputs, so no method's header value leaks into another; each mosaic is drizzled with
    its own method's skies and pixel maps are shared between the mosaics.
    Writes into ``outdir``: ``PREFIX_METHOD_drz_{sci,wht,ctx}.fits``,
    ``mdrizsky_methods.csv`` (the notebook's columns), ``PREFIX_mdrizsky.png``,
    ``PREFIX_METHOD_mosaic.png``, ``PREFIX_methods.gif`` and ``index.html``.
    """
    import os as _os

    from ..core._drizzle import drizzle_mosaics
    from ..io import comparison_table, write_index_html

    params = _drizzle_params(drizzle or {})
    methods = [canonical_method(m) for m in methods]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    specs = txn.open_inputs(inputs, write=False)
    txn.output_folder(outdir)  # created if needed, locked for this run
    chips = read_inputs(specs, compat=compat is not None)
    prefix = prefix or default_prefix(chips)
    names = {m: _os.path.join(outdir, f"{prefix}_{m.replace('+', '_')}") for m in methods}
    _check_outputs(names.values(), chips, build, overwrite, txn)
    results, static = _skies_and_static(chips, methods, compat, jobs, dask, progress, sky_options)
    timings["sky (all methods)"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    fr = output_frame(chips, frame)
    skies = {m: {c.name: c.sky for c in results[m].chips} for m in methods}
    mosaics = drizzle_mosaics(chips, skies, fr, params=params, static_masks=static, progress=progress)
    timings["drizzle (all mosaics)"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    products = _write_mosaics(mosaics, chips, names, build=build, overwrite=overwrite,
                              frame_opts=frame, method_of={m: m for m in methods}, txn=txn)
    table = comparison_table(results, chips)
    csv = _os.path.join(outdir, "mdrizsky_methods.csv")
    write_table(table, csv, transaction=txn)
    extras: dict[str, Any] = {"csv": csv}
    timings["write products"] = time.perf_counter() - t2
    if pictures:
        from ..io import save_comparison_pictures
        from ..plotting import comparison_figures

        t3 = time.perf_counter()
        pics = save_comparison_pictures(comparison_figures({m: mosaics[m].sci for m in methods}, table),
                                        outdir, prefix, transaction=txn)
        extras.update(pics)
        extras["html"] = write_index_html(
            _os.path.join(outdir, "index.html"), title=f"skymatch: sky methods compared ({prefix})",
            table=table, pictures=pics, products=products, transaction=txn,
            notes=[f"{len(chips)} chips; compat={compat or 'none'}; frame {fr.shape[1]} x {fr.shape[0]} px",
                   "MDRIZSKY in each input's data units; the mosaics share one display stretch."])
        timings["pictures"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    skyrun = SkyRun(results=results, chips=tuple(chips), timings={"sky": timings["sky (all methods)"]})
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      table=table, extras=extras, timings=timings)
