"""skymatch: match the sky background of overlapping exposures and drizzle a mosaic.

The public API is re-exported here; see the README for the command line.
"""

from ._version import __version__
from .alignment import AlignResult, TweakbackResult, align, tweakback, write_shiftfile
from .chips import make_chip
from .core._align import AlignParams, AlignStatus, ImageFit
from .core._sources import SourceFindParams, find_sources
from .core import (
    SKY_METHODS,
    SKY_STATISTICS,
    SkyStatParams,
    match_sky,
    parse_bits,
    sky_methods,
    sky_statistic,
)
from .exceptions import (
    DisconnectedMosaicWarning,
    InputError,
    ParameterError,
    SkymatchError,
    SkymatchWarning,
    UndeterminedSkyWarning,
    UnitsWarning,
    WriteError,
)
from .io import expand_inputs, read_chips, read_inputs, sky_table, write_sky, write_table
from .models import Chip, ChipSky, ExposureSky, InMemoryPixels, PairStat, SkyResult
from .pipeline import SkyRun, make_executor, run_sky, run_sky_methods

__all__ = [
    "__version__",
    "AlignParams",
    "AlignResult",
    "AlignStatus",
    "ImageFit",
    "SourceFindParams",
    "TweakbackResult",
    "align",
    "find_sources",
    "tweakback",
    "write_shiftfile",
    "SKY_METHODS",
    "SKY_STATISTICS",
    "Chip",
    "ChipSky",
    "DisconnectedMosaicWarning",
    "ExposureSky",
    "InMemoryPixels",
    "InputError",
    "PairStat",
    "ParameterError",
    "SkyResult",
    "SkyRun",
    "SkyStatParams",
    "SkymatchError",
    "SkymatchWarning",
    "UndeterminedSkyWarning",
    "UnitsWarning",
    "WriteError",
    "expand_inputs",
    "make_chip",
    "make_executor",
    "match_sky",
    "parse_bits",
    "read_chips",
    "read_inputs",
    "run_sky",
    "run_sky_methods",
    "sky_methods",
    "sky_statistic",
    "sky_table",
    "write_sky",
    "write_table",
]
