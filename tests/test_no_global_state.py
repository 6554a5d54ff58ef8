"""No hidden state: module globals are constants, and concurrent runs equal sequential ones.

docs/architecture.md: "Nothing is cached at module level"; DESIGN.md: "No module-level
mutable state (caches, locks)".  Every module of skymatch is imported and each name it
assigns at module level (found with ``ast``, so re-exported names are judged where
they are defined) must hold an immutable constant: numbers, strings, bytes, None,
tuples and frozensets of constants, ``types.MappingProxyType`` of constants, enums,
compiled regexes, loggers, frozen dataclass instances of constants, read-only numpy
arrays, numpy scalars and dtypes, classes, functions and type aliases.  Dicts, lists,
sets, OrderedDicts, bytearrays, writable arrays, locks, ``itertools`` counters, memo
caches (``functools.lru_cache``) and any other object with mutable state fail, and
so does a ``global`` statement anywhere.  Dunder names (``__all__``, ``__version__``)
follow Python's conventions and are not judged.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import logging
import re
import threading
import types
import typing
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "skymatch"

_IMMUTABLE_SCALARS = (type(None), bool, int, float, complex, str, bytes, range, slice,
                      type(Ellipsis), np.generic, np.dtype)
_TYPING = (type, types.GenericAlias, types.UnionType, typing.TypeVar, types.FunctionType,
           types.BuiltinFunctionType, types.MethodType, staticmethod, classmethod, property)


def _modules():
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue  # runs the CLI when imported
        out.append((".".join(parts), path))
    return out


MODULES = _modules()


def _assigned_names(tree: ast.Module) -> dict[str, int]:
    """Names bound by assignments in the module body (not inside functions/classes)."""
    names: dict[str, int] = {}

    def targets(t):
        if isinstance(t, ast.Name):
            yield t.id
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                yield from targets(e)

    def visit(body):
        for node in body:
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    for n in targets(t):
                        names.setdefault(n, node.lineno)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                for n in targets(node.target):
                    names.setdefault(n, node.lineno)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                # Conditional definitions (``try: import x except ImportError: x = None``).
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(node, block, []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)

    visit(tree.body)
    return names


def why_mutable(value, depth: int = 0) -> str | None:
    """None when ``value`` is an immutable constant, else what makes it mutable."""
    if depth > 6:
        return "nested too deeply to judge"
    if isinstance(value, (*_IMMUTABLE_SCALARS, enum.Enum)):
        return None
    if hasattr(value, "cache_info") and callable(value):
        return "a memo cache (functools.lru_cache/cache)"
    if isinstance(value, _TYPING) or typing.get_origin(value) is not None:
        return None
    if isinstance(value, (re.Pattern, logging.Logger)):
        return None
    if isinstance(value, (tuple, frozenset)):
        for v in value:
            why = why_mutable(v, depth + 1)
            if why:
                return f"holds {why}"
        return None
    if isinstance(value, types.MappingProxyType):
        for k, v in value.items():
            why = why_mutable(k, depth + 1) or why_mutable(v, depth + 1)
            if why:
                return f"holds {why}"
        return None
    if isinstance(value, np.ndarray):
        return None if not value.flags.writeable else "a writable numpy array (set writeable=False)"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if not type(value).__dataclass_params__.frozen:
            return f"a mutable dataclass instance ({type(value).__name__})"
        for f in dataclasses.fields(value):
            why = why_mutable(getattr(value, f.name), depth + 1)
            if why:
                return f"holds {why}"
        return None
    kind = type(value)
    lock_types = (type(threading.Lock()), type(threading.RLock()), threading.Condition,
                  threading.Semaphore, threading.Event)
    if isinstance(value, lock_types):
        return f"a lock ({kind.__name__})"
    return f"a {kind.__module__}.{kind.__qualname__} (mutable state)"


def global_state_violations() -> list[str]:
    out = []
    for name, path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(SRC.parent)
        out.extend(f"{rel}:{node.lineno}: `global {', '.join(node.names)}`"
                   for node in ast.walk(tree) if isinstance(node, ast.Global))
        module = importlib.import_module(name)
        for var, lineno in sorted(_assigned_names(tree).items(), key=lambda kv: kv[1]):
            if var.startswith("__") and var.endswith("__"):
                continue
            if var not in vars(module):
                continue
            why = why_mutable(vars(module)[var])
            if why:
                out.append(f"{rel}:{lineno}: {var}: {why}")
    return out


def test_judge_of_constants():
    ok = [1, 2.5, "x", b"x", None, (1, ("a", 2.0)), frozenset({1}), types.MappingProxyType({"a": (1,)}),
          re.compile("x"), logging.getLogger("x"), np.float32(1), np.dtype("f4"), tuple[int, str],
          int | None, dataclasses.make_dataclass("F", ["a"], frozen=True)(1)]
    ro = np.zeros(3)
    ro.flags.writeable = False
    ok.append(ro)
    for v in ok:
        assert why_mutable(v) is None, v
    import functools
    import itertools

    bad = [{}, [], set(), bytearray(), np.zeros(3), threading.Lock(), threading.RLock(),
           itertools.count(), (1, []), types.MappingProxyType({"a": []}),
           dataclasses.make_dataclass("M", ["a"])(1), functools.lru_cache()(lambda: 1)]
    for v in bad:
        assert why_mutable(v) is not None, v


def test_no_module_level_mutable_state():
    bad = global_state_violations()
    assert not bad, (f"{len(bad)} module-level mutable objects or `global` statements "
                     "(make them constants, or per-run state passed as arguments):\n"
                     + "\n".join(bad))


# ------------------------------------------------------------------ concurrent runs
def _run_concurrently(fn, args, timeout=600.0):
    """``[fn(a) for a in args]``, each call in its own thread, all started together."""
    barrier = threading.Barrier(len(args))
    results: list = [None] * len(args)
    errors: list = []

    def worker(k):
        try:
            barrier.wait(timeout=60)
            results[k] = fn(args[k])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a run did not finish"
    if errors:
        raise errors[0]
    return results


@pytest.mark.slow
def test_concurrent_runs_equal_sequential_runs(small_mosaic, blank_mosaic):
    """Two runs on different mosaics in two threads at once give the sequential numbers.

    Any state shared between runs (a module-level pixel cache emptied by the run that
    ends first, a counter, a lock-protected WCS) would show here as a changed number or
    an exception.  Each run uses its own thread pool too (the default executor).
    """
    from skymatch import run_sky

    dirs = [small_mosaic[0], blank_mosaic[0]]

    def one(d):
        r = run_sky(str(d / "*_flt.fits"), method="globalmin+match", readonly=True)
        return [(c.name, c.sky, c.valid) for c in r.result.chips]

    sequential = [one(d) for d in dirs]
    assert all(v for run in sequential for _, _, v in run)
    assert _run_concurrently(one, dirs) == sequential


def _tile_wcs(col0):
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [200.5 - col0, 50.5]
    w.wcs.cdelt = [-0.1 / 3600, 0.1 / 3600]
    return w


def test_concurrent_in_memory_runs_equal_sequential_runs():
    """The same with in-memory chips: equal names, different pixels in each run."""
    from skymatch import make_chip, match_sky

    def chips(seed):
        rng = np.random.default_rng(seed)
        base = rng.normal(0.0, 1.0, (100, 400))
        return [make_chip(base[:, c0:c0 + 100] + 10.0 * seed + k * (1 + seed), _tile_wcs(c0),
                          name=f"tile{k}", units="MJy/sr")
                for k, c0 in enumerate((0, 80, 160, 240, 300))]

    sets = [chips(1), chips(2)]

    def one(cs):
        return [c.sky for c in match_sky(cs, method="match", skystat="mean", nclip=0).chips]

    sequential = [one(cs) for cs in sets]
    # The true relative skies are k * (1 + seed): the runs differ, so a mix-up shows.
    assert sequential[0] == pytest.approx([0, 2, 4, 6, 8], abs=1e-4)
    assert sequential[1] == pytest.approx([0, 3, 6, 9, 12], abs=1e-4)
    for _ in range(3):
        assert _run_concurrently(one, sets) == sequential
