"""Results of :func:`skymatch.align` and :func:`skymatch.tweakback`: alignment's results,
extended (subclasses)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..alignment import AlignResult as _AlignResult
from ..alignment import TweakbackResult as _TweakbackResult
from ._tabular import Tabular

__all__ = ["AlignResult", "TweakbackResult"]


# ---------------------------------------------------------------- alignment
@dataclass(frozen=True, repr=False, eq=False)
class AlignResult(Tabular, _AlignResult):
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
class TweakbackResult(Tabular, _TweakbackResult):
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
