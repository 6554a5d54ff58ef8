"""File I/O: the only place that opens or writes FITS, CSV or ECSV files."""

from ._fits import FitsPixels, read_chips, read_inputs
from ._headers import check_writable, update_headers_atomic, write_sky
from ._inputs import InputSpec, expand_inputs

__all__ = [
    "FitsPixels",
    "InputSpec",
    "check_writable",
    "expand_inputs",
    "read_chips",
    "read_inputs",
    "update_headers_atomic",
    "write_sky",
]
from ._tables import comparison_table, sky_table, write_table  # noqa: E402
from ._usersky import read_skyfile, read_skyuser  # noqa: E402

__all__ += ["comparison_table", "read_skyfile", "read_skyuser", "sky_table", "write_table"]
