"""Validation at the public boundary: one helper per kind of value, each naming the
parameter as the caller spelled it (``skylower=nan: give a finite number or None``).

Only the standard library is imported here; helpers that need the core's authority
(sky methods, DQ bit syntax, sky models) import it when called.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..exceptions import ParameterError, WriteError

__all__ = [
    "as_bool", "as_optional_bool", "as_float", "as_int", "as_choice", "as_str", "as_path",
    "as_names", "as_bits", "as_inputs", "as_jobs", "as_dask", "as_log_file", "as_table_path",
    "as_output", "as_outdir", "as_skymethod", "as_sky_models", "as_pair", "check_range_order", "reject",
]


def reject(name: str, value: Any, fix: str) -> ParameterError:
    """A ParameterError saying ``name=value: fix``."""
    return ParameterError(f"{name}={value!r}: {fix}")


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy.bool_


def as_bool(value: Any, name: str) -> bool:
    """True or False (numpy booleans too); anything else is refused."""
    if _is_bool(value):
        return bool(value)
    raise reject(name, value, "give True or False")


def as_optional_bool(value: Any, name: str) -> bool | None:
    """None, True or False."""
    return None if value is None else as_bool(value, name)


def as_float(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
             exclusive_minimum: bool = False, optional: bool = False, allow_nan: bool = False) -> float | None:
    """A real number (int or float, numpy scalars too; not bool, not str), finite unless
    ``allow_nan``, within the bounds."""
    if value is None:
        if optional:
            return None
        raise reject(name, value, "give a number")
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise reject(name, value, "give a number" + (" or None" if optional else ""))
    v = float(value)
    if math.isnan(v) and allow_nan:
        return v
    if not math.isfinite(v):
        raise reject(name, value, "give a finite number" + (" or None" if optional else ""))
    if minimum is not None and (v < minimum or (exclusive_minimum and v == minimum)):
        raise reject(name, value, f"must be {'>' if exclusive_minimum else '>='} {minimum:g}")
    if maximum is not None and v > maximum:
        raise reject(name, value, f"must be <= {maximum:g}")
    return v


def as_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
           optional: bool = False) -> int | None:
    """A whole number (int, numpy integer, or a float with no fraction; not bool)."""
    if value is None:
        if optional:
            return None
        raise reject(name, value, "give a whole number")
    if _is_bool(value):
        raise reject(name, value, "give a whole number" + (" or None" if optional else ""))
    whole_float = isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer()
    if isinstance(value, numbers.Integral) or whole_float:
        v = int(value)
    else:
        raise reject(name, value, "give a whole number" + (" or None" if optional else ""))
    if minimum is not None and v < minimum:
        raise reject(name, value, f"must be >= {minimum}")
    if maximum is not None and v > maximum:
        raise reject(name, value, f"must be <= {maximum}")
    return v


def as_str(value: Any, name: str, *, optional: bool = False, max_length: int | None = None) -> str | None:
    """A non-empty string (surrounding blanks removed)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise reject(name, value, "give a non-empty string" + (" or None" if optional else ""))
    text = value.strip()
    if max_length is not None and len(text) > max_length:
        raise reject(name, value, f"at most {max_length} characters")
    return text


def as_choice(value: Any, name: str, choices: Sequence[str], *, optional: bool = False) -> str | None:
    """One of ``choices`` (case-insensitive)."""
    if value is None and optional:
        return None
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise reject(name, value, f"use one of {', '.join(choices)}" + (" or None" if optional else ""))


def as_path(value: Any, name: str, *, optional: bool = False) -> str | None:
    """A file path (str or os.PathLike), returned as str."""
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise reject(name, value, "give a file path" + (" or None" if optional else ""))
    return value


def as_names(value: Any, name: str, canonical: Callable[[str], str]) -> tuple[str, ...]:
    """A list of names or one comma-separated string (``'match'`` is one name, never
    five letters), each made canonical by ``canonical(text)``; duplicates dropped."""
    if isinstance(value, str):
        items: list = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = list(value)
    else:
        raise reject(name, value, "give a name, a comma-separated string or a list of names")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise reject(name, value, "every entry must be a string")
        for part in item.split(","):
            if part.strip():
                out.append(canonical(part.strip()))
    if not out:
        raise reject(name, value, "name at least one")
    return tuple(dict.fromkeys(out))


def as_skymethod(value: Any, name: str = "skymethod") -> str:
    """A canonical sky method name (JWST aliases accepted)."""
    from ..core import canonical_method

    if not isinstance(value, str):
        raise reject(name, value, "give a sky method name (localmin, globalmin, match, globalmin+match)")
    try:
        return canonical_method(value)
    except ParameterError as exc:
        raise ParameterError(_rename(str(exc), "skymethod", name)) from None


