"""``skymatch.sky``: AstroDrizzle's sky step on files, the CLI's ``skymatch sky``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ParameterError
from ._choices import DEFAULT_SKYMETHOD
from ._docs import fill
from ._options import SKY_OPTIONS, compat_option, options_of, sky_model_options, sky_options
from ._progress import check_progress
from ._session import session
from ._validate import (
    as_bool,
    as_dask,
    as_inputs,
    as_jobs,
    as_log_file,
    as_path,
    as_skymethod,
    as_str,
    as_table_path,
)

if TYPE_CHECKING:
    from ._results_sky import SkyRun

__all__ = ["sky", "Inputs", "Progress", "DEFAULT_LOG"]

Inputs = str | os.PathLike | Sequence[str | os.PathLike]
Progress = bool | Callable[[str, int, int], None] | None
DEFAULT_LOG = "skymatch.log"


@fill
def sky(
    inputs: Inputs,
    *,
    skymethod: str = DEFAULT_SKYMETHOD,
    sky_model: str = "constant",
    skystat: str = "median",
    skywidth: float = 0.1,
    skylower: float | None = None,
    skyupper: float | None = None,
    skyclip: int = 5,
    skylsigma: float = 4.0,
    skyusigma: float = 4.0,
    sky_bits: int | str | None = "0",
    use_static: bool | None = None,
    match_down: bool = True,
    allow_empty: bool = False,
    compat: str | None = None,
    skyfile: str | os.PathLike | None = None,
    skyuser: str | None = None,
    readonly: bool = False,
    subtract: bool = False,
    table: str | os.PathLike | None = None,
    jobs: int | None = None,
    dask: Any = None,
    progress: Progress = None,
    log_file: str | os.PathLike | bool | None = None,
) -> SkyRun:
    """Compute every input's sky and write ``MDRIZSKY`` (AstroDrizzle's sky step).

    The same as ``skymatch sky`` on the command line, with the same option names
    (``--sky-bits`` is ``sky_bits=``).

    Parameters
    ----------
    %(inputs)s
    skymethod : str, default 'match'
        ``localmin``, ``globalmin``, ``match`` or ``globalmin+match`` (JWST names
        ``local``, ``global``, ``global+match`` too).
    %(sky_model)s
    %(sky_options)s
    skyfile : str, optional
        User sky values, one ``filename sky [sky2 ...]`` line per file
        (``# applied = yes`` when already subtracted).
    skyuser : str, optional
        Header keyword holding a sky the user already subtracted.
    readonly : bool, default False
        Compute and report; change no file (AstroDrizzle's ``skysub=False``).
    subtract : bool, default False
        Also subtract the sky from the pixels (``SMSUBTR = T`` records it).
    table : str, optional
        Also write the results as a ``.csv`` or ``.ecsv`` table.
    %(execution)s
    %(progress)s
    log_file : str, bool or None, optional
        The run's log (parameters, versions, timings, warnings). None or True:
        ``skymatch.log`` in the current directory (appended); False: no log.

    Returns
    -------
    SkyRun
        ``.result`` (a :class:`~skymatch.models.SkyResult`), ``.chips``, ``.written``,
        ``.to_table()``, ``.pairs_table()``.

    Raises
    ------
    ParameterError
        An option has a value skymatch does not accept (the message names it).
    InputError
        An input file cannot be used.
    WriteError
        A file cannot be written (read-only inputs: use ``readonly=True``).

    See Also
    --------
    run : the sky, then the drizzle.
    compare : every method, one mosaic each.

    Examples
    --------
    >>> import skymatch
    >>> r = skymatch.sky("*flt.fits", skymethod="match", readonly=True)   # doctest: +SKIP
    >>> r.to_table()["file", "mdrizsky", "valid"]                           # doctest: +SKIP
    """
    call = dict(locals())
    inputs = as_inputs(inputs)
    method = as_skymethod(skymethod)
    _, model_kw = sky_model_options(sky_model, compat=compat)
    opts = sky_options(**options_of(call, SKY_OPTIONS))
    compat = compat_option(compat)
    skyfile, skyuser, readonly, subtract = _user_sky_and_writing(skyfile, skyuser, readonly, subtract)
    table = as_table_path(table)
    jobs = as_jobs(jobs)
    dask = as_dask(dask)
    check_progress(progress)
    log_path = as_log_file(log_file, DEFAULT_LOG)

    from ..pipeline import run_sky
    from ._results_sky import SkyRun
    from ._tabular import base_values

    with session("sky", call, log_path, progress) as (callback, log):
        r = run_sky(inputs, method=method, compat=compat, readonly=readonly, subtract=subtract,
                    skyfile=skyfile, skyuser=skyuser, table=table, jobs=jobs, dask=dask,
                    progress=callback, **opts, **model_kw)
        _log_sky(log, r, table)
    return SkyRun(**base_values(r), table_file=table, log_file=log_path, parameters=call)


def _user_sky_and_writing(skyfile: Any, skyuser: Any, readonly: Any, subtract: Any) -> tuple:
    """``skyfile``, ``skyuser``, ``readonly`` and ``subtract`` checked, each and together."""
    skyfile = as_path(skyfile, "skyfile", optional=True)
    skyuser = as_str(skyuser, "skyuser", optional=True)
    readonly = as_bool(readonly, "readonly")
    subtract = as_bool(subtract, "subtract")
    if skyfile is not None and skyuser is not None:
        raise ParameterError(f"skyfile={skyfile!r} and skyuser={skyuser!r}: give one of them, not both")
    if subtract and readonly:
        raise ParameterError("subtract=True and readonly=True exclude each other: a read-only run "
                             "changes no pixel")
    return skyfile, skyuser, readonly, subtract


def _log_sky(log, r, table: str | None) -> None:
    """The sky run's results in its log (when there is one)."""
    if log is None:
        return
    from ._tabular import data_units

    log.record_mapping(f"MDRIZSKY ({r.result.method}, data units: {data_units(r.chips)})",
                       {c.name: c.sky for c in r.result.chips})
    log.record_mapping("timings (s)", r.timings)
    log.record(f"headers written: {len(r.written)} file(s)" + (f"; table: {table}" if table else ""))
