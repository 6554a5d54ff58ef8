"""Progress reporting for the public API and the command line.

``progress`` is what the caller gave: ``None`` (automatic: bars when running in a
Jupyter notebook or when stderr is a terminal), ``False`` (off), ``True`` (bars) or a
callable ``progress(stage, done, total)`` called as work completes.  The pipeline only
ever sees a callable (or None).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import ParameterError

__all__ = ["ProgressCallback", "check_progress", "progress_reporter", "in_notebook", "ProgressBars"]

ProgressCallback = Callable[[str, int, int], None]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython is only looked at when already imported)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a broken IPython install means "not a notebook"
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def check_progress(progress: Any, *, name: str = "progress") -> Any:
    """Validate ``progress`` (None, a bool or a callable) and return it."""
    if progress is None or isinstance(progress, bool) or callable(progress):
        return progress
    raise ParameterError(f"{name}={progress!r}: give None (automatic), True, False or a callable "
                         "progress(stage, done, total)")


class ProgressBars:
    """One tqdm bar per stage (``tqdm.auto``: a widget in notebooks, text elsewhere).

    Stages with fewer than two tasks get no bar.  Call :meth:`close` when done.
    """

    def __init__(self, *, notebook: bool | None = None) -> None:
        self._bars: dict[str, Any] = {}
        self._notebook = in_notebook() if notebook is None else notebook

    def _tqdm(self):
        if self._notebook:
            try:
                import ipywidgets  # noqa: F401  (tqdm.auto warns and falls back without it)
            except ImportError:
                pass
            else:
                from tqdm.auto import tqdm

                return tqdm
        from tqdm import tqdm

        return tqdm

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total < 2:
            return
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = self._tqdm()(total=total, desc=f"{stage:>12s}", unit="task",
                                                   leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        """Close every bar still open."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


@contextmanager
def progress_reporter(progress: Any) -> Iterator[ProgressCallback | None]:
    """The callable to hand to the pipeline for the caller's ``progress`` value.

    Parameters
    ----------
    progress : None, bool or callable
        None: bars when in a notebook or when stderr is a terminal; False: none;
        True: bars; a callable is used as it is.

    Yields
    ------
    callable or None
        ``callback(stage, done, total)``, or None for no progress reporting.
    """
    if progress is None:
        progress = in_notebook() or _stderr_is_terminal()
    if progress is False:
        yield None
        return
    if progress is True:
        bars = ProgressBars()
        try:
            yield bars
        finally:
            bars.close()
        return
    yield progress
