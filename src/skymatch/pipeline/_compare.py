"""All sky methods (and sky models) on the same inputs, one mosaic each, a table, plots,
the flatness score and a page."""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Any, Callable, Sequence

from ..core import SKY_METHODS, canonical_method
from ..core._executor import make_executor
from ..core._skymodel import canonical_model
from ..io import RunTransaction, read_inputs, transactional, write_table
from ..io._pieces import read_product_inputs
from ..models import Chip
from ._mosaic import (
    DrizzleRun,
    FrameOptions,
    _check_outputs,
    _context_of,
    _drizzle_params,
    _frame_extra,
    _sky_info,
    _solutions_and_static,
    check_frame,
    drizzle_products,
    output_frame,
)
from ._sky import SkyRun

__all__ = ["run_compare", "default_prefix", "compare_labels"]

# Mosaics are pictured from their files, binned (block means) to at most this many pixels a side.
PICTURE_MAX_SIDE = 900


def default_prefix(chips: Sequence[Chip]) -> str:
    """``'f160w'`` from the first input's FILTER, else ``'mosaic'``."""
    f = str(chips[0].meta.get("FILTER", "")).strip().lower() if chips else ""
    return f if f and f not in ("clear", "n/a") else "mosaic"


def _names(value, canon) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(canon(v) for v in items if str(v).strip()))


