"""Plots and pictures: MDRIZSKY per image per method, mosaic images, an animated GIF.

matplotlib is imported inside the functions.  Functions that draw take ``ax=None`` and
return the Axes; without an ``ax`` they draw on ``matplotlib.pyplot.gca()``, so the plot
appears inline in a notebook (photutils' convention).  Pictures made for files are drawn
on private ``Figure`` objects and never touch pyplot's state.  This module draws;
writing pictures to files is :mod:`skymatch.io`'s job (``io.save_figure``,
``io.save_png``, ``io.save_gif``, ``io.save_comparison_pictures``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported only when something is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_mdrizsky", "plot_mosaic", "mosaic_limits", "render_mosaic", "comparison_figures",
           "flatness_figure", "alignment_residuals_figure", "draw_alignment_residuals"]

METHOD_STYLE = MappingProxyType({
    "globalmin_match": ("Globalmin + Match", "magenta"),
    "match": ("Match", "navy"),
    "local": ("Localmin", "olive"),
    "globalmin": ("Globalmin", "orange"),
})


def _current_axes():
    """The current Axes of pyplot (what ``ax=None`` draws on)."""
    import matplotlib.pyplot as plt

    return plt.gca()


def _new_axes(figsize=(8, 5)):
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
    """
    ax = ax if ax is not None else _current_axes()
    x = np.arange(len(table))
    styled = [(col, label, color) for col, (label, color) in METHOD_STYLE.items() if col in table.colnames]
    # Methods x sky models (``match_constant``, ``match_plane`` ...): every other numeric column.
    skip = {"Rootname", "ASN_ID", "ORIENTAT"} | {c for c, _, _ in styled}
    others = [c for c in table.colnames if c not in skip and np.asarray(table[c]).dtype.kind == "f"]
    markers = "osD^vP*X"
    for k, (col, label, color) in enumerate(styled + [(c, c, None) for c in others]):
        ax.scatter(x, np.asarray(table[col], float), s=28, color=color, label=label,
                   marker=markers[k % len(markers)] if color is None else "o")
    ax.set_xticks(x)
    ax.set_xticklabels([str(r) for r in table["Rootname"]], rotation=70, fontsize=7)
    ax.set_xlabel("Individual images")
    ax.set_ylabel("MDRIZSKY value")
    ax.set_title("MDRIZSKY values of different sky matching techniques")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def mosaic_limits(images: Sequence[np.ndarray], lower: float = 1.0, upper: float = 99.5) -> tuple[float, float]:
    """Common display limits (percentiles of the finite pixels of all ``images``)."""
    vals = np.concatenate([np.asarray(im)[np.isfinite(im)].ravel()[::7] for im in images])
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, [lower, upper])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def plot_mosaic(sci: np.ndarray, *, ax=None, limits=None, title: str | None = None) -> Axes:
    """Show a mosaic with an asinh stretch (NaN = no data, drawn dark grey)."""
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
    ax = plot_mosaic(small, ax=_new_axes((7, 7)), limits=limits, title=title)
    fig = ax.figure
    fig.set_size_inches(7, 7 * small.shape[0] / small.shape[1] + 0.4)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def comparison_figures(mosaics: Mapping[str, np.ndarray], table) -> dict:
    """The pictures of a method comparison, drawn (nothing is written).

    Returns
    -------
    dict
        ``'plot'``: the MDRIZSKY plot (an Axes); ``'mosaics'``: ``{method: RGB array}``
        in the order of ``mosaics`` (the GIF's frames).
    """
    out: dict[str, object] = {"plot": plot_mdrizsky(table, ax=_new_axes())}
    # One display range for all (so seams compare), each from its own floor (the methods
    # differ by a constant level the eye should not be asked to judge).
    lims = {name: mosaic_limits([sci]) for name, sci in mosaics.items()}
    width = max(hi - lo for lo, hi in lims.values())
    rgbs = {}
    for name, sci in mosaics.items():
        lo = lims[name][0]
        rgbs[name] = render_mosaic(sci, limits=(lo, lo + width), title=f"skymethod = {name}")
    out["mosaics"] = rgbs
    return out


def flatness_figure(flatness, *, ax=None, title: str | None = None, limit: float | None = None) -> Axes:
    """The overlap residuals of a sky result, drawn on the sky: every overlap cell at its
    position (tangent plane, arcmin; East to the left), coloured by the difference of the
    two exposures after their skies are removed.  A seam is a coloured stripe.

    Parameters
    ----------
    flatness : skymatch.models.Flatness
    ax : matplotlib Axes, optional
        Where to draw (default: ``matplotlib.pyplot.gca()``).
    title : str, optional
    limit : float, optional
        Colour-scale half range (default: 4 x the score's noise, at least its rms).
    """
    import matplotlib

    ax = ax if ax is not None else _current_axes()
    x = -np.degrees(np.asarray(flatness.xi)) * 60.0
    y = np.degrees(np.asarray(flatness.eta)) * 60.0
    lim = limit or max(4.0 * flatness.noise, flatness.rms, 1e-12)
    sc = ax.scatter(x, y, c=flatness.residual, s=6, cmap=matplotlib.colormaps["RdBu_r"], vmin=-lim, vmax=lim,
                    marker="s", linewidths=0)
    ax.set_aspect("equal")
    ax.invert_xaxis()
    ax.set_xlabel("east offset (arcmin)")
    ax.set_ylabel("north offset (arcmin)")
    ax.set_title(title or "overlap residuals")
    cb = ax.figure.colorbar(sc, ax=ax, shrink=0.8)
    cb.set_label(f"difference after sky removal ({flatness.units})")
    ax.text(0.02, 0.02, f"flatness {flatness.rms:.5f} (noise {flatness.noise:.5f}) {flatness.units}",
            transform=ax.transAxes, fontsize=8)
    return ax


def alignment_residuals_figure(result, *, ylimit: float | None = None) -> Figure:
    """TweakReg's residual plots on a private Figure (for a file): see
    :func:`draw_alignment_residuals`.  Returns the Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, len([f for f in result.fits if f.aligned and f.residuals]))
    fig = Figure(figsize=(9, 2.2 * n), layout="constrained")
    FigureCanvasAgg(fig)
    return draw_alignment_residuals(result, fig=fig, ylimit=ylimit)


def draw_alignment_residuals(result, *, fig=None, ylimit: float | None = None) -> Figure:
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
