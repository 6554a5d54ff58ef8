"""What the public functions return: frozen results a notebook can show and tabulate.

Each class extends the pipeline's (or alignment's, datasets', fetch's) result with what
the call was given and where it wrote, and adds ``to_table()`` (an astropy Table with
units labelled), ``to_pandas()``, a one-line ``repr`` and ``_repr_html_``.  They are
subclasses, so code written against the lower-level classes keeps working.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping

from ..alignment import AlignResult as _AlignResult
from ..alignment import TweakbackResult as _TweakbackResult
from ..datasets import MosaicTruth as _MosaicTruth
from ..exceptions import SkymatchError
from ..io._mast import FetchResult as _FetchResult
from ..pipeline import DrizzleRun as _DrizzleRun
from ..pipeline import SkyRun as _SkyRun

__all__ = ["SkyRun", "MosaicRun", "CompareRun", "AlignResult", "TweakbackResult", "SummaryResult",
           "FetchResult", "MosaicTruth", "brightness_units", "data_units"]

_HTML_ROWS = 40


def _base_values(obj: Any) -> dict:
    """The dataclass fields of a lower-level result, to build the extended one."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def data_units(chips) -> str:
    """The chips' data units, e.g. ``'ELECTRONS/S'`` (several joined by ``', '``)."""
    return ", ".join(sorted({(c.units or "unknown units") for c in chips})) or "data units"


def brightness_units(chips) -> str:
    """The units of skymatch's brightness scale for these chips (docs/conventions.md):
    data per arcsec², rates for data in counts; surface brightness stays as it is."""
    labels = []
    for c in chips:
        unit = c.units or "data units"
        if c.unit_kind == "surface":
            labels.append(unit)
        elif c.unit_kind == "counts":
            labels.append(f"{unit}/S per arcsec²")
        else:
            labels.append(f"{unit} per arcsec²")
    return ", ".join(sorted(set(labels))) or "brightness units"


class _Tabular:
    """``to_table`` / ``to_pandas`` / ``repr`` / ``_repr_html_`` for results."""

    def to_table(self):  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def to_pandas(self):
        """The table as a pandas DataFrame (needs pandas).

        Returns
        -------
        pandas.DataFrame
        """
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise SkymatchError(f"{type(self).__name__}.to_pandas() needs pandas: pip install pandas "
                                "(or use .to_table(), an astropy Table)") from None
        return self.to_table().to_pandas()

    def _summary(self) -> str:  # pragma: no cover - every result overrides it
        return ""

    def _notes(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._summary()}>"

    # MappingProxyType (the read-only ``parameters``) does not pickle: store a dict.
    def __getstate__(self) -> dict:
        return {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, MappingProxyType(v) if k == "parameters" else v)

    def _repr_html_(self) -> str:
        table = self.to_table()
        notes = "".join(f"<br><small>{html.escape(n)}</small>" for n in self._notes())
        shown = table[:_HTML_ROWS] if len(table) > _HTML_ROWS else table
        more = (f"<p><small>... {len(table) - _HTML_ROWS} more rows: .to_table() has them all</small></p>"
                if len(table) > _HTML_ROWS else "")
        return (f"<p><b>{type(self).__name__}</b>: {html.escape(self._summary())}{notes}</p>"
                + shown._repr_html_() + more)


def _describe(table, **descriptions: str) -> None:
    for name, text in descriptions.items():
        if name in table.colnames:
            table[name].description = text


def _files(paths) -> str:
    paths = list(paths)
    if not paths:
        return "none"
    names = [os.path.basename(p) for p in paths[:3]]
    return ", ".join(names) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")


