"""A run is a transaction: outputs checked first, inputs committed last and all or
nothing, a journal that survives kill -9, locks against a second run, and the file
system's refusals (full disk, read-only, permissions) as one-line errors."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from fsutil import SRC, cli_subprocess, copy_files, digest, leftovers, one_line_error

from skymatch import InputError, WriteError, run_sky
from skymatch.cli import main
from skymatch.datasets import make_mosaic
from skymatch.io import HeaderBatch, RunTransaction, _atomic, _journal, _locks, recover_directory, update_files_atomic
from skymatch.io._locks import lock_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return sorted(make_mosaic(d, tiles=(2, 1), size=64, seed=11).paths)


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """Products clearly larger than the input headers (for the file-size limit)."""
    d = tmp_path_factory.mktemp("medium")
    return sorted(make_mosaic(d, tiles=(2, 1), size=128, seed=12).paths)


@pytest.fixture
def files(tiny, tmp_path):
    return copy_files(tiny, tmp_path / "in")


@pytest.fixture
def quick_locks(monkeypatch):
    monkeypatch.setattr(_locks, "LOCK_WAIT_SECONDS", 0.3)


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- outputs first
def test_table_failure_happens_before_headers_are_written(files):
    before = digest(files)
    with pytest.raises(WriteError, match="/nonexistent: folder for the table does not exist"):
        run_sky(files, method="localmin", table="/nonexistent/t.csv")
    assert digest(files) == before


def test_header_update_is_in_place_and_costs_the_header(files):
    """Same inode, same size, every byte outside the SCI header unchanged."""
    path = files[0]
    with fits.open(path) as hl:
        hs, ds = hl.fileinfo(1)["hdrLoc"], hl.fileinfo(1)["datLoc"]
    raw = Path(path).read_bytes()
    ino = os.stat(path).st_ino
    run_sky(files, method="localmin")
    new = Path(path).read_bytes()
    assert os.stat(path).st_ino == ino and len(new) == len(raw)
    assert new[:hs] == raw[:hs] and new[ds:] == raw[ds:] and new[hs:ds] != raw[hs:ds]
    assert fits.getval(path, "SKYMODEL", ("SCI", 1)) == "CONSTANT"
    assert fits.getval(path, "SKYC00", ("SCI", 1)) == fits.getval(path, "MDRIZSKY", ("SCI", 1))


def test_headers_read_earlier_are_used_only_while_the_file_still_holds_them(files, tmp_path):
    """``write_sky`` patches from the header layout the run read; a file whose header
    changed meanwhile (another program) is scanned again, so its new card survives; the
    files come out byte for byte as when every file is scanned at write time."""
    from skymatch import sky_methods
    from skymatch.io import read_inputs, write_sky

    layouts = {}
    chips = read_inputs(files, layouts=layouts)
    assert set(layouts) == set(files)
    result = sky_methods(chips, methods=["match"])["match"]
    with fits.open(files[1], mode="update") as h:
        h[1].header["FOREIGN"] = (7, "written by another program after the read")
    twins = copy_files(files, tmp_path / "twins")
    write_sky(result, chips, layouts=layouts)
    write_sky(result, read_inputs(twins), layouts=None)
    assert fits.getval(files[1], "FOREIGN", ("SCI", 1)) == 7
    changed = next(c for c in chips if c.source[0] == files[1])
    assert fits.getval(files[1], "MDRIZSKY", ("SCI", 1)) == result.chip(changed.name).sky
    for a, b in zip(files, twins):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def test_a_header_that_outgrows_its_blocks_keeps_room_for_the_next_update(files):
    path = files[0]
    cards = {f"K{i:06d}": (float(i), "filler card") for i in range(60)}
    update_files_atomic({path: {("SCI", 1): cards}})
    ino = os.stat(path).st_ino
    update_files_atomic({path: {("SCI", 1): {"MDRIZSKY": (2.5, "sky")}}})
    assert os.stat(path).st_ino == ino  # the second update fitted in place
    with fits.open(path) as hl:
        assert hl["SCI", 1].header["K000059"] == 59.0 and hl["SCI", 1].header["MDRIZSKY"] == 2.5


def test_batch_is_all_or_nothing_when_a_file_fails_at_commit(files, monkeypatch):
    before = digest(files)
    real, calls = _journal._apply, []

    def fail_third(plan):
        calls.append(plan.path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(plan)

    monkeypatch.setattr(_journal, "_apply", fail_third)
    with pytest.raises(WriteError, match=r"no space left on device \(errno 28\)"):
        update_files_atomic({p: {("SCI", 1): {"MDRIZSKY": (1.0, "x")}} for p in files})
    assert digest(files) == before and leftovers(os.path.dirname(files[0])) == []


def test_batch_with_copies_is_all_or_nothing(files, monkeypatch):
    """--subtract rewrites: backups put the first files back when the third fails."""
    before = digest(files)
    real, calls = _journal._apply, []

    def fail_third(plan):
        calls.append(plan.path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(plan)

    monkeypatch.setattr(_journal, "_apply", fail_third)
    data = {p: {("SCI", 1): np.zeros((64, 64), np.float32)} for p in files}
    with pytest.raises(KeyboardInterrupt):
        update_files_atomic({p: {("SCI", 1): {"SMSUBTR": (True, "x")}} for p in files}, data_updates=data)
    assert digest(files) == before and leftovers(os.path.dirname(files[0])) == []


def test_identity_is_checked_before_commit(files):
    txn = RunTransaction()
    txn.open_inputs(files, write=True)
    txn.stage_headers(files[0], {("SCI", 1): {"MDRIZSKY": (1.0, "x")}})
    with open(files[1], "ab") as fh:  # another program, which takes no lock
        fh.write(b" " * 2880)
    changed = digest(files)
    with pytest.raises(InputError, match="changed by another program while skymatch was using it"):
        txn.commit()
    assert digest(files) == changed


def test_transactional_turns_os_errors_into_one_line(tmp_path):
    from skymatch.io import transactional

    @transactional
    def job(txn, path):
        raise OSError(errno.EROFS, "Read-only file system", path)

    with pytest.raises(WriteError, match=r"^/x/y: read-only file system \(errno 30\); nothing was changed$"):
        job("/x/y")


@pytest.mark.parametrize("err, text", [
    (errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"), (errno.EDQUOT, "disk quota exceeded"),
])
def test_file_system_refusals_are_one_line_and_change_nothing(err, text, files, tmp_path, capsys,
                                                              monkeypatch):
    def refuse(directory, kind="tmp"):
        raise OSError(err, os.strerror(err), directory)

    monkeypatch.setattr(_atomic, "locked_temp", refuse)
    monkeypatch.setattr(_journal, "locked_temp", refuse)
    before = digest(files)
    for args in (["--table", tmp_path / "t.csv"], ["--subtract"]):
        code, _, e = cli(capsys, "sky", *files, "--skymethod", "localmin", *args)
        assert code == 1 and text in one_line_error(e)
        assert digest(files) == before and not (tmp_path / "t.csv").exists()


# ----------------------------------------------------------------- staged files made durable
def test_every_staged_output_is_fsynced_before_anything_is_put_in_place(files, tmp_path, capsys, monkeypatch):
    # Products, tables, pictures and the page are fsynced in the background while the
    # run goes on; the commit must wait for every one before it changes an input or
    # renames an output into place.
    from skymatch.io import _transaction

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = _transaction.fsync_file, os.replace

    def slow_fsync(path):
        time.sleep(0.05)  # still running when the run reaches its commit, unless waited for
        real_fsync(path)
        events.append(("synced", os.path.basename(path)))

    def replace(src, dst, *a, **k):
        if ".skymatch-stage-" in str(src) and ".skymatch-stage-" not in str(dst):
            events.append(("placed", os.path.basename(str(dst))))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(_transaction, "fsync_file", slow_fsync)
    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "cmp"
    code, _, e = cli(capsys, "compare", *files, "--outdir", out, "--methods", "localmin,match")
    assert code == 0, e
    synced = [name for kind, name in events if kind == "synced"]
    placed = [name for kind, name in events if kind == "placed"]
    assert sorted(placed) == sorted(p.name for p in out.iterdir() if p.name != "skymatch.log")
    assert sorted(synced) == sorted(placed)  # every output, each once
    first_placed = next(k for k, (kind, _) in enumerate(events) if kind == "placed")
    assert all(kind == "synced" for kind, _ in events[:first_placed]) and len(synced) == first_placed


def test_a_failed_background_fsync_fails_the_run_and_changes_nothing(files, tmp_path, capsys, monkeypatch):
    from skymatch.io import _transaction

    def failing(path):
        if path.endswith("_drz_wht.fits"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)

    monkeypatch.setattr(_transaction, "fsync_file", failing)
    before = digest(files)
    code, _, e = cli(capsys, "run", *files, "--output", tmp_path / "m", "--skymethod", "match")
    assert code == 1
    line = one_line_error(e)
    assert line.startswith(f"skymatch: error: {tmp_path / 'm'}_drz_wht.fits: cannot write it to disk: "), line
    assert "input/output error" in line.lower() and ".skymatch-stage" not in line, line
    assert digest(files) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "in") in ([], ["m_skymatch.log"])
    assert leftovers(tmp_path, tmp_path / "in") == []


# ----------------------------------------------------------------- full disk (no root needed)
def _fsize_prelude(limit: int) -> str:
    return ("import resource, signal\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n")


@pytest.mark.parametrize("command", ["run", "sky --subtract", "compare"])
def test_full_disk_changes_nothing(command, medium, tmp_path):
    files = copy_files(medium, tmp_path / "in")
    with fits.open(files[0]) as hl:
        header_end = max(hl.fileinfo(i)["datLoc"] for i in range(len(hl)) if i < 2)
    limit = header_end + 2 * 2880  # headers may be patched; no product or copy fits
    args = {"run": ["run", *files, "--output", tmp_path / "m"],
            "sky --subtract": ["sky", *files, "--subtract"],
            "compare": ["compare", *files, "--outdir", tmp_path / "cmp", "--methods", "localmin"]}[command]
    before = digest(files)
    r = cli_subprocess(args, prelude=_fsize_prelude(limit), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "file too large" in one_line_error(r.stderr)
    assert digest(files) == before
    # Nothing but the inputs, and the run's log (which says why it failed) where it goes.
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
                  and not p.is_relative_to(tmp_path / "in"))
    assert made in ([], ["m_skymatch.log"], ["cmp/skymatch.log"], ["skymatch.log"]), made
    assert leftovers(tmp_path / "in") == []


# ----------------------------------------------------------------- locks
def test_a_second_run_stops_with_a_clear_message(files, tmp_path, capsys, quick_locks):
    held = lock_path(files[2], exclusive=True)  # another run is writing this input
    try:
        before = digest(files)
        code, _, err = cli(capsys, "sky", *files)
        assert code == 1
        assert "in use by another skymatch run" in one_line_error(err) and os.path.basename(files[2]) in err
        code, _, err = cli(capsys, "run", *files, "--readonly", "--output", tmp_path / "m")
        assert code == 1 and "in use by another skymatch run" in one_line_error(err)
        assert digest(files) == before and not [p for p in tmp_path.glob("m_*") if not p.name.endswith("skymatch.log")]
    finally:
        held.release()
    code, _, err = cli(capsys, "sky", *files)
    assert code == 0, err


def test_readers_share_and_output_folders_are_exclusive(files, tmp_path, capsys, quick_locks):
    reader = lock_path(files[0], exclusive=False)
    out = tmp_path / "cmp"
    out.mkdir()
    try:
        code, _, err = cli(capsys, "sky", *files, "--readonly")
        assert code == 0, err
        folder = lock_path(str(out), exclusive=True)
        try:
            code, _, err = cli(capsys, "compare", *files, "--outdir", out, "--no-pictures",
                               "--methods", "localmin")
            assert code == 1 and "output folder in use by another skymatch run" in one_line_error(err)
            assert [p for p in out.iterdir() if not p.name.endswith("skymatch.log")] == []
        finally:
            folder.release()
    finally:
        reader.release()


def test_lock_follows_a_file_replaced_meanwhile(files):
    old = lock_path(files[0], exclusive=True)
    try:
        tmp = files[0] + ".new"
        Path(tmp).write_bytes(Path(files[0]).read_bytes())
        os.replace(tmp, files[0])  # a full rewrite by the run holding ``old``
        new = lock_path(files[0], exclusive=True, wait=0.2)
        assert os.fstat(new.fd).st_ino == os.stat(files[0]).st_ino != os.fstat(old.fd).st_ino
        new.release()
    finally:
        old.release()


def _popen(args, cwd):
    code = f"import sys; sys.path.insert(0, {SRC!r})\nfrom skymatch.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_subtracts_at_once_subtract_once(tiny, tmp_path):
    ref = copy_files(tiny, tmp_path / "ref")
    once = run_sky(ref, method="localmin", subtract=True).result
    files = copy_files(tiny, tmp_path / "in")
    orig = {p: fits.getdata(p, ("SCI", 1)).astype(np.float32) for p in files}
    procs = [_popen(["sky", *files, "--subtract", "--skymethod", "localmin"], tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert 0 in codes and set(codes) <= {0, 1}, outs
    for p, (_o, e) in zip(procs, outs):
        if p.returncode == 1:
            assert "in use by another skymatch run" in one_line_error(e)
    for p, cs in zip(files, once.chips):
        total = fits.getval(p, "MDRIZSKY", ("SCI", 1))
        # The second run (if it ran after the first) found the sky already gone.
        assert total == pytest.approx(cs.sky, abs=0.02 * abs(cs.sky) + 0.01)
        np.testing.assert_allclose(fits.getdata(p, ("SCI", 1)), orig[p] - np.float32(total), atol=1e-4)
    assert leftovers(tmp_path / "in") == []


def test_two_compares_into_one_folder_leave_one_complete_set(tiny, tmp_path):
    files = copy_files(tiny, tmp_path / "in")
    out = tmp_path / "cmp"
    args = ["compare", *files, "--outdir", out, "--methods", "localmin", "match", "--prefix", "t",
            "--overwrite"]
    procs = [_popen(args, tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert 0 in codes and set(codes) <= {0, 1}, outs
    for p, (_o, e) in zip(procs, outs):
        if p.returncode == 1:
            assert "output folder in use by another skymatch run" in one_line_error(e)
    names = sorted(p.name for p in out.iterdir() if not p.name.endswith("skymatch.log"))
    expected = sorted(["index.html", "mdrizsky_methods.csv", "flatness.csv", "t_mdrizsky.png", "t_methods.gif"]
                      + [f"t_{m}_{k}" for m in ("localmin", "match")
                         for k in ("drz_sci.fits", "drz_wht.fits", "drz_ctx.fits", "mosaic.png", "flatness.png")])
    assert names == expected
    for p in out.glob("*.fits"):
        with fits.open(p) as hl:
            assert hl[0].data is not None


# ----------------------------------------------------------------- journal recovery
_KILLER = """
import os, signal, sys
sys.path.insert(0, {src!r})
import numpy as np
from skymatch.io import _journal, update_files_atomic
real, n = _journal._apply, []
def apply_then_die(plan):
    real(plan)
    n.append(plan)
    if len(n) == {after}:
        os.kill(os.getpid(), signal.SIGKILL)
