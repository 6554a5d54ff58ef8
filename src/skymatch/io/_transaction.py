"""A run is a transaction: check and stage everything, commit the inputs last.

:class:`RunTransaction` is what every command that writes goes through:

1. **open** — :meth:`~RunTransaction.open_inputs` undoes what killed runs left half done
   in the inputs' folders (:func:`~skymatch.io._journal.recover_directory`), removes
   their orphaned temporary files, locks every input (``flock``: exclusive when the run
   writes into it, shared when it only reads it; a second run waits a moment, then
   stops with a clear message) and records its identity (device, inode, size, mtime).
   :meth:`~RunTransaction.check_table`, :meth:`~RunTransaction.check_products` and
   :meth:`~RunTransaction.output_folder` validate every output (name, format, folder,
   overwrite, permissions) before anything is computed.
2. **stage** — products are written complete into a locked staging folder
   ``.skymatch-stage-<pid>-<random>`` beside their final place and fsynced in the
   background while the run goes on (:meth:`~RunTransaction.sync_later`); header
   updates are prepared in a :class:`~skymatch.io._journal.HeaderBatch`.
3. **commit** — every product's fsync finished (a failed one fails the run), inputs'
   identities re-checked (nobody changed them meanwhile), output
   folders locked and overwrite re-checked, then the inputs are updated all or nothing
   (journal), and last the products are renamed into place.
4. **rollback** on any error (``KeyboardInterrupt`` included): staged files and folders
   removed, inputs untouched, locks released.  A run killed with ``kill -9`` leaves a
   journal and temporary files whose locks are free; the next run's *open* step puts
   everything back.

:func:`transactional` turns a pipeline function ``f(txn, ...)`` into ``f(...)`` running
in a fresh transaction, committed when it returns and rolled back when it raises.
"""

from __future__ import annotations

import functools
import inspect
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import IO, Self

from ..exceptions import InputError, WriteError
from ._atomic import (
    TMP_PREFIX,
    atomic_write,
    clean_orphans,
    describe_os_error,
    fsync_dir,
    fsync_file,
    new_file_mode,
    write_error,
)
from ._inputs import InputSpec, expand_inputs
from ._journal import HeaderBatch, is_compressed, journal_references, recover_directory
from ._locks import FileIdentity, PathLock, lock_path

__all__ = ["RunTransaction", "transactional", "TABLE_FORMATS", "check_writable",
           "prepare_folder"]

#: Table file extensions and their astropy formats.
TABLE_FORMATS = MappingProxyType({".csv": "ascii.csv", ".ecsv": "ascii.ecsv"})


