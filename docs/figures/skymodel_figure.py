"""Make ``docs/img/skymodel_gradient_demo.png``: the gradient demo with constant and plane skies.

    .venv/bin/python docs/figures/skymodel_figure.py [WORKDIR]

Builds the gradient demo (``skymatch demo-data --gradient 0.125``: 18 x 1014², SIP
distortion, noise, stars, nebula), runs ``skymatch.compare`` with
``sky_model='constant,plane'``, and draws (top) the two ``match`` mosaics' difference —
what a constant per exposure leaves of the gradients — and (bottom) each model's overlap
residuals (the flatness picture) on one colour scale.
"""

import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits

import skymatch
from skymatch.plotting import flatness_figure


def main() -> None:
    work = sys.argv[1] if len(sys.argv) > 1 else "skymodel_demo"
    if not glob.glob(os.path.join(work, "*_flt.fits")):
        skymatch.demo_data(work, gradient=0.125)
    files = sorted(glob.glob(os.path.join(work, "*_flt.fits")))
    r = skymatch.compare(files, outdir=os.path.join(work, "compare"), methods="match",
                         sky_model="constant,plane", pictures=False, overwrite=True, progress=False)
    sci = {lab: fits.getdata(os.path.join(r.outdir, f"{r.prefix}_{lab}_drz_sci.fits"))
           for lab in ("match_constant", "match_plane")}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    diff = sci["match_constant"] - sci["match_plane"]
    im = axes[0].imshow(diff[::4, ::4], origin="lower", cmap="RdBu_r", vmin=-0.05, vmax=0.05)
    axes[0].set_title("match mosaics: constant minus plane sky")
    axes[0].set_axis_off()
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="e-/s")
    for ax, lab in zip(axes[1:], ("match_constant", "match_plane")):
        fl = r.sky.results[lab].flatness
        flatness_figure(fl, ax=ax, title=f"{lab}: overlap residuals", limit=0.01)
    fig.tight_layout()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "img", "skymodel_gradient_demo.png")
    fig.savefig(out, dpi=80)
    print(os.path.normpath(out))


if __name__ == "__main__":
    main()
