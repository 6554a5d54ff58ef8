"""Peer: one AstroDrizzle run with the STScI notebook's call, whole process.

    $SKYMATCH_PEER_PYTHON benchmarks/peers/astrodrizzle_run.py METHOD OUTPUT   (in the FLT folder)
"""

import sys

from drizzlepac import astrodrizzle

method, output = sys.argv[1], sys.argv[2]
astrodrizzle.AstroDrizzle("*flt.fits", output=output, preserve=False, skymethod=method,
                          driz_separate=False, median=False, blot=False, driz_cr=False,
                          final_bits="64", final_wcs=True, final_rot=257.0)
with open("astrodrizzle.log") as fh:
    if "Reverting sky computation" in fh.read():
        sys.exit("AstroDrizzle reverted the sky method (spherical-geometry >= 1.4?)")
