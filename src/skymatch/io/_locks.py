"""Advisory locks on input files and output folders (``flock``), and file identities.

A run that writes into an input holds an exclusive lock on it from before it reads it
until it has committed; a run that only reads holds a shared lock.  Locks are ``flock``
locks on an open descriptor: the kernel releases them on any exit, ``kill -9``
included.  Because a full rewrite replaces a file by a new inode, a lock is only valid
while the path still names the inode locked: :func:`lock_path` re-checks that after
acquiring and starts again otherwise.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass

from ..exceptions import InUseError

__all__ = ["FileIdentity", "PathLock", "lock_path", "identity", "LOCK_WAIT_SECONDS"]

#: How long a run waits for another skymatch run to release a file or folder.
LOCK_WAIT_SECONDS = 3.0
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class FileIdentity:
    """What identifies one version of a file: device, inode, size, modification time."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def identity(path: str) -> FileIdentity:
    """The :class:`FileIdentity` of ``path`` now (following symbolic links)."""
    return FileIdentity.of(os.stat(path))


@dataclass
class PathLock:
    """A held ``flock`` on a file or folder; :meth:`release` (or process exit) frees it."""

    path: str
    fd: int
    exclusive: bool

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            finally:
                self.fd = -1


def _holder_pid(st: os.stat_result) -> int | None:
    """Best effort: the pid holding a flock on this inode, from ``/proc/locks`` (Linux)."""
    try:
        with open("/proc/locks", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    dev_major, dev_minor = os.major(st.st_dev), os.minor(st.st_dev)
    want = {f"{dev_major:02x}:{dev_minor:02x}:{st.st_ino}", f"{dev_major:x}:{dev_minor:x}:{st.st_ino}"}
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"; "->" lines are waiters.
        if len(parts) < 6 or parts[1] != "FLOCK":
            continue
        try:
            pid = int(parts[4])
        except ValueError:
            continue
        if parts[5].lower() in want and pid != os.getpid():
            return pid
    return None


def lock_path(path: str, *, exclusive: bool, what: str = "file",
              wait: float | None = None) -> PathLock:
    """Lock ``path`` (a file or a folder), waiting up to ``wait`` seconds (default
    :data:`LOCK_WAIT_SECONDS`).

    Raises
    ------
    InUseError
        Another skymatch run still holds it after ``wait`` seconds.
    OSError
        ``path`` cannot be opened (missing, no permission).
    """
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    while True:
        fd = os.open(path, flags)
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            st = os.fstat(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                pid = _holder_pid(st)
                who = f" (pid {pid})" if pid else ""
                raise InUseError(
                    f"{path}: {what} in use by another skymatch run{who}; wait for it to finish, "
                    "then run again") from None
            time.sleep(_POLL_SECONDS)
            continue
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            return PathLock(path, fd, exclusive)
        os.close(fd)  # replaced while we waited: lock the new file
