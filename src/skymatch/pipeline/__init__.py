"""File-to-file orchestration: read inputs, compute skies, drizzle, compare, write.

Holds no algorithm; it chooses the executor, times the steps and keeps inputs safe
(writability is checked before any work, header updates are atomic).
"""

from ..core._executor import DaskExecutor, ProcessExecutor, make_executor
from ._compare import default_prefix, run_compare
from ._mosaic import DrizzleRun, FrameOptions, MosaicProduct, drizzle_products, output_frame, run, run_drizzle
from ._sky import SkyRun, run_sky, run_sky_methods

__all__ = ["ProcessExecutor", "DaskExecutor", "make_executor", "SkyRun", "run_sky", "run_sky_methods",
           "FrameOptions", "DrizzleRun", "MosaicProduct", "drizzle_products", "output_frame", "run_drizzle", "run", "run_compare",
           "default_prefix"]
