"""Header updates of many files, all or nothing, at the cost of their headers.

A :class:`HeaderBatch` collects ``{file: {extension: {keyword: (value, comment)}}}``
updates.  Staging computes each file's new header blocks
(:mod:`~skymatch.io._fitsbytes`); when they still fit the blocks the header occupies
(after dropping or adding blank cards), the update is a *patch* of those bytes in
place, otherwise (a header that grew past its blocks, new pixel data) the file is
rewritten to a locked temporary copy beside it, every unchanged byte copied as it is.

Commit is the protocol of a database's undo journal:

1. every rewritten file gets a hard link to its current inode (the backup);
2. a journal, ``.skymatch-journal-<pid>-<random>.tmp`` in each folder involved, is written
   and fsynced: the old bytes of every patch, every backup and copy, and the names of
   all the batch's journals, then a SHA-256 of it all; its writer holds an ``flock`` on
   it for as long as it lives;
3. the patches are written in place and the copies renamed over their originals; the
   patched files are synced together (``fdatasync``, all in flight at once, so the file
   system commits them as one batch);
4. the journals are deleted: that is the commit point; then the backups.

A run killed in 3 (or before 4 ends) leaves a journal whose lock is free:
:func:`~skymatch.io._recovery.recover_directory`, called by every later run that touches
the folder, restores
every file the journal lists to its old bytes (idempotent; a file changed since by
somebody else is reported, not overwritten) and removes the leftovers.  A journal
without its final checksum was never acted upon and is simply deleted.  So after a
crash every file of the batch is old, or every file is new.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from ..exceptions import WriteError
from ._atomic import (
    TMP_PREFIX,
    close_writer,
    describe_os_error,
    fsync_dir,
    fsync_file,
    guarded_writer,
    locked_temp,
    write_error,
)
from ._fastfits import header_patches, layout_is_current
from ._fitsbytes import plan_update, write_spliced
from ._recovery import (
    JOURNAL_KIND,
    JOURNAL_MAGIC,
    journal_references,
    pread_all,
    pwrite_all,
    recover_directory,
    restore_entry,
    unlink_quiet,
)

__all__ = ["HeaderBatch", "recover_directory", "journal_references", "is_compressed"]
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"PK\x03\x04")


def is_compressed(path: str) -> bool:
    """True for gzip, bzip2 or zip files (astropy reads them; nobody can patch them)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return any(head.startswith(m) for m in _COMPRESSED_MAGIC)


@dataclass
class _Patch:
    offset: int
    old: bytes
    new: bytes


@dataclass
class _FilePlan:
    path: str  # the real path (symbolic links resolved)
    label: str  # as the user named it
    st: os.stat_result
    patches: list[_Patch] = field(default_factory=list)
    tmp: str | None = None
    tmp_fd: int = -1
    backup: str | None = None
    applied: bool = False


