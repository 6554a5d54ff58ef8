"""Plots and pictures: MDRIZSKY per image per method, mosaic images, an animated GIF.

matplotlib is imported inside the functions.  Functions that draw take ``ax=None`` and
return the Axes; without an ``ax`` they draw on ``matplotlib.pyplot.gca()``, so the plot
appears inline in a notebook (photutils' convention).  Pictures made for files are drawn
on private ``Figure`` objects and never touch pyplot's state.  This module draws;
writing pictures to files is :mod:`skymatch.io`'s job (``io.save_figure``,
``io.save_png``, ``io.save_gif``, ``io.PictureWriter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported only when something is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_mdrizsky", "plot_mosaic", "mosaic_limits", "mosaic_preview", "render_mosaic", "mosaic_frames",
           "comparison_figures", "figure_rgba", "flatness_figure", "flatness_frames", "alignment_residuals_figure",
           "draw_alignment_residuals"]

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


def figure_rgba(figure, *, dpi: float = 110) -> np.ndarray:
    """Draw a private Figure (or the Figure of an Axes) on its Agg canvas at ``dpi`` and
    return the pixels (RGBA ``uint8``, what ``savefig(..., dpi=dpi)`` would write)."""
    fig = getattr(figure, "figure", figure)
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


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


def _mosaic_norm_cmap(limits):
    """The mosaics' display: an asinh stretch between ``limits``, grey, NaN dark grey."""
    import matplotlib
    from astropy.visualization import AsinhStretch, ImageNormalize

    norm = ImageNormalize(vmin=limits[0], vmax=limits[1], stretch=AsinhStretch(0.1))
    return norm, matplotlib.colormaps["Greys_r"].with_extremes(bad="0.25")


