"""Every FITS keyword skymatch writes, defined once: name, meaning, where it goes.

A writer asks :func:`card` for ``(value, comment)``; the comment comes from here, so a
keyword means the same wherever it is written.  To add a keyword: add a line to
:data:`KEYWORDS`, then fill it in the writer named in ``writer``.

Patterns: ``SKYCij`` stands for ``SKYC00, SKYC10, SKYC01, ...`` (i + j <= the model's
order); ``D###DATA`` for ``D001DATA, D002DATA, ...``; ``<base><key>`` for an archived
alternate WCS (``CRVAL1A``, ``WCSNAMEA`` ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["Keyword", "KEYWORDS", "card", "keyword", "SKY_PARAMETER_KEYWORDS",
           "SKY_COEFF_PATTERN", "registry_table"]

#: Where a keyword is written.
INPUT_SCI = "input SCI headers"
PRODUCT_SCI = "drizzled product, science header"
PRODUCT_ALL = "drizzled products (SCI, WHT, CTX)"


@dataclass(frozen=True)
class Keyword:
    """One keyword skymatch writes.

    Attributes
    ----------
    name : str
        The keyword, or a pattern (``SKYCij``, ``D###DATA``).
    comment : str
        The FITS comment written beside the value (at most 47 characters).
    meaning : str
        What the value means, for the documentation.
    where : str
        Which headers get it.
    writer : str
        The function that writes it.
    """

    name: str
    comment: str
    meaning: str
    where: str
    writer: str


_W_SKY = "io._headers.write_sky"
_W_PROD = "io._products.write_products"
_W_WCS = "io._wcsio.wcs_update_cards (align --update-header, tweakback)"

_ALL = (
    # --- the sky, in the inputs (SPEC 8 and 12)
    Keyword("MDRIZSKY", "Sky value computed by skymatch",
            "the chip's sky in its data units (the model's mean over the chip); with "
            "SMSUBTR = T the total already subtracted from the pixels", INPUT_SCI, _W_SKY),
    Keyword("SMSUBTR", "MDRIZSKY has been subtracted from the data",
            "T: MDRIZSKY was subtracted from the pixels (--subtract, --skyuser, an applied "
            "skyfile); a drizzle must not subtract it again", INPUT_SCI, _W_SKY),
    Keyword("SMPRESUB", "sky subtracted from data earlier",
            "total subtracted by an earlier --subtract when a new sky is written without "
            "subtracting it", INPUT_SCI, _W_SKY),
    Keyword("SKYMODEL", "sky model: CONSTANT, PLANE, POLY2, POLY3",
            "the chip's sky model", INPUT_SCI, _W_SKY),
    Keyword("SKYCij", "sky polynomial coefficient (data units)",
            "coefficient of u**i v**j of the chip's sky (core/_skymodel.py); SKYC00 alone "
            "for a constant", INPUT_SCI, _W_SKY),
    Keyword("SKYERR", "1-sigma uncertainty of MDRIZSKY",
            "uncertainty of MDRIZSKY in data units (absent when unknown)", INPUT_SCI, _W_SKY),
    # --- provenance
    Keyword("SMMETHOD", "skymatch sky method",
            "localmin, globalmin, match, globalmin+match or user", INPUT_SCI, _W_SKY),
    Keyword("SMVALID", "sky determined from the data",
            "F: the sky could not be determined (MDRIZSKY is then 0)", INPUT_SCI, _W_SKY),
    Keyword("SMHOW", "how the sky value was obtained",
            "short text: the statistic and the pieces combined", INPUT_SCI, _W_SKY),
    Keyword("SMCOMPAT", "skymatch compatibility mode",
            "'drizzlepac' or 'none'", INPUT_SCI, _W_SKY),
    Keyword("SMVERS", "skymatch version",
            "version of skymatch that wrote the header", f"{INPUT_SCI}; {PRODUCT_SCI}",
            f"{_W_SKY}; {_W_PROD}"),
    # --- every sky parameter used (AstroDrizzle's names in the meaning)
    Keyword("SMSTAT", "skymatch sky statistic", "skystat", INPUT_SCI, _W_SKY),
    Keyword("SMBITS", "DQ flags counted as good (sky_bits)", "sky_bits", INPUT_SCI, _W_SKY),
    Keyword("SMLOWER", "lowest usable value (skylower)",
            "skylower, data units (absent: none)", INPUT_SCI, _W_SKY),
    Keyword("SMUPPER", "highest usable value (skyupper)",
            "skyupper, data units (absent: none)", INPUT_SCI, _W_SKY),
    Keyword("SMNCLIP", "clipping iterations (skyclip)", "skyclip", INPUT_SCI, _W_SKY),
    Keyword("SMLSIG", "lower clipping limit, sigma (skylsigma)", "skylsigma", INPUT_SCI, _W_SKY),
    Keyword("SMUSIG", "upper clipping limit, sigma (skyusigma)", "skyusigma", INPUT_SCI, _W_SKY),
    Keyword("SMWIDTH", "histogram bin width, sigma (skywidth)", "skywidth", INPUT_SCI, _W_SKY),
    Keyword("SMSTATIC", "static mask used (use_static)", "use_static", INPUT_SCI, _W_SKY),
    Keyword("SMMDOWN", "match: lowest relative sky is 0", "match_down", INPUT_SCI, _W_SKY),
    # --- alignment
    Keyword("WCSNAME", "name of the primary WCS",
            "WCSNAME of the aligned solution (--wcsname)", "aligned input SCI headers", _W_WCS),
    Keyword("SMWCSOLD", "alt. WCS key before alignment",
            "letter of the alternate WCS holding the solution replaced", "aligned input SCI "
            "headers; aligned products", _W_WCS),
    Keyword("<base><key>", "WCS before alignment",
            "the replaced solution archived as an alternate WCS (WCSNAMEA, CRVAL1A, CD1_1A ...)",
            "aligned input SCI headers", _W_WCS),
    # --- drizzled products (SPEC 9)
    Keyword("SKYMETH", "sky method of the subtracted MDRIZSKY",
            "the sky method (or 'header MDRIZSKY') whose skies were subtracted", PRODUCT_SCI,
            "pipeline._mosaic._write_mosaics"),
    Keyword("NDRIZIM", "number of drizzled chips", "number of input chips", PRODUCT_SCI, _W_PROD),
    Keyword("D###DATA", "drizzle input", "input file and extension, one per chip",
            PRODUCT_SCI, _W_PROD),
    Keyword("D001KERN", "drizzle kernel", "final_kernel", PRODUCT_SCI, _W_PROD),
    Keyword("D001PIXF", "drizzle pixfrac", "final_pixfrac", PRODUCT_SCI, _W_PROD),
    Keyword("D001FVAL", "fill value", "final_fillval ('INDEF' = NaN)", PRODUCT_SCI, _W_PROD),
    Keyword("D001BITS", "final_bits: DQ flags counted as good", "final_bits", PRODUCT_SCI, _W_PROD),
    Keyword("D001SCAL", "output pixel scale (arcsec)", "output pixel scale", PRODUCT_SCI, _W_PROD),
    Keyword("D001WTSC", "weight: EXPTIME x good pixels", "weighting scheme", PRODUCT_SCI, _W_PROD),
    Keyword("EXPTIME", "total of the unique exposure times (s)", "as AstroDrizzle",
            PRODUCT_SCI, _W_PROD),
    Keyword("TEXPTIME", "total exposure time (s)", "as AstroDrizzle", PRODUCT_SCI, _W_PROD),
    Keyword("BUNIT", "units of the drizzled data", "ELECTRONS/S or ELECTRONS", PRODUCT_ALL,
            _W_PROD),
    Keyword("ORIENTAT", "position angle of image y axis (deg. e of n)", "as HST",
            f"{PRODUCT_SCI}; aligned input SCI headers", f"{_W_PROD}; {_W_WCS}"),
    Keyword("ROOTNAME", "rootname of this product", "the output name", PRODUCT_SCI, _W_PROD),
)

#: ``{name: Keyword}``, read-only.
KEYWORDS = MappingProxyType({k.name: k for k in _ALL})

#: Which sky parameter (``SkyResult.parameters`` key) goes into which keyword.
SKY_PARAMETER_KEYWORDS = MappingProxyType({
    "skystat": "SMSTAT", "sky_bits": "SMBITS", "lower": "SMLOWER", "upper": "SMUPPER",
    "nclip": "SMNCLIP", "lsigma": "SMLSIG", "usigma": "SMUSIG", "binwidth": "SMWIDTH",
    "use_static": "SMSTATIC", "match_down": "SMMDOWN",
})

SKY_COEFF_PATTERN = re.compile(r"^SKYC(\d)(\d)$")
_PATTERNS = ((SKY_COEFF_PATTERN, "SKYCij"), (re.compile(r"^D\d{3}DATA$"), "D###DATA"))


def keyword(name: str) -> Keyword:
    """The registry entry of ``name`` (a concrete keyword such as ``SKYC10`` too)."""
    if name in KEYWORDS:
        return KEYWORDS[name]
    for pattern, generic in _PATTERNS:
        if pattern.match(name):
            return KEYWORDS[generic]
    raise KeyError(f"{name}: not in skymatch's keyword registry (io/_keywords.py)")


def card(name: str, value, comment: str | None = None) -> tuple:
    """``(value, comment)`` for keyword ``name``, the comment taken from the registry."""
    return (value, keyword(name).comment if comment is None else comment)


def registry_table() -> str:
    """The registry as a Markdown table (for the documentation)."""
    lines = ["| keyword | meaning | where | written by |", "|---|---|---|---|"]
    for k in _ALL:
        lines.append(f"| `{k.name}` | {k.meaning} | {k.where} | `{k.writer}` |")
    return "\n".join(lines)