# ---------------------------------------------------------------- sky
@dataclass(frozen=True, repr=False, eq=False)
class SkyRun(_Tabular, _SkyRun):
    """Outcome of :func:`skymatch.sky`.

    Attributes
    ----------
    results : dict
        ``{method: SkyResult}`` (one method; ``'user'`` for ``skyfile``/``skyuser``).
    chips : tuple of Chip
        The input chips, in input order.
    written : tuple of str
        Files whose headers got ``MDRIZSKY`` (empty when ``readonly``).
    timings : dict
        Seconds per step.
    table_file : str or None
        The table written (``table=``).
    log_file : str or None
        The run's log file.
    parameters : Mapping
        The options of the call, validated.
    """

    table_file: str | None = None
    log_file: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    @property
    def method(self) -> str:
        """The sky method (canonical name)."""
        return self.result.method

    @property
    def skies(self) -> dict[str, float]:
        """``{chip name: MDRIZSKY}`` in each chip's data units."""
        return self.result.sky

    def to_table(self):
        """One row per chip: file, extension, exposure, MDRIZSKY, validity, provenance.

        ``mdrizsky`` and ``local`` are in each chip's data units (column ``units``),
        ``sky_brightness`` in skymatch's brightness units (data per arcsec²).

        Returns
        -------
        astropy.table.Table
        """
        from ..io import sky_table

        t = sky_table(self.result, self.chips)
        units = {c.name: c.units or "unknown" for c in self.chips}
        t["units"] = [units[cs.name] for cs in self.result.chips]
        _describe(t, mdrizsky="sky in the chip's data units (column units)",
                  local="the chip's own statistic, data units",
                  sky_brightness=f"sky in brightness units ({brightness_units(self.chips)})")
        t.meta["units"] = (f"mdrizsky and local in data units ({data_units(self.chips)}); "
                           f"sky_brightness in {brightness_units(self.chips)}")
        return t

    def pairs_table(self):
        """The overlaps ``match`` used: one row per pair of exposures.

        ``sky_i``, ``sky_j`` (each exposure's sky in the overlap) and ``residual`` are
        in brightness units (data per arcsec²), not in the data units of ``MDRIZSKY``.

        Returns
        -------
        astropy.table.Table
        """
        from astropy.table import Table

        names = ["exposure_i", "exposure_j", "sky_i", "sky_j", "npix_i", "npix_j", "weight", "residual"]
        rows = [[getattr(p, n) for n in names] for p in self.result.pairs]
        t = Table(rows=rows, names=names) if rows else Table(names=names, dtype=["U1", "U1"] + ["f8"] * 6)
        label = brightness_units(self.chips)
        _describe(t, sky_i=f"overlap sky of exposure i, brightness units ({label})",
                  sky_j=f"overlap sky of exposure j, brightness units ({label})",
                  residual=f"(M_i - M_j) - (sky_i - sky_j) after the solve, brightness units ({label})")
        t.meta["units"] = f"sky_i, sky_j, residual in brightness units ({label}), not MDRIZSKY's data units"
        return t

    def _summary(self) -> str:
        wrote = "read-only" if self.parameters.get("readonly") else f"{len(self.written)} file(s) written"
        return (f"{len(self.chips)} chips, skymethod {self.method}, MDRIZSKY in {data_units(self.chips)}, "
                f"{wrote}" + (f", log {self.log_file}" if self.log_file else ""))

    def _notes(self) -> list[str]:
        return [f"mdrizsky in data units ({data_units(self.chips)}); sky_brightness in "
                f"{brightness_units(self.chips)}"]


