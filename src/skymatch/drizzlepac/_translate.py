"""DrizzlePac value spellings and the refusals shared by the three entry points.

DrizzlePac writes "nothing" as ``''``, ``None`` or ``'INDEF'``; skymatch as None.  A
parameter skymatch cannot honour is collected while a call is checked, and the call
then stops with one :class:`~skymatch.exceptions.ParameterError` listing every such
parameter with its fix (so a script needs one edit, not one per run).
"""

from __future__ import annotations

import os
from typing import Any

from ..exceptions import ParameterError

__all__ = ["blank", "same", "optional_path", "Refusals"]

_NOTHING = ("", "indef", "none")


def blank(value: Any) -> bool:
    """True for DrizzlePac's spellings of "not given": None, '', 'INDEF', 'None'."""
    if value is None:
        return True
    return isinstance(value, str) and value.strip().lower() in _NOTHING


def same(value: Any, default: Any) -> bool:
    """``value`` equals DrizzlePac's default (numbers compared as numbers)."""
    if blank(default):
        return blank(value)
    if isinstance(default, bool) or isinstance(value, bool):
        return value is default or (isinstance(value, bool) and value == default)
    if isinstance(default, (int, float)):
        try:
            return float(value) == float(default)
        except (TypeError, ValueError):
            return False
    if isinstance(default, str) and isinstance(value, str):
        return value.strip().lower() == default.strip().lower()
    return value == default


class Refusals:
    """The parameters of one call that skymatch cannot honour."""

    def __init__(self, tool: str) -> None:
        self._tool = tool
        self._items: dict[str, list[str]] = {}  # reason -> the parameters refused for it

    def add(self, name: str, value: Any, why: str) -> None:
        """Record ``name=value`` as refused, ``why`` saying what skymatch does instead."""
        self._items.setdefault(why, []).append(f"{name}={value!r}")

    def unless_default(self, name: str, value: Any, default: Any, why: str) -> None:
        """Refuse ``name`` unless it has DrizzlePac's default (the only value skymatch does)."""
        if not same(value, default):
            self.add(name, value, why)

    def unless_blank(self, name: str, value: Any, why: str) -> None:
        """Refuse ``name`` unless it is not given ('', None, 'INDEF')."""
        if not blank(value):
            self.add(name, value, why)

    def raise_any(self) -> None:
        """Raise one ParameterError naming every refused parameter."""
        if self._items:
            raise ParameterError(f"{self._tool}: not supported by skymatch: " + "; ".join(
                f"{', '.join(names)}: {why}" for why, names in self._items.items()))


def optional_path(value: Any) -> str | None:
    """A DrizzlePac file-name parameter: None when blank, else the path as given."""
    if blank(value):
        return None
    return os.fspath(value) if isinstance(value, os.PathLike) else value
