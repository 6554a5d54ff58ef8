"""The keyword registry and what write_sky writes from it (sky model, SKYERR, parameters)."""

import math

import numpy as np
import pytest
from astropy.io import fits
from fsutil import copy_files

from skymatch.core._skymodel import evaluate_block
from skymatch.datasets import make_mosaic
from skymatch.io import KEYWORDS, card, read_inputs, write_sky
from skymatch.io._keywords import SKY_PARAMETER_KEYWORDS, keyword
from skymatch.models import ChipSky, SkyResult


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return sorted(make_mosaic(d, tiles=(2, 1), size=64, seed=11).paths)


def test_registry_entries_fit_a_card():
    for k in KEYWORDS.values():
        assert len(k.comment) <= 47, k.name
        assert k.meaning and k.where and k.writer
        if "<" not in k.name and "#" not in k.name and "ij" not in k.name:
            assert len(k.name) <= 8 and k.name == k.name.upper(), k.name
    assert keyword("SKYC21").name == "SKYCij" and keyword("D017DATA").name == "D###DATA"
    assert card("MDRIZSKY", 1.5) == (1.5, "Sky value computed by skymatch")
    with pytest.raises(KeyError, match="not in skymatch's keyword registry"):
        card("NOTAKEY", 1)
    assert set(SKY_PARAMETER_KEYWORDS.values()) <= set(KEYWORDS)


def _result(chips, *, model, coeffs, error, params):
    out = []
    for c, cf in zip(chips, coeffs):
        mean = float(np.mean(evaluate_block(cf, c.shape, dtype=np.float64)))
        out.append(ChipSky(name=c.name, exposure_id=c.exposure_id, sky=mean, sky_brightness=mean * c.conv,
                           valid=True, how="test", conv=c.conv, model=model, coeffs=tuple(cf),
                           error=error))
    return SkyResult(method="match", chips=tuple(out), exposures=(), parameters=params)


def test_sky_model_error_and_parameters_are_written(tiny, tmp_path):
    files = copy_files(tiny, tmp_path)
    chips = read_inputs(files)
    params = dict(skystat="mode", lower=-5.0, upper=None, nclip=3, lsigma=3.0, usigma=2.5,
                  binwidth=0.2, sky_bits="64", use_static=True, match_down=False, compat=None)
    coeffs = [(1.0 + k, 0.1, -0.2, 0.01, 0.02, 0.03) for k in range(len(chips))]
    write_sky(_result(chips, model="poly2", coeffs=coeffs, error=0.004, params=params), chips)
    h = fits.getheader(files[1], ("SCI", 1))
    assert h["SKYMODEL"] == "POLY2"
    assert [h[k] for k in ("SKYC00", "SKYC10", "SKYC01", "SKYC20", "SKYC11", "SKYC02")] == list(coeffs[1])
    assert "SKYC30" not in h and h["SKYERR"] == 0.004
    assert h["MDRIZSKY"] == pytest.approx(np.mean(evaluate_block(coeffs[1], (64, 64), dtype=np.float64)))
    assert (h["SMSTAT"], h["SMLOWER"], h["SMNCLIP"], h["SMLSIG"], h["SMUSIG"], h["SMWIDTH"],
            h["SMBITS"], h["SMSTATIC"], h["SMMDOWN"]) == ("mode", -5.0, 3, 3.0, 2.5, 0.2, "64", True, False)
    assert "SMUPPER" not in h
    # A later constant run leaves no stale coefficient, error or unused parameter behind.
    chips = read_inputs(files)
    const = [(0.5,)] * len(chips)
    write_sky(_result(chips, model="constant", coeffs=const, error=math.nan,
                      params=dict(params, lower=None)), chips)
    h = fits.getheader(files[1], ("SCI", 1))
    assert h["SKYMODEL"] == "CONSTANT" and h["SKYC00"] == 0.5 == h["MDRIZSKY"]
    assert not any(k in h for k in ("SKYC10", "SKYC01", "SKYC02", "SKYERR", "SMLOWER"))


def test_subtracting_a_model_subtracts_every_pixel_of_it(tiny, tmp_path):
    files = copy_files(tiny, tmp_path)
    chips = read_inputs(files)
    before = fits.getdata(files[0], ("SCI", 1)).astype(np.float32)
    coeffs = [(2.0, 0.5, -0.25)] * len(chips)
    write_sky(_result(chips, model="plane", coeffs=coeffs, error=math.nan, params={}), chips, subtract=True)
    after = fits.getdata(files[0], ("SCI", 1))
    np.testing.assert_allclose(after, before - evaluate_block(coeffs[0], before.shape), atol=1e-5)
    h = fits.getheader(files[0], ("SCI", 1))
    assert h["SMSUBTR"] is True and (h["SKYC00"], h["SKYC10"], h["SKYC01"]) == coeffs[0]
    # Subtracting again records the total model removed so far.
    chips = read_inputs(files)
    write_sky(_result(chips, model="constant", coeffs=[(1.0,)] * len(chips), error=math.nan, params={}),
              chips, subtract=True)
    h = fits.getheader(files[0], ("SCI", 1))
    assert (h["SKYC00"], h["SKYC10"], h["SKYC01"]) == (3.0, 0.5, -0.25)
    assert h["MDRIZSKY"] == pytest.approx(2.0 + 1.0)
