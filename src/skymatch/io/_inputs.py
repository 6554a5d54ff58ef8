"""Turning what the user typed into a list of input files (SPEC section 1)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Iterable

from ..exceptions import InputError, ParameterError

__all__ = ["InputSpec", "expand_inputs"]

_GLOB_CHARS = frozenset("*?[")


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
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"@{path}: not a text file in UTF-8 (byte {exc.start}: "
                         f"{exc.object[exc.start:exc.start + 1]!r}); give one file name per line") from None
    except OSError as exc:
        raise InputError(f"@{path}: cannot read the list file ({exc.strerror or exc})") from None
    if "\0" in text:
        raise InputError(f"@{path}: not a text file (it contains NUL bytes); give one file name per line")
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        parts = entry.replace(",", " ").split()
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


_INPUTS_FIX = ("give file names, a glob ('*flt.fits'), a comma-separated string, an @list file or a list "
               "of them")


def expand_inputs(inputs: str | os.PathLike | Iterable) -> list[InputSpec]:
    """Expand globs (sorted), lists, comma-separated strings and ``@file`` lists.

    Order is kept (a glob expands in sorted file-name order, as the Reference does).

    Raises
    ------
    InputError
        A pattern matching nothing, an empty list, or the same file given twice (also
        through a symbolic link or a hard link).
    """
    if isinstance(inputs, (str, os.PathLike)):
        items: list = [os.fspath(inputs)]
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (bytes, dict)):
        items = list(inputs)
    else:
        raise ParameterError(f"inputs={inputs!r}: {_INPUTS_FIX}")
    specs: list[InputSpec] = []
    for k, item in enumerate(items):
        if isinstance(item, InputSpec):
            specs.append(item)
        elif isinstance(item, (str, os.PathLike)):
            specs.extend(_expand_one(os.fspath(item)))
        else:
            raise ParameterError(f"inputs[{k}]={item!r}: {_INPUTS_FIX}")
    if not specs:
        raise InputError("no input files given")
    seen: dict[object, str] = {}
    for s in specs:
        try:
            st = os.stat(s.path)  # follows links: the file itself
            key: object = (st.st_dev, st.st_ino)
        except OSError:
            key = os.path.realpath(s.path)  # missing: reported by the reader
        if key in seen:
            how = "" if os.path.realpath(s.path) == os.path.realpath(seen[key]) else " (the same file through a link)"
            raise InputError(f"{s.path}: given more than once (also as {seen[key]}{how}); list each input once")
        seen[key] = s.path
    return specs
