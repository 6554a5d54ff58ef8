"""What every result of the public functions shares: ``to_table`` / ``to_pandas`` /
a one-line ``repr`` / ``_repr_html_``, and the unit labels they print."""

from __future__ import annotations

import html
import os
from dataclasses import fields
from types import MappingProxyType
from typing import Any

from ..exceptions import SkymatchError

__all__ = ["Tabular", "base_values", "data_units", "brightness_units", "describe", "short_files"]

_HTML_ROWS = 40


def base_values(obj: Any) -> dict:
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


class Tabular:
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


def describe(table, **descriptions: str) -> None:
    for name, text in descriptions.items():
        if name in table.colnames:
            table[name].description = text


def short_files(paths) -> str:
    paths = list(paths)
    if not paths:
        return "none"
    names = [os.path.basename(p) for p in paths[:3]]
    return ", ".join(names) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
