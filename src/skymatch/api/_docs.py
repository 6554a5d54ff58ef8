"""Docstring sections shared by several public functions (one text, several signatures).

A docstring names a shared block as ``%(sky_options)s`` on a line of its own; :func:`fill`
puts the block there.  The blocks are written with the 4-space indentation of a
function's numpydoc ``Parameters`` section.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import TypeVar

__all__ = ["fill", "SNIPPETS"]

F = TypeVar("F", bound=Callable)

SNIPPETS = MappingProxyType({
    "inputs": """\
    inputs : str, path or list of them
        Input files: names, globs (``'*flt.fits'``, expanded in sorted order),
        comma-separated strings or ``@list`` files (``file.fits [mask ...]`` per line).""",
    "sky_model": """\
    sky_model : str, default 'constant'
        Sky model per exposure: ``constant``, ``plane``, ``poly2`` or ``poly3``
        (only ``constant`` is available yet).""",
    "sky_options": """\
    skystat : {'median', 'mode', 'mean', 'midpt'}, default 'median'
        Statistic of the sky (AstroDrizzle's ``skystat``).
    skywidth : float, default 0.1
        Histogram bin width in sigma, for ``mode`` and ``midpt``.
    skylower : float, optional
        Lowest usable pixel value, data units (None: no limit).
    skyupper : float, optional
        Highest usable pixel value, data units (None: no limit).
    skyclip : int, default 5
        Number of sigma-clipping iterations.
    skylsigma : float, default 4.0
        Lower clipping limit, in sigma.
    skyusigma : float, default 4.0
        Upper clipping limit, in sigma.
    sky_bits : int, str or None, default '0'
        DQ flags counted as good for the sky: ``0``, ``64``, ``'4+8'``, ``'~4+8'``
        or None (every pixel good).
    use_static : bool, optional
        Use AstroDrizzle's static mask (None: on with ``compat='drizzlepac'``, else off).
    match_down : bool, default True
        ``match`` makes the lowest relative sky 0 (False: the highest).
    allow_empty : bool, default False
        A chip with no usable pixel gets sky 0 and ``valid=False`` (with a warning)
        instead of an error.
    compat : {None, 'drizzlepac'}, default None
        Reproduce AstroDrizzle's numbers, quirks included.""",
    "drizzle_options": """\
    final_bits : int, str or None, default '0'
        DQ flags counted as good in the drizzle (the notebook uses ``'64'``).
    final_kernel : {'square', 'point', 'turbo', 'gaussian', 'lanczos2', 'lanczos3'}, default 'square'
        Drizzle kernel.
    final_pixfrac : float, default 1.0
        Linear size of the drop relative to the input pixel, in (0, 1].
    final_fillval : float, optional
        Value of output pixels nothing landed on (None: NaN).
    final_units : {'cps', 'counts'}, default 'cps'
        Output in rates or in counts.
    final_wcs : bool, default False
        Use the ``final_*`` frame parameters below (ignored otherwise, as in AstroDrizzle).
    final_rot : float, optional
        Orientation of the output, degrees East of North (the notebook uses 257).
    final_scale : float, optional
        Output pixel scale, arcsec (default: the first input's nominal scale).
    final_ra : float, optional
        Right ascension of the output centre, degrees.
    final_dec : float, optional
        Declination of the output centre, degrees.
    final_outnx : int, optional
        Output width, pixels.
    final_outny : int, optional
        Output height, pixels.
    final_refimage : str, optional
        FITS image whose WCS is the output frame.
    stepsize : int, default 10
        Pixel map computed exactly every ``stepsize`` pixels and interpolated
        (AstroDrizzle's 10); 1 = exact everywhere.""",
    "products": """\
    build : bool, default False
        Write one multi-extension ``NAME_drz.fits`` instead of ``_sci``/``_wht``/``_ctx`` files.
    overwrite : bool, default False
        Replace existing products (otherwise an existing product is an error).""",
    "execution": """\
    jobs : int, optional
        Number of local workers (default: one per core).
    dask : str or dask.distributed.Client, optional
        Run the statistics on this Dask cluster (a scheduler address or a client).""",
    "progress": """\
    progress : bool or callable, optional
        None: progress bars when running in a notebook or when stderr is a terminal;
        False: none; True: bars; a callable ``progress(stage, done, total)`` is called
        as work completes.""",
})


def fill(func: F) -> F:
    """Replace ``%(name)s`` lines of ``func.__doc__`` by the shared blocks."""
    doc = func.__doc__ or ""
    for name, text in SNIPPETS.items():
        doc = doc.replace(f"    %({name})s", text)
    func.__doc__ = doc
    return func
