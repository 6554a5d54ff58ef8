"""Sky models beyond a constant (SPEC section 12): exact recovery on tiles cut from one
image, quadratic skies, multi-chip exposures, flatness and honest uncertainties."""

import warnings

import numpy as np
import pytest
from fsutil import tan_wcs

from skymatch import make_chip, match_sky, sky_methods
from skymatch.core._skymodel import coefficient_names, evaluate, evaluate_block, monomials


def base_wcs(shape, scale_arcsec=0.2, rot=15.0, ra=150.0, dec=2.0):
    return tan_wcs(ra, dec, shape, scale_arcsec, rot)


def tile_layout(n_x, n_y, tile, step):
    """Origins (row, col) of an n_x x n_y grid of square tiles overlapping by tile - step."""
    return [(iy * step, ix * step) for iy in range(n_y) for ix in range(n_x)]


def cut_tiles(image, wcs, origins, tile):
    """Tiles of one image: shared pixels, each with its own sliced WCS."""
    out = []
    for r0, c0 in origins:
        sub = wcs.slice((slice(r0, r0 + tile), slice(c0, c0 + tile)))
        sub.pixel_shape = (tile, tile)
        out.append((image[r0 : r0 + tile, c0 : c0 + tile].astype(np.float64), sub))
    return out


def random_poly(rng, order, scale):
    """Random coefficients of a polynomial sky of ``order`` (constant term ~ 10 * scale)."""
    c = rng.normal(0.0, scale, len(monomials(order)))
    c[0] = rng.uniform(-10, 10) * scale
    return c


def model_error_modulo_global(chips, result, truths, order):
    """Per-pixel model - truth over every tile, minus one global polynomial of ``order``
    in the base image's pixel frame (the part no overlap can determine)."""
    errs, rows, cols = [], [], []
    for c, cs, (coeffs, (r0, c0)) in zip(chips, result.chips, truths):
        yy, xx = np.mgrid[0 : c.shape[0] : 2, 0 : c.shape[1] : 2]
        model = evaluate(cs.coefficients, xx, yy, c.shape)
        true = evaluate(coeffs, xx, yy, c.shape)
        errs.append((model - true).ravel())
        rows.append((yy + r0).ravel())
        cols.append((xx + c0).ravel())
    e, r, k = np.concatenate(errs), np.concatenate(rows), np.concatenate(cols)
    u = (k - k.mean()) / 500.0
    v = (r - r.mean()) / 500.0
    A = np.stack([u**i * v**j for i, j in monomials(order)], axis=1)
    coef, *_ = np.linalg.lstsq(A, e, rcond=None)
    return e - A @ coef


@pytest.mark.parametrize("order, model", [(1, "plane"), (2, "poly2")])
def test_tiles_from_one_image_recover_known_polynomials_exactly(order, model):
    """reproject's exact test with gradients: tiles share their pixels, each gets a known
    offset and gradient (and curvature for poly2); match recovers them modulo one global
    polynomial to 1e-5 of the image's robust sigma."""
    rng = np.random.default_rng(12 + order)
    tile, step = 96, 72
    origins = tile_layout(3, 3, tile, step)
    full = (2 * step + tile, 2 * step + tile)
    image = rng.normal(0.0, 1.0, full)
    sigma = 1.4826 * np.median(np.abs(image - np.median(image)))
    chips, truths = [], []
    for k, (data, w) in enumerate(cut_tiles(image, base_wcs(full), origins, tile)):
        coeffs = random_poly(rng, order, 0.5)
        sky = evaluate_block(coeffs, data.shape, dtype=np.float64)
        chips.append(make_chip(data + sky, w, name=f"t{k}", units="ELECTRONS/S"))
        truths.append((coeffs, origins[k]))
    res = match_sky(chips, method="match", sky_model=model, skystat="mean", nclip=0)
    resid = model_error_modulo_global(chips, res, truths, order)
    assert np.max(np.abs(resid)) < (1e-5 if order == 1 else 1e-4) * sigma
    assert res.sky_model == model
    assert all(len(c.coefficients) == len(monomials(order)) for c in res.chips)


