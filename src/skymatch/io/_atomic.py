"""Writing a file so that it is either absent (or old) or complete, never half-written.

Every writer in skymatch goes through :func:`atomic_write`: the content is written to a
temporary file in the destination's directory, flushed and fsynced, given the
permissions any other program would give a new file (``0o666`` minus the umask, or the
mode of the file it replaces), and renamed over the destination in one step.

Temporary files are named ``.skymatch-<kind>-<pid>-<random>.tmp`` and hold an exclusive
``flock`` for as long as their writer lives, so a later run can *prove* that a leftover
is orphaned (its writer is dead: the lock is free and the process is gone, or the lock
is free and the file is older than a few seconds) and remove it
(:func:`clean_orphans`).
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import secrets
import shutil
import time
from collections.abc import Callable
from types import MappingProxyType
from typing import IO

from ..exceptions import WriteError

__all__ = ["TMP_PREFIX", "atomic_write", "atomic_write_text", "fsync_dir", "fsync_file", "new_file_mode",
           "locked_temp", "describe_os_error", "write_error", "clean_orphans", "is_orphan",
           "temp_owner_pid"]

TMP_PREFIX = ".skymatch-"
#: A leftover whose lock is free is orphaned when its writer is gone or, if the writer's
#: pid was reused, when it is older than this (a live writer locks its file at once).
ORPHAN_AGE_SECONDS = 5.0

_MESSAGES = MappingProxyType({
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (file size limit reached)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a component of the path is not a folder",
    errno.EISDIR: "is a folder",
    errno.EIO: "input/output error",
    errno.EXDEV: "not on the same file system",
    errno.ENAMETOOLONG: "file name too long",
})


def describe_os_error(exc: OSError) -> str:
    """A short, stable description of an ``OSError`` (no traceback, no Python names)."""
    text = _MESSAGES.get(exc.errno or -1)
    if text is None:
        text = (exc.strerror or str(exc) or type(exc).__name__).strip()
    return f"{text} (errno {exc.errno})" if exc.errno else text


def write_error(path: str, exc: OSError, *, action: str = "cannot write",
                after: str = "nothing was changed") -> WriteError:
    """A :class:`WriteError` naming ``path`` and what went wrong, as one line."""
    return WriteError(f"{path}: {action}: {describe_os_error(exc)}; {after}")


def new_file_mode() -> int:
    """Permission bits of a new regular file under the current umask.

    Read from ``/proc/self/status`` where available (changing the umask to read it is
    not thread-safe), else by setting and restoring it.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_file(path: str, *, data_only: bool = False) -> None:
    """Make a written file durable (``fsync``; ``fdatasync`` with ``data_only``, when
    only bytes inside the file changed); raises ``OSError`` when it fails."""
    fd = os.open(path, os.O_RDONLY)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    finally:
        os.close(fd)


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


class _GuardedRaw(io.RawIOBase):
    """A raw file over ``fd`` that remembers the first ``OSError`` of a write.

    Libraries re-raise write errors without their errno (astropy's free-space check
    raises a new ``OSError`` from the message, or an ``AttributeError`` when writing to
    a file object; numpy's ``tofile`` reports a short write without errno), so the
    real cause (disk full, file too large ...) is kept here.  Not a ``FileIO``, so
    astropy writes through :meth:`write` instead of ``numpy.tofile``.
    """

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self._fd = fd
        self.name = name
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:
        try:
            return os.write(self._fd, b)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def seek(self, offset: int, whence: int = 0) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def fileno(self) -> int:
        return self._fd


def guarded_writer(fd: int, name: str) -> tuple[io.BufferedWriter, _GuardedRaw]:
    """A buffered binary writer on ``fd`` and the raw file that records write errors.

    Close it with :func:`close_writer` before closing ``fd``.
    """
    raw = _GuardedRaw(fd, name)
    return io.BufferedWriter(raw, buffer_size=1 << 20), raw


