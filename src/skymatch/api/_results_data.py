"""Results of :func:`skymatch.summary`, :func:`skymatch.fetch` and
:func:`skymatch.demo_data`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..datasets import MosaicTruth as _MosaicTruth
from ..io._mast import FetchResult as _FetchResult
from ._tabular import Tabular

__all__ = ["SummaryResult", "FetchResult", "MosaicTruth"]


# ---------------------------------------------------------------- data
@dataclass(frozen=True, repr=False, eq=False)
class SummaryResult(Tabular):
    """Outcome of :func:`skymatch.summary`: the inputs' header summary.

    Attributes
    ----------
    files : tuple of str
        The files summarised, in input order.
    table : astropy.table.Table
        ``file, asn_id, detector, filter, exptime`` (s) and, for FLT/FLC files,
        ``postarg1, postarg2`` (arcsec).
    table_file : str or None
        The table written (``table=``).
    """

    files: tuple[str, ...]
    table: Any
    table_file: str | None = None

    def to_table(self):
        """The header summary (a copy).

        Returns
        -------
        astropy.table.Table
        """
        return self.table.copy()

    def _summary(self) -> str:
        return f"{len(self.files)} files" + (f", table {self.table_file}" if self.table_file else "")


@dataclass(frozen=True, repr=False, eq=False)
class FetchResult(Tabular, _FetchResult):
    """Outcome of :func:`skymatch.fetch` (extends :class:`skymatch.io._mast.FetchResult`).

    Attributes
    ----------
    plan : FetchPlan
        What MAST offered: ``plan.products`` (rows), ``plan.n_files``, ``plan.total_bytes``.
    written, skipped, failed : tuple of str
        Files downloaded, already present and complete, failed.
    outdir : str
        Where the files go.
    dry_run : bool
        Nothing was downloaded.
    """

    outdir: str = "."
    dry_run: bool = False

    def to_table(self):
        """The products to download: file name, type, size (MB).

        Returns
        -------
        astropy.table.Table
        """
        from astropy.table import Table

        rows = self.plan.products
        t = Table()
        t["file"] = [str(r["productFilename"]) for r in rows]
        t["type"] = [str(r["productSubGroupDescription"]) for r in rows]
        t["size"] = [int(r["size"]) / 1e6 if "size" in rows.colnames else float("nan") for r in rows]
        t["size"].unit = "MB"
        t["size"].info.format = ".1f"
        return t

    def _summary(self) -> str:
        if self.dry_run:
            return (f"dry run: {self.plan.n_files} file(s), {self.plan.total_bytes / 1e6:.1f} MB to download"
                    f"; {len(self.plan.skipped)} already present")
        return (f"{len(self.written)} downloaded, {len(self.skipped)} already present, {len(self.failed)} failed"
                f", in {self.outdir}")


@dataclass(frozen=True, repr=False, eq=False)
class MosaicTruth(Tabular, _MosaicTruth):
    """Outcome of :func:`skymatch.demo_data` (extends
    :class:`skymatch.datasets.MosaicTruth`).

    Attributes
    ----------
    paths : tuple of str
        The exposures written.
    sky : dict
        ``{rootname: true sky}`` in e-/s.
    gradient : dict
        ``{rootname: (gx, gy)}`` in e-/s per chip width.
    truth_file : str
        ``truth.json``.
    drz : tuple of str
        Visit-level drizzled products (``drz=True``).
    """

    drz: tuple[str, ...] = ()

    def to_table(self):
        """Per exposure: rootname, file, true sky and gradient (e-/s).

        Returns
        -------
        astropy.table.Table
        """
        from astropy.table import Table

        roots = sorted(self.sky)
        by_root = {os.path.basename(p)[:9]: p for p in self.paths}
        t = Table()
        t["rootname"] = roots
        t["file"] = [os.path.basename(by_root.get(r, "")) for r in roots]
        t["sky"] = [self.sky[r] for r in roots]
        t["gx"] = [self.gradient.get(r, (0.0, 0.0))[0] for r in roots]
        t["gy"] = [self.gradient.get(r, (0.0, 0.0))[1] for r in roots]
        for name in ("sky", "gx", "gy"):
            t[name].unit = "electron / s"
            t[name].info.format = ".6f"
        return t

    def _summary(self) -> str:
        folder = os.path.dirname(self.truth_file) or "."
        return (f"{len(self.paths)} exposures" + (f" and {len(self.drz)} visit DRZ products" if self.drz else "")
                + f" in {folder}; truth {self.truth_file}")