def test_constant_model_keeps_the_old_numbers_and_reports_coefficients():
    rng = np.random.default_rng(3)
    tile, step = 64, 48
    origins = tile_layout(2, 2, tile, step)
    full = (step + tile, step + tile)
    image = rng.normal(5.0, 1.0, full)
    chips = [make_chip(d + 2.0 * k, w, name=f"c{k}")
             for k, (d, w) in enumerate(cut_tiles(image, base_wcs(full), origins, tile))]
    a = match_sky(chips, method="match", skystat="mean", nclip=0)
    b = match_sky(chips, method="match", sky_model="constant", skystat="mean", nclip=0)
    assert [c.sky for c in a.chips] == [c.sky for c in b.chips]
    assert [c.sky for c in a.chips] == pytest.approx([0, 2, 4, 6], abs=2e-6)  # float32 statistic
    assert all(c.coefficients == (c.sky,) and c.model == "constant" for c in a.chips)


def noisy_tiles(rng, model_order, n_side=3, tile=80, step=60, noise=0.05, scale=0.02):
    """Tiles with independent noise (not shared pixels): for statistical tests."""
    full = ((n_side - 1) * step + tile,) * 2
    w = base_wcs(full)
    chips, truths = [], []
    for k, (r0, c0) in enumerate(tile_layout(n_side, n_side, tile, step)):
        sub = w.slice((slice(r0, r0 + tile), slice(c0, c0 + tile)))
        sub.pixel_shape = (tile, tile)
        coeffs = random_poly(rng, model_order, scale)
        coeffs[0] += 1.0
        data = evaluate_block(coeffs, (tile, tile), dtype=np.float64) + rng.normal(0, noise, (tile, tile))
        chips.append(make_chip(data, sub, name=f"n{k}"))
        truths.append((coeffs, (r0, c0)))
    return chips, truths


def test_flatness_is_lower_for_planes_on_gradients_and_equal_on_flat_skies():
    rng = np.random.default_rng(5)
    chips, _ = noisy_tiles(rng, 1, scale=0.05)
    res_c = sky_methods(chips, methods=("match",), sky_model="constant", flatness=True)["match"]
    res_p = sky_methods(chips, methods=("match",), sky_model="plane", flatness=True)["match"]
    assert res_p.flatness.rms < 0.5 * res_c.flatness.rms
    assert res_p.flatness.rms == pytest.approx(res_p.flatness.noise, rel=0.25)
    flat, _ = noisy_tiles(np.random.default_rng(6), 0, scale=0.05)
    fc = sky_methods(flat, methods=("match",), sky_model="constant", flatness=True)["match"].flatness
    fp = sky_methods(flat, methods=("match",), sky_model="plane", flatness=True)["match"].flatness
    assert fp.rms == pytest.approx(fc.rms, rel=0.1)
    assert fc.rms == pytest.approx(fc.noise, rel=0.25)


def test_uncertainties_are_honest_over_many_realisations():
    """|error| / SKYERR has an rms near 1 (loose band) for the matched plane models.

    ``match`` determines the skies up to one plane added to every exposure, and SKYERR
    is the uncertainty in the gauge that holds that plane at zero: the errors are
    compared after removing the best global plane through the tiles' levels (which also
    removes 3 of the 9 degrees of freedom: an rms near sqrt(6/9) = 0.82 is expected).
    """
    z = []
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        chips, truths = noisy_tiles(rng, 1, n_side=3, tile=64, step=44, noise=0.2)
        res = match_sky(chips, method="match", sky_model="plane", skystat="mean")
        err, centre = [], []
        for c, cs, (coeffs, (r0, c0)) in zip(chips, res.chips, truths):
            err.append(cs.sky - evaluate_block(coeffs, c.shape, dtype=np.float64).mean())
            centre.append((c0 + 31.5, r0 + 31.5))
        A = np.column_stack([np.ones(len(err)), np.array(centre)])
        coef, *_ = np.linalg.lstsq(A, np.array(err), rcond=None)
        z.extend((np.array(err) - A @ coef) / np.array([cs.error for cs in res.chips]))
    rms = float(np.sqrt(np.mean(np.square(z))))
    assert 0.5 < rms < 2.0, rms


