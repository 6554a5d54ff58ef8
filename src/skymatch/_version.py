"""skymatch's version: the single source.

A literal string, so ``skymatch --version`` needs no package metadata lookup and
pyproject.toml reads it without importing skymatch (``[tool.setuptools.dynamic]``).
"""

__version__ = "0.1.0"