def as_sky_models(value: Any, name: str = "sky_model", *, several: bool = False) -> tuple[str, ...]:
    """Sky model name(s), validated by :func:`skymatch.core._skymodel.canonical_model`."""
    from ..core._skymodel import canonical_model

    models = as_names(value, name, lambda text: canonical_model(text, name=name))
    if len(models) > 1 and not several:
        raise reject(name, value, "give one sky model here (compare takes several)")
    return models


def _rename(message: str, old: str, new: str) -> str:
    return message.replace(f"{old}=", f"{new}=", 1) if old != new else message


def as_bits(value: Any, name: str) -> int | str | None:
    """DQ flags counted as good: an int, a string (``'64'``, ``'4+8'``, ``'~4'``) or None."""
    from ..core import parse_bits

    if _is_bool(value) or not (value is None or isinstance(value, (str, numbers.Integral))):
        raise reject(name, value, "give an integer, a string like '4+8' or '~64', or None")
    if isinstance(value, str) and value.strip().lower() in ("", "none", "indef"):
        return None
    try:
        parse_bits(value)
    except ParameterError as exc:
        raise ParameterError(_rename(str(exc), "sky_bits", name)) from None
    return int(value) if isinstance(value, numbers.Integral) else value


def as_inputs(value: Any, name: str = "inputs") -> str | list[str]:
    """Input files: a path, glob, comma-separated list or ``@file``, or a list of those."""
    fix = "give file names, a glob ('*flt.fits'), a comma-separated string, an @list file or a list of them"
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if not isinstance(text, str) or not text.strip():
            raise reject(name, value, fix)
        return text
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = list(value)
        if not items:
            raise reject(name, value, fix)
        out = []
        for k, item in enumerate(items):
            if isinstance(item, os.PathLike):
                item = os.fspath(item)
            if not isinstance(item, str) or not item.strip():
                raise reject(f"{name}[{k}]", item, fix)
            out.append(item)
        return out
    raise reject(name, value, fix)


def as_pair(value: Any, name: str, *, kind: str = "float", minimum: float | None = None,
            optional: bool = False) -> tuple | None:
    """Two numbers, e.g. ``tiles=(3, 3)`` or ``misalign=(1.0, 0.02)``."""
    if value is None and optional:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise reject(name, value, "give two numbers, e.g. (3, 3)")
    items = list(value)
    if len(items) != 2:
        raise reject(name, value, "give two numbers, e.g. (3, 3)")
    conv = as_int if kind == "int" else as_float
    return tuple(conv(v, name, minimum=minimum) for v in items)


def as_jobs(value: Any, name: str = "jobs") -> int | None:
    """None (one worker per core) or a whole number of local workers."""
    from ..core._executor import MAX_JOBS

    return as_int(value, name, minimum=1, maximum=MAX_JOBS, optional=True)


def as_dask(value: Any, name: str = "dask") -> Any:
    """None, a scheduler address (``'tcp://host:8786'``) or a dask.distributed Client."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    if all(hasattr(value, attr) for attr in ("map", "gather", "submit")):
        return value
    raise reject(name, value, "give a scheduler address like 'tcp://127.0.0.1:8786' or a "
                              "dask.distributed.Client")


def as_log_file(value: Any, default: str, name: str = "log_file") -> str | None:
    """The log file path: None or True = ``default``, False = no log file, or a path."""
    if value is None or value is True:
        return default
    if value is False:
        return None
    return as_path(value, name)


def as_table_path(value: Any, name: str = "table") -> str | None:
    """None or a ``.csv``/``.ecsv`` path (checked before any work is done)."""
    path = as_path(value, name, optional=True)
    if path is not None and os.path.splitext(path)[1].lower() not in (".csv", ".ecsv"):
        raise reject(name, value, "table files must end in .csv or .ecsv")
    return path


def as_output(value: Any, name: str = "output") -> str:
    """An output name whose directory exists."""
    path = as_path(value, name)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WriteError(f"{name}={value!r}: the directory {folder} does not exist; create it first")
    return path


def as_outdir(value: Any, name: str = "outdir") -> str:
    """A folder path (created later if missing); an existing file there is refused."""
    path = as_path(value, name)
    if os.path.exists(path) and not os.path.isdir(path):
        raise WriteError(f"{name}={value!r}: is a file, not a folder; give a folder path")
    return path


def check_range_order(low: float | None, high: float | None, low_name: str, high_name: str) -> None:
    """Refuse ``low >= high`` when both are given."""
    if low is not None and high is not None and low >= high:
        raise ParameterError(f"{low_name}={low:g} is not below {high_name}={high:g}: "
                             f"give {low_name} < {high_name}")
