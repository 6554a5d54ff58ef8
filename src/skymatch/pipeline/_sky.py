"""The sky step as a file-to-file run: read inputs, compute skies, write headers and tables."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..core import SKY_METHODS, canonical_method, sky_methods, user_sky_result
from ..core._executor import make_executor
from ..core._skymodel import canonical_model
from ..exceptions import ParameterError
from ..io import (
    RunTransaction,
    read_inputs,
    read_skyfile,
    read_skyuser,
    sky_table,
    transactional,
    write_sky,
    write_table,
)
from ..models import Chip, SkyResult

__all__ = ["SkyRun", "run_sky", "run_sky_methods"]

log = logging.getLogger("skymatch")


@dataclass(frozen=True)
class SkyRun:
    """Outcome of :func:`run_sky`: results per method, the chips, files written, timings."""

    results: dict[str, SkyResult]
    chips: tuple[Chip, ...]
    written: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def result(self) -> SkyResult:
        """The (first) result."""
        return next(iter(self.results.values()))


def _sky_options(options: dict) -> dict:
    allowed = {"skystat", "lower", "upper", "nclip", "lsigma", "usigma", "binwidth",
               "sky_bits", "use_static", "static_sig", "match_down", "on_empty"}
    unknown = set(options) - allowed
    if unknown:
        raise ParameterError(f"unknown sky option(s): {', '.join(sorted(unknown))}")
    return options


def run_sky(
    inputs,
    *,
    method: str = "match",
    sky_model: str = "constant",
    compat: str | None = None,
    readonly: bool = False,
    subtract: bool = False,
    skyfile: str | None = None,
    skyuser: str | None = None,
    table: str | None = None,
    jobs: int | None = None,
    dask: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    **sky_options: Any,
) -> SkyRun:
    """Compute the sky of every input and write ``MDRIZSKY`` (AstroDrizzle's sky step).

    Parameters
    ----------
    inputs : str, path or list
        Glob, list, comma-separated string or ``@file`` list.
    method : str
        ``localmin``, ``globalmin``, ``match`` or ``globalmin+match``.
    sky_model : {'constant', 'plane', 'poly2', 'poly3'}
        One value per exposure, or a polynomial (SPEC section 12).
    compat : {None, 'drizzlepac'}
        Reproduce AstroDrizzle's numbers.
    readonly : bool
        Write nothing into the inputs.
    subtract : bool
        Also subtract the sky from the pixel data.
    skyfile : str, optional
        User sky values (``filename sky [sky2 ...]``; ``# applied = yes`` if subtracted).
    skyuser : str, optional
        Header keyword holding a sky the user already subtracted.
    table : str, optional
        Write a ``.csv`` or ``.ecsv`` table of the results (with the flatness score).
    jobs : int, optional
        Parallel processes (default: threads, one per core).
    dask : Client or str, optional
        Run the tasks on a dask.distributed cluster.
    progress : callable(stage, done, total), optional
    **sky_options
        Options of :func:`skymatch.core.sky_methods` (``skystat``, ``nclip``, ``sky_bits``
        ...).

    Returns
    -------
    SkyRun
    """
    if skyfile and skyuser:
        raise ParameterError("give either skyfile or skyuser, not both")
    if subtract and readonly:
        raise ParameterError("subtract and readonly exclude each other")
    methods = ["user"] if (skyfile or skyuser) else [canonical_method(method)]
    sky_options = _sky_options(sky_options)
    if methods != ["user"]:
        sky_options["sky_model"] = canonical_model(sky_model)
    return _run(inputs, methods, compat=compat, readonly=readonly, subtract=subtract,
                skyfile=skyfile, skyuser=skyuser, table=table, jobs=jobs, dask=dask,
                progress=progress, sky_options=sky_options)


def run_sky_methods(
    inputs,
    *,
    methods: Sequence[str] = SKY_METHODS,
    compat: str | None = None,
    jobs: int | None = None,
    dask: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    **sky_options: Any,
) -> SkyRun:
    """Compute several sky methods on the same inputs, sharing all statistics.

    Nothing is written into the inputs, so no header value of one method can leak into
    another.
    """
    return _run(inputs, [canonical_method(m) for m in methods], compat=compat, readonly=True,
                subtract=False, skyfile=None, skyuser=None, table=None, jobs=jobs, dask=dask,
                progress=progress, sky_options=_sky_options(sky_options))


@transactional
def _run(txn: RunTransaction, inputs, methods, *, compat, readonly, subtract, skyfile, skyuser,
         table, jobs, dask, progress, sky_options) -> SkyRun:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # The run's transaction: inputs locked (and checked writable), outputs validated,
    # before anything is read or computed; everything is written at commit.
    specs = txn.open_inputs(inputs, write=not readonly)
    if table:
        txn.check_table(table)
    layouts: dict | None = None if readonly else {}
    chips = read_inputs(specs, compat=compat is not None, layouts=layouts)
    timings["read headers"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if methods == ["user"]:
        if skyfile:
            values, applied = read_skyfile(skyfile, chips)
            results = {"user": user_sky_result(chips, values, applied=applied, source=skyfile)}
        else:
            values = read_skyuser(skyuser, chips)
            results = {"user": user_sky_result(chips, values, applied=True,
                                               source=f"keyword {skyuser}")}
    else:
        executor = make_executor(jobs, dask)
        results = sky_methods(chips, methods=methods, compat=compat, executor=executor,
                              progress=progress, flatness=bool(table), **sky_options)
    timings["sky"] = time.perf_counter() - t1
    log.info("sky computed for %d chips in %.2f s", len(chips), timings["sky"])
    written: list[str] = []
    if not readonly:
        t2 = time.perf_counter()
        written = write_sky(next(iter(results.values())), chips, subtract=subtract,
                            progress=progress, transaction=txn, layouts=layouts)
        timings["write headers"] = time.perf_counter() - t2
    if table:
        write_table(sky_table(next(iter(results.values())), chips), table, transaction=txn)
    return SkyRun(results=results, chips=tuple(chips), written=tuple(written), timings=timings)