_journal._apply = apply_then_die
paths = sys.argv[1:]
data = {{p: {{("SCI", 1): np.zeros((64, 64), np.float32)}} for p in paths}} if {rewrite} else None
update_files_atomic({{p: {{("SCI", 1): {{"MDRIZSKY": (123.0, "x")}}}} for p in paths}}, data_updates=data)
"""


def _kill_mid_commit(files, *, after: int, rewrite: bool):
    code = _KILLER.format(src=SRC, after=after, rewrite=rewrite)
    r = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr


@pytest.mark.parametrize("rewrite", [False, True], ids=["patch", "copy"])
def test_a_run_killed_mid_commit_is_undone_by_the_next_run(rewrite, files, capsys):
    before = digest(files)
    _kill_mid_commit(files, after=2, rewrite=rewrite)
    d = os.path.dirname(files[0])
    assert any(".skymatch-journal-" in p for p in leftovers(d))
    assert sum(fits.getheader(p, ("SCI", 1)).get("MDRIZSKY") == 123.0 for p in files) == 2  # mixed now
    code, _, err = cli(capsys, "sky", *files, "--readonly")  # any later run in that folder
    assert code == 0, err
    assert digest(files) == before and leftovers(d) == []


def test_recovery_refuses_a_file_changed_since(files):
    _kill_mid_commit(files, after=2, rewrite=False)
    d = os.path.dirname(files[0])
    victim = next(p for p in files if fits.getheader(p, ("SCI", 1)).get("MDRIZSKY") == 123.0)
    with fits.open(victim, mode="update") as hl:  # another program edits the header
        hl["SCI", 1].header["MDRIZSKY"] = 7.0
    with pytest.raises(WriteError, match="changed by another program since the interrupted update"):
        recover_directory(d)
    assert any(".skymatch-journal-" in p for p in leftovers(d))  # kept for a human


def test_an_incomplete_journal_is_dropped(files):
    d = os.path.dirname(files[0])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    partial = Path(d, f".skymatch-journal-{dead}-0123456789ab.tmp")
    partial.write_text(json.dumps({"format": "skymatch-journal", "files": []})[:20])
    before = digest(files)
    assert recover_directory(d) == []
    assert not partial.exists() and digest(files) == before


def test_a_live_journal_is_left_alone(files):
    """A journal whose writer is alive (lock held) is never rolled back."""
    batch = HeaderBatch()
    batch.stage(files[0], {("SCI", 1): {"MDRIZSKY": (5.0, "x")}})
    fd, j = _atomic.locked_temp(os.path.dirname(files[0]), "journal")
    try:
        assert recover_directory(os.path.dirname(files[0])) == []
        assert os.path.exists(j)
    finally:
        os.close(fd)
        os.unlink(j)
        batch.abort()


def test_the_wait_for_a_lock_is_bounded(files):
    held = lock_path(files[0], exclusive=True)
    try:
        with pytest.raises(WriteError, match="in use by another skymatch run"):
            lock_path(files[0], exclusive=False, wait=0.2)
    finally:
        held.release()