class HeaderBatch:
    """Staged header (and data) updates of several files, committed all or nothing.

    Examples
    --------
    >>> batch = HeaderBatch()                                        # doctest: +SKIP
    >>> batch.stage("a_flt.fits", {("SCI", 1): {"MDRIZSKY": (1.5, "sky")}})
    >>> batch.commit()
    """

    def __init__(self) -> None:
        self._plans: dict[str, _FilePlan] = {}
        self._images: dict = {}  # card images made for the batch's headers (header_patches)

    @property
    def paths(self) -> list[str]:
        """Real paths of the staged files."""
        return list(self._plans)

    def __len__(self) -> int:
        return len(self._plans)

    # ------------------------------------------------------------ staging
    def stage(self, path: str, updates: Mapping[object, Mapping[str, tuple]], *,
              data_updates: Mapping[object, np.ndarray] | None = None, layout=None) -> str:
        """Prepare the update of one file (nothing is written to it yet).

        Parameters
        ----------
        path : str
            The file (a symbolic link is followed: its target is updated, the link kept).
        updates : mapping
            ``{extension: {keyword: (value, comment)}}``; a value of None removes the
            keyword.  Extensions as astropy accepts them (index or ``(EXTNAME, EXTVER)``).
        data_updates : mapping, optional
            ``{extension: new data}``; forces a full rewrite.
        layout : optional
            The file's headers as this run read them
            (:func:`~skymatch.io._fastfits.header_layout`): used when the bytes to be
            replaced are still those (checked), else the file is scanned again.

        Returns
        -------
        str
            ``'patch'`` or ``'rewrite'``.
        """
        real = os.path.realpath(path)
        if real in self._plans:
            raise WriteError(f"{path}: staged twice in one batch")
        if is_compressed(real):
            raise WriteError(f"{path}: compressed files cannot be updated; decompress it "
                             "(gunzip) or use --readonly")
        try:
            plan = _FilePlan(real, path, os.stat(real))
        except OSError as exc:
            raise write_error(path, exc, action="cannot prepare the update") from None
        # Header-only updates that fit in place: planned without astropy (same bytes).
        fast = None if data_updates else self._patches(plan, updates, layout)
        if fast is not None:
            try:
                self._stage_patches(plan, fast)
            except OSError as exc:
                raise write_error(path, exc, action="cannot prepare the update") from None
            self._plans[real] = plan
            return "patch"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyWarning)
                with fits.open(real, memmap=True, lazy_load_hdus=True) as hdul:
                    self._stage_open(plan, hdul, updates, data_updates)
        except OSError as exc:
            self._drop(plan)
            raise write_error(path, exc, action="cannot prepare the update") from None
        except BaseException:
            self._drop(plan)
            raise
        self._plans[real] = plan
        return "rewrite" if plan.tmp else "patch"

    def _patches(self, plan: _FilePlan, updates, layout):
        """:func:`header_patches` from ``layout`` when it is current, else from a scan."""
        if layout is not None:
            fast = header_patches(plan.path, updates, self._images, layout)
            if fast is not None and _layout_holds(plan, layout, fast):
                return fast
        return header_patches(plan.path, updates, self._images)

    def _stage_patches(self, plan: _FilePlan, patches) -> None:
        fd = os.open(plan.path, os.O_RDONLY)
        try:
            for offset, new in patches:
                old = pread_all(fd, len(new), offset)
                if old != new:
                    # Only the bytes that change (the journal holds them twice).
                    d = np.flatnonzero(np.frombuffer(old, np.uint8) != np.frombuffer(new, np.uint8))
                    a, b = int(d[0]), int(d[-1]) + 1
                    plan.patches.append(_Patch(offset + a, old[a:b], new[a:b]))
        finally:
            os.close(fd)

    def _stage_open(self, plan: _FilePlan, hdul, updates, data_updates) -> None:
        upd = plan_update(plan.path, hdul, updates, data_updates, label=plan.label)
        if upd.in_place:
            self._stage_patches(plan, upd.patches)
            return
        plan.tmp_fd, plan.tmp = locked_temp(os.path.dirname(plan.path), "copy")
        fh, raw = guarded_writer(plan.tmp_fd, plan.tmp)
        try:
            write_spliced(plan.path, upd, fh)
            fh.flush()
        except BaseException:
            if raw.error is not None:
                raise raw.error from None
            raise
        finally:
            close_writer(fh, raw)
        os.fsync(plan.tmp_fd)
        os.fchmod(plan.tmp_fd, plan.st.st_mode & 0o7777)
        try:
            os.fchown(plan.tmp_fd, plan.st.st_uid, plan.st.st_gid)
        except OSError:
            pass

    def _drop(self, plan: _FilePlan | None) -> None:
        if plan is None:
            return
        if plan.tmp:
            unlink_quiet(plan.tmp)
            plan.tmp = None
        if plan.tmp_fd >= 0:
            os.close(plan.tmp_fd)
            plan.tmp_fd = -1

    def abort(self) -> None:
        """Forget every staged update (nothing was written to the files)."""
        for plan in self._plans.values():
            self._drop(plan)
            if plan.backup:
                unlink_quiet(plan.backup)
                plan.backup = None
        self._plans.clear()

    # ------------------------------------------------------------ commit
    def commit(self) -> list[str]:
        """Write every staged update, all or nothing; returns the files changed (as named).

        Raises
        ------
        WriteError
            The file system refused; every file is then as it was (or, if even the
            rollback failed, a journal is left for the next run to restore them).
        """
        plans = [p for p in self._plans.values() if p.patches or p.tmp]
        if not plans:
            self.abort()
            return []
        dirs = sorted({os.path.dirname(p.path) for p in plans})
        journals = self._write_journals(plans, dirs)
        self._apply_or_roll_back(plans, dirs, journals)
        # Commit point: the journals go; then the backups.
        for _, j in journals:
            unlink_quiet(j)
        for d in dirs:
            fsync_dir(d)
        for fd, _ in journals:
            os.close(fd)
        for p in plans:
            if p.backup:
                unlink_quiet(p.backup)
                p.backup = None
            if p.tmp_fd >= 0:
                os.close(p.tmp_fd)
                p.tmp_fd = -1
            p.tmp = None
        done = [p.label for p in plans]
        self._plans.clear()
        return done

    def _write_journals(self, plans: list[_FilePlan], dirs: list[str]) -> list[tuple[int, str]]:
        """Backups of the files to be replaced, then one durable journal per folder
        (what the next run needs to undo a half-done commit); on failure, nothing is left."""
        journals: list[tuple[int, str]] = []
        try:
            for p in plans:
                if p.tmp:
                    p.backup = _link_backup(p.path)
            for d in dirs:
                journals.append(locked_temp(d, JOURNAL_KIND))
            doc = _journal_doc(plans, [j for _, j in journals])
            for fd, _ in journals:
                pwrite_all(fd, doc, 0)
                os.fsync(fd)
            for d in dirs:
                fsync_dir(d)
        except BaseException as exc:
            for fd, j in journals:
                unlink_quiet(j)
                os.close(fd)
            self.abort()
            if isinstance(exc, OSError):
                raise write_error(plans[0].label, exc, action="cannot start the update") from None
            raise
        return journals

    def _apply_or_roll_back(self, plans: list[_FilePlan], dirs: list[str], journals: list[tuple[int, str]]) -> None:
        """Apply every plan and make it durable; on failure restore every file (or leave
        the journals for the next run when even that fails)."""
        try:
            for p in plans:
                _apply(p)
            _sync_files([p.path for p in plans if not p.tmp])
            for d in dirs:
                fsync_dir(d)
        except BaseException as exc:
            try:
                for p in plans:
                    _rollback_plan(p)
            except BaseException as exc2:  # noqa: BLE001 - whatever failed, leave the journals for the next run
                for fd, _ in journals:
                    os.close(fd)
                raise WriteError(
                    f"{plans[0].label}: update failed ({_why(exc)}) and so did the rollback "
                    f"({_why(exc2)}); the next skymatch run in that folder restores the files") from None
            for fd, j in journals:
                unlink_quiet(j)
                os.close(fd)
            self.abort()
            if isinstance(exc, OSError):
                raise write_error(plans[0].label, exc, action="cannot update") from None
            raise


