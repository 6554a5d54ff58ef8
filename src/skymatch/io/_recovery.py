"""Undoing what a killed run left half done: the recovery side of the header journal.

:func:`recover_directory` finds journals (``.skymatch-journal-<pid>-<random>.tmp``) whose
writer is dead (its ``flock`` is free: see :func:`~skymatch.io._atomic.is_orphan`) and
puts every file they list back to its old bytes, idempotently: a patch is undone only
where the file holds the new bytes, the old ones, or a prefix of the new followed by
the old (a write cut short); anything else means another program changed the file
since, and the journal is kept for a human.  A journal without its final checksum was
never acted upon and is deleted.  See :mod:`~skymatch.io._journal` for the protocol.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

from ..exceptions import WriteError
from ._atomic import TMP_PREFIX, describe_os_error, fsync_dir, is_orphan, temp_owner_pid

__all__ = ["recover_directory", "journal_references", "JOURNAL_KIND", "JOURNAL_MAGIC",
           "restore_entry", "pread_all", "pwrite_all", "unlink_quiet"]

JOURNAL_KIND = "journal"
JOURNAL_MAGIC = "skymatch-journal"


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``os.pwrite`` until every byte is written."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def pread_all(fd: int, n: int, offset: int) -> bytes:
    """``os.pread`` until ``n`` bytes are read (fewer at the end of the file)."""
    out = b""
    while len(out) < n:
        chunk = os.pread(fd, n - len(out), offset + len(out))
        if not chunk:
            break
        out += chunk
    return out


def unlink_quiet(path: str) -> None:
    """Remove ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class _UnrecoverableError(Exception):
    pass


def _torn(cur: bytes, old: bytes, new: bytes) -> bool:
    """``cur`` is the new bytes, or a prefix of them followed by the old ones (a write
    cut short)."""
    if len(cur) != len(old) or len(new) != len(old):
        return False
    k = 0
    while k < len(cur) and cur[k] == new[k]:
        k += 1
    return cur[k:] == old[k:]


def _b(value) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


def restore_entry(entry: dict, *, live: bool = False) -> None:
    """Put one journalled file back to its old bytes (idempotent)."""
    path = entry["path"]
    backup, tmp = entry.get("backup"), entry.get("tmp")
    if backup or tmp:
        if backup and os.path.exists(backup):
            os.replace(backup, path)
        else:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) != (entry["dev"], entry["ino"]):
                raise _UnrecoverableError(f"{path}: replaced since the interrupted update and its "
                                     "backup is gone")
        if tmp:
            unlink_quiet(tmp)
        fsync_dir(os.path.dirname(path))
        return
    patches = entry.get("patches") or []
    if not patches:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (entry["dev"], entry["ino"]):
            raise _UnrecoverableError(f"{path}: is another file than the one the interrupted update "
                                 "changed")
        todo = []
        for x in patches:
            old, new = _b(x["old"]), _b(x["new"])
            cur = pread_all(fd, len(old), int(x["offset"]))
            if cur == old:
                continue
            if not live and not _torn(cur, old, new):
                raise _UnrecoverableError(f"{path}: header changed by another program since the "
                                     "interrupted update")
            todo.append((int(x["offset"]), old))
        for offset, old in todo:
            pwrite_all(fd, old, offset)
        if todo:
            os.fsync(fd)
    finally:
        os.close(fd)


def _read_journal(path: str) -> dict | None:
    """The journal's content, or None when it is incomplete (never acted upon)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    body, sep, tail = raw.rpartition(b"\n#sha256:")
    if not sep or tail.strip() != hashlib.sha256(body).hexdigest().encode("ascii"):
        return None
    try:
        doc = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == JOURNAL_MAGIC else None


def _journals_in(directory: str) -> list[str]:
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return []
    return sorted(os.path.join(directory, n) for n in names
                  if n.startswith(f"{TMP_PREFIX}{JOURNAL_KIND}-") and n.endswith(".tmp"))


def journal_references(directory: str) -> set[str]:
    """Every temporary file named by a journal in ``directory`` (not to be cleaned)."""
    refs: set[str] = set()
    for j in _journals_in(directory):
        doc = _read_journal(j)
        if doc is None:
            continue
        for f in doc.get("files", []):
            for key in ("tmp", "backup"):
                if f.get(key):
                    refs.add(f[key])
    return refs


def recover_directory(directory: str) -> list[str]:
    """Roll back every update in ``directory`` that a killed skymatch run left half done.

    Returns the files restored to their state before that run.

    Raises
    ------
    WriteError
        A journal cannot be applied (no write permission, or a file was changed by
        another program since): it is kept and the message names the file.
    """
    restored: list[str] = []
    for j in _journals_in(directory):
        if not os.path.exists(j) or not is_orphan(j):
            continue
        doc = _read_journal(j)
        if doc is None:
            # Incomplete: the run died while writing it, before touching any file.
            unlink_quiet(j)
            continue
        try:
            for entry in doc.get("files", []):
                restore_entry(entry)
                restored.append(entry["path"])
        except _UnrecoverableError as exc:
            raise WriteError(f"{exc}; an interrupted skymatch update cannot be undone safely: "
                             f"check the file, then delete {j}") from None
        except OSError as exc:
            raise WriteError(f"{j}: cannot undo an interrupted skymatch update "
                             f"({describe_os_error(exc)}); run skymatch with write access to "
                             "that folder") from None
        for entry in doc.get("files", []):
            for key in ("tmp", "backup"):
                if entry.get(key):
                    unlink_quiet(entry[key])
        for other in doc.get("journals", []):
            if other != j and temp_owner_pid(other) == temp_owner_pid(j):
                unlink_quiet(other)
        unlink_quiet(j)
        fsync_dir(directory)
    return restored
