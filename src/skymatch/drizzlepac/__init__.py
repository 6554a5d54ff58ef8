"""DrizzlePac's entry points on top of skymatch: change the imports, keep the calls.

===============================================  =========================================
DrizzlePac                                       skymatch
===============================================  =========================================
``import drizzlepac``                            ``from skymatch import drizzlepac``
``from drizzlepac import tweakreg``              ``from skymatch.drizzlepac import tweakreg``
``from drizzlepac import tweakback``             ``from skymatch.drizzlepac import tweakback``
===============================================  =========================================

``astrodrizzle.AstroDrizzle``, ``tweakreg.TweakReg`` and ``tweakback.tweakback`` take
DrizzlePac's parameter names, defaults and value spellings (``final_bits='64'``,
``imagefindcfg={'threshold': 10, ...}``, ``shiftfile=True``, ``outshifts=...``,
``updatehdr=True``) and translate them to :func:`skymatch.run`, :func:`skymatch.align`
and :func:`skymatch.tweakback`; they are adapters, not a second implementation.  A
parameter that asks for something skymatch does not do (cosmic-ray rejection, a
reference catalogue, headerlets ...) stops the call with a
:class:`skymatch.ParameterError` naming it and the fix; parameters that make no
difference to skymatch are accepted.  ``docs/from_drizzlepac.md`` maps every parameter.

Importing this package loads nothing heavy: the modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["astrodrizzle", "tweakreg", "tweakback"]

_MODULES = frozenset(__all__)


def __getattr__(name: str) -> Any:
    # ``drizzlepac.astrodrizzle.AstroDrizzle(...)`` after ``from skymatch import drizzlepac``.
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'skymatch.drizzlepac' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _MODULES)


if TYPE_CHECKING:
    from . import astrodrizzle, tweakback, tweakreg
