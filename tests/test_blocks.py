"""The mosaic in blocks: equal to a whole-frame drizzle, sky models, context formats."""

import dataclasses
import warnings

import numpy as np
import pytest
from astropy.wcs import WCS
from drizzle.resample import Drizzle

from skymatch import make_chip, read_inputs
from skymatch.core._blocks import block_grid, plan_pieces
from skymatch.core._ctxtable import ids_to_sets, planes_to_sets
from skymatch.core._drizzle import DrizzleParams, drizzle_mosaics
from skymatch.core._frame import customize_frame, default_frame, frame_chip, frame_from_wcs
from skymatch.core._masks import dq_good_mask
from skymatch.core._pixmap import map_pixels
from skymatch.core._skymodel import evaluate_block
from skymatch.exceptions import SkymatchWarning
from skymatch.models import InMemoryPixels


def tan(crval, shape, scale_arcsec, rot=0.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    t = np.radians(rot)
    w.wcs.cd = scale_arcsec / 3600 * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    w.pixel_shape = (shape[1], shape[0])
    return w


@pytest.fixture(scope="module")
def mem_chips(small_mosaic):
    """The small synthetic mosaic (SIP-distorted WFC3/IR-like chips) held in memory."""
    d, _ = small_mosaic
    out = []
    for c in read_inputs(str(d / "*_flt.fits")):
        px = c.pixels.read()
        out.append(dataclasses.replace(c, pixels=InMemoryPixels(np.array(px.data), np.array(px.dq))))
    return out


def whole_frame_reference(chips, frame, skies, *, bits="64", kernel="square", pixfrac=1.0, stepsize=10):
    """Today's drizzle, independently: one Drizzle over the whole frame, whole-chip pixel
    maps, each chip's (data - model image) added in input order."""
    flags = DrizzleParams(bits=bits).flags
    d = Drizzle(kernel=kernel, fillval=None, out_shape=frame.shape, max_ctx_id=len(chips))
    for c in chips:
        px = c.pixels.read()
        data = np.array(px.data, np.float32)
        good = np.isfinite(data) & dq_good_mask(px.dq, flags)
        data[~np.isfinite(data)] = 0
        x, y = map_pixels(c.wcs, frame.wcs, 0, 0, *c.shape, step=stepsize)
        pixmap = np.stack([x.astype(float), y.astype(float)], -1)
        r = frame.pixel_scale_arcsec / c.pixel_scale_arcsec
        model = evaluate_block(skies.get(c.name, (0.0,)), c.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # drizzle: gaussian/lanczos do not conserve flux
            d.add_image(data - model, exptime=c.exptime, pixmap=pixmap, iscale=r * r, pixel_scale_ratio=r,
                        weight_map=good.astype(np.float32) * np.float32(c.exptime), pixfrac=pixfrac,
                        in_units="cps")
    sci = d.out_img.copy()
    sci[~(d.out_wht > 0)] = np.nan
    return sci, d.out_wht, d.out_ctx


@pytest.fixture(scope="module")
def reference(mem_chips):
    frame = customize_frame(default_frame([frame_chip(c) for c in mem_chips]), rot=257.0)
    skies = {c.name: (1.0 + 0.01 * k,) for k, c in enumerate(mem_chips)}
    return frame, skies, whole_frame_reference(mem_chips, frame, skies)


@pytest.mark.parametrize("block_size", [4096, 128, 37])
def test_blocks_equal_a_whole_frame_drizzle(mem_chips, reference, block_size):
    frame, skies, (ref_sci, ref_wht, ref_ctx) = reference
    assert block_size >= max(frame.shape) or block_size < 200  # one block, or smaller than a chip
    m = drizzle_mosaics(mem_chips, {"a": skies}, frame,
                        params=DrizzleParams(bits="64", block_size=block_size, context_format="planes"))["a"]
    # The same pixels are covered, with the same weights and contributions.
    assert np.array_equal(m.wht > 0, ref_wht > 0)
    ok = ref_wht > 0
    assert np.allclose(m.wht[ok], ref_wht[ok], rtol=2e-6, atol=0.02)
    assert np.array_equal(m.ctx, ref_ctx[0])
    assert np.all(np.isnan(m.sci[~ok]))
    # Values equal to float32 precision (data ~ 1 e-/s with sources up to ~1e3).
    assert np.allclose(m.sci[ok], ref_sci[ok], rtol=1e-5, atol=2e-5)
    # Between block sizes the results are identical, bit for bit.
    one = drizzle_mosaics(mem_chips, {"a": skies}, frame,
                          params=DrizzleParams(bits="64", block_size=4096, context_format="planes"))["a"]
    assert np.array_equal(m.sci, one.sci, equal_nan=True) and np.array_equal(m.wht, one.wht)


@pytest.mark.parametrize("kernel", ["turbo", "gaussian", "lanczos3", "point"])
def test_blocks_equal_whole_frame_for_other_kernels(mem_chips, reference, kernel):
    frame, skies, _ = reference
    chips = mem_chips[:4]
    ref_sci, ref_wht, ref_ctx = whole_frame_reference(chips, frame, skies, kernel=kernel, pixfrac=0.8)
    params = DrizzleParams(bits="64", kernel=kernel, pixfrac=0.8, block_size=53, context_format="planes")
    if kernel in ("gaussian", "lanczos3"):
        with pytest.warns(SkymatchWarning, match="does not conserve flux"):
            m = drizzle_mosaics(chips, {"a": skies}, frame, params=params)["a"]
    else:
        m = drizzle_mosaics(chips, {"a": skies}, frame, params=params)["a"]
    ok = ref_wht != 0
    assert np.array_equal(m.wht != 0, ok)
    assert np.allclose(m.wht[ok], ref_wht[ok], rtol=2e-5, atol=1e-3)
    assert np.array_equal(m.ctx, ref_ctx[0])
    assert np.allclose(m.sci[ref_wht > 0], ref_sci[ref_wht > 0], rtol=1e-4, atol=1e-4)


def test_pieces_cover_only_what_reaches_a_block(mem_chips, reference):
    frame, _, _ = reference
    blocks = block_grid(frame.shape, 128)
    pieces = plan_pieces(mem_chips, frame, blocks)
    # Every chip appears in some block; a 200-px chip reaches a few 128-px blocks, never all.
    seen = {p.index for plist in pieces for p in plist}
    assert seen == set(range(len(mem_chips)))
    per_chip = [sum(p.index == k for plist in pieces for p in plist) for k in range(len(mem_chips))]
    assert min(per_chip) >= 1 and max(per_chip) < len(blocks)
    # A piece is much smaller than its chip when the block is.
    areas = [(p.row1 - p.row0) * (p.col1 - p.col0) for plist in pieces for p in plist]
    assert np.median(areas) < 0.7 * 200 * 200


# ---------------------------------------------------------------- sky models
def _model_skies(chips, order, rng):
    n = {0: 1, 1: 3, 2: 6}[order]
    return {c.name: tuple(rng.normal(0.0, 0.3, n) + np.r_[1.0, np.zeros(n - 1)]) for c in chips}


def test_shared_models_equal_direct_drizzling_of_data_minus_model(mem_chips, reference):
    frame, _, _ = reference
    rng = np.random.default_rng(7)
    skies = {"constant": _model_skies(mem_chips, 0, rng), "plane": _model_skies(mem_chips, 1, rng),
             "poly2": _model_skies(mem_chips, 2, rng), "mixed": {}}
    # A label may mix models across chips and give bare numbers for constants.
    for k, c in enumerate(mem_chips):
        skies["mixed"][c.name] = 0.9 if k % 2 else skies["poly2"][c.name]
    params = DrizzleParams(bits="64", block_size=150)
    shared = drizzle_mosaics(mem_chips, skies, frame, params=params)
    for label in ("plane", "poly2", "mixed"):
        direct = drizzle_mosaics(mem_chips, {label: skies[label]}, frame, params=params)[label]
        ref_sci, ref_wht, _ = whole_frame_reference(
            mem_chips, frame, {n: (v,) if np.isscalar(v) else v for n, v in skies[label].items()})
        ok = ref_wht > 0
        assert np.array_equal(shared[label].wht > 0, ok)
        assert np.allclose(shared[label].sci[ok], direct.sci[ok], rtol=1e-5, atol=2e-5), label
        assert np.allclose(direct.sci[ok], ref_sci[ok], rtol=1e-5, atol=2e-5), label
        # The models really differ: subtracting the constant instead is far off.
        assert np.nanmax(np.abs(shared[label].sci - shared["constant"].sci)) > 0.1


def test_subtracting_the_true_model_leaves_the_scene():
    # Each chip = a plane or quadratic sky (known) + 2.5 e-/s: after subtracting the
    # models the mosaic is 2.5 everywhere, across chips with different skies.
    rng = np.random.default_rng(3)
    chips, skies = [], {}
    for k in range(4):
        shape = (90, 120)
        coeffs = tuple(rng.normal(0, 0.5, 6 if k % 2 else 3))
        data = evaluate_block(coeffs, shape) + np.float32(2.5)
        c = make_chip(data.astype(np.float32), tan([30.0, 10.0 + k * 1.2e-3], shape, 0.1, rot=7 * k),
                      name=f"c{k}", exptime=100.0)
        chips.append(c)
        skies[c.name] = coeffs
    frame = frame_from_wcs(tan([30.0, 10.0018], (400, 300), 0.1))  # holds every chip whole
    both = drizzle_mosaics(chips, {"model": skies, "none": {}}, frame, params=DrizzleParams(block_size=64))
    m = both["model"]
    ok = m.wht > 0
    assert ok.sum() > 20000
    assert np.allclose(m.sci[ok], 2.5, atol=2e-5)
    assert np.nanstd(both["none"].sci) > 0.1  # without subtraction it is not flat
    # WHT = EXPTIME x coverage: the square kernel spreads each input pixel's 100 s over
    # exactly one output pixel's area (same pixel scale), so the total is 100 s x pixels.
    assert m.wht.sum(dtype=float) == pytest.approx(100.0 * 4 * 90 * 120, rel=1e-5)
    assert m.wht.max() <= 4 * 100.0 * (1 + 1e-5)


# ---------------------------------------------------------------- context
@pytest.mark.parametrize("n", [5, 40])
def test_table_context_decodes_to_the_bit_planes(n):
    rng = np.random.default_rng(n)
    chips = []
    for k in range(n):
        data = np.ones((30, 30), np.float32)
        dq = (rng.random((30, 30)) < 0.05).astype(np.int16) * 4  # bad pixels change the sets
        chips.append(make_chip(data, tan([10.0 + (k % 3) * 2e-4, (k // 3) * 2.5e-4], (30, 30), 0.1, rot=11 * k),
                               dq=dq, name=f"c{k}"))
    frame = default_frame([frame_chip(c) for c in chips])
    planes = drizzle_mosaics(chips, {"s": {}}, frame, params=DrizzleParams(context_format="planes",
                                                                          block_size=23))["s"]
    table = drizzle_mosaics(chips, {"s": {}}, frame, params=DrizzleParams(context_format="table",
                                                                         block_size=41))["s"]
    assert planes.ctx.ndim == (2 if n <= 32 else 3)
    assert table.ctx.ndim == 2 and table.ctx.dtype == np.int32
    a = planes_to_sets(planes.ctx, n)
    b = ids_to_sets(table.ctx, table.ctx_table)
    assert a.shape == b.shape and all(x == y for x, y in zip(a.ravel(), b.ravel()))
    assert max(len(s) for s in table.ctx_table) >= 2
    # Compact and canonical: ids 1..N all used, the table sorted and without repeats.
    assert set(np.unique(table.ctx)) == set(range(len(table.ctx_table) + 1))
    assert list(table.ctx_table) == sorted(set(table.ctx_table))
    # Pixels with weight have a context and no other pixel has one.
    assert np.array_equal(table.ctx > 0, table.wht > 0)


def test_auto_context_switches_to_the_table_beyond_32_inputs():
    chips = [make_chip(np.ones((10, 10), np.float32), tan([10.0, k * 2e-4], (10, 10), 0.1), name=f"c{k}")
             for k in range(33)]
    frame = default_frame([frame_chip(c) for c in chips])
    assert drizzle_mosaics(chips[:32], {"s": {}}, frame)["s"].context_format == "planes"
    m = drizzle_mosaics(chips, {"s": {}}, frame)["s"]
    assert m.context_format == "table" and m.ctx.ndim == 2
    none = drizzle_mosaics(chips, {"s": {}}, frame, params=DrizzleParams(context_format="none"))["s"]
    assert none.ctx is None and np.array_equal(none.sci, m.sci, equal_nan=True)


def test_bad_parameters_are_refused():
    from skymatch.exceptions import ParameterError
    with pytest.raises(ParameterError, match="context_format='bits'"):
        DrizzleParams(context_format="bits")
    with pytest.raises(ParameterError, match="block_size=0"):
        DrizzleParams(block_size=0)
    chip = make_chip(np.ones((10, 10), np.float32), tan([10.0, 0.0], (10, 10), 0.1), name="c")
    frame = frame_from_wcs(tan([10.0, 0.0], (10, 10), 0.1))
    with pytest.raises(ParameterError, match="sky of c"):
        drizzle_mosaics([chip], {"s": {"c": (1.0, 2.0)}}, frame)
