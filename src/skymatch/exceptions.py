"""Errors and warnings raised by skymatch.

Every error a user can cause derives from :class:`SkymatchError`; the CLI prints its
message as one line and exits with status 1.  Library code never calls ``sys.exit``.
"""

from __future__ import annotations

__all__ = [
    "SkymatchError",
    "InputError",
    "ParameterError",
    "WriteError",
    "InUseError",
    "SkymatchWarning",
    "DisconnectedMosaicWarning",
    "UndeterminedSkyWarning",
    "UnitsWarning",
]


class SkymatchError(Exception):
    """Base class of every error skymatch raises on purpose."""


class InputError(SkymatchError):
    """An input file, extension or in-memory chip cannot be used."""


class ParameterError(SkymatchError, ValueError):
    """An option has a value skymatch does not accept."""


class WriteError(SkymatchError):
    """Results could not be written (read-only file, existing output, ...)."""


class InUseError(WriteError):
    """A file or output folder is locked by another skymatch run (wait, then run again)."""


class SkymatchWarning(UserWarning):
    """Base class of skymatch's warnings."""


class DisconnectedMosaicWarning(SkymatchWarning):
    """The overlap graph of a ``match`` run has more than one connected component."""


class UndeterminedSkyWarning(SkymatchWarning):
    """A chip or exposure got no sky value from the data (it is written as 0 and flagged)."""


class UnitsWarning(SkymatchWarning):
    """The data units of an input could not be recognised."""
