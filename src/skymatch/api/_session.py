"""One public call's surroundings: its progress reporting and its log file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ._progress import ProgressCallback, progress_reporter

__all__ = ["session"]


@contextmanager
def session(command: str, parameters: Mapping[str, Any], log_file: str | None, progress: Any, *,
            packages: Sequence[str] | None = None) -> Iterator[tuple[ProgressCallback | None, Any]]:
    """Yield ``(progress callback or None, RunLog or None)`` for one run.

    The log file (when ``log_file`` is a path) records the parameters, versions,
    log records, warnings, and how the run ended.  A default log the run cannot write
    (``parameters['log_file']`` not given: the current folder is read-only, say) is
    skipped with a warning; a log file the caller named must be writable.
    """
    with progress_reporter(progress) as callback:
        if log_file is None:
            yield callback, None
            return
        import warnings

        from ..exceptions import SkymatchWarning
        from ..io._logfile import DEFAULT_PACKAGES, RunLog

        log = RunLog(log_file, command=command, parameters=parameters,
                     packages=DEFAULT_PACKAGES if packages is None else packages)
        if parameters.get("log_file") in (None, True) and not log.writable():
            warnings.warn(f"no log written: {log_file} cannot be created here; give a writable path "
                          "(--log-file PATH, log_file=PATH) to have one", SkymatchWarning, stacklevel=3)
            yield callback, None
            return
        with log:
            yield callback, log
