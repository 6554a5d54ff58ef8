"""The comparison's pictures show the right thing.

* A mosaic's picture is its block means (the mean of the finite pixels of every
  ``step`` x ``step`` block), drawn one picture pixel per block, under the shared asinh
  stretch; no-data areas stay blank (dark grey); the binning done while reading a
  product (in bands of rows) equals the block means of the whole image.
* The GIF cycles exactly the mosaic pictures (grey pictures need no palette).
* The flatness maps drawn on one reused Figure equal those drawn on new Figures, pixel
  for pixel, whatever the previous result was.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits

from skymatch.io import gif_bytes, png_bytes, read_product_image
from skymatch.models import Flatness
from skymatch.plotting import (
    _new_axes,
    figure_rgba,
    flatness_figure,
    flatness_frames,
    mosaic_frames,
    mosaic_preview,
    render_mosaic,
)

BLANK = (63, 63, 63)  # NaN: grey 0.25 as matplotlib makes it bytes (63.75, truncated)


def _block_means(image: np.ndarray, step: int) -> np.ndarray:
    """Reference: the mean of the finite pixels of each block, one block at a time."""
    ny, nx = -(-image.shape[0] // step), -(-image.shape[1] // step)
    out = np.full((ny, nx), np.nan)
    for i in range(ny):
        for j in range(nx):
            block = image[i * step:(i + 1) * step, j * step:(j + 1) * step].astype(float)
            good = block[np.isfinite(block)]
            if good.size:
                out[i, j] = good.sum() / good.size
    return out


def _mosaic(shape=(1790, 1402), seed=3) -> np.ndarray:
    """A sky gradient + noise + a few bright sources, inside a no-data frame, with a
    no-data hole and scattered NaN pixels (the edges of a footprint)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sci = (1.0 + 0.5 * xx / shape[1] + 0.3 * yy / shape[0] + rng.normal(0, 0.05, shape)).astype(np.float32)
    sci[rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40)] = 50.0
    sci[:60] = sci[-30:] = np.nan                     # the no-data frame around the footprint
    sci[:, :20] = sci[:, -45:] = np.nan
    sci[900:1100, 300:500] = np.nan                   # a hole: 100 x 100 blocks of 2
    sci[rng.random(shape) < 0.01] = np.nan            # scattered bad pixels
    sci[shape[0] * 2 // 3, shape[1] // 2] = np.inf  # never a value
    return sci


def test_block_means_of_a_mosaic_ignore_non_finite_pixels():
    sci = _mosaic((203, 157))
    for step in (1, 2, 3, 4, 7):
        got = mosaic_preview(sci, max_pixels=-(-max(sci.shape) // step))
        ref = _block_means(sci, step)
        assert got.shape == ref.shape == (-(-203 // step), -(-157 // step))
        assert np.array_equal(np.isnan(got), np.isnan(ref))  # a block with no finite pixel is blank
        np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=2e-6, atol=0)
    # Known positions: the first row of blocks is all no-data, a block of 3 x 3 on the
    # gradient averages its pixels.
    got = mosaic_preview(sci, max_pixels=-(-203 // 3))
    assert np.isnan(got[:20]).all()
    blk = sci[90:93, 30:33]
    assert got[30, 10] == pytest.approx(np.mean(blk[np.isfinite(blk)]), rel=1e-6)


def test_reading_a_product_binned_equals_the_block_means_of_the_whole_image(tmp_path):
    # 2100 x 2100 to 900 a side: blocks of 3, read in two bands of rows.
    sci = _mosaic((2100, 2100), seed=5)
    path = tmp_path / "m_drz_sci.fits"
    fits.PrimaryHDU(sci).writeto(path)
    got = read_product_image(str(path), 0, max_side=900)
    ref = _block_means(sci, 3)
    assert got.shape == (700, 700) and got.dtype == np.float32
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=2e-6)
    # Small enough already: the pixels as they are.
    small = read_product_image(str(path), 0, max_side=4096)
    assert np.array_equal(small, sci, equal_nan=True)


def _image_box(rgb: np.ndarray, shape: tuple[int, int], expected: np.ndarray) -> tuple[int, int]:
    """Where ``expected`` (the picture's image, top row first, with a blank frame) sits in
    ``rgb``: the blank frame's bounding box, refined to the offset where the image matches
    exactly inside the Axes' frame line (which covers the outermost pixels, and a little
    of the next ones)."""
    blank = (rgb == BLANK).all(axis=-1)
    rows, cols = np.nonzero(blank.sum(axis=1) > 20)[0], np.nonzero(blank.sum(axis=0) > 20)[0]  # not the title's
    h, w = shape
    inner = expected[2:-2, 2:-2]
    for dr in range(-3, 2):
        for dc in range(-3, 2):
            r0, c0 = rows.min() + dr, cols.min() + dc
            shown = rgb[r0 + 2: r0 + h - 2, c0 + 2: c0 + w - 2].astype(int)
            if shown.shape == inner.shape and np.abs(shown - inner).max() <= 2:
                return r0, c0
    raise AssertionError("the picture does not show the block means pixel for pixel")


def _expected_rgb(preview: np.ndarray, limits) -> np.ndarray:
    """The stretch the pictures promise: asinh(0.1) between the limits, grey, NaN at 0.25."""
    import matplotlib
    from astropy.visualization import AsinhStretch, ImageNormalize

    norm = ImageNormalize(vmin=limits[0], vmax=limits[1], stretch=AsinhStretch(0.1))
    cmap = matplotlib.colormaps["Greys_r"].with_extremes(bad="0.25")
    return cmap(norm(np.ma.masked_invalid(preview)), bytes=True)[::-1, :, :3]  # origin lower


def test_mosaic_picture_shows_the_block_means_pixel_for_pixel_and_no_data_blank():
    sci = _mosaic()
    limits = (1.0, 2.2)
    rgb = render_mosaic(sci, limits=limits, title="skymethod = match", max_pixels=900)
    ref = _block_means(sci, 2)                        # 1790 x 1402 -> 895 x 701 blocks
    assert ref.shape == (895, 701)
    expected = _expected_rgb(ref, limits)
    r0, c0 = _image_box(rgb, ref.shape, expected)
    shown = rgb[r0 + 2: r0 + ref.shape[0] - 2, c0 + 2: c0 + ref.shape[1] - 2].astype(int)
    # Exact but for block means on a colour-table boundary (float32 sums vs the float64
    # reference, ~1e-7): the next entry of the colour table, a handful of pixels.
    off = np.abs(shown - expected[2:-2, 2:-2]).max(axis=-1)
    assert off.max() <= 2 and np.count_nonzero(off) <= 20
    # The no-data frame: the mosaic's top 30 rows are the picture's top 15, its left 20
    # columns the picture's left 10; blank, and the next row / column is not.
    assert (rgb[r0 + 2: r0 + 15, c0 + 2: c0 + ref.shape[1] - 2] == BLANK).all()
    assert (rgb[r0 + 2: r0 + ref.shape[0] - 2, c0 + 2: c0 + 10] == BLANK).all()
    assert not (rgb[r0 + 15, c0 + 10: c0 + 600] == BLANK).all(axis=-1).any()
    assert not (rgb[r0 + 20: r0 + 800, c0 + 10] == BLANK).all(axis=-1).any()
    # The hole (rows 900-1099, columns 300-499 of the mosaic) is 100 x 100 blank picture
    # pixels, 100 block rows below the top of the image's data rows (origin lower).
    top = ref.shape[0] - 1100 // 2                    # picture row of the hole's top edge
    hole = rgb[r0 + top: r0 + top + 100, c0 + 150: c0 + 250]
    assert (hole == BLANK).all()
    assert not (rgb[r0 + top - 1, c0 + 150: c0 + 250] == BLANK).all(axis=-1).all()
    # Known positions on the gradient: the grey level rises to the right (east of the
    # frame's left edge) and upward, as the block means do.
    row = r0 + ref.shape[0] - 1 - 400
    left, right = rgb[row, c0 + 20, 0], rgb[row, c0 + 650, 0]
    assert right > left
    assert rgb.shape[0] > ref.shape[0] and rgb.shape[1] >= ref.shape[1]  # title above, frame around


def test_small_mosaics_are_zoomed_by_a_whole_factor():
    sci = _mosaic((120, 90), seed=7)
    limits = (1.0, 2.2)
    rgb = render_mosaic(sci, limits=limits, title="skymethod = localmin")
    expected = np.repeat(np.repeat(_expected_rgb(sci, limits), 4, axis=0), 4, axis=1)  # 120 -> 480 >= 450
    r0, c0 = _image_box(rgb, expected.shape[:2], expected)
    assert np.array_equal(rgb[r0 + 2: r0 + 478, c0 + 2: c0 + 358], expected[2:-2, 2:-2])  # no binning: exact


def test_comparison_frames_share_one_stretch_width_and_the_gif_cycles_them_exactly():
    from PIL import Image

    base = np.round(_mosaic((600, 500), seed=11) * 1024) / 1024  # + 0.25 stays exact
    mosaics = {"localmin": base, "match": base + np.float32(0.25), "globalmin": base * np.float32(2.0)}
    frames = mosaic_frames(mosaics, max_pixels=300)
    assert list(frames) == list(mosaics)
    assert len({f.shape for f in frames.values()}) == 1
    # Each is drawn from its own floor with one width: a constant offset changes the
    # title only; twice the contrast shows.
    a, b, c = frames.values()
    assert not np.array_equal(a[:30], b[:30])
    assert np.array_equal(a[40:], b[40:])
    assert not np.array_equal(a[40:], c[40:])
    with Image.open(io.BytesIO(gif_bytes(list(frames.values())))) as gif:
        assert gif.n_frames == 3
        for k, frame in enumerate(frames.values()):
            gif.seek(k)
            assert np.array_equal(np.asarray(gif.convert("RGB")), frame)
    with Image.open(io.BytesIO(png_bytes(frames["globalmin"]))) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), frames["globalmin"])


def _flatness(seed: int, n: int, scale: float, shift: float = 0.0) -> Flatness:
    rng = np.random.default_rng(seed)
    xi = np.radians(rng.uniform(-3, 3, n) / 60.0 + shift)
    eta = np.radians(rng.uniform(-2, 2.5, n) / 60.0)
    res = rng.normal(0, scale, n)
    return Flatness(rms=float(np.std(res)), noise=scale / 2, n_cells=n, n_pairs=4, units="ELECTRONS/S",
                    xi=xi, eta=eta, residual=res, npix=np.full(n, 100))


class _Result:
    def __init__(self, flatness):
        self.flatness = flatness


def test_flatness_maps_on_one_reused_figure_equal_new_figures():
    results = {"localmin": _Result(_flatness(1, 3000, 0.002)),
               "globalmin": _Result(_flatness(2, 5000, 0.1, shift=0.01)),   # other ticks, other extent
               "match": _Result(_flatness(3, 5000, 0.002)),
               "none": _Result(None)}
    frames = flatness_frames(results)
    assert list(frames) == ["localmin", "globalmin", "match"]
    for lab, rgba in frames.items():
        fresh = figure_rgba(flatness_figure(results[lab].flatness, ax=_new_axes((6.5, 5.5)),
                                            title=f"{lab}: overlap residuals"), dpi=110)
        assert rgba.shape == fresh.shape == (605, 715, 4)
        assert np.array_equal(rgba, fresh), lab
