"""Peer: stsci.skypac ``skymatch()`` as AstroDrizzle calls it, whole process.

    $SKYMATCH_PEER_PYTHON benchmarks/peers/skypac_match.py [METHOD]   (in the folder of the FLTs)

AstroDrizzle's settings: skystat='median', nclip=5, lsigma=usigma=4, binwidth=0.1,
lower/upper None, MDRIZSKY written into the inputs (readonly=False, subtractsky=False).
AstroDrizzle gives skypac one mask file per chip (DQ == 0, AND its static mask) and
``dq_bits=None``; so does this script (DQ == 0 only, no static mask: the reference README
measured that this differs from AstroDrizzle by <1e-4 e-/s).  Masks go through files
because skypac 1.0.12's own ``dq_bits`` path is inverted with current astropy
(``bitfield_to_boolean_mask`` defaults to ``good_mask_value=False``, so ``dq_bits=0`` keeps
only the *flagged* pixels and gives skies off by up to 0.1 e-/s).
"""

import glob
import sys

import numpy as np
from astropy.io import fits
from stsci.skypac.skymatch import skymatch

method = sys.argv[1] if len(sys.argv) > 1 else "match"
lines = []
for f in sorted(glob.glob("*_flt.fits")):
    masks = []
    with fits.open(f) as h:
        nsci = sum(1 for x in h if x.name == "SCI")
        for k in range(1, nsci + 1):
            m = f.replace("_flt.fits", f"_skymask{k}.fits")
            fits.writeto(m, (h["DQ", k].data == 0).astype(np.uint8), overwrite=True)
            masks.append(m)
    lines.append(f"{f}," + ",".join(masks) + "\n")
with open("skypac_input.lst", "w") as fh:
    fh.writelines(lines)
skymatch("@skypac_input.lst", skymethod=method, skystat="median", lower=None, upper=None, nclip=5,
         lsigma=4.0, usigma=4.0, binwidth=0.1, skyuser_kwd="MDRIZSKY", units_kwd="BUNIT",
         readonly=False, subtractsky=False, dq_bits=None, clobber=True, verbose=False, flog=None)
