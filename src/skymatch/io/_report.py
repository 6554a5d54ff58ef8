"""A small HTML page showing a method comparison, and header summaries."""

from __future__ import annotations

import html
import os
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

from astropy.table import Table
from astropy.utils.exceptions import AstropyWarning

from ._atomic import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from ._transaction import RunTransaction

__all__ = ["write_index_html", "header_summary"]


def _html_table(table: Table, float_format: str = ".8f") -> str:
    """``table`` as an HTML table; floats with their column's format spec (``.5f``: the
    formats this package sets, as the CSV writes them), else ``float_format``."""
    fmts = [table[c].info.format or float_format for c in table.colnames]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.colnames)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format(v, f) if isinstance(v, float) else str(v))}</td>"
                         for v, f in zip(r, fmts, strict=True))
        + "</tr>" for r in table.iterrows())
    return f"<table><tr>{head}</tr>{rows}</table>"


def write_index_html(path: str, *, title: str, table: Table, pictures: dict, products: dict,
                     notes: Iterable[str] = (), flatness: Table | None = None,
                     transaction: RunTransaction | None = None) -> str:
    """Write ``index.html`` linking the table, the plots, the GIF and the mosaics.

    ``flatness`` is the flatness table (:func:`~skymatch.io.flatness_table`, the columns
    of ``flatness.csv``); its pictures are ``pictures['flatness_pictures'][label]``.  Links
    are relative to the page (final names, also when the run stages the files in
    ``transaction``).
    """
    base = os.path.dirname(os.path.abspath(path))

    def rel(p):
        return html.escape(os.path.relpath(p, base))

    mos = "".join(f'<figure><img src="{rel(p)}" width="420"><figcaption>{html.escape(m)}</figcaption></figure>'
                  for m, p in pictures.get("mosaics", {}).items())
    prods = "".join(f"<li>{html.escape(m)}: "
                    + ", ".join(f'<a href="{rel(p)}">{html.escape(os.path.basename(p))}</a>' for p in ps) + "</li>"
                    for m, ps in products.items())
    note = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    flat_pics = "".join(
        f'<figure><img src="{rel(p)}" width="420"><figcaption>{html.escape(lab)}</figcaption></figure>'
        for lab, p in pictures.get("flatness_pictures", {}).items())
    flat = "" if flatness is None or not len(flatness) else (
        f"<h2>Flatness (lower is flatter)</h2>{_html_table(flatness)}<div>{flat_pics}</div>")
    text = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px}} figure{{display:inline-block;margin:6px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<ul>{note}</ul>
<h2>Mosaics (same stretch)</h2><img src="{rel(pictures['gif'])}" width="600">
<div>{mos}</div>
{flat}
<h2>MDRIZSKY per image and method</h2><img src="{rel(pictures['plot'])}" width="700">
{_html_table(table)}
<h2>Products</h2><ul>{prods}</ul>
</body></html>
"""
    if transaction is not None:
        data = text.encode("utf-8")
        return transaction.write(path, lambda fh: fh.write(data))
    return atomic_write_text(path, text)


def header_summary(paths: Iterable[str]) -> Table:
    """The notebook's ``ImageFileCollection`` summary of primary headers.

    Columns ``file, asn_id, detector, filter, exptime`` and, for FLT/FLC files,
    ``postarg1, postarg2``.
    """
    paths = list(paths)
    names = [os.path.basename(p) for p in paths]
    flt = any(("_flt" in n or "_flc" in n) for n in names)
    keys = ["asn_id", "detector", "filter", "exptime"] + (["postarg1", "postarg2"] if flt else [])
    numeric = {"exptime", "postarg1", "postarg2"}
    cols: dict[str, list] = {"file": names}
    from ._fits import open_fits_checked

    heads = []
    for p in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with open_fits_checked(p) as hl:
                heads.append(hl[0].header.copy())
    for k in keys:
        vals = [h.get(k.upper()) for h in heads]
        if k in numeric:
            cols[k] = [float(v) if isinstance(v, (int, float)) else float("nan") for v in vals]
        else:
            cols[k] = ["" if v is None else str(v) for v in vals]
    t = Table(cols, names=["file", *keys])
    for k, fmt in (("exptime", "7.1f"), ("postarg1", "7.2f"), ("postarg2", "7.2f")):
        if k in t.colnames:
            t[k].info.format = fmt
    return t
