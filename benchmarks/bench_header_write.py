"""Cost of writing MDRIZSKY into the headers of 10 MB files: the journal's in-place
patch (now) against the temporary full copy + rename skymatch used before, and against
the floor (the same header bytes written and fsynced, with no crash safety at all).

Usage: python benchmarks/bench_header_write.py [n_files] [repeats]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from astropy.io import fits

from skymatch.io import update_files_atomic
from skymatch.io._atomic import fsync_dir


def make_file(path: str) -> None:
    """An FLT-like file of ~10 MB: PRIMARY + SCI 1600 x 1600 float32 + a few header cards."""
    sci = fits.ImageHDU(np.zeros((1600, 1600), np.float32), name="SCI")
    for i in range(60):
        sci.header[f"KEY{i:05d}"] = (float(i), "filler")
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(path, overwrite=True)


def old_full_copy(paths: list[str], value: float) -> None:
    """What io/_headers.py did before (commit a11ae41): per file, copy the whole file to a
    temporary file, patch its header blocks, fsync it, rename it over the original and
    fsync the folder."""
    for path in paths:
        d = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(prefix=".bench-", suffix=".tmp", dir=d)
        os.close(fd)
        with fits.open(path, memmap=True) as hl:
            idx = hl.index_of(("SCI", 1))
            hdr = hl[idx].header.copy()
            hdr["MDRIZSKY"] = (value, "sky")
            info = hl.fileinfo(idx)
            text = hdr.tostring().encode("ascii")
            assert len(text) == info["datLoc"] - info["hdrLoc"]
            shutil.copyfile(path, tmp)
            with open(tmp, "r+b") as fh:
                fh.seek(info["hdrLoc"])
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
        fsync_dir(d)


def floor(paths: list[str], value: float) -> None:
    """The header bytes written in place and fsynced: no journal, no crash safety."""
    for path in paths:
        with fits.open(path, memmap=True) as hl:
            idx = hl.index_of(("SCI", 1))
            hdr = hl[idx].header.copy()
            hdr["MDRIZSKY"] = (value, "sky")
            loc = hl.fileinfo(idx)["hdrLoc"]
        fd = os.open(path, os.O_WRONLY)
        os.pwrite(fd, hdr.tostring().encode("ascii"), loc)
        os.fsync(fd)
        os.close(fd)


def journal(paths: list[str], value: float) -> None:
    update_files_atomic({p: {("SCI", 1): {"MDRIZSKY": (value, "sky")}} for p in paths})


def _io_counters() -> dict[str, int]:
    """Bytes this process wrote (``wchar``: through write calls; ``write_bytes``: sent to
    the storage layer), Linux only."""
    try:
        with open("/proc/self/io") as fh:
            return {k: int(v) for k, v in (line.split(": ") for line in fh)}
    except OSError:
        return {}


def main() -> None:
    n_files = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="bench-hdr-", dir=os.environ.get("BENCH_DIR")) as d:
        paths = [os.path.join(d, f"f{i}_flt.fits") for i in range(n_files)]
        for p in paths:
            make_file(p)
        size = os.path.getsize(paths[0])
        journal(paths, 0.0)  # make room if needed: every later write fits in place
        methods = (("old: full copy + rename", old_full_copy), ("now: journal + patch", journal),
                   ("floor: patch, no safety", floor))
        times = {name: [] for name, _ in methods}
        cpu = {name: [] for name, _ in methods}
        written = {name: 0 for name, _ in methods}
        for r in range(repeats):
            for k, (name, fn) in enumerate(methods):
                io0 = _io_counters()
                c0, t0 = time.process_time(), time.perf_counter()
                fn(paths, float(10 * r + k + 1))  # a new value every time: a real update
                times[name].append((time.perf_counter() - t0) / n_files)
                cpu[name].append((time.process_time() - c0) / n_files)
                io1 = _io_counters()
                written[name] += io1.get("wchar", 0) - io0.get("wchar", 0)
        print(f"header write of MDRIZSKY into {n_files} files of {size / 1e6:.1f} MB, "
              f"median of {repeats} batches, per file:")
        base = statistics.median(times["old: full copy + rename"])
        for name, ts in times.items():
            m = statistics.median(ts)
            print(f"  {name:26s} {1e3 * m:8.2f} ms wall ({base / m:5.1f}x faster than old), "
                  f"{1e3 * statistics.median(cpu[name]):6.2f} ms CPU, "
                  f"{written[name] / (repeats * n_files) / 1e3:9.1f} kB written")


if __name__ == "__main__":
    main()