def compare_labels(methods: Sequence[str], models: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{label: (method, model)}``: the method alone when one model is compared, else
    ``method_model`` (``match_plane``)."""
    return {(m if len(models) == 1 else f"{m}_{md}"): (m, md) for md in models for m in methods}


@transactional
def run_compare(txn: RunTransaction, inputs, outdir: str, *, methods: Sequence[str] | str = SKY_METHODS,
                compat: str | None = None, prefix: str | None = None,
                frame: FrameOptions = FrameOptions(final_wcs=False), build: bool = False,
                overwrite: bool = False, pictures: bool = True, flatness: bool = True, jobs: int | None = None,
                dask: Any = None, progress: Callable[[str, int, int], None] | None = None,
                drizzle: dict | None = None, sky_model: str | Sequence[str] = "constant",
                **sky_options: Any) -> DrizzleRun:
    """All sky methods (and models) on the same inputs, one mosaic each, a table, plots,
    the flatness score (unless ``flatness=False``) and a page.

    Skies are computed once for all methods and models (shared measurements) without
    touching the inputs, so no method's header value leaks into another.  One mosaic per
    method x sky model (``sky_model='constant,plane'`` or a list); all of them share one
    resampling of the data, each subtracting its own chips' full sky models.
    Writes into ``outdir``: ``PREFIX_LABEL_drz_{sci,wht,ctx}.fits`` (the label is the
    method, or ``method_model`` when several models are compared),
    ``mdrizsky_methods.csv`` (the notebook's columns), ``flatness.csv``,
    ``PREFIX_mdrizsky.png``, ``PREFIX_LABEL_mosaic.png``, ``PREFIX_LABEL_flatness.png``,
    ``PREFIX_methods.gif`` and ``index.html``.
    """
    params = _drizzle_params(drizzle or {})
    methods = _names(methods, canonical_method)
    models = _names(sky_model, canonical_model)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    specs = txn.open_inputs(inputs, write=False)
    txn.output_folder(outdir)  # created if needed, locked for this run
    headers: dict = {}  # each header read once: the mosaics take HDRTAB from the same reads
    chips = read_inputs(specs, compat=compat is not None, headers=headers)
    prefix = prefix or default_prefix(chips)
    labels = compare_labels(methods, models)
    names = {lab: _label_name(outdir, prefix, lab) for lab in labels}
    _check_outputs(names.values(), chips, build, overwrite, txn, _context_of(params, len(chips)))
    fr = output_frame(chips, frame)
    check_frame(fr, list(names.values()), n_inputs=len(chips), params=params)
    solved, static = _solutions_and_static(chips, methods, models, compat, jobs, dask, progress,
                                           sky_options, flatness=flatness)
    results = {lab: solved[mm] for lab, mm in labels.items()}
    timings["sky (all methods)"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    skies = {lab: {c.name: c.coefficients for c in results[lab].chips} for lab in labels}
    mosaics = drizzle_products(
        chips, skies, fr, names, params=params, static_masks=static, executor=make_executor(jobs, dask),
        build=build, overwrite=overwrite, header_extra={lab: _frame_extra(frame) for lab in labels},
        sky_info={lab: _sky_info(labels[lab][0], skies[lab], dict(results[lab].parameters)) for lab in labels},
        inputs_info=read_product_inputs(chips, known=headers), txn=txn, progress=progress)
    products = {lab: list(m.paths) for lab, m in mosaics.items()}
    timings["drizzle (all mosaics)"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    extras = _tables(txn, results, chips, outdir, flatness=flatness)
    timings["write tables"] = time.perf_counter() - t2
    if pictures:
        t3 = time.perf_counter()
        extras.update(_pictures(txn, results, mosaics, extras, outdir, prefix, products, chips, fr, compat))
        timings["pictures"] = time.perf_counter() - t3
    if overwrite:
        txn.remove_stale(_not_written(outdir, prefix, labels, pictures=pictures, flatness=flatness))
    timings["total"] = time.perf_counter() - t0
    table = extras.pop("table")
    skyrun = SkyRun(results=results, chips=tuple(chips), timings={"sky": timings["sky (all methods)"]})
    return DrizzleRun(mosaics=mosaics, products=products, frame=fr, chips=tuple(chips), sky=skyrun,
                      table=table, extras=extras, timings=timings)


def _label_name(outdir: str, prefix: str, lab: str, what: str = "") -> str:
    """``OUTDIR/PREFIX_LABEL`` (``+`` as ``_``), and ``_WHAT`` after it when given: the
    names of a label's products and pictures."""
    return os.path.join(outdir, f"{prefix}_{lab.replace('+', '_')}" + (f"_{what}" if what else ""))


def _not_written(outdir: str, prefix: str, labels, *, pictures: bool, flatness: bool) -> list[str]:
    """The names of a compare's outputs (this prefix and these labels) that this run does
    not write: an earlier run's files of those names would be left looking current."""
    name = partial(_label_name, outdir, prefix)
    out = []
    if not flatness:
        out += [os.path.join(outdir, "flatness.csv")]
    if not (flatness and pictures):
        out += [name(lab, "flatness.png") for lab in labels]
    if not pictures:
        out += [os.path.join(outdir, f"{prefix}_mdrizsky.png"), os.path.join(outdir, f"{prefix}_methods.gif"),
                os.path.join(outdir, "index.html")] + [name(lab, "mosaic.png") for lab in labels]
    return out


def _tables(txn, results, chips, outdir, *, flatness: bool) -> dict:
    from ..io import comparison_table, flatness_table

    table = comparison_table(results, chips)
    csv = write_table(table, os.path.join(outdir, "mdrizsky_methods.csv"), transaction=txn)
    if not flatness:
        return {"table": table, "csv": csv}
    flat = flatness_table(results)
    flat_csv = write_table(flat, os.path.join(outdir, "flatness.csv"), transaction=txn)
    return {"table": table, "csv": csv, "flatness": flat, "flatness_csv": flat_csv}


def _pictures(txn, results, mosaics, tables, outdir, prefix, products, chips, fr, compat) -> dict:
    """The comparison's pictures and page (``tables``: :func:`_tables`' result).  The mosaics are read binned to picture size by
    worker threads while the MDRIZSKY plot is drawn; each picture is encoded and written
    by a worker while the next one is drawn (matplotlib itself stays in this thread)."""
    from ..io import PictureWriter, write_index_html
    from ..plotting import _new_axes, figure_rgba, flatness_frames, mosaic_frames, plot_mdrizsky

    name = partial(_label_name, outdir, prefix)
    table = tables["table"]
    with PictureWriter(transaction=txn) as out:
        binned = {lab: out.submit(partial(mosaics[lab].read_sci, max_side=PICTURE_MAX_SIDE)) for lab in results}
        pics: dict = {"plot": out.png(figure_rgba(plot_mdrizsky(table, ax=_new_axes())),
                                      os.path.join(outdir, f"{prefix}_mdrizsky.png"))}
        frames = mosaic_frames({lab: job.result() for lab, job in binned.items()}, max_pixels=PICTURE_MAX_SIDE)
        pics["mosaics"] = {lab: out.png(rgb, name(lab, "mosaic.png")) for lab, rgb in frames.items()}
        pics["gif"] = out.gif(list(frames.values()), os.path.join(outdir, f"{prefix}_methods.gif"))
        pics["flatness_pictures"] = {lab: out.png(rgba, name(lab, "flatness.png"))
                                     for lab, rgba in flatness_frames(results).items()}
    notes = [f"{len(chips)} chips; compat={compat or 'none'}; frame {fr.shape[1]} x {fr.shape[0]} px",
             "MDRIZSKY in each input's data units; the mosaics share one display stretch."]
    if any(res.flatness is not None for res in results.values()):
        notes.append("Flatness: rms of the difference between overlapping exposures after their skies are "
                     "removed (lower is flatter; 'noise' is what the cells' statistical noise alone gives, "
                     "'excess' what is left beyond it: the seams).")
    html = write_index_html(os.path.join(outdir, "index.html"), title=f"skymatch: sky methods compared ({prefix})",
                            table=table, pictures=pics, products=products, notes=notes,
                            flatness=tables.get("flatness"), transaction=txn)
    return {**pics, "html": html}
