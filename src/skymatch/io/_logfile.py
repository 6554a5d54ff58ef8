"""The per-run log file: skymatch's ``astrodrizzle.log``.

A :class:`RunLog` is a context manager around one run.  It appends to the log file a
header (skymatch and library versions, the command, every parameter), then every record
of the ``skymatch`` logger and every Python warning raised during the run, then the
timings and products the caller reports and how the run ended.

It never changes what the user sees elsewhere: records go to the other handlers exactly
as they would have without the log file (same levels, same propagation, Python's last
resort handler when none is configured), and warnings are still shown (or raised) as
the active warning filters say.  The file is written as the run goes (not atomically):
a run that dies leaves a log of what it did.
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
import time
import warnings
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Self

from .._version import __version__
from ..exceptions import WriteError

__all__ = ["RunLog", "DEFAULT_PACKAGES"]

DEFAULT_PACKAGES = ("numpy", "scipy", "astropy", "drizzle", "shapely", "matplotlib")
_LOGGER = "skymatch"
_RULE = "=" * 78


def _package_versions(packages: Sequence[str]) -> str:
    out = [f"python {platform.python_version()}"]
    for name in packages:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


class _Forward(logging.Handler):
    """Hands a record to the handlers that would have seen it without the log file.

    This is :meth:`logging.Logger.callHandlers` for the logger's state before the run:
    its own handlers, then its ancestors' while it propagated, Python's last-resort
    handler when there were none, and only records at or above its level then.
    """

    def __init__(self, logger: logging.Logger, handlers: list, propagate: bool, threshold: int) -> None:  # noqa: FBT001 - the logger state saved in order
        super().__init__(logging.NOTSET)
        self._logger = logger
        self._handlers = handlers
        self._propagate = propagate
        self._threshold = threshold

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self._threshold:
            return
        found = 0
        for h in self._handlers:
            found += 1
            if record.levelno >= h.level:
                h.handle(record)
        node = self._logger.parent if self._propagate else None
        while node is not None:
            for h in node.handlers:
                found += 1
                if record.levelno >= h.level:
                    h.handle(record)
            node = node.parent if node.propagate else None
        last = logging.lastResort
        if not found and last is not None and record.levelno >= last.level:
            last.handle(record)


class RunLog:
    """Append one run's record to a log file.

    Parameters
    ----------
    path : str or path
        The log file (its directory is created if needed); appended to, so runs
        that share a log (``skymatch.log`` in the working directory) keep their
        history.
    command : str
        The public function run (``'sky'``, ``'run'``, ...).
    parameters : Mapping
        The run's parameters, written one per line.
    packages : sequence of str
        Libraries whose versions are recorded (besides Python and skymatch).

    Raises
    ------
    WriteError
        The log file cannot be opened for writing.

    Examples
    --------
    >>> with RunLog("out_skymatch.log", command="run", parameters={"output": "out"}) as log:
    ...     log.record_mapping("timings (s)", {"sky": 0.8})      # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, command: str, parameters: Mapping[str, Any],
                 packages: Sequence[str] = DEFAULT_PACKAGES) -> None:
        self.path = os.fspath(path)
        self.command = command
        self.parameters = dict(parameters)
        self.packages = tuple(packages)
        self._file = None
        self._handler: logging.Handler | None = None
        self._saved: tuple | None = None
        self._warnings: Any = None
        self._t0 = 0.0

    # ------------------------------------------------------------ writing
    def _write(self, text: str) -> None:
        handler = self._handler
        if handler is not None:
            handler.acquire()
        try:
            self._file.write(text if text.endswith("\n") else text + "\n")
            self._file.flush()
        finally:
            if handler is not None:
                handler.release()

    def record(self, text: str) -> None:
        """Add a line (or lines) of text to the log."""
        self._write(text)

    def record_mapping(self, title: str, values: Mapping[str, Any]) -> None:
        """Write ``title:`` then one ``key = value`` line per item."""
        lines = [f"{title}:"] + [f"    {k} = {_fmt(v)}" for k, v in values.items()]
        self._write("\n".join(lines))

    def writable(self) -> bool:
        """Whether the log file can be created or appended to."""
        if os.path.exists(self.path):
            return os.access(self.path, os.W_OK)
        folder = os.path.dirname(os.path.abspath(self.path))
        while not os.path.exists(folder):  # created on the way (compare's outdir)
            parent = os.path.dirname(folder)
            if parent == folder:
                return False
            folder = parent
        return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)

    # ------------------------------------------------------------ context
    def __enter__(self) -> Self:
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise WriteError(f"log_file={self.path!r}: cannot write the log ({exc.strerror or exc}); "
                             "give another path, or log_file=False for no log") from None
        self._t0 = time.perf_counter()
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self._write(f"{_RULE}\nskymatch {__version__}: {self.command}, started {now}")
        self._write(f"versions: {_package_versions(self.packages)}")
        self.record_mapping("parameters", self.parameters)
        self._attach()
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        shown = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            self._write(f"{_stamp()} WARNING {category.__name__}: {message}")
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._warnings is not None:
                self._warnings.__exit__(None, None, None)
            elapsed = time.perf_counter() - self._t0
            if exc is None:
                self._write(f"finished in {elapsed:.2f} s")
            elif isinstance(exc, KeyboardInterrupt):
                self._write(f"interrupted after {elapsed:.2f} s")
            else:
                self._write(f"failed after {elapsed:.2f} s: {type(exc).__name__}: {exc}")
        finally:
            self._detach()
            self._file.close()

    def _attach(self) -> None:
        """Route the ``skymatch`` logger's records (INFO and up) into the file too."""
        logger = logging.getLogger(_LOGGER)
        threshold = logger.getEffectiveLevel()
        self._saved = (logger.level, list(logger.handlers), logger.propagate)
        handler = logging.StreamHandler(self._file)
        handler.setLevel(min(threshold, logging.INFO))
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                               "%H:%M:%S"))
        self._handler = handler
        logger.handlers = [handler, _Forward(logger, self._saved[1], self._saved[2], threshold)]
        logger.propagate = False
        logger.setLevel(min(threshold, logging.INFO))

    def _detach(self) -> None:
        if self._saved is None:
            return
        logger = logging.getLogger(_LOGGER)
        level, handlers, propagate = self._saved
        logger.handlers = handlers
        logger.propagate = propagate
        logger.setLevel(level)
        self._saved = None
        self._handler = None


def _stamp() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S")  # noqa: DTZ005 - the log shows local wall-clock time


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 12:
        return f"[{', '.join(repr(v) for v in value[:10])}, ... ({len(value)} items)]"
    return repr(value)