def _layout_holds(plan: _FilePlan, layout, patches) -> bool:
    """Whether the file still has the header bytes ``layout`` recorded where ``patches``
    write (False when it cannot be read: then it is scanned, and any error shows there)."""
    try:
        fd = os.open(plan.path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return layout_is_current(fd, plan.st.st_size, layout, patches)
    except OSError:
        return False
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    return describe_os_error(exc) if isinstance(exc, OSError) else (str(exc) or type(exc).__name__)


def _link_backup(path: str) -> str:
    directory = os.path.dirname(path)
    for _ in range(100):
        name = os.path.join(directory, f"{TMP_PREFIX}old-{os.getpid()}-{os.urandom(6).hex()}.tmp")
        try:
            os.link(path, name)
            return name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "cannot create a backup link", path)


def _journal_doc(plans: list[_FilePlan], journals: list[str]) -> bytes:
    files = []
    for p in plans:
        files.append({
            "path": p.path, "dev": p.st.st_dev, "ino": p.st.st_ino, "size": p.st.st_size,
            "patches": [{"offset": x.offset, "old": base64.b64encode(x.old).decode("ascii"),
                         "new": base64.b64encode(x.new).decode("ascii")} for x in p.patches],
            "tmp": p.tmp, "backup": p.backup,
        })
    body = json.dumps({"format": JOURNAL_MAGIC, "version": 1, "pid": os.getpid(),
                       "journals": journals, "files": files}, indent=0).encode("utf-8")
    return body + b"\n#sha256:" + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n"


def _apply(p: _FilePlan) -> None:
    p.applied = True
    if p.tmp:
        os.replace(p.tmp, p.path)
        return
    fd = os.open(p.path, os.O_WRONLY)
    try:
        for x in p.patches:
            pwrite_all(fd, x.new, x.offset)
    finally:
        os.close(fd)


def _sync_files(paths: list[str]) -> None:
    """Make the patched bytes durable: all files' syncs in flight at once, so the file
    system commits them together (one journal commit per batch on ext4/xfs rather than
    one per file)."""
    if len(paths) <= 1:
        for p in paths:
            fsync_file(p, data_only=True)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(32, len(paths))) as pool:
        list(pool.map(partial(fsync_file, data_only=True), paths))


def _rollback_plan(p: _FilePlan) -> None:
    if not p.applied:
        return
    restore_entry({"path": p.path, "dev": p.st.st_dev, "ino": p.st.st_ino,
              "patches": [{"offset": x.offset, "old": x.old, "new": x.new} for x in p.patches],
              "tmp": p.tmp, "backup": p.backup}, live=True)
    p.backup = None


