"""Turning what the user typed into a list of input files (SPEC section 1)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Iterable

from ..exceptions import InputError

__all__ = ["InputSpec", "expand_inputs"]

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputSpec:
    """One input file and its optional per-chip user mask files (in chip order)."""

    path: str
    masks: tuple[str, ...] = field(default_factory=tuple)


def _read_at_file(path: str) -> list[InputSpec]:
    if not os.path.isfile(path):
        raise InputError(f"@{path}: list file not found")
    base = os.path.dirname(os.path.abspath(path))
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.replace(",", " ").split()
            resolve = lambda p: p if os.path.isabs(p) else os.path.join(base, p)  # noqa: E731
            out.append(InputSpec(resolve(parts[0]), tuple(resolve(p) for p in parts[1:])))
    if not out:
        raise InputError(f"@{path}: the list file names no input")
    return out


def _expand_one(item: str) -> list[InputSpec]:
    item = item.strip()
    if not item:
        return []
    if item.startswith("@"):
        return _read_at_file(item[1:])
    if "," in item:
        return [s for part in item.split(",") for s in _expand_one(part)]
    if _GLOB_CHARS & set(item):
        matches = sorted(glob.glob(item))
        if not matches:
            raise InputError(f"{item}: no file matches this pattern")
        return [InputSpec(m) for m in matches]
    return [InputSpec(item)]


def expand_inputs(inputs: str | os.PathLike | Iterable) -> list[InputSpec]:
    """Expand globs (sorted), lists, comma-separated strings and ``@file`` lists.

    Order is kept (a glob expands in sorted file-name order, as the Reference does).

    Raises
    ------
    InputError
        A pattern matching nothing, an empty list, or the same file given twice.
    """
    if isinstance(inputs, (str, os.PathLike)):
        items: list = [os.fspath(inputs)]
    else:
        items = list(inputs)
    specs: list[InputSpec] = []
    for item in items:
        if isinstance(item, InputSpec):
            specs.append(item)
        else:
            specs.extend(_expand_one(os.fspath(item)))
    if not specs:
        raise InputError("no input files given")
    seen: dict[str, str] = {}
    for s in specs:
        key = os.path.realpath(s.path)
        if key in seen:
            raise InputError(f"{s.path}: given more than once (also as {seen[key]}); list each input once")
        seen[key] = s.path
    return specs
