"""Physical floor of the sky step: one Python process that imports numpy (and astropy.io.fits),
reads every pixel of every input once (memory map -> ``np.asarray(...).sum()``) and makes
one boolean selection pass per chip (the pixels with DQ == 0).  Nothing a sky step must do
can be cheaper.

    python benchmarks/_floor_read.py FILE [FILE ...]
"""

import sys

import numpy as np
from astropy.io import fits

total = 0.0
for path in sys.argv[1:]:
    with fits.open(path, memmap=True) as h:
        arrays = {}
        for hdu in h:
            if hdu.is_image and hdu.data is not None:
                a = np.asarray(hdu.data)
                total += float(a.sum(dtype=np.float64))
                arrays[(hdu.name, hdu.ver)] = a
        for (name, ver), sci in arrays.items():
            if name == "SCI" and ("DQ", ver) in arrays:
                total += float(sci[arrays["DQ", ver] == 0].sum(dtype=np.float64))
print(f"{total:.6e}")
