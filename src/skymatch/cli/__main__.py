"""``python -m skymatch.cli``: the same as the ``skymatch`` command."""

import sys

from . import entry

sys.exit(entry())