# ---------------------------------------------------------------- mosaics
@dataclass(frozen=True, repr=False, eq=False)
class MosaicRun(_Tabular, _DrizzleRun):
    """Outcome of :func:`skymatch.drizzle` and :func:`skymatch.run`.

    Attributes
    ----------
    mosaics : dict
        ``{label: Mosaic}`` (one mosaic: ``sci``, ``wht``, ``ctx`` arrays and its frame).
    products : dict
        ``{label: [paths written]}``.
    frame : OutputFrame
        The output WCS and shape.
    chips : tuple of Chip
        The inputs, in drizzle order.
    sky : SkyRun or None
        The sky step (``run``); None for ``drizzle`` (skies from the headers).
    timings : dict
        Seconds per step.
    output : str
        The output name.
    log_file : str or None
        The run's log file.
    parameters : Mapping
        The options of the call, validated.
    """

    output: str = ""
    log_file: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    @property
    def mosaic(self):
        """The drizzled mosaic (``.sci``, ``.wht``, ``.ctx``, ``.frame``)."""
        return next(iter(self.mosaics.values()))

    @property
    def paths(self) -> list[str]:
        """The product files written."""
        return [p for ps in self.products.values() for p in ps]

    def to_table(self):
        """One row per input chip: the sky subtracted before drizzling (data units).

        Returns
        -------
        astropy.table.Table
        """
        from astropy.table import Table

        skies = self.mosaic.skies
        t = Table()
        t["chip"] = [c.name for c in self.chips]
        t["rootname"] = [str(c.meta.get("ROOTNAME", "")) for c in self.chips]
        t["asn_id"] = [str(c.meta.get("ASN_ID", "")) for c in self.chips]
        t["mdrizsky"] = [float(skies.get(c.name, 0.0)) for c in self.chips]
        t["units"] = [c.units or "unknown" for c in self.chips]
        t["mdrizsky"].info.format = ".8g"
        _describe(t, mdrizsky="sky subtracted before drizzling, in the chip's data units (column units)")
        return t

    def _summary(self) -> str:
        ny, nx = self.frame.shape
        return (f"{len(self.chips)} chips onto {nx} x {ny} px ({self.frame.pixel_scale_arcsec:.4f} arcsec/px), "
                f"products {_files(self.paths)}" + (f", log {self.log_file}" if self.log_file else ""))


@dataclass(frozen=True, repr=False, eq=False)
class CompareRun(_Tabular, _DrizzleRun):
    """Outcome of :func:`skymatch.compare`: every method's skies and mosaic.

    Attributes
    ----------
    mosaics : dict
        ``{method: Mosaic}``.
    products : dict
        ``{method: [paths written]}``.
    table : astropy.table.Table
        MDRIZSKY of every chip under every method (the notebook's columns).
    extras : dict
        The CSV table (``'csv'``) and, with pictures, ``'plot'``, ``'mosaics'``,
        ``'gif'`` and ``'html'``.
    sky : SkyRun
        All methods' sky results (``sky.results``).
    outdir : str
        Where everything was written.
    prefix : str
        Product name prefix.
    methods : tuple of str
        The methods compared.
    sky_models : tuple of str
        The sky models compared.
    log_file : str or None
        The run's log file.
    parameters : Mapping
        The options of the call, validated.
    """

    outdir: str = ""
    prefix: str = ""
    methods: tuple[str, ...] = ()
    sky_models: tuple[str, ...] = ("constant",)
    log_file: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def to_table(self):
        """MDRIZSKY per chip and method (data units): ``Rootname``, ``ASN_ID``,
        ``ORIENTAT`` (deg), then ``globalmin``, ``globalmin_match``, ``match``, ``local``.

        Returns
        -------
        astropy.table.Table
        """
        t = self.table.copy()
        t.meta["units"] = f"sky columns: MDRIZSKY in data units ({data_units(self.chips)}); ORIENTAT in deg"
        return t

    def plot(self, *, ax=None):
        """The notebook's plot of MDRIZSKY per image and method, on ``ax`` (default:
        the current matplotlib Axes, so it shows inline in a notebook).

        Returns
        -------
        matplotlib.axes.Axes
        """
        from ..plotting import plot_mdrizsky

        return plot_mdrizsky(self.table, ax=ax)

    def _summary(self) -> str:
        return (f"{len(self.methods)} methods x {len(self.sky_models)} sky model(s) for {len(self.chips)} chips "
                f"in {self.outdir}" + (f"; page {self.extras['html']}" if "html" in self.extras else "")
                + (f", log {self.log_file}" if self.log_file else ""))

    def _notes(self) -> list[str]:
        return [f"MDRIZSKY in data units ({data_units(self.chips)})"]


