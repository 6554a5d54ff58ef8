"""skymatch: match the sky background of overlapping exposures and drizzle a mosaic.

The public functions are named as the commands of the ``skymatch`` command line and
take its options as keywords (``--sky-bits 64`` is ``sky_bits='64'``):

========================  ==================================================
:func:`sky`               compute every input's sky, write ``MDRIZSKY``
:func:`drizzle`           drizzle with the skies in the headers
:func:`run`               sky, then drizzle (AstroDrizzle without CR rejection)
:func:`compare`           every sky method, one mosaic each, table, plots
:func:`align`             TweakReg: align images to the first one
:func:`tweakback`         carry a product's alignment back to its inputs
:func:`summary`           header summary of inputs
:func:`fetch`             download HST products from MAST
:func:`demo_data`         synthetic mosaic with a known sky
========================  ==================================================

Lower-level building blocks (``match_sky``, ``sky_methods``, ``read_inputs``,
``run_sky`` ...) are exported too.  Names are imported on first use, so ``import
skymatch`` (and ``skymatch --help``) does not load numpy, astropy or matplotlib.
Nothing here configures logging: skymatch logs to the ``'skymatch'`` logger.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._version import __version__
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

# Public name -> module that defines it (imported on first access, PEP 562).
_LAZY = MappingProxyType({
    # the public API: one function per CLI command, and their results
    "sky": ".api", "drizzle": ".api", "run": ".api", "compare": ".api", "align": ".api",
    "tweakback": ".api", "summary": ".api", "fetch": ".api", "demo_data": ".api",
    "SkyRun": ".api._results_sky", "MosaicRun": ".api._results_sky", "CompareRun": ".api._results_sky",
    "AlignResult": ".api._results_align", "TweakbackResult": ".api._results_align",
    "SummaryResult": ".api._results_data", "FetchResult": ".api._results_data",
    "MosaicTruth": ".api._results_data",
    # lower-level building blocks
    "write_shiftfile": ".alignment",
    "make_chip": ".chips",
    "AlignParams": ".core._align", "ImageFit": ".core._align", "AlignStatus": ".core._align",
    "SourceFindParams": ".core._sources", "find_sources": ".core._sources",
    "SKY_METHODS": ".core", "SKY_STATISTICS": ".core", "SkyStatParams": ".core", "match_sky": ".core",
    "parse_bits": ".core", "sky_methods": ".core", "sky_statistic": ".core",
    "expand_inputs": ".io", "read_chips": ".io", "read_inputs": ".io", "sky_table": ".io",
    "write_sky": ".io", "write_table": ".io",
    "Chip": ".models", "ChipSky": ".models", "ExposureSky": ".models", "InMemoryPixels": ".models",
    "PairStat": ".models", "SkyResult": ".models",
    "make_executor": ".pipeline", "run_sky": ".pipeline", "run_sky_methods": ".pipeline",
})

__all__ = [
    "__version__",
    "DisconnectedMosaicWarning",
    "InputError",
    "ParameterError",
    "SkymatchError",
    "SkymatchWarning",
    "UndeterminedSkyWarning",
    "UnitsWarning",
    "WriteError",
    *_LAZY,
]


_SUBMODULES = frozenset({"alignment", "api", "chips", "cli", "core", "datasets", "drizzlepac", "exceptions", "io",
                         "models", "pipeline", "plotting"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module, __name__), name)
    if name in _SUBMODULES:  # skymatch.datasets.make_mosaic without importing it first
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'skymatch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .alignment import write_shiftfile
    from .api import align, compare, demo_data, drizzle, fetch, run, sky, summary, tweakback
    from .api._results import (
        AlignResult,
        CompareRun,
        FetchResult,
        MosaicRun,
        MosaicTruth,
        SkyRun,
        SummaryResult,
        TweakbackResult,
    )
    from .chips import make_chip
    from .core import (
        SKY_METHODS,
        SKY_STATISTICS,
        SkyStatParams,
        match_sky,
        parse_bits,
        sky_methods,
        sky_statistic,
    )
    from .core._align import AlignParams, AlignStatus, ImageFit
    from .core._sources import SourceFindParams, find_sources
    from .io import expand_inputs, read_chips, read_inputs, sky_table, write_sky, write_table
    from .models import Chip, ChipSky, ExposureSky, InMemoryPixels, PairStat, SkyResult
    from .pipeline import make_executor, run_sky, run_sky_methods
