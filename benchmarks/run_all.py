"""Run every benchmark (``make bench``)."""

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for name in sorted(os.listdir(HERE)):
    if name.startswith("bench_") and name.endswith(".py"):
        print(f"== {name}")
        sys.argv = [name] + sys.argv[1:]
        runpy.run_path(os.path.join(HERE, name), run_name="__main__")
