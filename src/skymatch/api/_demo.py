"""What ``skymatch demo`` (and ``make demo``) needs besides the public commands: its
work folder, the notebook's parameters and the comparison with the known truth."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from ..datasets import NOTEBOOK_ALIGN_ORDER, sky_truth_errors, wcs_truth_errors

__all__ = ["DemoFolders", "prepare_demo", "demo_wcs_errors", "demo_sky_errors", "NOTEBOOK_ALIGN",
           "NOTEBOOK_DRIZZLE", "MISALIGN", "NOTEBOOK_ALIGN_ORDER"]

# The notebook's TweakReg call (its section 2).
NOTEBOOK_ALIGN = (("threshold", 10.0), ("conv_width", 4.5), ("peakmin", 1.0), ("minobj", 5),
                  ("expand_refcat", True), ("enforce_user_order", True), ("searchrad", 3.0),
                  ("ylimit", 0.5), ("update_header", True))
# Its AstroDrizzle calls (section 3).
NOTEBOOK_DRIZZLE = (("final_bits", "64"), ("final_wcs", True), ("final_rot", 257.0))
MISALIGN = (1.0, 0.02)  # arcsec, degrees


@dataclass(frozen=True)
class DemoFolders:
    """The demo's pristine data, its work copy and the files in it."""

    data: str
    work: str
    truth_file: str
    flts: str  # glob of the work copy's FLT files
    drz_list: str  # the notebook's drz.list (alignment order)


def prepare_demo(outdir: str, *, size: int, seed: int) -> DemoFolders:
    """Make the demo data once in ``outdir/data`` (misaligned visits with DRZ products)
    and a fresh work copy in ``outdir/work`` with the notebook's ``drz.list``."""
    from ..io._synthetic import fresh_copy, write_list_file
    from ._data import demo_data

    data = os.path.join(outdir, "data")
    work = os.path.join(outdir, "work")
    truth_file = os.path.join(data, "truth.json")
    if not os.path.exists(truth_file):
        demo_data(data, size=size, seed=seed, misalign=MISALIGN, drz=True, overwrite=True)
    fresh_copy(data, work)
    drz_list = write_list_file(os.path.join(work, "drz.list"),
                               [f"ibxl{v}030_drz.fits" for v in NOTEBOOK_ALIGN_ORDER])
    return DemoFolders(data, work, truth_file, os.path.join(work, "*_flt.fits"), drz_list)


def demo_wcs_errors(folders: DemoFolders, *, work: bool) -> dict:
    """``{rootname: (centre, max)}`` pixels between each FLT's WCS and its true one."""
    folder = folders.work if work else folders.data
    return wcs_truth_errors(sorted(glob.glob(os.path.join(folder, "*_flt.fits"))), folders.truth_file)


def demo_sky_errors(table, folders: DemoFolders) -> dict:
    """Each method's error against the true skies (see :func:`skymatch.datasets.sky_truth_errors`)."""
    return sky_truth_errors(table, folders.truth_file)
