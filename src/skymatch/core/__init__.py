"""Numerical core: arrays and WCS objects in, frozen results out.

No file I/O, no logging configuration, no plotting (see ``docs/conventions.md``).
"""

from ._masks import dq_good_mask, parse_bits
from ._methods import (
    METHOD_ALIASES,
    SKY_METHODS,
    SerialExecutor,
    ThreadExecutor,
    canonical_method,
    compute_static_masks,
    match_sky,
    sky_methods,
    sky_solutions,
)
from ._skymodel import SKY_MODELS
from ._solve import MatchSolution, solve_match
from ._stats import SKY_STATISTICS, SkyStatParams, StatisticError, StatResult, sky_statistic
from ._units import brightness_conversion, classify_units
from ._user import USER_APPLIED, user_sky_result

__all__ = [
    "METHOD_ALIASES",
    "SKY_METHODS",
    "SKY_STATISTICS",
    "MatchSolution",
    "SerialExecutor",
    "SkyStatParams",
    "StatResult",
    "StatisticError",
    "brightness_conversion",
    "canonical_method",
    "classify_units",
    "dq_good_mask",
    "match_sky",
    "compute_static_masks",
    "sky_methods",
    "sky_solutions",
    "SKY_MODELS",
    "ThreadExecutor",
    "parse_bits",
    "sky_statistic",
    "solve_match",
    "user_sky_result",
    "USER_APPLIED",
]