def two_chip_exposure(rng, coeffs_sky, shape=(60, 120), gap=10, dx=0.0):
    """An exposure of two chips side by side (rows 0..59 and 70..129 of one detector)."""
    full = (2 * shape[0] + gap, shape[1])
    w = base_wcs(full, rot=0.0)
    out = []
    for _k, r0 in enumerate((0, shape[0] + gap)):
        sub = w.slice((slice(r0, r0 + shape[0]), slice(0, shape[1])))
        sub.pixel_shape = (shape[1], shape[0])
        yy, xx = np.mgrid[r0 : r0 + shape[0], 0 : shape[1]]
        sky = coeffs_sky[0] + coeffs_sky[1] * (xx - 60) / 60 + coeffs_sky[2] * (yy - 65) / 60
        out.append((sky + rng.normal(0, 0.01, shape), sub, (xx, yy)))
    return out


def test_a_two_chip_exposure_gets_one_plane_across_its_chips():
    rng = np.random.default_rng(9)
    chips, truth = [], []
    for e, shift in enumerate((0.0, 30.0)):
        true = np.array([1.0 + 0.3 * e, 0.2 - 0.1 * e, -0.15 + 0.05 * e])
        for k, (data, w, grid) in enumerate(two_chip_exposure(rng, true)):
            w = w.deepcopy()
            w.wcs.crpix = [w.wcs.crpix[0] - shift, w.wcs.crpix[1]]
            chips.append(make_chip(data, w, name=f"e{e}c{k}", exposure_id=f"e{e}"))
            truth.append((true, grid))
    res = match_sky(chips, method="localmin", sky_model="plane", skystat="mean")
    for c, cs, (true, (xx, yy)) in zip(chips, res.chips, truth):
        model = evaluate_block(cs.coefficients, c.shape, dtype=np.float64)
        want = true[0] + true[1] * (xx - 60) / 60 + true[2] * (yy - 65) / 60
        assert np.max(np.abs(model - want)) < 0.005
    # The two chips of one exposure share one model: continuous across the gap's edges.
    assert res.exposures[0].status == ""


def test_coefficient_names_follow_the_keyword_contract():
    assert coefficient_names(2) == ("SKYC00", "SKYC10", "SKYC01", "SKYC20", "SKYC11", "SKYC02")
    assert len(coefficient_names(3)) == 10


def test_compat_refuses_sky_models():
    from skymatch import ParameterError

    rng = np.random.default_rng(1)
    chips, _ = noisy_tiles(rng, 0, n_side=2, tile=32, step=24)
    with pytest.raises(ParameterError, match="constant"):
        match_sky(chips, sky_model="plane", compat="drizzlepac")


def test_corner_overlap_constrains_the_level_and_is_reported():
    """An exposure touching the others only at a corner gets its level from the overlap
    and its slopes from its own sky, and says so."""
    rng = np.random.default_rng(11)
    full = (300, 300)
    w = base_wcs(full)
    placements = [(0, 0), (0, 70), (70, 0), (70, 70), (164, 164)]  # the last: a 6x6 px corner
    chips = []
    for k, (r0, c0) in enumerate(placements):
        sub = w.slice((slice(r0, r0 + 100), slice(c0, c0 + 100)))
        sub.pixel_shape = (100, 100)
        data = 1.0 + 0.1 * k + rng.normal(0, 0.02, (100, 100))
        chips.append(make_chip(data, sub, name=f"p{k}"))
    from skymatch import UndeterminedSkyWarning

    with pytest.warns(UndeterminedSkyWarning, match=r"sky model plane: the overlaps cannot determine the "
                      r"shape of 1 of 5 exposures \(p4\); those shapes are poorly measured"):
        res = match_sky(chips, method="match", sky_model="plane", skystat="mean")
    corner = res.exposures[4]
    assert corner.valid
    assert corner.status == "level only"
    assert "level only" in res.chips[4].how
    levels = np.array([c.sky for c in res.chips])
    assert levels[:4] - levels[0] == pytest.approx(0.1 * np.arange(4), abs=0.005)
    # The corner's level rests on a few dozen pixels: right within its own uncertainty.
    assert abs(levels[4] - levels[0] - 0.4) < max(0.02, 3 * res.chips[4].error)


