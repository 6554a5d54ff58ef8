"""Helpers of the file-system tests (transaction, fault injection, awkward inputs)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

SRC = str(Path(__file__).resolve().parents[1] / "src")


def digest(paths) -> dict[str, str]:
    """SHA-256 of every file."""
    out = {}
    for p in paths:
        with open(p, "rb") as fh:
            out[str(p)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def leftovers(*folders) -> list[str]:
    """skymatch temporary files, journals and staging folders left in ``folders``."""
    return sorted(str(p) for d in folders for p in Path(d).iterdir() if p.name.startswith(".skymatch-"))


def copy_files(paths, dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        shutil.copy(p, dest / os.path.basename(p))
        out.append(str(dest / os.path.basename(p)))
    return sorted(out)


def tan_header(crval=(30.0, 0.0), shape=(64, 64), scale_arcsec=0.2) -> fits.Header:
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = float(crval[0]), float(crval[1])
    h["CRPIX1"], h["CRPIX2"] = (shape[1] + 1) / 2, (shape[0] + 1) / 2
    s = scale_arcsec / 3600
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -s, 0.0, 0.0, s
    return h


def tan_wcs(ra=10.0, dec=20.0, shape=(64, 64), scale_arcsec=0.1, rot=0.0):
    """A TAN WCS centred on the image, ``rot`` degrees East of North."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    s = scale_arcsec / 3600.0
    t = np.radians(rot)
    w.wcs.cd = s * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    w.pixel_shape = (shape[1], shape[0])
    return w


def generic_image(path, level: float, *, dx_pix: float = 0.0, shape=(64, 64), seed: int = 1,
                  dtype=np.float32, bscale: float | None = None, bzero: float | None = None,
                  bunit: str | None = "ELECTRONS/S", exptime=None, extra: dict | None = None) -> str:
    """A one-HDU image of constant ``level`` (+ small noise), shifted ``dx_pix`` pixels in RA."""
    rng = np.random.default_rng(seed)
    values = level + rng.normal(0.0, 0.05, shape)
    h = tan_header(crval=(30.0 + dx_pix * 0.2 / 3600, 0.0), shape=shape)
    if bunit is not None:
        h["BUNIT"] = bunit
    if exptime is not None:
        h["EXPTIME"] = exptime
    for k, v in (extra or {}).items():
        h[k] = v
    if bscale is not None or bzero is not None:
        stored = np.round((values - (bzero or 0.0)) / (bscale or 1.0)).astype(dtype)
        hdu = fits.PrimaryHDU(stored, header=h)
        hdu.header["BSCALE"] = bscale or 1.0
        hdu.header["BZERO"] = bzero or 0.0
        # astropy would rescale on write; write the raw integers as they are.
        hdu.writeto(path, overwrite=True)
        with fits.open(path, mode="update", do_not_scale_image_data=True) as hl:
            hl[0].data[:] = stored
    elif np.dtype(dtype) == np.uint16:
        fits.PrimaryHDU(values.round().astype(np.uint16), header=h).writeto(path, overwrite=True)
    else:
        fits.PrimaryHDU(values.astype(dtype), header=h).writeto(path, overwrite=True)
    return str(path)


def set_raw_card(path, keyword: str, text: str, *, hdu_start: int = 0) -> None:
    """Replace the 80-byte card of ``keyword`` (first one after ``hdu_start``) by ``text``."""
    raw = bytearray(Path(path).read_bytes())
    key = keyword.ljust(8).encode("ascii")
    pos = hdu_start
    while True:
        pos = raw.index(key, pos)
        if pos % 80 == 0:
            break
        pos += 1
    raw[pos:pos + 80] = text.encode("latin-1").ljust(80)[:80]
    Path(path).write_bytes(bytes(raw))


def hdu_start(path, index: int) -> int:
    with fits.open(path) as hl:
        return hl.fileinfo(index)["hdrLoc"]


def cli_subprocess(args, *, cwd=None, env=None, preexec_fn=None, timeout=300, prelude: str = ""):
    """Run ``skymatch`` in a fresh interpreter (``prelude`` runs first); returns the
    CompletedProcess."""
    code = (f"import sys; sys.path.insert(0, {SRC!r})\n{prelude}\n"
            "from skymatch.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn)


def one_line_error(stderr: str) -> str:
    """The single ``skymatch: error:`` line (warnings may precede it); asserts it is one."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("skymatch: error: ")]
    assert len(errors) == 1, stderr
    assert all(ln.startswith("skymatch: ") for ln in lines), stderr
    return errors[0]
