"""Writing a file so that it is either absent (or old) or complete, never half-written.

Every writer in skymatch goes through :func:`atomic_write`: the content is written to a
temporary file in the destination's directory, flushed and fsynced, given the
permissions any other program would give a new file (``0o666`` minus the umask, or the
mode of the file it replaces), and renamed over the destination in one step.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Callable

from ..exceptions import WriteError

__all__ = ["TMP_PREFIX", "atomic_write", "atomic_write_text", "fsync_dir", "new_file_mode"]

TMP_PREFIX = ".skymatch-"


def new_file_mode() -> int:
    """Permission bits of a new regular file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (best effort where not supported)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None], *,
                 overwrite: bool = True, mode: int | None = None) -> str:
    """Create or replace ``path`` atomically with what ``write(fileobj)`` writes.

    Parameters
    ----------
    path : path
        Destination.
    write : callable
        Called with a binary file object open for writing.
    overwrite : bool
        Replace an existing file (else :class:`~skymatch.exceptions.WriteError`).
    mode : int, optional
        Permission bits (default: those of the file replaced, else ``0o666 & ~umask``).

    Returns
    -------
    str
        The path written.
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise WriteError(f"{path}: already exists; use --overwrite (overwrite=True) to replace it")
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True,
                      encoding: str = "utf-8") -> str:
    """:func:`atomic_write` of a text."""
    data = text.encode(encoding)
    return atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)