# ---------------------------------------------------------------- alignment
@dataclass(frozen=True, repr=False, eq=False)
class AlignResult(_Tabular, _AlignResult):
    """Outcome of :func:`skymatch.align` (extends :class:`skymatch.alignment.AlignResult`).

    Attributes
    ----------
    names, files, fits, updated, wcsname, grouping
        See :class:`skymatch.alignment.AlignResult`.
    shiftfile, table_file, residuals_plot : str or None
        Files written on request.
    log_file : str or None
        The run's log file.
    parameters : Mapping
        The options of the call, validated.
    """

    shiftfile: str | None = None
    table_file: str | None = None
    residuals_plot: str | None = None
    log_file: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def plot_residuals(self, *, fig=None, ylimit: float | None = None):
        """TweakReg's residual plots, on ``fig`` (default: a new pyplot figure, shown
        inline in a notebook).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ..plotting import draw_alignment_residuals

        return draw_alignment_residuals(self, fig=fig, ylimit=ylimit)

    @property
    def not_aligned(self) -> tuple[str, ...]:
        """Images that could not be aligned (their WCS is unchanged)."""
        return tuple(f.name for f in self.fits if not (f.aligned or f.reference))

    def to_table(self):
        """Per image: status, sources, shifts and RMS (reference pixels), rotation (deg).

        Returns
        -------
        astropy.table.Table
        """
        t = self.table()
        for name, unit in (("xshift", "pix"), ("yshift", "pix"), ("rms_x", "pix"), ("rms_y", "pix"),
                           ("rotation", "deg"), ("rms_arcsec", "arcsec")):
            if name in t.colnames:
                t[name].unit = unit
        return t

    def _summary(self) -> str:
        n = sum(1 for f in self.fits if f.aligned)
        return (f"{n} of {len(self.fits) - 1} images aligned to {self.names[0]} (grouped by {self.grouping}); "
                + (f"{len(self.updated)} file(s) updated, WCSNAME {self.wcsname!r}" if self.updated
                   else "headers unchanged"))


@dataclass(frozen=True, repr=False, eq=False)
class TweakbackResult(_Tabular, _TweakbackResult):
    """Outcome of :func:`skymatch.tweakback` (extends
    :class:`skymatch.alignment.TweakbackResult`).

    Attributes
    ----------
    drz, wcsname, chips, shift_centre, shift_max, rotation, updated, message
        See :class:`skymatch.alignment.TweakbackResult` (shifts in pixels, rotation in
        degrees).
    dry_run : bool
        Nothing was written.
    log_file : str or None
        The run's log file.
    """

    dry_run: bool = False
    log_file: str | None = None

    def to_table(self):
        """Per chip: how far its WCS moved (pixels) and turned (degrees).

        Returns
        -------
        astropy.table.Table
        """
        from astropy.table import Table

        t = Table()
        t["chip"] = list(self.chips) if self.chips else []
        t["shift_centre"] = list(self.shift_centre) if self.chips else []
        t["shift_max"] = list(self.shift_max) if self.chips else []
        t["rotation"] = list(self.rotation) if self.chips else []
        for name, unit in (("shift_centre", "pix"), ("shift_max", "pix"), ("rotation", "deg")):
            t[name].unit = unit
        return t

    def _summary(self) -> str:
        if self.message:
            return self.message
        done = "dry run, nothing written" if self.dry_run else f"{len(self.updated)} file(s) updated"
        return f"{os.path.basename(self.drz)}: {len(self.chips)} chips, WCSNAME {self.wcsname!r}, {done}"


# ---------------------------------------------------------------- data
@dataclass(frozen=True, repr=False, eq=False)
class SummaryResult(_Tabular):
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
class FetchResult(_Tabular, _FetchResult):
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
class MosaicTruth(_Tabular, _MosaicTruth):
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
