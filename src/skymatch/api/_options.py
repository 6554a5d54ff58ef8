"""Option blocks shared by several public functions: validated once, turned into the
pipeline's arguments.  The public signatures list every option explicitly; this module
only keeps the checks (and their messages) in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..exceptions import ParameterError
from . import _choices
from ._validate import (
    as_bits,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_optional_bool,
    as_path,
    as_sky_models,
    check_range_order,
)

__all__ = ["sky_options", "compat_option", "sky_model_options", "drizzle_options", "cosmic_ray_options",
           "SKY_OPTIONS", "DRIZZLE_OPTIONS", "options_of"]

# The public keywords of each block, in signature order (a new option goes into the
# block's function below, its tuple here, the public signatures and api/_docs.py).
SKY_OPTIONS = ("skystat", "skywidth", "skylower", "skyupper", "skyclip", "skylsigma", "skyusigma", "sky_bits",
               "use_static", "match_down", "allow_empty")
DRIZZLE_OPTIONS = ("final_bits", "final_kernel", "final_pixfrac", "final_fillval", "final_units", "final_wcs",
                   "final_rot", "final_scale", "final_ra", "final_dec", "final_outnx", "final_outny",
                   "final_refimage", "stepsize")


def options_of(call: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The arguments of a public call (its ``locals()``) that one option block takes."""
    return {name: call[name] for name in names}


def sky_options(*, skystat: Any, skywidth: Any, skylower: Any, skyupper: Any, skyclip: Any,
                skylsigma: Any, skyusigma: Any, sky_bits: Any, use_static: Any, match_down: Any,
                allow_empty: Any) -> dict:
    """The sky statistic's options as the pipeline's keywords."""
    lower = as_float(skylower, "skylower", optional=True)
    upper = as_float(skyupper, "skyupper", optional=True)
    check_range_order(lower, upper, "skylower", "skyupper")
    return dict(
        skystat=as_choice(skystat, "skystat", _choices.SKY_STATISTICS),
        binwidth=as_float(skywidth, "skywidth", minimum=0.0, exclusive_minimum=True),
        lower=lower,
        upper=upper,
        nclip=as_int(skyclip, "skyclip", minimum=0),
        lsigma=as_float(skylsigma, "skylsigma", minimum=0.0, exclusive_minimum=True),
        usigma=as_float(skyusigma, "skyusigma", minimum=0.0, exclusive_minimum=True),
        sky_bits=as_bits(sky_bits, "sky_bits"),
        use_static=as_optional_bool(use_static, "use_static"),
        match_down=as_bool(match_down, "match_down"),
        on_empty="warn" if as_bool(allow_empty, "allow_empty") else "error",
    )


def compat_option(compat: Any) -> str | None:
    """None or ``'drizzlepac'``."""
    return as_choice(compat, "compat", _choices.COMPAT_MODES, optional=True)


def sky_model_options(sky_model: Any, *, several: bool = False, compat: Any = None) -> tuple[tuple[str, ...], dict]:
    """The sky model(s) and the pipeline keyword for them (``sky_model``: one name, or
    the list when ``several`` may be compared); AstroDrizzle (``compat``) has only the
    constant sky."""
    models = as_sky_models(sky_model, "sky_model", several=several)
    if compat is not None and any(m != "constant" for m in models):
        raise ParameterError(f"sky_model={sky_model!r} with compat={compat!r}: AstroDrizzle has only the "
                             "constant sky; drop compat for plane/poly models")
    return models, {"sky_model": list(models) if several else models[0]}


def drizzle_options(*, final_bits: Any, final_kernel: Any, final_pixfrac: Any, final_fillval: Any,
                    final_units: Any, final_wcs: Any, final_rot: Any, final_scale: Any, final_ra: Any,
                    final_dec: Any, final_outnx: Any, final_outny: Any, final_refimage: Any,
                    stepsize: Any) -> tuple[dict, Any]:
    """The final drizzle's options: ``(DrizzleParams keywords, FrameOptions)``."""
    from ..pipeline import FrameOptions

    kernel = as_choice(final_kernel, "final_kernel", _choices.DRIZZLE_KERNELS)
    pixfrac = as_float(final_pixfrac, "final_pixfrac", minimum=0.0, exclusive_minimum=True)
    if kernel != "point" and pixfrac > 1.0 + 1e-12:
        raise ParameterError(f"final_pixfrac={final_pixfrac!r}: must be in (0, 1] (kernel {kernel})")
    params = dict(
        bits=as_bits(final_bits, "final_bits"),
        kernel=kernel,
        pixfrac=pixfrac,
        fillval=as_float(final_fillval, "final_fillval", optional=True, allow_nan=True),
        units=as_choice(final_units, "final_units", _choices.FINAL_UNITS),
        stepsize=as_int(stepsize, "stepsize", minimum=1),
    )
    frame = FrameOptions(
        final_wcs=as_bool(final_wcs, "final_wcs"),
        rot=as_float(final_rot, "final_rot", optional=True),
        scale=as_float(final_scale, "final_scale", optional=True, minimum=0.0, exclusive_minimum=True),
        ra=as_float(final_ra, "final_ra", optional=True, minimum=-360.0, maximum=360.0),
        dec=as_float(final_dec, "final_dec", optional=True, minimum=-90.0, maximum=90.0),
        outnx=as_int(final_outnx, "final_outnx", optional=True, minimum=1),
        outny=as_int(final_outny, "final_outny", optional=True, minimum=1),
        refimage=as_path(final_refimage, "final_refimage", optional=True),
    )
    return params, frame


def cosmic_ray_options(*, driz_separate: Any, median: Any, blot: Any, driz_cr: Any) -> None:
    """AstroDrizzle's cosmic-ray steps: accepted only when off (not implemented)."""
    for name, value in (("driz_separate", driz_separate), ("median", median), ("blot", blot),
                        ("driz_cr", driz_cr)):
        if as_bool(value, name):
            raise ParameterError(
                f"{name}=True: cosmic-ray rejection is not supported by skymatch yet; use inputs "
                "already cleaned of cosmic rays (WFC3/IR FLTs are) and set it False")