def test_the_mdrizsky_plot_shows_methods_by_model():
    """compare --sky-model constant,plane: the plot has one series per method x model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.table import Table

    from skymatch.plotting import plot_mdrizsky

    t = Table({"Rootname": ["a", "b", "c"], "ASN_ID": ["x"] * 3, "ORIENTAT": [1.0, 2.0, 3.0],
               "match_constant": [0.1, 0.2, 0.0], "match_plane": [0.1, 0.3, 0.0]})
    fig = plt.figure()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_mdrizsky(t, ax=fig.gca())
    assert [c.get_offsets()[:, 1].tolist() for c in ax.collections] == [[0.1, 0.2, 0.0], [0.1, 0.3, 0.0]]
    assert [x.get_text() for x in ax.get_legend().get_texts()] == ["match_constant", "match_plane"]
    plt.close(fig)


def test_the_flatness_clip_keeps_seams_and_sets_aside_a_trail():
    # Cells are set aside against the other cells of their own overlap: a seam moves a
    # whole overlap and stays; two trail cells far from their overlap's others go; an
    # overlap of three cells has no robust scale and keeps them all.
    from skymatch.core._flatness import _within_their_overlaps

    rng = np.random.default_rng(7)
    seam = 0.1 + rng.normal(0, 0.002, 50)  # overlap 0: a seam, every cell off by 0.1
    calm = rng.normal(0, 0.002, 50)  # overlap 1: agrees, but for two trail cells
    calm[[7, 30]] = [5.0, -4.0]
    few = np.array([0.0, 0.001, 3.0])  # overlap 2: too few cells to judge
    r = np.concatenate([seam, calm, few])
    pair = np.repeat([10, 11, 12], [50, 50, 3])
    w = rng.integers(50, 400, r.size).astype(float)
    keep = _within_their_overlaps(r, w, pair)
    assert keep[:50].all() and keep[100:].all()
    assert np.flatnonzero(~keep).tolist() == [57, 80]


def test_ridge_directions_take_the_own_fit_variance_and_the_others_keep_theirs():
    """An exposure some of whose model directions only the ridge determined: those take
    the own fit's covariance, the directions the overlaps determined keep their variance
    (the whole block used to be replaced, hiding the overlaps' noise)."""
    from skymatch.core._modelfit import _own_fit_where_ridge

    rng = np.random.default_rng(5)
    V, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    block = V @ np.diag([2e-4, 5e-3, 0.3, 1e9]) @ V.T
    m = rng.normal(size=(4, 4))
    own = m @ m.T + np.eye(4)
    out = _own_fit_where_ridge(block, own, limit=1e4)
    for k, var in enumerate([2e-4, 5e-3, 0.3]):  # to the block's own precision, eps x 1e9
        assert V[:, k] @ out @ V[:, k] == pytest.approx(var, abs=1e-6)
    assert V[:, 3] @ out @ V[:, 3] == pytest.approx(V[:, 3] @ own @ V[:, 3], rel=1e-9)
    assert np.allclose(out, out.T) and np.all(np.linalg.eigvalsh(out) > 0)


@pytest.mark.slow
def test_poly3_on_strip_overlaps_says_its_shapes_are_undetermined(tmp_path):
    """4 x 2 tiles overlapping in strips: a plane is determined (no warning: warnings are
    errors here), a cubic is not, and the run says so."""
    from skymatch import UndeterminedSkyWarning, sky
    from skymatch.datasets import make_mosaic

    make_mosaic(tmp_path, tiles=(4, 2), size=128, gradient=0.1, seed=99)
    pattern = str(tmp_path / "*_flt.fits")
    plane = sky(pattern, sky_model="plane", readonly=True, progress=False, log_file=False)
    assert not any(e.status for e in plane.result.exposures)
    with pytest.warns(UndeterminedSkyWarning, match=r"sky model poly3: the overlaps cannot determine the "
                      r"shape of 16 of 16 exposures"):
        cubic = sky(pattern, sky_model="poly3", readonly=True, progress=False, log_file=False)
    assert all(e.status == "level only" for e in cubic.result.exposures)