def plot_mosaic(sci: np.ndarray, *, ax=None, limits=None, title: str | None = None) -> Axes:
    """Show a mosaic with an asinh stretch (NaN = no data, drawn dark grey)."""
    ax = ax if ax is not None else _current_axes()
    norm, cmap = _mosaic_norm_cmap(limits or mosaic_limits([sci]))
    ax.imshow(np.ma.masked_invalid(sci), origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def mosaic_preview(sci: np.ndarray, *, max_pixels: int = 900) -> np.ndarray:
    """A mosaic binned to at most ``max_pixels`` a side: each pixel is the mean of the
    finite pixels of a square block of the mosaic (NaN where the block has none)."""
    from .core._binning import bin_factor, block_mean

    return block_mean(np.asarray(sci), bin_factor(np.shape(sci), max_pixels))


class _PreviewCanvas:
    """One private Figure that draws mosaic previews pixel for pixel: an Axes of exactly
    the image's size (an integer zoom for small ones), the title above.  matplotlib draws
    the title; the image's pixels are copied into the Agg buffer inside the Axes and the
    Axes' frame is drawn over them (what ``imshow`` at one image pixel per screen pixel
    gives, without resampling).  Reused while the previews' shapes agree."""

    DPI = 100
    PAD = 6          # pixels around the image
    TITLE = 32       # pixels above it for the title
    MIN_SIDE = 450   # smaller previews are zoomed by an integer factor to at least this
    MIN_WIDTH = 400  # room for a long title

    def __init__(self) -> None:
        self._shape = None
        self._fig = self._ax = None
        self._left = 0

    def _layout(self, shape) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        h, w = shape
        width, height = max(w + 2 * self.PAD, self.MIN_WIDTH), h + self.PAD + self.TITLE
        # nextafter: Agg truncates the figure's pixel size; never let w/dpi*dpi round below w.
        fig = Figure(figsize=(np.nextafter(width / self.DPI, np.inf), np.nextafter(height / self.DPI, np.inf)),
                     dpi=self.DPI)
        FigureCanvasAgg(fig)
        fw, fh = fig.bbox.width, fig.bbox.height
        self._left = (width - w) // 2
        ax = fig.add_axes((self._left / fw, self.PAD / fh, w / fw, h / fh))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)  # drawn over the image, below
        self._fig, self._ax, self._shape = fig, ax, shape

    def draw(self, preview: np.ndarray, *, limits, title: str) -> np.ndarray:
        """RGB array (uint8) of the picture of ``preview`` (already binned)."""
        norm, cmap = _mosaic_norm_cmap(limits)
        rgba = cmap(norm(preview), bytes=True)  # NaN -> the colour map's "bad" colour
        zoom = -(-self.MIN_SIDE // max(1, *rgba.shape[:2]))
        if zoom > 1:
            rgba = np.repeat(np.repeat(rgba, zoom, axis=0), zoom, axis=1)
        h, w = rgba.shape[:2]
        if self._shape != (h, w):
            self._layout((h, w))
        self._ax.set_title(title)
        canvas = self._fig.canvas
        canvas.draw()
        buf = np.asarray(canvas.buffer_rgba())  # the renderer's own pixels (writable)
        bottom = buf.shape[0] - self.PAD
        buf[bottom - h:bottom, self._left:self._left + w] = rgba[::-1]  # origin lower
        renderer = canvas.get_renderer()
        for spine in self._ax.spines.values():
            spine.set_visible(True)
            spine.draw(renderer)
            spine.set_visible(False)
        return buf[..., :3].copy()


def render_mosaic(sci: np.ndarray, *, limits, title: str, max_pixels: int = 900) -> np.ndarray:
    """RGB array of a mosaic picture: binned (:func:`mosaic_preview`) to at most
    ``max_pixels`` a side and drawn pixel for pixel under ``title``."""
    return _PreviewCanvas().draw(mosaic_preview(sci, max_pixels=max_pixels), limits=limits, title=title)


def mosaic_frames(mosaics: Mapping[str, np.ndarray], *, max_pixels: int = 900) -> dict[str, np.ndarray]:
    """The pictures of the mosaics of a method comparison: ``{method: RGB array}``, all
    drawn with one display range (:func:`render_mosaic`, one Figure reused).

    Parameters
    ----------
    mosaics : mapping
        ``{method: science image}``; images larger than ``max_pixels`` a side are
        binned (:func:`mosaic_preview`), so binned copies can be passed directly.
    max_pixels : int
        Largest side of a mosaic picture's image, pixels.
    """
    previews = {name: mosaic_preview(sci, max_pixels=max_pixels) for name, sci in mosaics.items()}
    # One display range for all (so seams compare), each from its own floor (the methods
    # differ by a constant level the eye should not be asked to judge).
    lims = {name: mosaic_limits([p]) for name, p in previews.items()}
    width = max(hi - lo for lo, hi in lims.values())
    canvas = _PreviewCanvas()
    return {name: canvas.draw(p, limits=(lims[name][0], lims[name][0] + width), title=f"skymethod = {name}")
            for name, p in previews.items()}


def comparison_figures(mosaics: Mapping[str, np.ndarray], table, *, max_pixels: int = 900) -> dict:
    """The pictures of a method comparison, drawn (nothing is written).

    Parameters
    ----------
    mosaics : mapping
        ``{method: science image}`` (:func:`mosaic_frames`).
    table : astropy.table.Table
        The comparison table (:func:`plot_mdrizsky`).
    max_pixels : int
        Largest side of a mosaic picture's image, pixels.

    Returns
    -------
    dict
        ``'plot'``: the MDRIZSKY plot (an Axes); ``'mosaics'``: ``{method: RGB array}``
        in the order of ``mosaics`` (the GIF's frames).
    """
    return {"plot": plot_mdrizsky(table, ax=_new_axes()), "mosaics": mosaic_frames(mosaics, max_pixels=max_pixels)}


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
    sc = ax.scatter(np.zeros(0), np.zeros(0), c=np.zeros(0), s=6, cmap=matplotlib.colormaps["RdBu_r"], marker="s",
                    linewidths=0)
    ax.set_aspect("equal")
    ax.set_xlabel("east offset (arcmin)")
    ax.set_ylabel("north offset (arcmin)")
    ax.figure.colorbar(sc, ax=ax, shrink=0.8)
    ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=8)
    _show_flatness(ax, flatness, title=title, limit=limit)
    return ax


