"""What the public functions return: frozen results a notebook can show and tabulate.

Each class extends the pipeline's (or alignment's, datasets', fetch's) result with what
the call was given and where it wrote, and adds ``to_table()`` (an astropy Table with
units labelled), ``to_pandas()``, a one-line ``repr`` and ``_repr_html_``.  They are
subclasses, so code written against the lower-level classes keeps working.  This
module gathers them; each family lives in its own module.
"""

from ._results_align import AlignResult, TweakbackResult
from ._results_data import FetchResult, MosaicTruth, SummaryResult
from ._results_sky import CompareRun, MosaicRun, SkyRun
from ._tabular import base_values, brightness_units, data_units

__all__ = ["SkyRun", "MosaicRun", "CompareRun", "AlignResult", "TweakbackResult", "SummaryResult",
           "FetchResult", "MosaicTruth", "base_values", "brightness_units", "data_units"]
