"""Tables of sky results (CSV or ECSV)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from astropy.table import Table

from ..exceptions import ParameterError, WriteError
from ..models import Chip, SkyResult
from ._atomic import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from ._transaction import RunTransaction

__all__ = ["sky_table", "comparison_table", "flatness_table", "write_table", "NOTEBOOK_COLUMNS"]

# The notebook's CSV columns, in its order, and the method behind each.
NOTEBOOK_COLUMNS = (("globalmin", "globalmin"), ("globalmin_match", "globalmin+match"),
                    ("match", "match"), ("local", "localmin"))


def sky_table(result: SkyResult, chips: Sequence[Chip]) -> Table:
    """One row per chip: file, extension, exposure, MDRIZSKY (data units) and its
    uncertainty, the sky model and its coefficients, validity, provenance.

    The table's ``meta`` holds the run's flatness score when it was measured (also a
    column, the same on every row, so CSV files keep it).
    """
    by_name = {c.name: c for c in chips}
    order = max((len(cs.coefficients) for cs in result.chips), default=1)
    from ..core._skymodel import coefficient_names, order_of_coeffs

    coeff_names = coefficient_names(order_of_coeffs(order))
    rows = []
    for cs in result.chips:
        c = by_name[cs.name]
        path = c.source[0] if c.source else ""
        ext = cs.name[cs.name.rfind("["):] if "[" in cs.name else ""
        row = {
            "file": os.path.basename(path) if path else cs.name,
            "ext": ext.strip("[]"),
            "rootname": str(c.meta.get("ROOTNAME", "")),
            "asn_id": str(c.meta.get("ASN_ID", "")),
            "mdrizsky": cs.sky,
            "skyerr": cs.error,
            "units": c.units or "",
            "sky_brightness": cs.sky_brightness,
            "local": cs.local,
            "valid": cs.valid,
            "how": cs.how,
            "method": result.method,
            "sky_model": cs.model,
        }
        coeffs = list(cs.coefficients) + [0.0] * (len(coeff_names) - len(cs.coefficients))
        row.update({k.lower(): v for k, v in zip(coeff_names, coeffs)})
        rows.append(row)
    names = ["file", "ext", "rootname", "asn_id", "mdrizsky", "skyerr", "units", "sky_brightness",
             "local", "valid", "how", "method", "sky_model"] + [k.lower() for k in coeff_names]
    t = Table(rows=rows, names=names) if rows else Table(names=names)
    t["mdrizsky"].info.format = ".8g"
    t["skyerr"].info.format = ".3g"
    if result.flatness is not None:
        f = result.flatness
        t["flatness_rms"] = [f.rms] * len(t)
        t["flatness_noise"] = [f.noise] * len(t)
        t.meta.update({"flatness_rms": f.rms, "flatness_noise": f.noise, "flatness_units": f.units,
                       "flatness_cells": f.n_cells})
    return t


def flatness_table(results: dict[str, SkyResult]) -> Table:
    """Per method (and model): how flat the mosaic is once the skies are removed.

    Columns: ``label``, ``method``, ``sky_model``, ``flatness`` (rms of the difference
    between overlapping exposures on their common pixels), ``noise`` (what the cells'
    statistical noise alone gives), ``excess`` (sqrt(flatness**2 - noise**2): the seams),
    ``cells`` and ``units``.
    """
    rows = []
    for label, res in results.items():
        f = res.flatness
        if f is None:
            continue
        excess = float(f.rms**2 - f.noise**2)
        rows.append((label, res.method, res.sky_model, f.rms, f.noise, excess**0.5 if excess > 0 else 0.0,
                     f.n_cells, f.units))
    t = Table(rows=rows or None, names=["label", "method", "sky_model", "flatness", "noise", "excess",
                                         "cells", "units"],
              dtype=[str, str, str, float, float, float, int, str])
    for col in ("flatness", "noise", "excess"):
        t[col].info.format = ".5f"
    return t


def comparison_table(results: dict[str, SkyResult], chips: Sequence[Chip]) -> Table:
    """MDRIZSKY of every chip under every method, with the notebook's columns.

    Columns: ``Rootname``, ``ASN_ID``, ``ORIENTAT``, then ``globalmin``,
    ``globalmin_match``, ``match``, ``local`` for the methods present (data units), and
    one column per other label (``match_plane`` ...: a method with a sky model, whose
    MDRIZSKY is the model's mean over the chip).
    """
    t = Table()
    t["Rootname"] = [str(c.meta.get("ROOTNAME", c.name)) for c in chips]
    t["ASN_ID"] = [str(c.meta.get("ASN_ID", "")) for c in chips]
    t["ORIENTAT"] = [float(c.meta.get("ORIENTAT", float("nan"))) for c in chips]
    t["ORIENTAT"].info.format = ".5f"
    done = set()
    for col, method in NOTEBOOK_COLUMNS:
        if method in results:
            by_name = {cs.name: cs.sky for cs in results[method].chips}
            t[col] = [by_name[c.name] for c in chips]
            t[col].info.format = ".8f"
            done.add(method)
    for label, res in results.items():
        if label in done:
            continue
        col = label.replace("+", "_")
        by_name = {cs.name: cs.sky for cs in res.chips}
        t[col] = [by_name[c.name] for c in chips]
        t[col].info.format = ".8f"
    return t


def write_table(table: Table, path: str, *, overwrite: bool = True,
                transaction: RunTransaction | None = None) -> str:
    """Write ``table`` as CSV or ECSV (chosen by the extension of ``path``), atomically.

    Parameters
    ----------
    table : astropy.table.Table
    path : str
        ``.csv`` or ``.ecsv``.
    overwrite : bool
        Replace an existing file.
    transaction : RunTransaction, optional
        Stage the file in this run (it appears when the run commits).

    Returns
    -------
    str
        ``path``.
    """
    from ._transaction import TABLE_FORMATS

    if not isinstance(table, Table):
        raise ParameterError(f"table={table!r}: give an astropy Table (e.g. skymatch.sky_table(...))")
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"path={path!r}: give the table's file name (.csv or .ecsv)")
    fmt = TABLE_FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise WriteError(f"{path}: table files must end in .csv or .ecsv")
    buf = io.StringIO()
    table.write(buf, format=fmt)
    data = buf.getvalue().encode("utf-8")
    if transaction is not None:
        transaction.check_table(path)
        return transaction.write(path, lambda fh: fh.write(data))
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WriteError(f"{folder}: folder for the table does not exist; create it first")
    return atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)
