"""Plots and pictures: MDRIZSKY per image per method, mosaic images, an animated GIF.

matplotlib is imported inside the functions.  Functions that draw take ``ax=None`` and
return the Axes; without an ``ax`` they draw on ``matplotlib.pyplot.gca()``, so the plot
appears inline in a notebook (photutils' convention).  Functions that write picture
files draw on private ``Figure`` objects and never touch pyplot's state.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["plot_mdrizsky", "plot_mosaic", "mosaic_limits", "save_figure", "save_gif", "render_mosaic",
           "plot_alignment_residuals", "draw_alignment_residuals"]

METHOD_STYLE = {
    "globalmin_match": ("Globalmin + Match", "magenta"),
    "match": ("Match", "navy"),
    "local": ("Localmin", "olive"),
    "globalmin": ("Globalmin", "orange"),
}


def _current_axes():
    """pyplot's current Axes (what ``ax=None`` draws on)."""
    import matplotlib.pyplot as plt

    return plt.gca()


def _private_axes(figsize=(8, 5)):
    """Axes on a Figure of their own, outside pyplot (for pictures written to files)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def plot_mdrizsky(table, *, ax=None):
    """MDRIZSKY of every image for every method (the notebook's plot).

    Parameters
    ----------
    table : astropy.table.Table
        A comparison table with ``Rootname`` and method columns (``globalmin``,
        ``globalmin_match``, ``match``, ``local``).
    ax : matplotlib Axes, optional
        Where to draw (default: ``matplotlib.pyplot.gca()``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = ax if ax is not None else _current_axes()
    x = np.arange(len(table))
    for col, (label, color) in METHOD_STYLE.items():
        if col in table.colnames:
            ax.scatter(x, np.asarray(table[col], float), s=28, color=color, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels([str(r) for r in table["Rootname"]], rotation=70, fontsize=7)
    ax.set_xlabel("Individual images")
    ax.set_ylabel("MDRIZSKY value")
    ax.set_title("MDRIZSKY values of different sky matching techniques")
    ax.legend(loc="center left", fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def mosaic_limits(images: Sequence[np.ndarray], lower: float = 1.0, upper: float = 99.5):
    """Common display limits (percentiles of the finite pixels of all ``images``)."""
    vals = np.concatenate([np.asarray(im)[np.isfinite(im)].ravel()[::7] for im in images])
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, [lower, upper])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def plot_mosaic(sci: np.ndarray, *, ax=None, limits=None, title: str | None = None):
    """Show a mosaic with an asinh stretch (NaN = no data, drawn dark grey).

    Parameters
    ----------
    sci : numpy.ndarray
        The science image.
    ax : matplotlib Axes, optional
        Where to draw (default: ``matplotlib.pyplot.gca()``).
    limits : (float, float), optional
        Display range (default: :func:`mosaic_limits` of ``sci``).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from astropy.visualization import AsinhStretch, ImageNormalize

    ax = ax if ax is not None else _current_axes()
    lo, hi = limits or mosaic_limits([sci])
    norm = ImageNormalize(vmin=lo, vmax=hi, stretch=AsinhStretch(0.1))
    im = np.ma.masked_invalid(sci)
    import matplotlib

    cmap = matplotlib.colormaps["Greys_r"].with_extremes(bad="0.25")
    ax.imshow(im, origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def render_mosaic(sci: np.ndarray, *, limits, title: str, max_pixels: int = 900) -> np.ndarray:
    """RGB array of a mosaic picture (binned down to at most ``max_pixels`` a side)."""
    step = max(1, int(np.ceil(max(sci.shape) / max_pixels)))
    small = sci[::step, ::step]
    ax = plot_mosaic(small, ax=_private_axes((7, 7)), limits=limits, title=title)
    fig = ax.figure
    fig.set_size_inches(7, 7 * small.shape[0] / small.shape[1] + 0.4)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_figure(ax, path: str, dpi: int = 110) -> str:
    """Save the figure of ``ax`` as PNG."""
    ax.figure.savefig(path, dpi=dpi)
    return path


def save_gif(frames: Sequence[np.ndarray], path: str, *, duration_ms: int = 1200) -> str:
    """An animated GIF cycling the RGB ``frames`` (Pillow, which matplotlib ships with)."""
    from PIL import Image

    shape = frames[0].shape
    imgs = [Image.fromarray(f[: shape[0], : shape[1]]) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0)
    return path


def comparison_pictures(mosaics: Mapping[str, np.ndarray], table, outdir: str, prefix: str) -> dict:
    """Write the MDRIZSKY plot, one PNG per mosaic and the GIF; returns their paths."""
    import os

    out: dict[str, object] = {}
    out["plot"] = save_figure(plot_mdrizsky(table, ax=_private_axes()), os.path.join(outdir, f"{prefix}_mdrizsky.png"))
    # One display range for all (so seams compare), each from its own floor (the methods
    # differ by a constant level the eye should not be asked to judge).
    lims = {name: mosaic_limits([sci]) for name, sci in mosaics.items()}
    width = max(hi - lo for lo, hi in lims.values())
    frames, pngs = [], {}
    for name, sci in mosaics.items():
        lo = lims[name][0]
        rgb = render_mosaic(sci, limits=(lo, lo + width), title=f"skymethod = {name}")
        from PIL import Image

        p = os.path.join(outdir, f"{prefix}_{name.replace('+', '_')}_mosaic.png")
        Image.fromarray(rgb).save(p)
        pngs[name] = p
        frames.append(rgb)
    out["mosaics"] = pngs
    out["gif"] = save_gif(frames, os.path.join(outdir, f"{prefix}_methods.gif"))
    return out


def plot_alignment_residuals(result, path: str, *, ylimit: float | None = None, dpi: int = 100) -> str:
    """Save TweakReg's residual plots (:func:`draw_alignment_residuals`) as ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, sum(1 for f in result.fits if f.aligned and f.residuals))
    fig = Figure(figsize=(9, 2.2 * n), layout="constrained")
    FigureCanvasAgg(fig)
    draw_alignment_residuals(result, fig=fig, ylimit=ylimit)
    fig.savefig(path, dpi=dpi)
    return path


def draw_alignment_residuals(result, *, fig=None, ylimit: float | None = None):
    """TweakReg's residual plots: per aligned image, fit residuals (reference pixels)
    against x and against y of the reference frame.

    Parameters
    ----------
    result : AlignResult
        What :func:`skymatch.align` returned.
    fig : matplotlib Figure, optional
        Where to draw (default: a new pyplot figure, shown inline in a notebook).
    ylimit : float, optional
        Bound of the y axes, pixels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fits = [f for f in result.fits if f.aligned and f.residuals]
    n = max(1, len(fits))
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(9, 2.2 * n), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False)
    for row, f in zip(axes, fits):
        r = f.residuals
        for ax, coord in zip(row, ("x", "y")):
            ax.plot(r[coord], r["dx"], ".", ms=3, color="navy", label="dx")
            ax.plot(r[coord], r["dy"], ".", ms=3, color="orange", label="dy")
            ax.axhline(0.0, color="0.5", lw=0.8)
            ax.set_xlabel(f"{coord} (reference pixels)")
            ax.set_ylabel("residual (px)")
            ax.set_title(f"{f.name}: {f.nmatches} sources, rms {f.rms_x:.3f}/{f.rms_y:.3f} px", fontsize=8)
            if ylimit:
                ax.set_ylim(-ylimit, ylimit)
        row[0].legend(fontsize=7, loc="upper right")
    if not fits:
        axes[0][0].text(0.5, 0.5, "no image was aligned", ha="center", transform=axes[0][0].transAxes)
    return fig