def _show_flatness(ax, flatness, *, title: str | None, limit: float | None) -> None:
    """Put ``flatness`` into the artists :func:`flatness_figure` made on ``ax`` (so one
    Figure can show one result after another)."""
    sc, text = ax.collections[-1], ax.texts[-1]
    x = -np.degrees(np.asarray(flatness.xi, float)) * 60.0
    y = np.degrees(np.asarray(flatness.eta, float)) * 60.0
    lim = limit or max(4.0 * flatness.noise, flatness.rms, 1e-12)
    sc.set_offsets(np.column_stack([x, y]))
    sc.set_array(np.asarray(flatness.residual, float))
    sc.set_clim(-lim, lim)
    # The limits autoscaling would give (the cells' extent + 5 %), set explicitly so a
    # reused Axes forgets the previous result; East to the left.
    for lo, hi, setter in ((x.min(initial=0.0), x.max(initial=0.0), lambda a, b: ax.set_xlim(b, a)),
                           (y.min(initial=0.0), y.max(initial=0.0), ax.set_ylim)):
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        setter(lo - pad, hi + pad)
    ax.set_title(title or "overlap residuals")
    sc.colorbar.set_label(f"difference after sky removal ({flatness.units})")
    text.set_text(f"flatness {flatness.rms:.5f} (noise {flatness.noise:.5f}) {flatness.units}")


class _FlatnessCanvas:
    """One private Figure showing one flatness result after another (axes, colour bar and
    ticks built once).  The constrained layout depends on the texts around the Axes (tick
    labels, offset texts), not on the cells: it is computed once per set of tick labels
    and reused."""

    def __init__(self, figsize=(6.5, 5.5)) -> None:
        self._figsize = figsize
        self._ax = None
        self._layouts: dict[tuple, list] = {}

    def _axes(self) -> tuple:
        return self._ax, self._ax.collections[-1].colorbar.ax

    def _labels(self) -> tuple:
        ax, cax = self._axes()
        return tuple((tuple(a.major.formatter.format_ticks(a.get_majorticklocs())), a.major.formatter.get_offset())
                     for a in (ax.xaxis, ax.yaxis, cax.yaxis))

    def draw(self, flatness, *, title: str, dpi: float = 110) -> np.ndarray:
        """RGBA array of the flatness picture of ``flatness``."""
        if self._ax is None:
            self._ax = flatness_figure(flatness, ax=_new_axes(self._figsize), title=title)
            self._layouts[None] = [a.get_position(original=True) for a in self._axes()]
        else:
            _show_flatness(self._ax, flatness, title=title, limit=None)
        fig, key = self._ax.figure, self._labels()
        layout = self._layouts.get(key)
        fig.set_layout_engine("constrained" if layout is None else "none")
        # A new layout starts where a new Figure's would (the solver is iterative).
        for a, pos in zip(self._axes(), layout or self._layouts[None]):
            a.set_position(pos, which="original")
            a.set_in_layout(True)
        rgba = figure_rgba(fig, dpi=dpi)
        self._layouts.setdefault(key, [a.get_position(original=True) for a in self._axes()])
        return rgba


def flatness_frames(results: Mapping[str, object], *, dpi: float = 110) -> dict[str, np.ndarray]:
    """``{label: RGBA array}``: the flatness picture of every sky result that has overlap
    cells (:func:`flatness_figure`, one Figure reused), titled ``'LABEL: overlap residuals'``."""
    canvas = _FlatnessCanvas()
    return {lab: canvas.draw(res.flatness, title=f"{lab}: overlap residuals", dpi=dpi) for lab, res in results.items()
            if res.flatness is not None and res.flatness.n_cells}


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
