"""File I/O: the only place that opens or writes files (FITS, CSV, ECSV, PNG, GIF, HTML,
journals), each through one atomic helper or a run's transaction."""

from ._atomic import atomic_write, atomic_write_text
from ._fits import FitsPixels, chip_extension, read_chips, read_inputs
from ._headers import check_writable, update_files_atomic, update_headers_atomic, write_sky
from ._inputs import InputSpec, expand_inputs
from ._journal import HeaderBatch, recover_directory
from ._keywords import KEYWORDS, card
from ._pictures import PictureWriter, gif_bytes, png_bytes, save_figure, save_gif, save_png
from ._transaction import RunTransaction, transactional

__all__ = [
    "KEYWORDS",
    "HeaderBatch",
    "RunTransaction",
    "atomic_write",
    "atomic_write_text",
    "card",
    "chip_extension",
    "recover_directory",
    "PictureWriter",
    "gif_bytes",
    "png_bytes",
    "save_figure",
    "save_gif",
    "save_png",
    "transactional",
    "update_files_atomic",
    "FitsPixels",
    "InputSpec",
    "check_writable",
    "expand_inputs",
    "read_chips",
    "read_inputs",
    "update_headers_atomic",
    "write_sky",
]
from ._tables import comparison_table, flatness_table, sky_table, write_table
from ._usersky import read_skyfile, read_skyuser

__all__ += ["comparison_table", "flatness_table", "read_skyfile", "read_skyuser", "sky_table", "write_table"]
from ._products import (  # noqa: E402
    check_disk_space,
    hdrtab,
    hdrtab_rows,
    header_sky_models,
    product_paths,
    product_suffix,
    read_product_image,
    write_products,
)
from ._report import header_summary, write_index_html  # noqa: E402

__all__ += ["check_disk_space", "hdrtab", "header_sky_models", "hdrtab_rows", "read_product_image",
            "header_summary", "product_paths", "product_suffix", "write_index_html", "write_products",
            "read_reference_wcs"]


def read_reference_wcs(path: str) -> tuple:
    """The celestial WCS and shape of a reference image or header (final_refimage)."""
    from astropy.wcs import WCS

    from ..exceptions import InputError
    from ._fits import open_fits_checked

    with open_fits_checked(path) as hdul:
        for hdu in hdul:
            h = hdu.header
            if h.get("NAXIS", 0) == 2 or ("NAXIS1" in h and "CTYPE1" in h):
                w = WCS(h, fobj=hdul).celestial
                if w.has_celestial:
                    w.pixel_shape = (int(h["NAXIS1"]), int(h["NAXIS2"]))
                    return w
    raise InputError(f"{path}: no image header with a celestial WCS to use as the output frame")
