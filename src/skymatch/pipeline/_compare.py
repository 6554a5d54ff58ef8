"""All sky methods on the same inputs, one mosaic each, a table, plots and a page."""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from ..core import SKY_METHODS, canonical_method
from ..core._executor import make_executor
from ..core._skymodel import canonical_model
from ..io import read_inputs, write_table
from ..models import Chip
from ._mosaic import (
    DrizzleRun,
    FrameOptions,
    _check_outputs,
    _context_of,
    _drizzle_params,
    _frame_extra,
    _sky_info,
    _skies_and_static,
    check_frame,
    drizzle_products,
    output_frame,
)
from ._sky import SkyRun

__all__ = ["run_compare", "default_prefix"]

# Mosaics are pictured from their files, decimated to at most this many pixels a side.
PICTURE_MAX_SIDE = 4096


def default_prefix(chips: Sequence[Chip]) -> str:
    """``'f160w'`` from the first input's FILTER, else ``'mosaic'``."""
    f = str(chips[0].meta.get("FILTER", "")).strip().lower() if chips else ""
    return f if f and f not in ("clear", "n/a") else "mosaic"


def run_compare(inputs, outdir: str, *, methods: Sequence[str] = SKY_METHODS,
                compat: str | None = None, prefix: str | None = None,
                frame: FrameOptions = FrameOptions(final_wcs=False), build: bool = False,
                overwrite: bool = False, pictures: bool = True, jobs: int | None = None,
                dask: Any = None, progress: Callable[[str, int, int], None] | None = None,
                drizzle: dict | None = None, sky_model: str | Sequence[str] = "constant",
                **sky_options: Any) -> DrizzleRun:
    """All sky methods (and models) on the same inputs, one mosaic each, a table, plots and a page.

    Skies are computed once for all methods (shared statistics) without touching the
    inputs, so no method's header value leaks into another.  One mosaic per method x
    sky model (``sky_model='constant,plane'`` or a list); all of them share one
    resampling of the data, each subtracting its own chips' full sky models.
    Writes into ``outdir``: ``PREFIX_METHOD[_MODEL]_drz_{sci,wht,ctx}.fits`` (the model
    is in the name when several are compared), ``mdrizsky_methods.csv`` (the notebook's
    columns), ``PREFIX_mdrizsky.png``, ``PREFIX_LABEL_mosaic.png``, ``PREFIX_methods.gif``
    and ``index.html``.
    """
    import os as _os

    from ..io import comparison_table, write_index_html

    params = _drizzle_params(drizzle or {})
    methods = [canonical_method(m) for m in methods]
    models = sky_model.split(",") if isinstance(sky_model, str) else list(sky_model)
    models = list(dict.fromkeys(canonical_model(m) for m in models))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    chips = read_inputs(inputs, compat=compat is not None)
    prefix = prefix or default_prefix(chips)
    _os.makedirs(outdir, exist_ok=True)

    def label_of(method: str, model: str) -> str:
        return method if len(models) == 1 else f"{method}_{model}"

    labels = {label_of(m, md): (m, md) for md in models for m in methods}
    names = {lab: _os.path.join(outdir, f"{prefix}_{lab.replace('+', '_')}") for lab in labels}
    _check_outputs(names.values(), chips, build, overwrite, _context_of(params, len(chips)))
    fr = output_frame(chips, frame)
    check_frame(fr, list(names.values()), n_inputs=len(chips), params=params)
    results, static = {}, None
    for md in models:
        opts = dict(sky_options)
        if md != "constant":
            opts["sky_model"] = md
        res_md, static = _skies_and_static(chips, methods, compat, jobs, dask, progress, opts)
        for m in methods:
            results[label_of(m, md)] = res_md[m]
    timings["sky (all methods)"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    skies = {lab: {c.name: c.coefficients for c in results[lab].chips} for lab in labels}
    mosaics = drizzle_products(
        chips, skies, fr, names, params=params, static_masks=static, executor=make_executor(jobs, dask),
        build=build, overwrite=overwrite, header_extra={lab: _frame_extra(frame) for lab in labels},
        sky_info={lab: _sky_info(labels[lab][0], skies[lab], dict(results[lab].parameters)) for lab in labels},
        progress=progress)
    products = {lab: list(m.paths) for lab, m in mosaics.items()}
    timings["drizzle (all mosaics)"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    table = comparison_table(results, chips)
    csv = _os.path.join(outdir, "mdrizsky_methods.csv")
    write_table(table, csv)
    extras: dict[str, Any] = {"csv": csv}
    timings["write table"] = time.perf_counter() - t2
    if pictures:
        from ..plotting import comparison_pictures

        t3 = time.perf_counter()
        pics = comparison_pictures({lab: mosaics[lab].read_sci(max_side=PICTURE_MAX_SIDE) for lab in labels},
                                   table, outdir, prefix)
        extras.update(pics)
        extras["html"] = write_index_html(
            _os.path.join(outdir, "index.html"), title=f"skymatch: sky methods compared ({prefix})",
            table=table, pictures=pics, products=products,
            notes=[f"{len(chips)} chips; compat={compat or 'none'}; frame {fr.shape[1]} x {fr.shape[0]} px",
                   "MDRIZSKY in each input's data units; the mosaics share one display stretch."])
        timings["pictures"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    skyrun = SkyRun(results=results, chips=tuple(chips), timings={"sky": timings["sky (all methods)"]})
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      table=table, extras=extras, timings=timings)