def close_writer(fh: io.BufferedWriter, raw: _GuardedRaw) -> None:
    """Close a :func:`guarded_writer` without writing what is still buffered (after an
    error) and without closing its descriptor."""
    raw.close()
    try:
        fh.close()
    except (OSError, ValueError):
        pass


def locked_temp(directory: str, kind: str = "tmp") -> tuple[int, str]:
    """Create ``directory/.skymatch-<kind>-<pid>-<random>.tmp`` and lock it (flock, exclusive).

    Returns the open file descriptor (read-write; the lock lasts until it is closed) and
    the path.  The file starts with mode ``0o600``; :func:`atomic_write` sets the final
    mode before the rename.
    """
    for _ in range(100):
        path = os.path.join(directory, f"{TMP_PREFIX}{kind}-{os.getpid()}-{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, path
    raise FileExistsError(errno.EEXIST, "cannot create a unique temporary file", directory)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None], *,
                 overwrite: bool = True, mode: int | None = None, durable: bool = True) -> str:
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
    durable : bool
        fsync the file and its folder (default).  ``False`` is for files staged by a run,
        whose transaction makes them durable before putting them in place.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    WriteError
        The destination exists (``overwrite=False``), or the file system refused
        (full disk, read-only, permissions ...); the destination is then unchanged.
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
    try:
        fd, tmp = locked_temp(directory)
    except OSError as exc:
        raise write_error(path, exc) from None
    fh, raw = guarded_writer(fd, tmp)
    try:
        write(fh)
        fh.flush()
        close_writer(fh, raw)
        if durable:
            os.fsync(fd)
        os.fchmod(fd, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        close_writer(fh, raw)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        os.close(fd)
        cause = raw.error or (exc if isinstance(exc, OSError) else None)
        if cause is not None and not isinstance(exc, KeyboardInterrupt):
            raise write_error(path, cause) from None
        raise
    os.close(fd)
    if durable:
        fsync_dir(directory)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True,
                      encoding: str = "utf-8") -> str:
    """:func:`atomic_write` of a text."""
    data = text.encode(encoding)
    return atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)


# ---------------------------------------------------------------- leftovers
def temp_owner_pid(name: str) -> int | None:
    """The writer's pid encoded in a skymatch temporary name, if any."""
    base = os.path.basename(name)
    if not base.startswith(TMP_PREFIX):
        return None
    parts = base[len(TMP_PREFIX):].split("-")
    for p in parts[1:]:
        if p.isdigit():
            return int(p)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan(path: str) -> bool:
    """True when ``path`` (a skymatch temporary file or folder) has no live writer.

    Proof: nobody holds its ``flock`` and either the pid in its name is not running or
    it is older than :data:`ORPHAN_AGE_SECONDS` (a live writer takes the lock the moment
    it creates the file).  Files from older skymatch versions (never locked) qualify by
    age alone.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live writer holds it
        pid = temp_owner_pid(path)
        if pid is not None and pid != os.getpid() and not _pid_alive(pid):
            return True
        try:
            age = time.time() - os.fstat(fd).st_mtime
        except OSError:
            return False
        return age > ORPHAN_AGE_SECONDS
    finally:
        os.close(fd)


def clean_orphans(directory: str, *, keep: set[str] | frozenset = frozenset()) -> list[str]:
    """Remove skymatch temporary files and staging folders in ``directory`` left by
    killed runs (see :func:`is_orphan`); return what was removed.

    Journals, and the files named in ``keep`` (those a journal refers to), are not
    touched here: the journal recovery deals with them first.
    """
    removed: list[str] = []
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return removed
    for name in names:
        if not name.startswith(TMP_PREFIX) or name.startswith(TMP_PREFIX + "journal"):
            continue
        path = os.path.join(directory, name)
        if not (name.endswith(".tmp") or name.startswith(TMP_PREFIX + "stage")) or path in keep:
            continue
        if not is_orphan(path):
            continue
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed
