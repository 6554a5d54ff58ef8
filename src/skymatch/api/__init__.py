"""skymatch's public functions, one per command of the ``skymatch`` command line.

Each takes the command's options as keyword-only arguments named as its flags
(``--sky-bits`` is ``sky_bits=``), validates them here, runs the pipeline and returns a
frozen result with ``to_table()``, ``to_pandas()`` and a notebook view.  Importing
this package costs nothing: the pipeline is imported when a function is called.
"""

from types import MappingProxyType

from ._align import align, tweakback
from ._data import demo_data, fetch, summary
from ._mosaic import compare, drizzle, run
from ._sky import sky

__all__ = ["sky", "drizzle", "run", "compare", "align", "tweakback", "summary", "fetch", "demo_data",
           "COMMANDS"]

# CLI command name -> public function (the CLI and the tests use it).
COMMANDS = MappingProxyType({
    "sky": sky,
    "drizzle": drizzle,
    "run": run,
    "compare": compare,
    "align": align,
    "tweakback": tweakback,
    "summary": summary,
    "fetch": fetch,
    "demo-data": demo_data,
})
