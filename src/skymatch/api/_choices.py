"""The option sets of the public API, as plain tuples (importing them costs nothing).

The command line builds its help text from these without importing numpy or the
core; a test checks that they equal the core's own constants, which stay the
authority for validation.
"""

from __future__ import annotations

__all__ = ["SKY_METHODS", "METHOD_ALIASES", "SKY_STATISTICS", "SKY_MODELS", "COMPAT_MODES",
           "DRIZZLE_KERNELS", "FINAL_UNITS", "FITGEOMETRIES", "GROUPINGS", "DEFAULT_SKYMETHOD"]

SKY_METHODS = ("localmin", "globalmin", "match", "globalmin+match")
METHOD_ALIASES = ("local", "global", "global+match")  # JWST names
# `run` and `sky` share it (AstroDrizzle's own default is localmin; the notebook uses match).
DEFAULT_SKYMETHOD = "match"
SKY_STATISTICS = ("median", "mode", "mean", "midpt")
SKY_MODELS = ("constant", "plane", "poly2", "poly3")
COMPAT_MODES = ("drizzlepac",)
DRIZZLE_KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3")
FINAL_UNITS = ("cps", "counts")
FITGEOMETRIES = ("shift", "rshift", "rscale", "general")
GROUPINGS = ("auto", "file", "asn")