def check_writable(paths: Iterable[str]) -> None:
    """Raise :class:`WriteError` for the first file that cannot be updated in place.

    A symbolic link is checked through to its target (which is what gets updated).
    """
    for p in dict.fromkeys(paths):
        real = os.path.realpath(p)
        d = os.path.dirname(real) or "."
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            raise InputError(f"{p}: {describe_os_error(exc)}") from None
        if is_compressed(real):
            raise WriteError(f"{p}: compressed files cannot be updated; decompress it (gunzip) "
                             "or use --readonly to only report the skies")
        # A file without any write permission bit is read-only, even for root.
        if not os.access(real, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise WriteError(f"{p}: file is read-only; make it writable, or use --readonly to only "
                             "report the skies")
        if not os.access(d, os.W_OK | os.X_OK):
            raise WriteError(f"{p}: its folder {d} is not writable (needed for a safe update); "
                             "use --readonly")


def _check_folder(folder: str, what: str) -> None:
    folder = folder or "."
    if not os.path.exists(folder):
        raise WriteError(f"{folder}: folder for the {what} does not exist; create it first")
    if not os.path.isdir(folder):
        raise WriteError(f"{folder}: is not a folder (needed for the {what})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WriteError(f"{folder}: folder for the {what} is not writable; make it writable or choose another")


def prepare_folder(folder: str) -> list[str]:
    """Undo interrupted updates and remove orphaned leftovers in ``folder``; returns
    the files restored to their state before an interrupted run."""
    restored = recover_directory(folder)
    clean_orphans(folder, keep=journal_references(folder))
    return restored


class RunTransaction:
    """The changes of one run to inputs and outputs, applied all or nothing.

    See the module docstring for the protocol.  Use it through :func:`transactional`,
    or as a context manager (commit on success, rollback on error).
    """

    def __init__(self) -> None:
        self._locks: dict[str, PathLock] = {}
        self._identity: dict[str, FileIdentity] = {}
        self._writable: set[str] = set()
        self._headers = HeaderBatch()
        self._products: dict[str, str] = {}  # final path -> staged path
        self._overwrite: dict[str, bool] = {}  # final path -> may replace
        self._stages: dict[str, tuple[str, int]] = {}  # folder -> (staging folder, fd)
        self._created: list[str] = []
        self._prepared: set[str] = set()
        self._done = False
        self._stale: list[str] = []  # earlier outputs this run replaces with nothing (remove_stale)
        self._syncs: list = []  # background fsyncs of staged products (sync_later)
        self._sync_pool = None
        self.restored: list[str] = []  # files put back by the recovery of a killed run

    # ------------------------------------------------------------ context manager
    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()

    # ------------------------------------------------------------ open
    def _prepare(self, folder: str) -> None:
        folder = os.path.realpath(folder or ".")
        if folder in self._prepared:
            return
        self._prepared.add(folder)
        self.restored += prepare_folder(folder)

    def open_inputs(self, inputs, *, write: bool) -> list[InputSpec]:
        """Expand, recover, lock and identify the inputs (see the module docstring).

        Parameters
        ----------
        inputs : str, path, list
            As :func:`~skymatch.io.expand_inputs` takes them.
        write : bool
            The run will write into them (exclusive locks, writability checked).

        Returns
        -------
        list of InputSpec
        """
        specs = expand_inputs(inputs)
        reals = []
        for s in specs:
            real = os.path.realpath(s.path)
            if not os.path.exists(real):
                raise InputError(f"{s.path}: file not found")
            if not os.path.isfile(real):
                raise InputError(f"{s.path}: not a regular file")
            reals.append((real, s))
        for real, _ in reals:
            self._prepare(os.path.dirname(real))
        if write:
            check_writable(s.path for s in specs)
        for real, s in sorted(reals, key=lambda t: t[0]):
            if real in self._locks:
                continue
            try:
                lock = lock_path(real, exclusive=write, what="input file")
            except OSError as exc:
                raise InputError(f"{s.path}: cannot open: {describe_os_error(exc)}") from None
            self._locks[real] = lock
            self._identity[real] = FileIdentity.of(os.fstat(lock.fd))
            if write:
                self._writable.add(real)
        return specs

    def check_table(self, path: str) -> str:
        """Validate a table output (``.csv`` or ``.ecsv``, folder exists and is writable)."""
        ext = os.path.splitext(path)[1].lower()
        if ext not in TABLE_FORMATS:
            raise WriteError(f"{path}: table files must end in .csv or .ecsv")
        self._check_output(path, overwrite=True, what="table")
        return path

    def check_products(self, paths: Iterable[str], *, overwrite: bool) -> list[str]:
        """Validate product paths (folder, not a folder themselves, overwrite)."""
        return [self._check_output(p, overwrite=overwrite, what="products") for p in paths]

    def _check_output(self, path: str, *, overwrite: bool, what: str) -> str:
        final = os.path.abspath(path)
        _check_folder(os.path.dirname(final), what)
        self._prepare(os.path.dirname(final))
        if os.path.isdir(final):
            raise WriteError(f"{path}: is a folder; give a file name for the {what}")
        if os.path.exists(final) and not overwrite:
            raise WriteError(f"{path}: already exists; use --overwrite (overwrite=True) to replace it")
        if os.path.realpath(final) in self._identity:
            raise WriteError(f"{path}: is one of the inputs; give another name for the {what}")
        self._overwrite[final] = overwrite or self._overwrite.get(final, False)
        return path

    def output_folder(self, folder: str, *, lock: bool = True) -> str:
        """Make sure ``folder`` exists (created if its parent does), clean it of orphaned
        leftovers and, with ``lock``, hold it for this run (exclusive)."""
        folder_abs = os.path.abspath(folder)
        if not os.path.isdir(folder_abs):
            if os.path.exists(folder_abs):
                raise WriteError(f"{folder}: exists and is not a folder")
            _check_folder(os.path.dirname(folder_abs), "new output folder")
            try:
                os.mkdir(folder_abs)
            except OSError as exc:
                raise write_error(folder, exc, action="cannot create the output folder") from None
            self._created.append(folder_abs)
        elif not os.access(folder_abs, os.W_OK | os.X_OK):
            raise WriteError(f"{folder}: output folder is not writable; make it writable or choose another")
        if lock and folder_abs not in self._locks:
            self._locks[folder_abs] = lock_path(folder_abs, exclusive=True, what="output folder")
        self._prepare(folder_abs)
        return folder

    # ------------------------------------------------------------ stage
    def stage_headers(self, path: str, updates, *, data_updates=None, layout=None) -> str:
        """Stage header (and data) updates of an input opened with ``write=True``
        (``layout``: its headers as read in this run, see :meth:`HeaderBatch.stage`)."""
        real = os.path.realpath(path)
        if real not in self._writable:
            raise WriteError(f"{path}: not opened for writing in this run (use --readonly?)")
        return self._headers.stage(path, updates, data_updates=data_updates, layout=layout)

    def _stage_folder(self, folder: str) -> str:
        if folder not in self._stages:
            import fcntl

            for _ in range(100):
                name = os.path.join(folder, f"{TMP_PREFIX}stage-{os.getpid()}-{secrets.token_hex(6)}")
                try:
                    os.mkdir(name, 0o700)
                    break
                except FileExistsError:
                    continue
            fd = os.open(name, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._stages[folder] = (name, fd)
        return self._stages[folder][0]

    def staging_path(self, path: str, *, overwrite: bool = False) -> str:
        """Where to write the product ``path`` now (a staging folder beside it).

        A path not validated before (:meth:`check_products`) is validated here with
        ``overwrite``.
        """
        final = os.path.abspath(path)
        if final not in self._overwrite:
            self._check_output(path, overwrite=overwrite, what="products")
        try:
            stage_dir = self._stage_folder(os.path.dirname(final))
        except OSError as exc:
            raise write_error(path, exc) from None
        self._products[final] = os.path.join(stage_dir, os.path.basename(final))
        return self._products[final]

    def adopt(self, staged: Iterable[str]) -> list[str]:
        """The final paths of files a writer produced at :meth:`staging_path` names."""
        by_stage = {v: k for k, v in self._products.items()}
        out = []
        for s in staged:
            s_abs = os.path.abspath(s)
            if s_abs not in by_stage:
                raise WriteError(f"{s}: was not staged in this run")
            out.append(by_stage[s_abs])
        return out

    def sync_later(self, staged: Iterable[str]) -> None:
        """Make staged files durable in the background (``fsync``, a few at a time so the
        file system can write them together); :meth:`commit` waits for every one before
        it changes anything, and a failed one fails the run."""
        if self._sync_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._sync_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="skymatch-fsync")
        self._syncs += [(s, self._sync_pool.submit(fsync_file, s)) for s in staged]

    def remove_stale(self, paths: Iterable[str]) -> None:
        """Earlier outputs this run does not write again (e.g. ``compare --overwrite
        --no-flatness`` over a folder that has ``flatness.csv``): removed when the run
        commits, after its own outputs are in place, so none is left looking current."""
        self._stale += [os.path.abspath(p) for p in paths]

    def _remove_stale(self) -> None:
        gone = [p for p in self._stale if p not in self._products and os.path.lexists(p)]
        for p in gone:
            try:
                os.unlink(p)
            except OSError as exc:
                raise write_error(p, exc, action="cannot remove this earlier output, which this run did not "
                                  "write again", after="remove it by hand") from None
        for d in {os.path.dirname(p) for p in gone}:
            fsync_dir(d)

    def _wait_for_syncs(self) -> None:
        """Wait for :meth:`sync_later`'s fsyncs; raise the first failure as a WriteError."""
        syncs, self._syncs = self._syncs, []
        pool, self._sync_pool = self._sync_pool, None
        final_of = {os.path.abspath(staged): final for final, staged in self._products.items()}
        try:
            for path, fut in syncs:
                try:
                    fut.result()
                except OSError as exc:
                    name = final_of.get(os.path.abspath(path), path)  # the name the user gave
                    raise write_error(name, exc, action="cannot write it to disk") from None
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def write(self, path: str, write: Callable[[IO[bytes]], None], *, overwrite: bool = True) -> str:
        """Stage a file: ``write(fileobj)`` now, into place at commit; returns ``path``.

        Tables, pictures and pages replace an older version unless ``overwrite=False``
        (validated products keep the rule they were validated with).
        """
        staged = atomic_write(self.staging_path(path, overwrite=overwrite), write, durable=False)
        self.sync_later([staged])
        return path

    # ------------------------------------------------------------ commit / rollback
    def commit(self) -> list[str]:
        """Apply the run; returns the inputs updated (as named)."""
        if self._done:
            return []
        try:
            self._wait_for_syncs()  # the products are complete on disk before anything changes
            for real, ident in self._identity.items():
                try:
                    now = FileIdentity.of(os.stat(real))
                except OSError as exc:
                    raise InputError(f"{real}: {describe_os_error(exc)} (it was there when the run "
                                     "started); nothing was changed") from None
                if now != ident:
                    raise InputError(f"{real}: changed by another program while skymatch was using "
                                     "it; nothing was changed: run again")
            folders = sorted({os.path.dirname(p) for p in [*self._products, *self._stale]})
            held = []
            for d in folders:
                if d not in self._locks:
                    lk = lock_path(d, exclusive=True, what="output folder")
                    held.append(lk)
            try:
                for final in self._products:
                    if os.path.exists(final) and not self._overwrite.get(final, False):
                        raise WriteError(f"{final}: was created by another run meanwhile; use "
                                         "--overwrite (overwrite=True) to replace it")
                updated = self._headers.commit()
                self._rename_products()
                self._remove_stale()
            finally:
                for lk in held:
                    lk.release()
        except BaseException:
            self.rollback()
            raise
        self._finish()
        return updated

    def _rename_products(self) -> None:
        for final, staged in self._products.items():
            if not os.path.exists(staged):
                continue  # staged name requested, nothing written (e.g. an error path)
            try:
                mode = os.stat(final).st_mode & 0o7777 if os.path.exists(final) else new_file_mode()
                os.chmod(staged, mode)
                os.replace(staged, final)
            except OSError as exc:
                raise write_error(final, exc, action="cannot put the product in place",
                                  after="the inputs were updated; run again to write it") from None
        for d in {os.path.dirname(p) for p in self._products}:
            fsync_dir(d)

    def _finish(self) -> None:
        for name, fd in self._stages.values():
            shutil.rmtree(name, ignore_errors=True)
            os.close(fd)
        self._stages.clear()
        for lk in self._locks.values():
            lk.release()
        self._locks.clear()
        self._done = True

    def rollback(self) -> None:
        """Forget everything staged, remove folders this run created, release locks."""
        if self._done:
            return
        try:
            self._wait_for_syncs()  # no thread left writing into the staging folder
        except (WriteError, OSError):
            pass  # the run is being rolled back: its products go anyway
        self._headers.abort()
        for name, fd in self._stages.values():
            shutil.rmtree(name, ignore_errors=True)
            os.close(fd)
        self._stages.clear()
        for folder in reversed(self._created):
            try:
                os.rmdir(folder)
            except OSError:
                pass
        for lk in self._locks.values():
            lk.release()
        self._locks.clear()
        self._done = True


def transactional(fn: Callable) -> Callable:
    """Run ``fn(txn, *args, **kwargs)`` in a new :class:`RunTransaction`.

    The wrapper has ``fn``'s signature without its first parameter; it commits when
    ``fn`` returns and rolls back when it raises.  A stray ``OSError`` becomes a
    one-line :class:`~skymatch.exceptions.WriteError` (after the rollback).
    """
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())[1:]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        txn = RunTransaction()
        try:
            out = fn(txn, *args, **kwargs)
            txn.commit()
            return out
        except OSError as exc:
            txn.rollback()
            where = exc.filename or "skymatch"
            raise WriteError(f"{where}: {describe_os_error(exc)}; nothing was changed") from None
        except BaseException:
            txn.rollback()
            raise

    wrapper.__signature__ = sig.replace(parameters=params)
    return wrapper

