"""Results of :func:`skymatch.sky`, :func:`skymatch.drizzle`, :func:`skymatch.run` and
:func:`skymatch.compare`: the pipeline's runs, extended (subclasses)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..pipeline import DrizzleRun as _DrizzleRun
from ..pipeline import SkyRun as _SkyRun
from ._tabular import Tabular, brightness_units, data_units, describe, short_files

__all__ = ["SkyRun", "MosaicRun", "CompareRun"]


# ---------------------------------------------------------------- sky
@dataclass(frozen=True, repr=False, eq=False)
class SkyRun(Tabular, _SkyRun):
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
        describe(t, mdrizsky="sky in the chip's data units (column units)",
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
        describe(t, sky_i=f"overlap sky of exposure i, brightness units ({label})",
                  sky_j=f"overlap sky of exposure j, brightness units ({label})",
                  residual=f"(M_i - M_j) - (sky_i - sky_j) after the solve, brightness units ({label})")
        t.meta["units"] = f"sky_i, sky_j, residual in brightness units ({label}), not MDRIZSKY's data units"
        return t

    def _summary(self) -> str:
        wrote = "read-only" if self.parameters.get("readonly") else f"{len(self.written)} file(s) written"
        model = self.result.sky_model
        return (f"{len(self.chips)} chips, skymethod {self.method}"
                + (f", sky model {model}" if model != "constant" else "")
                + f", MDRIZSKY in {data_units(self.chips)}, {wrote}"
                + (f", log {self.log_file}" if self.log_file else ""))

    def _notes(self) -> list[str]:
        return [(f"mdrizsky in data units ({data_units(self.chips)}); sky_brightness in "
                 f"{brightness_units(self.chips)}")]


# ---------------------------------------------------------------- mosaics
@dataclass(frozen=True, repr=False, eq=False)
class MosaicRun(Tabular, _DrizzleRun):
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

        from ..core._skymodel import chip_mean, order_of_coeffs

        names = {0: "constant", 1: "plane", 2: "poly2", 3: "poly3"}
        skies = self.mosaic.skies

        def coeffs(c):
            v = skies.get(c.name, 0.0)
            return (float(v),) if isinstance(v, (int, float)) else tuple(float(x) for x in v)

        t = Table()
        t["chip"] = [c.name for c in self.chips]
        t["rootname"] = [str(c.meta.get("ROOTNAME", "")) for c in self.chips]
        t["asn_id"] = [str(c.meta.get("ASN_ID", "")) for c in self.chips]
        t["mdrizsky"] = [chip_mean(coeffs(c), c.shape) for c in self.chips]
        t["sky_model"] = [names[order_of_coeffs(len(coeffs(c)))] for c in self.chips]
        t["units"] = [c.units or "unknown" for c in self.chips]
        t["mdrizsky"].info.format = ".8g"
        describe(t, mdrizsky="sky subtracted before drizzling (the model's mean over the chip), in the "
                             "chip's data units (column units)")
        return t

    def _summary(self) -> str:
        ny, nx = self.frame.shape
        return (f"{len(self.chips)} chips onto {nx} x {ny} px ({self.frame.pixel_scale_arcsec:.4f} arcsec/px), "
                f"products {short_files(self.paths)}" + (f", log {self.log_file}" if self.log_file else ""))


@dataclass(frozen=True, repr=False, eq=False)
class CompareRun(Tabular, _DrizzleRun):
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
        The CSV table (``'csv'``); with the flatness score ``'flatness'`` (its table)
        and ``'flatness_csv'``; with pictures ``'plot'``, ``'mosaics'``, ``'gif'``,
        ``'flatness_pictures'`` and ``'html'``.
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
